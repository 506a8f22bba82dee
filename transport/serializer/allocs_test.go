package serializer

import (
	"testing"

	"github.com/pyrehq/pyre/actors/message"
)

// Encoding allocates the frame and nothing else; decoding a V2 text frame allocates the message, one string
// for its header fields and the payload.
func TestAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under the race detector")
	}
	p := message.JSON([]byte(`{"body":"hi"}`))
	bp := message.Binary([]byte("data"))
	br := message.NewBroadcast("room:1", "new_msg", p)
	bbr := message.NewBroadcast("room:1", "new_msg", bp)
	frame := []byte(`["1","2","room:1","new_msg",{"body":"hi"}]`)
	// The messages are built outside the measured functions: a literal passed through the interface escapes.
	enc := func(s Serializer, m message.Message) func() {
		return func() { _, _, _ = s.Encode(&m) }
	}
	tests := []struct {
		name string
		want float64
		f    func()
	}{
		{"V2 push", 1, enc(V2, message.Message{JoinRef: `"1"`, Topic: "room:1", Event: "e", Payload: p})},
		{"V2 push, numeric refs", 1, enc(V2, message.Message{JoinRef: `12`, Ref: `-1.5e3`, Topic: "room:1", Event: "e", Payload: p})},
		{"V2 push, escaped refs", 1, enc(V2, message.Message{JoinRef: `"\u00e9"`, Ref: `"é"`, Topic: "room:\"1", Event: "e", Payload: p})},
		{"V2 reply", 1, enc(V2, message.Message{JoinRef: `"1"`, Ref: `"2"`, Topic: "room:1", Status: "ok", Payload: p})},
		{"V2 binary push", 1, enc(V2, message.Message{JoinRef: `"1"`, Topic: "room:1", Event: "e", Payload: bp})},
		{"V2 binary reply", 1, enc(V2, message.Message{JoinRef: `1`, Ref: `"2"`, Topic: "room:1", Status: "ok", Payload: bp})},
		{"V1 push", 1, enc(V1, message.Message{JoinRef: `"1"`, Topic: "room:1", Event: "e", Payload: p})},
		{"V1 reply", 1, enc(V1, message.Message{Ref: `"2"`, Topic: "room:1", Status: "ok", Payload: p})},
		{"V2 broadcast", 1, func() { _, _, _ = V2.EncodeBroadcast(br) }},
		{"V2 binary broadcast", 1, func() { _, _, _ = V2.EncodeBroadcast(bbr) }},
		{"V1 broadcast", 1, func() { _, _, _ = V1.EncodeBroadcast(br) }},
		{"V2 decode", 3, func() { _, _ = V2.Decode(frame, false) }},
		// Every connection negotiates its serializer: nothing per connect.
		{"Negotiate 2.0.0", 0, func() { _, _ = Negotiate(defaults[:], "2.0.0") }},
		{"Negotiate 1.0.0", 0, func() { _, _ = Negotiate(defaults[:], "") }},
	}
	for _, tt := range tests {
		if got := testing.AllocsPerRun(100, tt.f); got != tt.want {
			t.Errorf("%s: %v allocations, want %v", tt.name, got, tt.want)
		}
	}
}
