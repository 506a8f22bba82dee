package main

import (
	"encoding/json"
	"fmt"
	"unicode/utf8"

	"github.com/pyrehq/pyre/actors/message"
	"github.com/pyrehq/pyre/transport/serializer"
)

// Frame kinds @supabase/realtime-js adds to Phoenix's V2 binary frames (its lib/serializer.ts), and the
// encodings of their user payload.
const (
	kindUserBroadcastPush = 3 // client → server: a broadcast the client sends on a channel
	kindUserBroadcast     = 4 // server → client: a broadcast the client delivers to its listeners

	encodingBinary = 0
	encodingJSON   = 1
)

// Realtime is the serializer of @supabase/realtime-js at vsn 2.0.0: Phoenix's V2 (JSON arrays, whose text
// frames it shares) plus the binary user broadcast frames of kinds 3 and 4. It maps them onto Pyre's
// messages as follows.
//
// Inbound, kind 3 — [3, join_ref len, ref len, topic len, event len, meta len, encoding, join_ref, ref,
// topic, event, meta, payload] — becomes a push on topic whose refs are join_ref and ref (realtime-js sends
// "" for null):
//   - JSON encoding: event "broadcast" with payload {"type":"broadcast","event":E,"payload":P} (plus
//     "meta":M when there is metadata), exactly what older clients send as a text frame, so one HandleIn
//     serves both;
//   - binary encoding: event E with the binary payload (the metadata is dropped).
//
// Outbound, a broadcast or push whose payload is binary goes out as kind 4 — [4, topic len, event len,
// meta len, encoding, topic, event, meta, payload] — with event E and binary encoding: realtime-js decodes
// no other binary frame (a Phoenix kind 2 broadcast is lost on it). Everything else is V2's: JSON as text
// frames, which realtime-js decodes as Phoenix's. A binary reply is V2's kind 1, which realtime-js cannot
// decode: reply with JSON.
type Realtime struct{}

var _ serializer.Serializer = Realtime{}

// Vsn is the version realtime-js asks for by default.
func (Realtime) Vsn() string { return "2.0.0" }

// Slot is this serializer's broadcast cache slot: slot 1 is V2's, whose binary broadcasts differ.
func (Realtime) Slot() int { return 2 }

// Decode decodes kind 3 frames and leaves every other frame to V2.
func (Realtime) Decode(frame []byte, binary bool) (*message.Message, error) {
	if !binary || len(frame) == 0 || frame[0] != kindUserBroadcastPush {
		return serializer.V2.Decode(frame, binary)
	}
	const head = 7
	if len(frame) < head {
		return nil, fmt.Errorf("%w: user broadcast push: header is %d bytes, want %d", serializer.ErrMalformed, len(frame), head)
	}
	var fields [5]string
	at := head
	for i, name := range [...]string{"join_ref", "ref", "topic", "event", "meta"} {
		n := int(frame[1+i])
		if at+n > len(frame) {
			return nil, fmt.Errorf("%w: user broadcast push: %s overruns the frame", serializer.ErrMalformed, name)
		}
		fields[i] = string(frame[at : at+n])
		if !utf8.ValidString(fields[i]) {
			return nil, fmt.Errorf("%w: user broadcast push: %s is not valid UTF-8", serializer.ErrMalformed, name)
		}
		at += n
	}
	joinRef, ref, topic, event, meta := fields[0], fields[1], fields[2], fields[3], fields[4]
	data := append([]byte(nil), frame[at:]...) // the frame's buffer is reused after Decode
	m := &message.Message{JoinRef: nullable(joinRef), Ref: nullable(ref), Topic: topic}
	switch frame[6] {
	case encodingBinary:
		m.Event, m.Payload = event, message.Binary(data)
	case encodingJSON:
		if !json.Valid(data) || (meta != "" && !json.Valid([]byte(meta))) {
			return nil, fmt.Errorf("%w: user broadcast push: payload or meta is not JSON", serializer.ErrMalformed)
		}
		p := struct {
			Type    string          `json:"type"`
			Event   string          `json:"event"`
			Payload json.RawMessage `json:"payload"`
			Meta    json.RawMessage `json:"meta,omitempty"`
		}{"broadcast", event, data, json.RawMessage(meta)}
		raw, err := json.Marshal(p)
		if err != nil {
			return nil, fmt.Errorf("%w: user broadcast push: %v", serializer.ErrMalformed, err)
		}
		m.Event, m.Payload = "broadcast", message.JSON(raw)
	default:
		return nil, fmt.Errorf("%w: user broadcast push: encoding %d", serializer.ErrMalformed, frame[6])
	}
	return m, nil
}

// nullable is the Ref of a ref realtime-js wrote into a binary frame: "" stands for null.
func nullable(s string) message.Ref {
	if s == "" {
		return ""
	}
	return message.StringRef(s)
}

// Encode renders a push with a binary payload as kind 4, anything else as V2 does.
func (Realtime) Encode(m *message.Message) ([]byte, bool, error) {
	if m.Payload.IsBinary() && m.Status == "" {
		f, err := userBroadcast(m.Topic, m.Event, m.Payload.Bytes())
		return f, true, err
	}
	return serializer.V2.Encode(m)
}

// EncodeBroadcast renders a binary broadcast as kind 4, a JSON one as V2 does.
func (Realtime) EncodeBroadcast(b *message.Broadcast) ([]byte, bool, error) {
	if b.Payload.IsBinary() {
		f, err := userBroadcast(b.Topic, b.Event, b.Payload.Bytes())
		return f, true, err
	}
	return serializer.V2.EncodeBroadcast(b)
}

// userBroadcast renders a kind 4 frame with a binary payload and no metadata.
func userBroadcast(topic, event string, data []byte) ([]byte, error) {
	if len(topic) > 255 || len(event) > 255 {
		return nil, fmt.Errorf("%w: topic or event of a user broadcast", serializer.ErrTooLong)
	}
	f := make([]byte, 0, 5+len(topic)+len(event)+len(data))
	f = append(f, kindUserBroadcast, byte(len(topic)), byte(len(event)), 0, encodingBinary)
	f = append(f, topic...)
	f = append(f, event...)
	return append(f, data...), nil
}
