package serializer

import "github.com/pyrehq/pyre/actors/message"

// Serializer encodes and decodes the frames of one protocol version. Implementations are stateless and safe
// for concurrent use. V1 and V2 are Phoenix's; a socket can serve others (transport.WithSerializers), e.g.
// for a client that extends the protocol with frames of its own.
type Serializer interface {
	// Vsn is the version this serializer speaks ("1.0.0" or "2.0.0").
	Vsn() string
	// Slot is the serializer's index into message.Broadcast's encoding cache, where a broadcast is
	// encoded once for all the connections that use it: 0 is V1's and 1 is V2's; a serializer of another
	// package takes 2 or 3 (an endpoint refuses two different serializers on one slot; endpoints that share
	// a PubSub must agree), or -1 to encode each broadcast once per connection.
	Slot() int
	// Decode parses one inbound frame; binary tells whether it arrived as a binary WebSocket frame.
	// A malformed frame returns an error wrapping ErrMalformed.
	Decode(frame []byte, binary bool) (*message.Message, error)
	// Encode renders an outbound push or reply. binary tells which WebSocket opcode to use.
	Encode(m *message.Message) (frame []byte, binary bool, err error)
	// EncodeBroadcast renders a broadcast as sent to every subscriber (no join_ref, no ref). binary must be
	// b.Payload.IsBinary(): the cache keeps the frame, and the opcode is derived from the payload.
	EncodeBroadcast(b *message.Broadcast) (frame []byte, binary bool, err error)
}

// The serializers, one per protocol version. Their slots are 0 (V1) and 1 (V2).
var (
	// V1 speaks vsn 1.0.x: JSON objects, no binary frames (Phoenix.Socket.V1.JSONSerializer).
	V1 Serializer = v1{}
	// V2 speaks vsn 2.0.x: JSON arrays and binary frames (Phoenix.Socket.V2.JSONSerializer).
	V2 Serializer = v2{}
)

const (
	slotV1 = 0
	slotV2 = 1
)

// DecodeOwned is s.Decode for a frame the caller gives up: the message may keep frame (its payload a part of
// it) instead of copying the payload, which for a large frame saves a copy of the whole message. The caller
// must not use or reuse frame afterwards. A Serializer of another package is simply asked to Decode.
func DecodeOwned(s Serializer, frame []byte, binary bool) (*message.Message, error) {
	if o, ok := s.(interface {
		decodeOwned(frame []byte, binary bool) (*message.Message, error)
	}); ok {
		return o.decodeOwned(frame, binary)
	}
	return s.Decode(frame, binary)
}

// payloadOf returns frame[start:end], copied unless own.
func payloadOf(frame []byte, start, end int, own bool) []byte {
	if own {
		return frame[start:end:end]
	}
	p := make([]byte, end-start)
	copy(p, frame[start:end])
	return p
}
