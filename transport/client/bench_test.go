package client

import (
	"encoding/json"
	"testing"
)

func BenchmarkDecodeText(b *testing.B) {
	frame := []byte(`["12",null,"room:lobby","new_msg",{"body":"hello there","user":{"id":42,"name":"ann"}}]`)
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(TextFrame, frame); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeBinary(b *testing.B) {
	frame := encodeServerPush("12", "room:lobby", "new_msg", make([]byte, 64))
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(BinaryFrame, frame); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeText(b *testing.B) {
	payload := json.RawMessage(`{"body":"hello there"}`)
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		buf = appendTextPush(buf[:0], "12", "345", "room:lobby", "new_msg", payload)
	}
}

// BenchmarkPushRoundTrip measures Channel.Push against the loopback test server (client and server share
// the CPUs).
func BenchmarkPushRoundTrip(b *testing.B) {
	s := newTestServer(b)
	c := dial(b, s, Options{})
	ch := join(b, c, "room:1", nil)
	payload := json.RawMessage(`{"a":1}`)
	ctx := testCtx(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ch.Push(ctx, "echo", payload); err != nil {
			b.Fatal(err)
		}
	}
}
