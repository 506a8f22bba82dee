package serializer

import (
	"bytes"
	"fmt"

	"github.com/pyrehq/pyre/actors/message"
)

// v1 is Phoenix.Socket.V1.JSONSerializer: every frame is a JSON object; there are no binary frames.
type v1 struct{}

func (v1) Vsn() string { return "1.0.0" }
func (v1) Slot() int   { return slotV1 }

// Keys of a V1 frame.
const (
	keyTopic = iota
	keyEvent
	keyPayload
	keyRef
	keyJoinRef
	numKeys
)

var v1Keys = [numKeys]string{"topic", "event", "payload", "ref", "join_ref"}

// Decode parses {"topic": T, "event": E, "payload": P, "ref": R} with an optional "join_ref"; other keys are
// ignored and, as in encoding/json, the last of duplicate keys wins.
func (v1) Decode(frame []byte, binary bool) (*message.Message, error) {
	return decodeV1(frame, binary, false)
}

func (v1) decodeOwned(frame []byte, binary bool) (*message.Message, error) {
	return decodeV1(frame, binary, true)
}

func decodeV1(frame []byte, binary, own bool) (*message.Message, error) {
	const what = "V1 frame"
	if binary {
		return nil, fmt.Errorf("%w: %s: V1 has no binary frames", ErrMalformed, what)
	}
	s := scanner{data: frame}
	s.ws()
	if s.pos >= len(frame) || frame[s.pos] != '{' {
		s.fail("not a JSON object")
		return nil, s.err(what)
	}
	s.pos++
	var (
		found [numKeys]bool
		vals  [numKeys]span
	)
	s.ws()
	if s.pos < len(frame) && frame[s.pos] == '}' {
		s.pos++
	} else {
		for {
			keyStart, keyEnd, ok := s.key()
			if !ok {
				return nil, s.err(what)
			}
			s.ws()
			start := s.pos
			if !s.value(1) {
				return nil, s.err(what)
			}
			key := frame[keyStart+1 : keyEnd-1]
			if bytes.IndexByte(key, '\\') >= 0 {
				key = []byte(unquote(frame[keyStart:keyEnd]))
			}
			for k, name := range v1Keys {
				if string(key) == name {
					found[k], vals[k] = true, span{start, s.pos}
					break
				}
			}
			s.ws()
			if s.pos < len(frame) && frame[s.pos] == ',' {
				s.pos++
				continue
			}
			if s.pos < len(frame) && frame[s.pos] == '}' {
				s.pos++
				break
			}
			if s.pos >= len(frame) {
				s.fail("unexpected end of JSON")
			} else {
				s.fail("expected ',' or '}'")
			}
			return nil, s.err(what)
		}
	}
	if !s.eof() {
		s.fail("data after the object")
		return nil, s.err(what)
	}
	for k := range keyJoinRef {
		if !found[k] {
			return nil, fmt.Errorf("%w: %s: missing key %q", ErrMalformed, what, v1Keys[k])
		}
	}
	for _, k := range [...]int{keyTopic, keyEvent} {
		if frame[vals[k].start] != '"' {
			return nil, fmt.Errorf("%w: %s: %s must be a string at offset %d", ErrMalformed, what, v1Keys[k], vals[k].start)
		}
	}
	for _, k := range [...]int{keyRef, keyJoinRef} {
		if found[k] && !isRefStart(frame[vals[k].start]) {
			return nil, fmt.Errorf("%w: %s: %s must be a string, a number or null at offset %d",
				ErrMalformed, what, v1Keys[k], vals[k].start)
		}
	}
	tok := func(k int) []byte { return frame[vals[k].start:vals[k].end] }
	m := &message.Message{
		Ref:   refOf(string(tok(keyRef))),
		Topic: unquote(tok(keyTopic)),
		Event: unquote(tok(keyEvent)),
	}
	if found[keyJoinRef] {
		m.JoinRef = refOf(string(tok(keyJoinRef)))
	}
	m.Payload = message.JSON(payloadOf(frame, vals[keyPayload].start, vals[keyPayload].end, own))
	return m, nil
}

// Encode renders {"event": E, "payload": P, "ref": R, "topic": T}, never with join_ref (Phoenix's V1 takes
// only those four fields); a reply's payload is {"response": P, "status": S}.
func (v1) Encode(m *message.Message) ([]byte, bool, error) {
	if m.Payload.IsBinary() {
		return nil, false, fmt.Errorf("%w: %q on %q", ErrBinaryV1, m.Event, m.Topic)
	}
	r, err := refJSON(m.Ref, "ref")
	if err != nil {
		return nil, false, err
	}
	p := payloadJSON(m.Payload)
	if m.IsReply() {
		return v1Frame(message.EventReply, p, m.Status, true, r, m.Topic), false, nil
	}
	return v1Frame(m.Event, p, "", false, r, m.Topic), false, nil
}

// EncodeBroadcast renders the broadcast as a message with a null ref, as Phoenix's V1 fastlane does.
func (v1) EncodeBroadcast(b *message.Broadcast) ([]byte, bool, error) {
	if b.Payload.IsBinary() {
		return nil, false, fmt.Errorf("%w: broadcast of %q on %q", ErrBinaryV1, b.Event, b.Topic)
	}
	return v1Frame(b.Event, payloadJSON(b.Payload), "", false, "null", b.Topic), false, nil
}

// v1Frame renders a V1 object, keys in Phoenix's (sorted) order.
func v1Frame(event string, p []byte, status string, reply bool, ref, topic string) []byte {
	const (
		kEvent    = `{"event":`
		kPayload  = `,"payload":`
		kResponse = `{"response":`
		kStatus   = `,"status":`
		kRef      = `,"ref":`
		kTopic    = `,"topic":`
	)
	n := len(kEvent) + quotedLen(event) + len(kPayload) + len(p) + len(kRef) + len(ref) + len(kTopic) + quotedLen(topic) + 1
	if reply {
		n += len(kResponse) + len(kStatus) + quotedLen(status) + 1
	}
	b := make([]byte, 0, n)
	b = append(b, kEvent...)
	b = appendQuoted(b, event)
	b = append(b, kPayload...)
	if reply {
		b = append(b, kResponse...)
		b = append(b, p...)
		b = append(b, kStatus...)
		b = appendQuoted(b, status)
		b = append(b, '}')
	} else {
		b = append(b, p...)
	}
	b = append(b, kRef...)
	b = append(b, ref...)
	b = append(b, kTopic...)
	b = appendQuoted(b, topic)
	return append(b, '}')
}
