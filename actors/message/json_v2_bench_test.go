//go:build goexperiment.jsonv2

package message

import (
	jsonv2 "encoding/json/v2"
	"testing"
)

func BenchmarkV2MarshalStruct(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := jsonv2.Marshal(benchStruct); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkV2UnmarshalStruct(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		var m chatMsg
		if err := jsonv2.Unmarshal(benchRaw, &m); err != nil {
			b.Fatal(err)
		}
	}
}
