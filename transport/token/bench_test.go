package token

import (
	"testing"
)

type benchUser struct {
	ID   int    `json:"id"`
	Name string `json:"name"`
}

func BenchmarkSign(b *testing.B) {
	s := newTestSigner(b)
	data := benchUser{42, "alice"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Sign(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	s := newTestSigner(b)
	tok := mustSign(b, s, benchUser{42, "alice"})
	b.ReportAllocs()
	for b.Loop() {
		var u benchUser
		if err := s.Verify(tok, &u); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyInvalid measures refusing a token with a bad signature: what a flood of forged tokens costs.
func BenchmarkVerifyInvalid(b *testing.B) {
	s := newTestSigner(b)
	tok := mustSign(b, s, benchUser{42, "alice"})
	tok = tok[:len(tok)-3] + flip(tok[len(tok)-3:], 0)
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Verify(tok, nil); err == nil {
			b.Fatal("verified")
		}
	}
}

// BenchmarkVerifyOneShot measures the one-shot Verify, which derives the key on every call.
func BenchmarkVerifyOneShot(b *testing.B) {
	s := newTestSigner(b)
	tok := mustSign(b, s, benchUser{42, "alice"})
	b.ReportAllocs()
	for b.Loop() {
		if err := Verify(testSecret, testSalt, tok, Infinity, nil); err != nil {
			b.Fatal(err)
		}
	}
}
