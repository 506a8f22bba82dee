package token

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// FuzzVerify checks that Verify never panics and returns nil or one of its three errors, on arbitrary
// tokens and on authentic tokens whose payload is arbitrary (signed here, so that the fuzzer reaches the
// payload decoding behind the signature check).
func FuzzVerify(f *testing.F) {
	s := newTestSigner(f)
	valid := []string{
		mustSign(f, s, "alice"),
		mustSign(f, s, map[string]any{"user_id": 42, "roles": []string{"a"}}),
		mustSign(f, s, nil, MaxAge(Infinity)),
		mustSign(f, s, 1.5, MaxAge(-1)),
		mustSign(f, s, "x", SignedAt(t0.Add(time.Hour))),
	}
	for _, tok := range valid {
		p := parts(tok)
		raw, _ := b64.DecodeString(p[1])
		f.Add(tok, raw)
		f.Add(p[0]+"."+p[1], raw)
		f.Add(tok+".", raw)
		f.Add(p[0]+"."+p[1]+"."+flip(p[2], 0), raw)
	}
	for _, tok := range []string{"", ".", "..", "...", "a.b.c", header + "..", strings.Repeat("A", MaxTokenSize+1)} {
		f.Add(tok, []byte(tok))
	}
	for _, payload := range []string{`{"d":1,"s":1,"m":-1}`, `{"d":1,"s":-9223372036854775808,"m":9223372036854}`,
		`{"d":{"a":[1,{"b":null}]},"s":1700000000000,"m":0}`, `{"d":1}`, `[]`, `null`, `{"d":1,"s":1e30,"m":1}`,
		`{"d":"\ud800","s":1700000000000,"m":1,"d":2}`} {
		f.Add("", []byte(payload))
	}

	check := func(t *testing.T, tok string, err error) {
		t.Helper()
		if err != nil && !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrExpired) && !errors.Is(err, ErrMissing) {
			t.Fatalf("Verify(%q) = %v", tok, err)
		}
	}
	f.Fuzz(func(t *testing.T, tok string, payload []byte) {
		var v any
		check(t, tok, s.Verify(tok, &v))
		check(t, tok, s.Verify(tok, nil, VerifyMaxAge(time.Hour)))
		sealed := seal(s, header, b64.EncodeToString(payload))
		check(t, sealed, s.Verify(sealed, &v))
	})
}
