package token

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestGolden(t *testing.T) {
	// A change here is a format change: tokens already handed out stop verifying. Cross-checked with
	// Python's hashlib.pbkdf2_hmac and hmac.
	const want = "djEuSFMyNTY.eyJkIjp7InVzZXJfaWQiOjQyfSwicyI6MTcwMDAwMDAwMDAwMCwibSI6ODY0MDAwMDB9." +
		"mNRvC8ASShjn6iewIPluyblyvd-R-fnFzkrOokWTex4"
	s := newTestSigner(t)
	got := mustSign(t, s, map[string]int{"user_id": 42})
	if got != want {
		t.Fatalf("Sign = %q\nwant   %q", got, want)
	}
	if p, _ := b64.DecodeString(parts(got)[1]); string(p) != `{"d":{"user_id":42},"s":1700000000000,"m":86400000}` {
		t.Errorf("payload = %s", p)
	}
	if h, _ := b64.DecodeString(header); string(h) != "v1.HS256" {
		t.Errorf("header = %q", h)
	}
	if sigLen != b64.EncodedLen(32) {
		t.Errorf("sigLen = %d, want %d", sigLen, b64.EncodedLen(32))
	}
	var v struct {
		UserID int `json:"user_id"`
	}
	if err := s.Verify(want, &v); err != nil || v.UserID != 42 {
		t.Errorf("Verify = %v, %+v", err, v)
	}
}

func TestRoundTrip(t *testing.T) {
	type user struct {
		ID    int      `json:"id"`
		Name  string   `json:"name"`
		Roles []string `json:"roles,omitempty"`
	}
	tests := []struct {
		name string
		data any
		into any // a pointer to a zero value of the type to decode into
		want any // what into points to afterwards
	}{
		{"string", "alice", new(string), "alice"},
		{"html and unicode", `<a href="x">&é😀</a>`, new(string), `<a href="x">&é😀</a>`},
		{"empty string", "", new(string), ""},
		{"int", 42, new(int), 42},
		{"negative float", -1.5e3, new(float64), -1.5e3},
		{"bool", true, new(bool), true},
		{"nil", nil, new(any), nil},
		{"slice", []int{1, 2, 3}, new([]int), []int{1, 2, 3}},
		{"struct", user{7, "bob", []string{"admin"}}, new(user), user{7, "bob", []string{"admin"}}},
		{"struct pointer", &user{ID: 8}, new(*user), &user{ID: 8}},
		{"map", map[string]any{"a": 1.0, "b": []any{"c"}}, new(map[string]any),
			map[string]any{"a": 1.0, "b": []any{"c"}}},
		{"raw JSON", json.RawMessage(`{"k":[1,null]}`), new(json.RawMessage), json.RawMessage(`{"k":[1,null]}`)},
		{"struct into map", user{ID: 1, Name: "x"}, new(map[string]any), map[string]any{"id": 1.0, "name": "x"}},
	}
	s := newTestSigner(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := mustSign(t, s, tt.data)
			if err := s.Verify(tok, tt.into); err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if got := reflect.ValueOf(tt.into).Elem().Interface(); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("decoded %#v, want %#v", got, tt.want)
			}
			if err := s.Verify(tok, nil); err != nil {
				t.Errorf("Verify(nil into): %v", err)
			}
		})
	}
}

func TestVerify(t *testing.T) {
	s := newTestSigner(t)
	alice := mustSign(t, s, "alice")
	mallory := mustSign(t, s, "mallory")
	hour := mustSign(t, s, "x", MaxAge(time.Hour))
	forever := mustSign(t, s, "x", MaxAge(Infinity))
	dead := mustSign(t, s, "x", MaxAge(-time.Second))
	tiny := mustSign(t, s, "x", MaxAge(time.Nanosecond)) // rounded up to 1 ms

	other := func(secret, salt string) string {
		o, err := NewSigner(secret, salt, WithClock(fixedClock(t0)))
		if err != nil {
			t.Fatal(err)
		}
		return mustSign(t, o, "alice")
	}
	p := parts(alice)
	// payload is the encoded payload of a token signed at t0 for "alice" with max age m (ms).
	payload := func(s, m string) string { return `{"d":"alice","s":` + s + `,"m":` + m + `}` }
	t0ms := fmt.Sprint(t0.UnixMilli())
	// The last signature character carries 2 unused bits; a strict decoder refuses them set.
	last := p[2][sigLen-1]
	nonCanonical := p[0] + "." + p[1] + "." + p[2][:sigLen-1] + string(b64Alphabet[strings.IndexByte(b64Alphabet, last)^1])

	tests := []struct {
		name  string
		token string
		at    time.Duration // verification time, after t0
		opts  []VerifyOption
		into  any
		want  error // nil, ErrMissing, ErrExpired, ErrInvalid or the reason it wraps
	}{
		{name: "ok", token: alice},
		{name: "missing", token: "", want: ErrMissing},

		// Malformed.
		{name: "oversized garbage", token: strings.Repeat("a", MaxTokenSize+1), want: errTooLong},
		{name: "oversized but authentic", token: sealJSON(s, payload(t0ms, "1000")+strings.Repeat(" ", MaxTokenSize)),
			want: errTooLong},
		{name: "one part", token: "abc", want: errFormat},
		{name: "empty parts", token: "..", want: errHeader},
		{name: "two parts", token: p[0] + "." + p[1], want: errFormat},
		{name: "four parts", token: alice + ".x", want: errFormat},
		{name: "trailing dot", token: alice + ".", want: errFormat},
		{name: "empty header", token: "." + p[1] + "." + p[2], want: errHeader},
		{name: "empty payload", token: p[0] + ".." + p[2], want: errSignature},
		{name: "empty signature", token: p[0] + "." + p[1] + ".", want: errSignature},
		{name: "bad base64 header", token: "djEuSFMy*TY." + p[1] + "." + p[2], want: errHeader},
		{name: "padded header", token: p[0] + "=." + p[1] + "." + p[2], want: errHeader},
		{name: "bad base64 payload, unsigned", token: p[0] + "." + p[1][:5] + "*" + p[1][6:] + "." + p[2], want: errSignature},
		{name: "bad base64 payload, signed", token: seal(s, header, "eyJk*"), want: errPayload},
		{name: "padded payload, signed", token: seal(s, header, b64.EncodeToString([]byte(payload(t0ms, "1")))+"="),
			want: errPayload},
		{name: "bad base64 signature", token: p[0] + "." + p[1] + "." + p[2][:10] + "*" + p[2][11:], want: errSignature},
		{name: "std base64 signature", token: p[0] + "." + p[1] + "." + p[2][:10] + "+" + p[2][11:], want: errSignature},
		{name: "non-canonical signature", token: nonCanonical, want: errSignature},
		{name: "short signature", token: alice[:len(alice)-1], want: errSignature},
		{name: "long signature", token: alice + "A", want: errSignature},
		{name: "tampered payload", token: p[0] + "." + parts(mallory)[1] + "." + p[2], want: errSignature},
		{name: "tampered signature", token: p[0] + "." + p[1] + "." + flip(p[2], 5), want: errSignature},
		{name: "wrong secret", token: other(strings.ToUpper(testSecret), testSalt), want: errSignature},
		{name: "wrong salt", token: other(testSecret, "long-poll session"), want: errSignature},
		{name: "unknown version", token: seal(s, b64.EncodeToString([]byte("v2.HS256")), p[1]), want: errHeader},
		{name: "Phoenix header", token: seal(s, "SFMyNTY", p[1]), want: errHeader},
		{name: "not JSON, signed", token: sealJSON(s, "alice"), want: errPayload},
		{name: "JSON array, signed", token: sealJSON(s, `["alice",1,2]`), want: errPayload},
		{name: "JSON null, signed", token: sealJSON(s, `null`), want: errPayload},
		{name: "no data, signed", token: sealJSON(s, `{"s":`+t0ms+`,"m":1000}`), want: errPayload},
		{name: "no signed-at, signed", token: sealJSON(s, `{"d":1,"m":1000}`), want: errPayload},
		{name: "no max age, signed", token: sealJSON(s, `{"d":1,"s":`+t0ms+`}`), want: errPayload},
		{name: "fractional signed-at, signed", token: sealJSON(s, payload(t0ms+".5", "1000")), want: errPayload},
		{name: "string max age, signed", token: sealJSON(s, payload(t0ms, `"1000"`)), want: errPayload},
		{name: "max age below -1, signed", token: sealJSON(s, payload(t0ms, "-2")), want: errPayload},
		{name: "max age overflowing, signed", token: sealJSON(s, payload(t0ms, "9223372036854775807")), want: errPayload},
		{name: "truncated JSON, signed", token: sealJSON(s, payload(t0ms, "1000")[:20]), want: errPayload},
		{name: "signed in the future", token: mustSign(t, s, "x", SignedAt(t0.Add(MaxClockSkew+time.Millisecond))),
			want: errFuture},
		{name: "signed in the future within skew", token: mustSign(t, s, "x", SignedAt(t0.Add(MaxClockSkew)))},
		{name: "data does not fit into", token: alice, into: new(int), want: ErrInvalid},
		{name: "into not a pointer", token: alice, into: "", want: ErrInvalid},

		// Expiry.
		{name: "default max age, at limit", token: alice, at: DefaultMaxAge},
		{name: "default max age, just past", token: alice, at: DefaultMaxAge + time.Millisecond, want: ErrExpired},
		{name: "exactly at max age", token: hour, at: time.Hour},
		{name: "just past max age", token: hour, at: time.Hour + time.Millisecond, want: ErrExpired},
		{name: "within the same millisecond", token: hour, at: time.Hour + time.Millisecond - 1},
		{name: "VerifyMaxAge shorter", token: hour, at: 30 * time.Minute, opts: []VerifyOption{VerifyMaxAge(10 * time.Minute)},
			want: ErrExpired},
		{name: "VerifyMaxAge longer", token: hour, at: 2 * time.Hour, opts: []VerifyOption{VerifyMaxAge(3 * time.Hour)}},
		{name: "VerifyMaxAge zero keeps embedded", token: hour, at: 2 * time.Hour, opts: []VerifyOption{VerifyMaxAge(0)},
			want: ErrExpired},
		{name: "VerifyMaxAge negative", token: hour, opts: []VerifyOption{VerifyMaxAge(-1)}, want: ErrExpired},
		{name: "VerifyMaxAge Infinity", token: hour, at: 100 * 365 * 24 * time.Hour,
			opts: []VerifyOption{VerifyMaxAge(Infinity)}},
		{name: "Infinity", token: forever, at: 200 * 365 * 24 * time.Hour},
		{name: "Infinity, signed long ago", token: mustSign(t, s, "x", MaxAge(Infinity), SignedAt(time.Unix(0, 0)))},
		{name: "Infinity overridden", token: forever, at: 2 * time.Hour, opts: []VerifyOption{VerifyMaxAge(time.Hour)},
			want: ErrExpired},
		{name: "negative max age", token: dead, want: ErrExpired},
		{name: "negative max age revived by VerifyMaxAge", token: dead, opts: []VerifyOption{VerifyMaxAge(time.Hour)}},
		{name: "sub-millisecond max age", token: tiny, at: time.Millisecond},
		{name: "sub-millisecond max age, past", token: tiny, at: 2 * time.Millisecond, want: ErrExpired},
		{name: "expired before decoding into", token: alice, at: 48 * time.Hour, into: new(int), want: ErrExpired},
		{name: "signed-at in the past", token: mustSign(t, s, "x", SignedAt(t0.Add(-time.Hour)), MaxAge(time.Hour))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := at(s, t0.Add(tt.at)).Verify(tt.token, tt.into, tt.opts...)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Verify = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, tt.want) || !errors.Is(err, ErrMissing) && !errors.Is(err, ErrExpired) && !errors.Is(err, ErrInvalid) {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
			for _, e := range []error{ErrMissing, ErrInvalid, ErrExpired} {
				if !errors.Is(tt.want, e) && errors.Is(err, e) {
					t.Errorf("Verify = %v, also matches %v", err, e)
				}
			}
		})
	}
}

const b64Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// flip changes the base64url character at i to another one.
func flip(s string, i int) string {
	c := b64Alphabet[(strings.IndexByte(b64Alphabet, s[i])+1)%64]
	return s[:i] + string(c) + s[i+1:]
}

func TestVerifyDecodeError(t *testing.T) {
	s := newTestSigner(t)
	err := s.Verify(mustSign(t, s, "alice"), new(int))
	var typeErr *json.UnmarshalTypeError
	if !errors.Is(err, ErrInvalid) || !errors.As(err, &typeErr) {
		t.Fatalf("Verify = %v, want ErrInvalid wrapping a *json.UnmarshalTypeError", err)
	}
}

func TestNewSigner(t *testing.T) {
	tests := []struct {
		name    string
		secret  string
		salt    string
		opts    []Option
		wantErr bool
	}{
		{name: "64-byte secret", secret: testSecret, salt: testSalt},
		{name: "32-byte secret", secret: testSecret[:MinSecretLen], salt: testSalt},
		{name: "31-byte secret", secret: testSecret[:MinSecretLen-1], salt: testSalt, wantErr: true},
		{name: "empty secret", secret: "", salt: testSalt, wantErr: true},
		{name: "empty salt", secret: testSecret, salt: ""},
		{name: "nil clock", secret: testSecret, opts: []Option{WithClock(nil)}},
		{name: "zero max age", secret: testSecret, opts: []Option{WithMaxAge(0)}},
		{name: "Infinity max age", secret: testSecret, opts: []Option{WithMaxAge(Infinity)}},
		{name: "negative max age", secret: testSecret, opts: []Option{WithMaxAge(-time.Second)}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := NewSigner(tt.secret, tt.salt, tt.opts...)
			if tt.wantErr {
				if !errors.Is(err, ErrBadConfig) || s != nil {
					t.Fatalf("NewSigner = %v, %v, want nil, ErrBadConfig", s, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("NewSigner: %v", err)
			}
			if err := s.Verify(mustSign(t, s, "x"), nil); err != nil {
				t.Errorf("round trip: %v", err)
			}
		})
	}
}

func TestSignerMaxAge(t *testing.T) {
	s := newTestSigner(t, WithMaxAge(time.Minute))
	tok := mustSign(t, s, "x")
	if err := at(s, t0.Add(time.Minute)).Verify(tok, nil); err != nil {
		t.Errorf("at max age: %v", err)
	}
	if err := at(s, t0.Add(time.Minute+time.Millisecond)).Verify(tok, nil); !errors.Is(err, ErrExpired) {
		t.Errorf("past max age: %v, want ErrExpired", err)
	}
	long := mustSign(t, s, "x", MaxAge(time.Hour)) // the call's max age wins
	if err := at(s, t0.Add(time.Hour)).Verify(long, nil); err != nil {
		t.Errorf("MaxAge overriding WithMaxAge: %v", err)
	}
}

func TestSignErrors(t *testing.T) {
	s := newTestSigner(t)
	if _, err := s.Sign(make(chan int)); err == nil || errors.Is(err, ErrTooLarge) {
		t.Errorf("Sign(chan) = %v, want an encoding error", err)
	}
	if _, err := s.Sign(strings.Repeat("a", MaxTokenSize)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Sign(8 KB) = %v, want ErrTooLarge", err)
	}
	// Around the limit, Sign makes only tokens that Verify accepts, and refuses the rest.
	var signed, refused int
	for n := 6000; n < 6200; n++ {
		tok, err := s.Sign(strings.Repeat("a", n))
		switch {
		case errors.Is(err, ErrTooLarge):
			refused++
		case err != nil:
			t.Fatalf("Sign(%d bytes): %v", n, err)
		case len(tok) > MaxTokenSize:
			t.Fatalf("Sign(%d bytes) made %d bytes", n, len(tok))
		default:
			signed++
			if err := s.Verify(tok, nil); err != nil {
				t.Fatalf("Verify(%d bytes): %v", len(tok), err)
			}
		}
	}
	if signed == 0 || refused == 0 {
		t.Errorf("signed %d, refused %d: the probe missed the limit", signed, refused)
	}
}

func TestSignedAt(t *testing.T) {
	s := newTestSigner(t)
	when := t0.Add(-time.Hour + 1500*time.Microsecond) // kept to the millisecond
	tok := mustSign(t, s, "x", SignedAt(when), MaxAge(time.Hour))
	if err := s.Verify(tok, nil); err != nil {
		t.Errorf("Verify: %v", err)
	}
	if got, want := mustSign(t, s, "x", SignedAt(time.Time{})), mustSign(t, s, "x"); got != want {
		t.Errorf("SignedAt(zero) = %q, want the clock's time %q", got, want)
	}
}

func TestOneShot(t *testing.T) {
	tok, err := Sign(testSecret, testSalt, map[string]int{"user_id": 42}, 0)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	var v map[string]int
	if err := Verify(testSecret, testSalt, tok, 0, &v); err != nil || v["user_id"] != 42 {
		t.Fatalf("Verify = %v, %v", err, v)
	}
	// A Signer with the same secret and salt accepts it, and its default max age was embedded.
	s := newTestSigner(t)
	var c claims
	raw, _ := b64.DecodeString(parts(tok)[1])
	if err := json.Unmarshal(raw, &c); err != nil || c.MaxAge != DefaultMaxAge.Milliseconds() {
		t.Errorf("payload %s: %v", raw, err)
	}
	if err := at(s, time.UnixMilli(c.SignedAt)).Verify(tok, nil); err != nil {
		t.Errorf("Signer.Verify: %v", err)
	}
	if err := Verify(testSecret, testSalt, tok, -1, nil); !errors.Is(err, ErrExpired) {
		t.Errorf("Verify(max age -1) = %v, want ErrExpired", err)
	}
	if err := Verify(testSecret, "other", tok, 0, nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("Verify(other salt) = %v, want ErrInvalid", err)
	}
	if err := Verify(testSecret, testSalt, "", 0, nil); !errors.Is(err, ErrMissing) {
		t.Errorf("Verify(\"\") = %v, want ErrMissing", err)
	}
	if err := Verify(testSecret, testSalt, strings.Repeat("a", MaxTokenSize+1), 0, nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("Verify(oversized) = %v, want ErrInvalid", err)
	}
	if _, err := Sign("short", testSalt, 1, 0); !errors.Is(err, ErrBadConfig) {
		t.Errorf("Sign(short secret) = %v, want ErrBadConfig", err)
	}
	if err := Verify("short", testSalt, "", 0, nil); !errors.Is(err, ErrBadConfig) {
		t.Errorf("Verify(short secret) = %v, want ErrBadConfig", err)
	}
	short, err := Sign(testSecret, testSalt, 1, -1)
	if err != nil {
		t.Fatal(err)
	}
	if err := Verify(testSecret, testSalt, short, 0, nil); !errors.Is(err, ErrExpired) {
		t.Errorf("Verify(negative max age token) = %v, want ErrExpired", err)
	}
}

func TestConcurrent(t *testing.T) {
	s := newTestSigner(t)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				want := fmt.Sprintf("g%d-%d", g, i)
				tok, err := s.Sign(want)
				if err != nil {
					t.Error(err)
					return
				}
				var got string
				if err := s.Verify(tok, &got); err != nil || got != want {
					t.Errorf("Verify = %v, %q, want %q", err, got, want)
					return
				}
				if err := s.Verify(flip(tok, len(tok)-3), nil); !errors.Is(err, ErrInvalid) {
					t.Errorf("tampered: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
}
