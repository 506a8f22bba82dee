// Package message holds the wire-neutral values that flow between a client connection, the socket and
// channel actors, and pubsub: payloads, refs, messages and broadcasts. It knows nothing of JSON frames or
// WebSockets; serializers in transport/ turn these values into frames and back.
//
// Channel code meets Payload (as channel.Payload: Decode it, or pass values that PayloadOf encodes);
// serializers, transports and pubsub adapters meet the rest:
//
//	p, err := message.PayloadOf(map[string]string{"body": "hi"}) // JSON; message.Binary(b) for bytes
//	b := message.NewBroadcast("room:lobby", "shout", p)
//	frame, err := b.Encoded(s.Slot(), func(b *message.Broadcast) ([]byte, error) { // once per serializer s
//		f, _, err := s.EncodeBroadcast(b)
//		return f, err
//	})
//
// # Mapping from Phoenix
//
//	Phoenix.Socket.Message    Message (inbound, and outbound pushes)
//	Phoenix.Socket.Reply      Message with Event "phx_reply" and a Status
//	Phoenix.Socket.Broadcast  Broadcast (encoded once per serializer, see Broadcast.Encoded)
//	{:binary, data}           a binary Payload
//
// # Concurrency
//
// Payload, Ref and Message are values; do not mutate a Message after handing it to a connection.
// Broadcast is shared by every subscriber and safe for concurrent use.
package message

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
)

// Reserved event names of the Phoenix protocol.
const (
	EventJoin      = "phx_join"
	EventLeave     = "phx_leave"
	EventReply     = "phx_reply"
	EventClose     = "phx_close"
	EventError     = "phx_error"
	EventHeartbeat = "heartbeat"
	TopicPhoenix   = "phoenix"
)

// Reply statuses used by Phoenix; any other word is allowed too.
const (
	StatusOK    = "ok"
	StatusError = "error"
)

// Errors returned by this package.
var (
	ErrBinaryPayload = errors.New("message: payload is binary, not JSON")
	ErrNotObject     = errors.New("message: JSON payload is not an object")
	ErrBadRef        = errors.New("message: ref must be a JSON string, number or null")
	// ErrTooLarge refuses an outbound message whose Size is over the endpoint's limit, where it is made
	// (push, reply, broadcast): one message no receiver could take must not cut them all.
	ErrTooLarge = errors.New("message: too large to send")
)

// CheckSize returns ErrTooLarge (with the sizes) when size is over limit; a limit <= 0 means none.
func CheckSize(size, limit int) error {
	if limit > 0 && size > limit {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, size, limit)
	}
	return nil
}

// Ref is a client-chosen reference (join_ref or ref), kept as the JSON token the client sent so that it is
// echoed exactly: a string stays a string, a number a number. The zero Ref is null.
type Ref string

// StringRef returns the Ref for the string s (as binary frames carry refs).
func StringRef(s string) Ref {
	b, _ := json.Marshal(s)
	return Ref(b)
}

// ParseRef validates a raw JSON token as a ref: a string, a number or null.
func ParseRef(raw []byte) (Ref, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	switch c := raw[0]; {
	case c == '"':
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return "", ErrBadRef
		}
	case c == '-' || (c >= '0' && c <= '9'):
		var n json.Number
		if json.Unmarshal(raw, &n) != nil {
			return "", ErrBadRef
		}
	default:
		return "", ErrBadRef
	}
	return Ref(raw), nil
}

// IsNull reports whether the ref is null (absent).
func (r Ref) IsNull() bool { return r == "" || r == "null" }

// JSON returns the JSON token of the ref ("null" for a null ref).
func (r Ref) JSON() string {
	if r.IsNull() {
		return "null"
	}
	return string(r)
}

// String returns the ref's text without JSON quoting ("" for null): what binary frames carry.
func (r Ref) String() string {
	if r.IsNull() {
		return ""
	}
	if r[0] == '"' {
		var s string
		_ = json.Unmarshal([]byte(r), &s)
		return s
	}
	return string(r)
}

// Payload is a message body kept as the client sent it: raw JSON, or binary data. It is decoded only when
// the user asks (Decode), so payloads that are only passed along are never parsed.
type Payload struct {
	data   []byte
	binary bool
}

// JSON wraps raw JSON text as a payload. The text is not validated here.
func JSON(raw []byte) Payload { return Payload{data: raw} }

// Binary wraps binary data as a payload, sent in binary frames.
func Binary(data []byte) Payload { return Payload{data: data, binary: true} }

// EmptyObject is the payload `{}`.
var EmptyObject = Payload{data: []byte("{}")}

// IsBinary reports whether the payload is binary.
func (p Payload) IsBinary() bool { return p.binary }

// Bytes returns the raw JSON text or the binary data. The caller must not modify it.
func (p Payload) Bytes() []byte { return p.data }

// Len is the size of the payload in bytes.
func (p Payload) Len() int { return len(p.data) }

// IsObject reports whether the payload is a JSON object.
func (p Payload) IsObject() bool {
	if p.binary {
		return false
	}
	d := bytes.TrimLeft(p.data, " \t\r\n")
	return len(d) > 0 && d[0] == '{'
}

// Decode unmarshals a JSON payload into v.
func (p Payload) Decode(v any) error {
	if p.binary {
		return ErrBinaryPayload
	}
	if len(p.data) == 0 {
		return json.Unmarshal([]byte("null"), v)
	}
	return json.Unmarshal(p.data, v)
}

// MarshalJSON lets a JSON payload be embedded in other values unchanged.
func (p Payload) MarshalJSON() ([]byte, error) {
	if p.binary {
		return nil, ErrBinaryPayload
	}
	if len(p.data) == 0 {
		return []byte("null"), nil
	}
	return p.data, nil
}

// String is for logs and tests.
func (p Payload) String() string {
	if p.binary {
		return fmt.Sprintf("binary(%d bytes)", len(p.data))
	}
	return string(p.data)
}

// PayloadOf converts a user value into a payload: a Payload or json.RawMessage passes through unchanged,
// []byte is binary, nil is `{}`, anything else is marshalled with encoding/json.
func PayloadOf(v any) (Payload, error) {
	switch x := v.(type) {
	case nil:
		return EmptyObject, nil
	case Payload:
		if x.data == nil && !x.binary {
			return EmptyObject, nil
		}
		return x, nil
	case *Payload:
		return PayloadOf(*x)
	case json.RawMessage:
		return JSON(x), nil
	case []byte:
		return Binary(x), nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return Payload{}, err
	}
	return JSON(b), nil
}

// ObjectPayloadOf is PayloadOf for pushes and broadcasts, whose JSON payload must be an object (Phoenix
// raises otherwise).
func ObjectPayloadOf(v any) (Payload, error) {
	p, err := PayloadOf(v)
	if err != nil {
		return p, err
	}
	if !p.binary && !p.IsObject() {
		return Payload{}, fmt.Errorf("%w: %.40s", ErrNotObject, p.data)
	}
	return p, nil
}

// Message is one Phoenix message: inbound from a client, or outbound to one. An outbound reply has Event
// "phx_reply" and a non-empty Status; its Payload is the reply's response.
type Message struct {
	JoinRef Ref     // the join's ref: which joined channel the message belongs to
	Ref     Ref     // the push's ref, echoed in its reply; null for server pushes and broadcasts
	Topic   string  // the channel's topic, "phoenix" for heartbeats
	Event   string  // "phx_join", "phx_reply", an application event...
	Payload Payload // JSON or binary
	Status  string  // replies only
}

// IsReply reports whether m is an outbound reply.
func (m *Message) IsReply() bool { return m.Status != "" }

// Size is an estimate of the frame size, used to bound outbound queues.
func (m *Message) Size() int {
	return len(m.JoinRef) + len(m.Ref) + len(m.Topic) + len(m.Event) + len(m.Status) + m.Payload.Len() + 32
}

// NewReply builds the reply to an inbound message.
func NewReply(to *Message, status string, response Payload) *Message {
	return &Message{JoinRef: to.JoinRef, Ref: to.Ref, Topic: to.Topic, Event: EventReply, Status: status, Payload: response}
}

// Broadcast is a message for every subscriber of a topic. It is encoded at most once per serializer, by
// whichever subscriber asks first (see Encoded): the fastlane.
type Broadcast struct {
	Topic   string  // the topic whose subscribers get it
	Event   string  // the event, as in a push
	Payload Payload // JSON or binary

	cache [maxEncodings]encoding
}

// maxEncodings bounds the serializers a broadcast may be cached for.
const maxEncodings = 4

type encoding struct {
	once sync.Once
	data []byte
	err  error
}

// NewBroadcast builds a broadcast.
func NewBroadcast(topic, event string, payload Payload) *Broadcast {
	return &Broadcast{Topic: topic, Event: event, Payload: payload}
}

// Encoded returns the broadcast encoded by encode, computing it only once for a given slot (0 to 3, one
// slot per serializer) however many connections ask.
func (b *Broadcast) Encoded(slot int, encode func(*Broadcast) ([]byte, error)) ([]byte, error) {
	if slot < 0 || slot >= maxEncodings {
		return encode(b)
	}
	e := &b.cache[slot]
	e.once.Do(func() { e.data, e.err = encode(b) })
	return e.data, e.err
}

// Size is an estimate of the encoded size, used to bound outbound queues.
func (b *Broadcast) Size() int { return len(b.Topic) + len(b.Event) + b.Payload.Len() + 24 }
