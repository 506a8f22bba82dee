package channeltest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"

	"github.com/pyrehq/pyre/actors/channel"
	"github.com/pyrehq/pyre/actors/message"
)

// A Matcher decides whether a payload is the one an assertion expects. The assertions take a want value:
// a Matcher, Any, []byte (a binary payload, byte for byte), or any other value, which matches a JSON
// payload equal to its JSON encoding (object key order and number spelling aside).
type Matcher interface {
	// Match reports whether p is what the assertion expects.
	Match(p channel.Payload) bool
	// String describes the expectation, for failure messages.
	String() string
}

// Any matches every payload (Phoenix's `_`).
var Any Matcher = anyMatcher{}

type anyMatcher struct{}

func (anyMatcher) Match(channel.Payload) bool { return true }
func (anyMatcher) String() string             { return "any payload" }

// Partial matches a JSON payload that has at least want's fields, as a Phoenix map pattern does: objects
// match recursively by their keys in want, extra keys allowed; any other value must be equal.
func Partial(want any) Matcher {
	v, err := decodeJSON(want)
	return partial{want: v, err: err}
}

type partial struct {
	want any
	err  error
}

func (m partial) Match(p channel.Payload) bool {
	if m.err != nil || p.IsBinary() {
		return false
	}
	got, err := decodeJSON(p)
	return err == nil && subset(m.want, got)
}

func (m partial) String() string {
	if m.err != nil {
		return fmt.Sprintf("partial (bad want: %v)", m.err)
	}
	b, _ := json.Marshal(m.want)
	return "partial " + string(b)
}

func subset(want, got any) bool {
	w, ok := want.(map[string]any)
	if !ok {
		return reflect.DeepEqual(want, got)
	}
	g, ok := got.(map[string]any)
	if !ok {
		return false
	}
	for k, wv := range w {
		gv, ok := g[k]
		if !ok || !subset(wv, gv) {
			return false
		}
	}
	return true
}

// matcher turns an assertion's want value into a Matcher.
func matcher(want any) Matcher {
	if m, ok := want.(Matcher); ok {
		return m
	}
	return Equal(want)
}

// Equal matches a payload equal to want: []byte a binary payload byte for byte, anything else a JSON
// payload equal to want's JSON encoding (nil is {}), object key order and number spelling aside. It is
// what the assertions do with a want that is not a Matcher; use it to check a JoinError's Reply.
func Equal(want any) Matcher {
	if b, ok := want.([]byte); ok {
		return binaryMatcher(b)
	}
	v, err := decodeJSON(want)
	return equal{want: v, err: err}
}

type binaryMatcher []byte

func (m binaryMatcher) Match(p channel.Payload) bool {
	return p.IsBinary() && bytes.Equal(p.Bytes(), m)
}
func (m binaryMatcher) String() string { return fmt.Sprintf("binary(%d bytes)", len(m)) }

type equal struct {
	want any
	err  error
}

func (m equal) Match(p channel.Payload) bool {
	if m.err != nil || p.IsBinary() {
		return false
	}
	got, err := decodeJSON(p)
	return err == nil && reflect.DeepEqual(m.want, got)
}

func (m equal) String() string {
	if m.err != nil {
		return fmt.Sprintf("(bad want: %v)", m.err)
	}
	b, _ := json.Marshal(m.want)
	return string(b)
}

// decodeJSON decodes v's JSON encoding (a Payload's as it is) into maps, slices and json.Numbers.
func decodeJSON(v any) (any, error) {
	p, err := message.PayloadOf(v)
	if err != nil {
		return nil, err
	}
	if p.IsBinary() {
		return nil, message.ErrBinaryPayload
	}
	d := json.NewDecoder(bytes.NewReader(p.Bytes()))
	d.UseNumber()
	var out any
	if err := d.Decode(&out); err != nil {
		return nil, err
	}
	return normalizeNumbers(out), nil
}

// normalizeNumbers makes 1, 1.0 and 1e0 equal.
func normalizeNumbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		if f, err := x.Float64(); err == nil {
			return f
		}
		return x.String()
	case map[string]any:
		for k, e := range x {
			x[k] = normalizeNumbers(e)
		}
	case []any:
		for i, e := range x {
			x[i] = normalizeNumbers(e)
		}
	}
	return v
}

// MatchFunc is a Matcher that calls match; what describes it in failure messages (Phoenix's patterns
// with guards).
func MatchFunc(what string, match func(p channel.Payload) bool) Matcher {
	return funcMatcher{what, match}
}

type funcMatcher struct {
	what  string
	match func(channel.Payload) bool
}

func (m funcMatcher) Match(p channel.Payload) bool { return m.match(p) }
func (m funcMatcher) String() string               { return m.what }
