package serializer

import (
	"errors"
	"testing"
)

func TestForVsn(t *testing.T) {
	tests := []struct {
		vsn  string
		want Serializer // nil: ErrUnsupportedVsn
	}{
		{"", V1}, // absent vsn means 1.0.0
		{"1.0.0", V1},
		{"1.0.5", V1},
		{"1.0.123", V1},
		{"2.0.0", V2},
		{"2.0.1", V2},
		{"2.0.99999999999999999999", V2},
		{"2.0.0+build.7", V2}, // build metadata is ignored
		{"2.0.0+01", V2},      // leading zeros are allowed in build identifiers
		{"2.0.1-rc.1", V2},    // a pre-release above the lower bound matches (allow_pre defaults to true)
		{"1.0.3-beta-2", V1},  // hyphens are allowed in identifiers
		{"2.0.0-rc.1", nil},   // a pre-release of 2.0.0 sorts before 2.0.0
		{"1.0.0-0", nil},      // likewise
		{"2.1.0", nil},
		{"2.10.0", nil},
		{"1.1.0", nil},
		{"3.0.0", nil},
		{"0.0.1", nil},
		{"abc", nil},
		{"2", nil},
		{"2.0", nil},
		{"2.0.", nil},
		{"2.0.0.0", nil},
		{"02.0.0", nil}, // leading zeros are invalid
		{"2.00.0", nil},
		{"2.0.01", nil},
		{"2.0.1-01", nil}, // numeric pre-release identifiers must not have leading zeros
		{"2.0.1-", nil},
		{"2.0.1-a..b", nil},
		{"2.0.1-a_b", nil},
		{"2.0.0+", nil},
		{"2.0.0+a+b", nil},
		{" 2.0.0", nil},
		{"2.0.0 ", nil},
		{"v2.0.0", nil},
		{"2.0.x", nil},
		{"-2.0.0", nil},
		{"２.0.0", nil}, // not ASCII digits
	}
	for _, tt := range tests {
		t.Run(tt.vsn, func(t *testing.T) {
			got, err := ForVsn(tt.vsn)
			if tt.want == nil {
				if !errors.Is(err, ErrUnsupportedVsn) || got != nil {
					t.Fatalf("ForVsn(%q) = %v, %v; want ErrUnsupportedVsn", tt.vsn, got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ForVsn(%q) = %v, %v; want %s", tt.vsn, got, err, tt.want.Vsn())
			}
		})
	}
}

// A socket's own serializer table (Phoenix's `serializer:` option): first match wins, requirements in the
// two forms Negotiate understands.
func TestNegotiateTable(t *testing.T) {
	type other struct{ Serializer } // a distinct serializer value
	mine := other{V2}
	table := []Versioned{{"~> 2.0.0", mine}, {"~> 1.0", V1}, {"~> 3.1.2", V2}}
	tests := []struct {
		vsn  string
		want Serializer // nil: ErrUnsupportedVsn
	}{
		{"2.0.0", mine},
		{"2.0.7", mine},
		{"2.1.0", nil},
		{"", V1}, // 1.0.0
		{"1.0.0", V1},
		{"1.7.3", V1}, // "~> 1.0" is any 1.x from 1.0.0 on
		{"1.0.0-rc.1", nil},
		{"1.1.0-rc.1", V1},
		{"2.0.0-rc.1", nil},
		{"3.1.2", V2},
		{"3.1.10", V2},
		{"3.1.1", nil},
		{"3.1.2-rc.1", nil},
		{"3.1.3-rc.1", V2},
		{"3.2.0", nil},
		{"abc", nil},
	}
	for _, tt := range tests {
		got, err := Negotiate(table, tt.vsn)
		if tt.want == nil {
			if !errors.Is(err, ErrUnsupportedVsn) || got != nil {
				t.Errorf("Negotiate(%q) = %v, %v; want ErrUnsupportedVsn", tt.vsn, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("Negotiate(%q) = %v, %v; want %v", tt.vsn, got, err, tt.want)
		}
	}
	if s, err := Negotiate(Defaults(), "2.0.0"); s != V2 || err != nil {
		t.Errorf("Negotiate(Defaults(), 2.0.0) = %v, %v", s, err)
	}
	for _, r := range []string{"~> 2.0.0", "~>2.0.0", "~> 1.0", "~> 10.20.30"} {
		if err := CheckRequirement(r); err != nil {
			t.Errorf("CheckRequirement(%q) = %v", r, err)
		}
	}
	for _, r := range []string{"", "2.0.0", ">= 2.0.0", "~> 2", "~> 2.0.0-rc.1", "~> 2.0.0+b", "~> 02.0.0", "~> 2.0.0 or ~> 1.0.0"} {
		if err := CheckRequirement(r); !errors.Is(err, ErrBadRequirement) {
			t.Errorf("CheckRequirement(%q) = %v, want ErrBadRequirement", r, err)
		}
	}
}
