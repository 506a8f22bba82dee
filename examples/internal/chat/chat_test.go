package chat

import (
	"strings"
	"testing"
)

func TestName(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"ada", "ada"},
		{"  ada  ", "ada"},
		{"", Anonymous},
		{"   ", Anonymous},
		{strings.Repeat("é", MaxName), strings.Repeat("é", MaxName)},
		{strings.Repeat("é", MaxName+5), strings.Repeat("é", MaxName)},
		{strings.Repeat("a", MaxName-1) + " b", strings.Repeat("a", MaxName-1)}, // cut, then trimmed
	} {
		if got := Name(tc.in); got != tc.want {
			t.Errorf("Name(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
