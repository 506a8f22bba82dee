package main

import "testing"

// The raw-gws baseline's frame handling, for the micro rows of measure bench: the same frames as
// transport/serializer's BenchmarkDecodeV2, BenchmarkEncodeV2Reply and BenchmarkEncodeBroadcast/V2.
var (
	baselineFrame   = []byte(`["3","7","room:lobby","new_msg",{"body":"hello world","user":"alice","at":1700000000}]`)
	baselinePayload = []byte(`{"body":"hello world","user":"alice","at":1700000000}`)
)

func BenchmarkBaselineDecode(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(baselineFrame)))
	for b.Loop() {
		if _, _, _, ok := baselineDecode(baselineFrame); !ok {
			b.Fatal("not decoded")
		}
	}
}

func BenchmarkBaselineReply(b *testing.B) {
	f, _, _, ok := baselineDecode(baselineFrame)
	if !ok {
		b.Fatal("not decoded")
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = baselineReply(f, echoEvent, true)
	}
}

func BenchmarkBaselineBroadcast(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = baselineBroadcast("room:lobby", baselinePayload)
	}
}
