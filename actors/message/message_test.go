package message

import (
	"encoding/json"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
)

func TestParseRef(t *testing.T) {
	cases := []struct {
		in      string
		want    Ref
		text    string
		wantErr bool
	}{
		{`null`, "", "", false},
		{``, "", "", false},
		{`"5"`, `"5"`, "5", false},
		{` "a\"b" `, `"a\"b"`, `a"b`, false},
		{`"\u00e9"`, `"\u00e9"`, "é", false},
		{`12`, `12`, "12", false},
		{`-1.5e3`, `-1.5e3`, "-1.5e3", false},
		{`{}`, "", "", true},
		{`[1]`, "", "", true},
		{`true`, "", "", true},
		{`"unterminated`, "", "", true},
		{`1x`, "", "", true},
	}
	for _, c := range cases {
		got, err := ParseRef([]byte(c.in))
		if c.wantErr {
			if !errors.Is(err, ErrBadRef) {
				t.Errorf("ParseRef(%s) err %v, want ErrBadRef", c.in, err)
			}
			continue
		}
		if err != nil || got != c.want || got.String() != c.text {
			t.Errorf("ParseRef(%s) = %q (%q), %v; want %q (%q)", c.in, got, got.String(), err, c.want, c.text)
		}
	}
	if StringRef("12").JSON() != `"12"` || Ref("").JSON() != "null" {
		t.Fatal("JSON rendering")
	}
}

func TestPayloadOf(t *testing.T) {
	cases := []struct {
		in     any
		json   string
		binary bool
		object bool
	}{
		{nil, `{}`, false, true},
		{map[string]int{"a": 1}, `{"a":1}`, false, true},
		{json.RawMessage(`[1]`), `[1]`, false, false},
		{JSON([]byte(` {"x":1}`)), ` {"x":1}`, false, true},
		{[]byte{1, 2}, "\x01\x02", true, false},
		{"str", `"str"`, false, false},
	}
	for _, c := range cases {
		p, err := PayloadOf(c.in)
		if err != nil || string(p.Bytes()) != c.json || p.IsBinary() != c.binary || p.IsObject() != c.object {
			t.Errorf("PayloadOf(%v) = %q binary=%v object=%v err=%v", c.in, p.Bytes(), p.IsBinary(), p.IsObject(), err)
		}
	}
	if _, err := ObjectPayloadOf([]int{1}); !errors.Is(err, ErrNotObject) {
		t.Fatalf("ObjectPayloadOf(array) err %v", err)
	}
	if _, err := ObjectPayloadOf(make(chan int)); err == nil {
		t.Fatal("unmarshalable value accepted")
	}
	var v struct{ A int }
	if err := JSON([]byte(`{"A":3}`)).Decode(&v); err != nil || v.A != 3 {
		t.Fatalf("Decode: %v %v", v, err)
	}
	if err := Binary([]byte{1}).Decode(&v); !errors.Is(err, ErrBinaryPayload) {
		t.Fatalf("Decode(binary) err %v", err)
	}
}

func TestBroadcastEncodedOncePerSlot(t *testing.T) {
	b := NewBroadcast("t", "e", EmptyObject)
	var calls atomic.Int32
	enc := func(*Broadcast) ([]byte, error) { calls.Add(1); return []byte("x"), nil }
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func(slot int) {
			defer wg.Done()
			if d, err := b.Encoded(slot, enc); err != nil || string(d) != "x" {
				t.Errorf("Encoded: %q %v", d, err)
			}
		}(i % 2)
	}
	wg.Wait()
	if n := calls.Load(); n != 2 {
		t.Fatalf("encoder ran %d times, want 2 (once per slot)", n)
	}
}

func FuzzParseRef(f *testing.F) {
	for _, s := range []string{`"1"`, `12`, `null`, `{}`, `"\ud800"`, `-0`, `1e999`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		r, err := ParseRef(raw)
		if err != nil {
			return
		}
		if !r.IsNull() && !json.Valid([]byte(r.JSON())) {
			t.Fatalf("accepted ref %q is not valid JSON", r)
		}
		_ = r.String()
	})
}
