package token

import (
	"strings"
	"testing"
	"time"
)

const (
	testSecret = "kM3tA9vQ2xW7pL0sN5rB8yC1dF4gH6jZ-kM3tA9vQ2xW7pL0sN5rB8yC1dF4gH6j" // 64 bytes
	testSalt   = "user socket"
)

// t0 is the fixed time test signers sign at.
var t0 = time.UnixMilli(1_700_000_000_000).UTC()

// fixedClock returns a clock that always reads at.
func fixedClock(at time.Time) func() time.Time { return func() time.Time { return at } }

// newTestSigner returns a Signer over testSecret and testSalt whose clock reads t0.
func newTestSigner(tb testing.TB, opts ...Option) *Signer {
	tb.Helper()
	s, err := NewSigner(testSecret, testSalt, append([]Option{WithClock(fixedClock(t0))}, opts...)...)
	if err != nil {
		tb.Fatalf("NewSigner: %v", err)
	}
	return s
}

// at returns a copy of s whose clock reads t, sharing its key.
func at(s *Signer, t time.Time) *Signer {
	c := &Signer{clock: fixedClock(t), maxAge: s.maxAge}
	c.macs.New = s.macs.New
	return c
}

// seal signs the already encoded header and payload as they are, to build authentic tokens that Sign
// never makes.
func seal(s *Signer, hdr, payload string) string {
	m := s.macs.Get().(*macState)
	defer s.macs.Put(m)
	m.h.Reset()
	m.h.Write([]byte(hdr + "." + payload))
	return hdr + "." + payload + "." + b64.EncodeToString(m.h.Sum(nil))
}

// sealJSON seals a raw JSON payload under the current header.
func sealJSON(s *Signer, payload string) string {
	return seal(s, header, b64.EncodeToString([]byte(payload)))
}

func mustSign(tb testing.TB, s *Signer, data any, opts ...SignOption) string {
	tb.Helper()
	tok, err := s.Sign(data, opts...)
	if err != nil {
		tb.Fatalf("Sign(%v): %v", data, err)
	}
	return tok
}

// parts splits a token at its dots.
func parts(tok string) []string { return strings.Split(tok, ".") }
