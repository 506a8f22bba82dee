package serializer

import (
	"bytes"
	"encoding/json"
	"slices"
	"testing"
	"unicode/utf8"

	"github.com/pyrehq/pyre/actors/message"
)

// This file holds a small test-only parser for the frames the server sends, built on encoding/json, so that
// encoder output is checked independently of the package's own scanner.

// wireV2 is a V2 text frame as the client sees it.
type wireV2 struct {
	J, R  string // JSON tokens, as sent
	Topic string
	Event string
	P     string // raw JSON
}

// parseV2 parses a V2 text frame of exactly five elements with string topic and event.
func parseV2(tb testing.TB, frame []byte) wireV2 {
	tb.Helper()
	if !utf8.Valid(frame) || !json.Valid(frame) {
		tb.Fatalf("frame is not valid JSON: %q", frame)
	}
	var arr []json.RawMessage
	if err := json.Unmarshal(frame, &arr); err != nil {
		tb.Fatalf("frame is not a JSON array: %q: %v", frame, err)
	}
	if len(arr) != 5 {
		tb.Fatalf("frame has %d elements, want 5: %q", len(arr), frame)
	}
	return wireV2{
		J: string(arr[0]), R: string(arr[1]),
		Topic: jsonString(tb, arr[2]), Event: jsonString(tb, arr[3]),
		P: string(arr[4]),
	}
}

// wireReply is the payload of a phx_reply.
type wireReply struct {
	Response json.RawMessage `json:"response"`
	Status   string          `json:"status"`
}

// parseReplyPayload checks that p is exactly {"response":..,"status":..} and returns it.
func parseReplyPayload(tb testing.TB, p string) wireReply {
	tb.Helper()
	var keys map[string]json.RawMessage
	if err := json.Unmarshal([]byte(p), &keys); err != nil {
		tb.Fatalf("reply payload is not an object: %q: %v", p, err)
	}
	if got := sortedKeys(keys); !slices.Equal(got, []string{"response", "status"}) {
		tb.Fatalf("reply payload keys = %q, want response and status", got)
	}
	var r wireReply
	if err := json.Unmarshal([]byte(p), &r); err != nil {
		tb.Fatalf("reply payload: %v", err)
	}
	return r
}

// parseV1 parses a V1 frame and checks that it has exactly the keys event, payload, ref and topic.
func parseV1(tb testing.TB, frame []byte) (topic, event, ref, payload string) {
	tb.Helper()
	if !utf8.Valid(frame) || !json.Valid(frame) {
		tb.Fatalf("frame is not valid JSON: %q", frame)
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(frame, &obj); err != nil {
		tb.Fatalf("frame is not a JSON object: %q: %v", frame, err)
	}
	if got := sortedKeys(obj); !slices.Equal(got, []string{"event", "payload", "ref", "topic"}) {
		tb.Fatalf("V1 frame keys = %q, want event, payload, ref, topic: %q", got, frame)
	}
	return jsonString(tb, obj["topic"]), jsonString(tb, obj["event"]), string(obj["ref"]), string(obj["payload"])
}

// parseBinary splits a server binary frame into its kind, header strings and data.
func parseBinary(tb testing.TB, frame []byte) (kind byte, fields []string, data []byte) {
	tb.Helper()
	counts := map[byte]int{0: 3, 1: 4, 2: 2}
	if len(frame) == 0 {
		tb.Fatal("empty binary frame")
	}
	kind = frame[0]
	n, ok := counts[kind]
	if !ok || len(frame) < 1+n {
		tb.Fatalf("bad binary frame %v", frame)
	}
	at := 1 + n
	for i := range n {
		l := int(frame[1+i])
		if at+l > len(frame) {
			tb.Fatalf("binary frame %v: field %d overruns", frame, i)
		}
		fields = append(fields, string(frame[at:at+l]))
		at += l
	}
	return kind, fields, frame[at:]
}

func jsonString(tb testing.TB, raw json.RawMessage) string {
	tb.Helper()
	if len(raw) == 0 || raw[0] != '"' {
		tb.Fatalf("not a JSON string: %q", raw)
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		tb.Fatalf("bad JSON string %q: %v", raw, err)
	}
	return s
}

func sortedKeys(m map[string]json.RawMessage) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// jsonRoundTrip is what a client reads back for s after encoding/json encodes it (invalid UTF-8 replaced).
func jsonRoundTrip(s string) string {
	b, _ := json.Marshal(s)
	var out string
	_ = json.Unmarshal(b, &out)
	return out
}

// sameMessage reports the differences between two messages, comparing payload bytes and kind.
func diffMessage(got, want *message.Message) string {
	var d []byte
	add := func(field string, g, w any) {
		d = append(d, field...)
		d = append(d, ": got "...)
		d, _ = appendJSONish(d, g)
		d = append(d, ", want "...)
		d, _ = appendJSONish(d, w)
		d = append(d, "; "...)
	}
	if got.JoinRef != want.JoinRef {
		add("JoinRef", string(got.JoinRef), string(want.JoinRef))
	}
	if got.Ref != want.Ref {
		add("Ref", string(got.Ref), string(want.Ref))
	}
	if got.Topic != want.Topic {
		add("Topic", got.Topic, want.Topic)
	}
	if got.Event != want.Event {
		add("Event", got.Event, want.Event)
	}
	if got.Status != want.Status {
		add("Status", got.Status, want.Status)
	}
	if got.Payload.IsBinary() != want.Payload.IsBinary() || !bytes.Equal(got.Payload.Bytes(), want.Payload.Bytes()) {
		add("Payload", got.Payload.String(), want.Payload.String())
	}
	return string(d)
}

func appendJSONish(d []byte, v any) ([]byte, error) {
	b, err := json.Marshal(v)
	return append(d, b...), err
}

// str builds a frame from text, for tables.
func str(s string) []byte { return []byte(s) }

// bin builds a binary frame from bytes and strings.
func bin(parts ...any) []byte {
	var b []byte
	for _, p := range parts {
		switch x := p.(type) {
		case int:
			b = append(b, byte(x))
		case string:
			b = append(b, x...)
		case []byte:
			b = append(b, x...)
		default:
			panic("bin: bad part")
		}
	}
	return b
}
