package message

import (
	"encoding/json"
	"testing"
)

// The JSON path of user payloads: PayloadOf marshals what a channel replies or pushes, Decode unmarshals
// what a client pushed. Run with and without GOEXPERIMENT=jsonv2 to compare encoding/json's two
// implementations (with the experiment, v1's API runs on the v2 engine); json_v2_bench_test.go adds the
// v2 API itself.

type chatMsg struct {
	Body string   `json:"body"`
	User string   `json:"user"`
	N    int      `json:"n"`
	Tags []string `json:"tags"`
}

var (
	benchStruct = chatMsg{Body: "hello, this is a chat message of ordinary length", User: "user:42", N: 7, Tags: []string{"a", "b"}}
	benchMap    = map[string]any{"body": benchStruct.Body, "user": benchStruct.User, "n": 7, "tags": []string{"a", "b"}}
	benchRaw    = []byte(`{"body":"hello, this is a chat message of ordinary length","user":"user:42","n":7,"tags":["a","b"]}`)
)

func BenchmarkPayloadOfStruct(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := PayloadOf(benchStruct); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPayloadOfMap(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := PayloadOf(benchMap); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeStruct(b *testing.B) {
	p := JSON(benchRaw)
	b.ReportAllocs()
	for b.Loop() {
		var m chatMsg
		if err := p.Decode(&m); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkStdlibUnmarshalAny(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		var m any
		if err := json.Unmarshal(benchRaw, &m); err != nil {
			b.Fatal(err)
		}
	}
}
