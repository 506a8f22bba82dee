package main

import (
	"bytes"
	"errors"
	"testing"

	"github.com/pyrehq/pyre/actors/message"
	"github.com/pyrehq/pyre/transport/serializer"
)

// kind3 lays out a user broadcast push as realtime-js's _encodeUserBroadcastPush does: kind, the five
// lengths (join_ref, ref, topic, event, metadata), the payload encoding, the five strings, the payload.
func kind3(joinRef, ref, topic, event, meta string, encoding byte, payload []byte) []byte {
	f := []byte{kindUserBroadcastPush, byte(len(joinRef)), byte(len(ref)), byte(len(topic)), byte(len(event)), byte(len(meta)), encoding}
	for _, s := range []string{joinRef, ref, topic, event, meta} {
		f = append(f, s...)
	}
	return append(f, payload...)
}

func TestDecodeUserBroadcastPush(t *testing.T) {
	tests := []struct {
		name  string
		frame []byte
		want  string // frameString of the message
	}{
		{"json", kind3("1", "2", "realtime:room", "cursor", "", encodingJSON, []byte(`{"x":1}`)),
			`"1" "2" realtime:room broadcast {"type":"broadcast","event":"cursor","payload":{"x":1}}`},
		{"json with metadata", kind3("1", "3", "realtime:room", "cursor", `{"id":"a"}`, encodingJSON, []byte(`[1,2]`)),
			`"1" "3" realtime:room broadcast {"type":"broadcast","event":"cursor","payload":[1,2],"meta":{"id":"a"}}`},
		{"null refs", kind3("", "", "realtime:room", "cursor", "", encodingJSON, []byte(`null`)),
			` ` + ` realtime:room broadcast {"type":"broadcast","event":"cursor","payload":null}`},
		{"binary", kind3("1", "4", "realtime:room", "file", `{"id":"a"}`, encodingBinary, []byte{0, 1, 0xff}),
			`"1" "4" realtime:room file binary 0001ff`},
		{"binary empty", kind3("1", "", "realtime:room", "file", "", encodingBinary, nil),
			`"1"  realtime:room file binary `},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Realtime{}.Decode(tt.frame, true)
			if err != nil {
				t.Fatal(err)
			}
			if got := frameString(m); got != tt.want {
				t.Fatalf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestDecodeMalformedUserBroadcastPush(t *testing.T) {
	good := kind3("1", "2", "realtime:room", "cursor", "", encodingJSON, []byte(`{}`))
	for name, frame := range map[string][]byte{
		"short header":    good[:6],
		"strings overrun": good[:7+1+1+13],
		"bad encoding":    kind3("1", "2", "t", "e", "", 2, []byte(`{}`)),
		"json payload":    kind3("1", "2", "t", "e", "", encodingJSON, []byte(`{`)),
		"json metadata":   kind3("1", "2", "t", "e", "{", encodingJSON, []byte(`{}`)),
		"bad utf-8":       kind3("1", "2", "\xff", "e", "", encodingJSON, []byte(`{}`)),
		"v2 kind 2":       {2, 1, 1, 't', 'e'}, // V2 decodes the rest: a client may not send a broadcast
	} {
		if _, err := (Realtime{}).Decode(frame, true); !errors.Is(err, serializer.ErrMalformed) {
			t.Errorf("%s: err %v, want ErrMalformed", name, err)
		}
	}
}

// Everything but kind 3 is V2's: text frames and Phoenix's binary push.
func TestDecodeDefersToV2(t *testing.T) {
	m, err := Realtime{}.Decode([]byte(`["1","2","realtime:room","broadcast",{"type":"broadcast","event":"e","payload":{}}]`), false)
	if err != nil || frameString(m) != `"1" "2" realtime:room broadcast {"type":"broadcast","event":"e","payload":{}}` {
		t.Fatalf("text: %v %v", frameString(m), err)
	}
	m, err = Realtime{}.Decode([]byte{0, 1, 0, 1, 1, 'j', 't', 'e', 7}, true)
	if err != nil || frameString(m) != `"j" "" t e binary 07` {
		t.Fatalf("kind 0: %v %v", frameString(m), err)
	}
}

// Binary broadcasts and pushes go out as kind 4, laid out as realtime-js's _decodeUserBroadcast reads it:
// kind, topic length, event length, metadata length, payload encoding, topic, event, metadata, payload.
func TestEncodeUserBroadcast(t *testing.T) {
	want := append([]byte{kindUserBroadcast, 13, 4, 0, encodingBinary}, "realtime:roomfile\x00\x01\xff"...)
	f, binary, err := Realtime{}.EncodeBroadcast(message.NewBroadcast("realtime:room", "file", message.Binary([]byte{0, 1, 0xff})))
	if err != nil || !binary || !bytes.Equal(f, want) {
		t.Fatalf("broadcast: % x (binary %v, %v), want % x", f, binary, err, want)
	}
	f, binary, err = Realtime{}.Encode(&message.Message{JoinRef: "\"1\"", Topic: "realtime:room", Event: "file", Payload: message.Binary([]byte{0, 1, 0xff})})
	if err != nil || !binary || !bytes.Equal(f, want) {
		t.Fatalf("push: % x (binary %v, %v), want % x", f, binary, err, want)
	}
	// JSON stays V2's text frame, which realtime-js decodes as Phoenix's.
	f, binary, err = Realtime{}.EncodeBroadcast(message.NewBroadcast("realtime:room", "broadcast", message.JSON([]byte(`{"event":"e"}`))))
	if err != nil || binary || string(f) != `[null,null,"realtime:room","broadcast",{"event":"e"}]` {
		t.Fatalf("json broadcast: %s (binary %v, %v)", f, binary, err)
	}
	long := string(make([]byte, 256))
	if _, _, err := (Realtime{}).EncodeBroadcast(message.NewBroadcast("t", long, message.Binary(nil))); !errors.Is(err, serializer.ErrTooLong) {
		t.Fatalf("long event: %v, want ErrTooLong", err)
	}
}

// frameString renders m as `join_ref ref topic event payload` (refs as JSON tokens, binary in hex).
func frameString(m *message.Message) string {
	if m == nil {
		return "<nil>"
	}
	p := m.Payload.String()
	if m.Payload.IsBinary() {
		p = "binary " + hexOf(m.Payload.Bytes())
	}
	return string(m.JoinRef) + " " + string(m.Ref) + " " + m.Topic + " " + m.Event + " " + p
}

func hexOf(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}
