package serializer

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/pyrehq/pyre/actors/message"
)

var (
	benchFrameV2 = []byte(`["3","7","room:lobby","new_msg",{"body":"hello world","user":"alice","at":1700000000}]`)
	benchFrameV1 = []byte(`{"topic":"room:lobby","event":"new_msg","payload":{"body":"hello world","user":"alice","at":1700000000},"ref":"7","join_ref":"3"}`)
	benchPayload = message.JSON([]byte(`{"body":"hello world","user":"alice","at":1700000000}`))
)

func BenchmarkDecodeV2(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchFrameV2)))
	for b.Loop() {
		if _, err := V2.Decode(benchFrameV2, false); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeV1(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchFrameV1)))
	for b.Loop() {
		if _, err := V1.Decode(benchFrameV1, false); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeV2Binary(b *testing.B) {
	frame := bin(0, 1, 1, 10, 6, "3", "7", "room:lobby", "upload", strings.Repeat("x", 64))
	b.ReportAllocs()
	b.SetBytes(int64(len(frame)))
	for b.Loop() {
		if _, err := V2.Decode(frame, true); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeV2Size shows decoding is linear in the payload size.
func BenchmarkDecodeV2Size(b *testing.B) {
	for _, n := range []int{1 << 10, 1 << 16, 1 << 20} {
		item := `{"k":"v\n","n":[1,2.5e3,true,null]},`
		frame := []byte(`[null,"1","t","e",[` + strings.Repeat(item, n/len(item)) + `0]]`)
		b.Run(fmt.Sprintf("%dKiB", n>>10), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(frame)))
			for b.Loop() {
				if _, err := V2.Decode(frame, false); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkEncodeV2Push(b *testing.B) {
	m := &message.Message{JoinRef: `"3"`, Topic: "room:lobby", Event: "new_msg", Payload: benchPayload}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := V2.Encode(m); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeV2Reply(b *testing.B) {
	m := &message.Message{JoinRef: `"3"`, Ref: `"7"`, Topic: "room:lobby", Event: message.EventReply, Status: "ok", Payload: benchPayload}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := V2.Encode(m); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeV1Push(b *testing.B) {
	m := &message.Message{JoinRef: `"3"`, Topic: "room:lobby", Event: "new_msg", Payload: benchPayload}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := V1.Encode(m); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeBroadcast(b *testing.B) {
	br := message.NewBroadcast("room:lobby", "new_msg", benchPayload)
	b.Run("V2", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := V2.EncodeBroadcast(br); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("V2-binary", func(b *testing.B) {
		bb := message.NewBroadcast("room:lobby", "new_msg", message.Binary([]byte(strings.Repeat("x", 64))))
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := V2.EncodeBroadcast(bb); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("V1", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := V1.EncodeBroadcast(br); err != nil {
				b.Fatal(err)
			}
		}
	})
	// The baseline this package avoids: json.Marshal of a []any per frame.
	b.Run("json.Marshal-baseline", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal([]any{nil, nil, br.Topic, br.Event, json.RawMessage(br.Payload.Bytes())}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
