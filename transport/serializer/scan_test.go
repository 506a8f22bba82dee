package serializer

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// The scanner accepts exactly what encoding/json accepts, less invalid UTF-8.
func TestValidMatchesEncodingJSON(t *testing.T) {
	inputs := []string{
		``, ` `, `null`, `nul`, `nullx`, `true`, `false`, `tru`, `0`, `-0`, `01`, `-`, `1.`, `.5`, `1.5`, `1e5`, `1E+5`,
		`1e-05`, `1e`, `1e+`, `-01`, `2.`, `0x1`, `1_000`, `Infinity`, `""`, `"`, `"\"`, `"\\"`, `"\/"`, `"\a"`,
		`"\u"`, `"\u00"`, `"\u00e9"`, `"\uD800"`, `"\U00e9"`, "\"\t\"", "\"\x7f\"", "\"é\"", "\"\xff\"",
		"\"\xed\xa0\x80\"", "\"\xf4\x90\x80\x80\"", `[]`, `[ ]`, `[,]`, `[1,]`, `[1 2]`, `[[]]`, `[[]`, `[]]`, `{}`,
		`{ }`, `{"a"}`, `{"a":}`, `{"a":1,}`, `{"a":1 "b":2}`, `{1:2}`, `{"a":1}`, `{"a":[{"b":{}}]}`, `{"a":1]`,
		`[1}`, `[{]}`, " \t\r\n[1]\n", "\f[1]", "\v1", `1 2`, `{}{}`, `"a" "b"`, "[\"a\"\u00a0]", `[-]`, `[--1]`,
		`{"a":{"b":[1,{"c":null}]},"d":"e"}`,
		strings.Repeat("[", maxDepth) + strings.Repeat("]", maxDepth),
		strings.Repeat("[", maxDepth+1) + strings.Repeat("]", maxDepth+1),
		strings.Repeat(`{"a":`, maxDepth) + "1" + strings.Repeat("}", maxDepth),
		strings.Repeat(`{"a":`, maxDepth+1) + "1" + strings.Repeat("}", maxDepth+1),
		strings.Repeat("[", 70) + strings.Repeat("{\"k\":[", 5) + strings.Repeat("]}", 5) + strings.Repeat("]", 70),
		strings.Repeat("[", 70) + strings.Repeat("{\"k\":[", 5) + strings.Repeat("}]", 5) + strings.Repeat("]", 70),
	}
	for _, in := range inputs {
		want := utf8.ValidString(in) && json.Valid([]byte(in))
		if got := valid([]byte(in)); got != want {
			t.Errorf("valid(%.60q) = %v, encoding/json says %v", in, got, want)
		}
	}
}

func TestAppendQuoted(t *testing.T) {
	inputs := []string{"", "plain", `"`, `\`, "\x00\x01\x1f\x7f", "\n\r\t\b\f", "</script>&", "\u2028\u2029", "é😀",
		"\xff", "a\xc3", "\xed\xa0\x80", "\xf4\x90\x80\x80", strings.Repeat("x\"", 100)}
	for _, s := range inputs {
		got := appendQuoted(nil, s)
		if len(got) != quotedLen(s) {
			t.Errorf("%q: quotedLen %d, appended %d bytes", s, quotedLen(s), len(got))
		}
		if !utf8.Valid(got) || !json.Valid(got) {
			t.Errorf("%q: invalid output %q", s, got)
			continue
		}
		var back string
		if err := json.Unmarshal(got, &back); err != nil || back != jsonRoundTrip(s) {
			t.Errorf("%q: reads back as %q (%v), encoding/json gives %q", s, back, err, jsonRoundTrip(s))
		}
	}
}

// Decoding is linear: large and adversarial frames decode (or fail) without blowing up. Time is measured by
// BenchmarkDecodeV2Size, not asserted here.
func TestLargeFrames(t *testing.T) {
	big := `[null,"1","t","e",{"list":[` + strings.Repeat(`{"k":"v\n","n":[1,2.5e3,true,null]},`, 50000) + `0]}]`
	if _, err := V2.Decode([]byte(big), false); err != nil {
		t.Fatal(err)
	}
	many := `[null,"1","t","e",{}` + strings.Repeat(`,[]`, 200000) + `]`
	if _, err := V2.Decode([]byte(many), false); err != nil {
		t.Fatal(err)
	}
	longStr := `[null,"1","t","e","` + strings.Repeat(`\u00e9`, 100000) + `"]`
	if _, err := V2.Decode([]byte(longStr), false); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{
		strings.Repeat("[", 1<<20),
		`[null,"1","t","e",` + strings.Repeat(`{"a":[`, 1<<16),
		`[null,"1","t","e","` + strings.Repeat(`\\`, 1<<20),
		strings.Repeat(" ", 1<<20),
	} {
		if _, err := V2.Decode([]byte(bad), false); err == nil {
			t.Fatalf("decoded %.40q...", bad)
		}
		if _, err := V1.Decode([]byte(bad), false); err == nil {
			t.Fatalf("V1 decoded %.40q...", bad)
		}
	}
}
