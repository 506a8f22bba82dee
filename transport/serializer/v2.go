package serializer

import (
	"bytes"
	"fmt"
	"unicode/utf8"

	"github.com/pyrehq/pyre/actors/message"
)

// v2 is Phoenix.Socket.V2.JSONSerializer: text frames are JSON arrays [join_ref, ref, topic, event, payload],
// binary payloads travel in binary frames.
type v2 struct{}

func (v2) Vsn() string { return "2.0.0" }
func (v2) Slot() int   { return slotV2 }

// Kinds of V2 binary frames.
const (
	kindPush      = 0
	kindReply     = 1
	kindBroadcast = 2
)

func (v2) Decode(frame []byte, binary bool) (*message.Message, error) {
	return decodeV2(frame, binary, false)
}

func (v2) decodeOwned(frame []byte, binary bool) (*message.Message, error) {
	return decodeV2(frame, binary, true)
}

func decodeV2(frame []byte, binary, own bool) (*message.Message, error) {
	if binary {
		return decodeV2Binary(frame, own)
	}
	return decodeV2Text(frame, own)
}

// decodeV2Text decodes [J, R, T, E, P, ...]. The message shares one string for J, R, T and E (which are
// adjacent in the frame) and copies P (unless own: see DecodeOwned): three allocations in all for the usual
// frame.
func decodeV2Text(frame []byte, own bool) (*message.Message, error) {
	const what = "V2 text frame"
	s := scanner{data: frame}
	s.ws()
	if s.pos >= len(frame) || frame[s.pos] != '[' {
		s.fail("not a JSON array")
		return nil, s.err(what)
	}
	s.pos++
	var el [5]span
	n := 0
	s.ws()
	if s.pos < len(frame) && frame[s.pos] == ']' {
		s.pos++
	} else {
		for {
			s.ws()
			start := s.pos
			if !s.value(1) {
				return nil, s.err(what)
			}
			if n < len(el) {
				el[n] = span{start, s.pos}
			}
			n++
			s.ws()
			if s.pos < len(frame) && frame[s.pos] == ',' {
				s.pos++
				continue
			}
			if s.pos < len(frame) && frame[s.pos] == ']' {
				s.pos++
				break
			}
			if s.pos >= len(frame) {
				s.fail("unexpected end of JSON")
			} else {
				s.fail("expected ',' or ']'")
			}
			return nil, s.err(what)
		}
	}
	if !s.eof() {
		s.fail("data after the array")
		return nil, s.err(what)
	}
	if n < len(el) {
		return nil, fmt.Errorf("%w: %s: array has %d elements, want at least 5", ErrMalformed, what, n)
	}
	for i, name := range [...]string{"join_ref", "ref"} {
		if !isRefStart(frame[el[i].start]) {
			return nil, fmt.Errorf("%w: %s: %s must be a string, a number or null at offset %d",
				ErrMalformed, what, name, el[i].start)
		}
	}
	for i, name := range [...]string{"topic", "event"} {
		if at := el[2+i].start; frame[at] != '"' {
			return nil, fmt.Errorf("%w: %s: %s must be a string at offset %d", ErrMalformed, what, name, at)
		}
	}

	base := el[0].start
	hdr := string(frame[base:el[3].end])
	m := &message.Message{
		JoinRef: refOf(hdr[el[0].start-base : el[0].end-base]),
		Ref:     refOf(hdr[el[1].start-base : el[1].end-base]),
		Topic:   stringOf(hdr, frame, el[2], base),
		Event:   stringOf(hdr, frame, el[3], base),
	}
	m.Payload = message.JSON(payloadOf(frame, el[4].start, el[4].end, own))
	return m, nil
}

// isRefStart reports whether a validated JSON value starting with c is a string, a number or null.
func isRefStart(c byte) bool { return c == '"' || c == 'n' || c == '-' || isDigit(c) }

// refOf turns a validated string, number or null token into a Ref, as message.ParseRef does.
func refOf(tok string) message.Ref {
	if tok == "null" {
		return ""
	}
	return message.Ref(tok)
}

// stringOf returns the text of the string token at sp, a substring of hdr (which starts at base in the frame)
// unless it has escapes.
func stringOf(hdr string, frame []byte, sp span, base int) string {
	tok := frame[sp.start:sp.end]
	if bytes.IndexByte(tok, '\\') >= 0 {
		return unquote(tok)
	}
	return hdr[sp.start-base+1 : sp.end-base-1]
}

// decodeV2Binary decodes a client push: 0, len(J), len(R), len(T), len(E), J, R, T, E, data.
func decodeV2Binary(frame []byte, own bool) (*message.Message, error) {
	const what = "V2 binary frame"
	if len(frame) == 0 {
		return nil, fmt.Errorf("%w: %s: empty", ErrMalformed, what)
	}
	if frame[0] != kindPush {
		return nil, fmt.Errorf("%w: %s: kind %d, a client may only send kind 0 (push)", ErrMalformed, what, frame[0])
	}
	const head = 5
	if len(frame) < head {
		return nil, fmt.Errorf("%w: %s: header is %d bytes, want 5", ErrMalformed, what, len(frame))
	}
	var lens [4]int
	end := head
	for i := range lens {
		lens[i] = int(frame[1+i])
		end += lens[i]
	}
	if end > len(frame) {
		return nil, fmt.Errorf("%w: %s: header strings need %d bytes, frame has %d", ErrMalformed, what, end, len(frame))
	}
	var fields [4]string
	hdr := string(frame[head:end])
	at := 0
	for i, name := range [...]string{"join_ref", "ref", "topic", "event"} {
		fields[i] = hdr[at : at+lens[i]]
		if !utf8.ValidString(fields[i]) {
			return nil, fmt.Errorf("%w: %s: %s is not valid UTF-8", ErrMalformed, what, name)
		}
		at += lens[i]
	}
	data := payloadOf(frame, end, len(frame), own)
	return &message.Message{
		JoinRef: binaryRef(fields[0]),
		Ref:     binaryRef(fields[1]),
		Topic:   fields[2],
		Event:   fields[3],
		Payload: message.Binary(data),
	}, nil
}

// binaryRef is the Ref of a ref read from a binary frame. An empty one is the empty string, not null, as
// Phoenix decodes it: an empty join_ref on a joined topic is stale, and a reply echoes "".
func binaryRef(s string) message.Ref { return message.StringRef(s) }

func (v2) Encode(m *message.Message) ([]byte, bool, error) {
	if m.Payload.IsBinary() {
		b, err := encodeV2BinaryMessage(m)
		return b, err == nil, err
	}
	j, err := refJSON(m.JoinRef, "join_ref")
	if err != nil {
		return nil, false, err
	}
	r, err := refJSON(m.Ref, "ref")
	if err != nil {
		return nil, false, err
	}
	p := payloadJSON(m.Payload)
	if m.IsReply() {
		return v2Reply(j, r, m.Topic, p, m.Status), false, nil
	}
	if p[0] != '{' && !m.Payload.IsObject() {
		return nil, false, fmt.Errorf("serializer: V2 push of %q on %q: %w", m.Event, m.Topic, message.ErrNotObject)
	}
	return v2Push(j, r, m.Topic, m.Event, p), false, nil
}

func (v2) EncodeBroadcast(b *message.Broadcast) ([]byte, bool, error) {
	if b.Payload.IsBinary() {
		f, err := binaryFrame(kindBroadcast, b.Payload.Bytes(), header{"topic", b.Topic}, header{"event", b.Event})
		return f, err == nil, err
	}
	p := payloadJSON(b.Payload)
	if p[0] != '{' && !b.Payload.IsObject() {
		return nil, false, fmt.Errorf("serializer: V2 broadcast of %q on %q: %w", b.Event, b.Topic, message.ErrNotObject)
	}
	return v2Push("null", "null", b.Topic, b.Event, p), false, nil
}

// v2Push renders [J, R, T, E, P]; j and r are JSON tokens, p raw JSON.
func v2Push(j, r, topic, event string, p []byte) []byte {
	n := len(j) + len(r) + quotedLen(topic) + quotedLen(event) + len(p) + 6 // [ , , , , ]
	b := make([]byte, 0, n)
	b = append(b, '[')
	b = append(b, j...)
	b = append(b, ',')
	b = append(b, r...)
	b = append(b, ',')
	b = appendQuoted(b, topic)
	b = append(b, ',')
	b = appendQuoted(b, event)
	b = append(b, ',')
	b = append(b, p...)
	return append(b, ']')
}

// v2Reply renders [J, R, T, "phx_reply", {"response": P, "status": S}].
func v2Reply(j, r, topic string, p []byte, status string) []byte {
	const (
		mid  = `,"phx_reply",{"response":`
		stat = `,"status":`
	)
	n := len(j) + len(r) + quotedLen(topic) + len(mid) + len(p) + len(stat) + quotedLen(status) + 5 // [ , , }]
	b := make([]byte, 0, n)
	b = append(b, '[')
	b = append(b, j...)
	b = append(b, ',')
	b = append(b, r...)
	b = append(b, ',')
	b = appendQuoted(b, topic)
	b = append(b, mid...)
	b = append(b, p...)
	b = append(b, stat...)
	b = appendQuoted(b, status)
	return append(b, '}', ']')
}

// encodeV2BinaryMessage renders a push (kind 0, no ref) or a reply (kind 1) with a binary payload.
func encodeV2BinaryMessage(m *message.Message) ([]byte, error) {
	j, err := refText(m.JoinRef, "join_ref")
	if err != nil {
		return nil, err
	}
	if m.IsReply() {
		r, err := refText(m.Ref, "ref")
		if err != nil {
			return nil, err
		}
		return binaryFrame(kindReply, m.Payload.Bytes(),
			header{"join_ref", j}, header{"ref", r}, header{"topic", m.Topic}, header{"status", m.Status})
	}
	return binaryFrame(kindPush, m.Payload.Bytes(), header{"join_ref", j}, header{"topic", m.Topic}, header{"event", m.Event})
}

// header is one string of a binary frame's header, named for errors.
type header struct{ name, s string }

// binaryFrame renders kind, the lengths of the header strings, the strings, then data.
func binaryFrame(kind byte, data []byte, hs ...header) ([]byte, error) {
	n := 1 + len(hs) + len(data)
	for _, h := range hs {
		if len(h.s) > 255 {
			return nil, fmt.Errorf("%w: %s is %d bytes", ErrTooLong, h.name, len(h.s))
		}
		n += len(h.s)
	}
	b := make([]byte, 0, n)
	b = append(b, kind)
	for _, h := range hs {
		b = append(b, byte(len(h.s)))
	}
	for _, h := range hs {
		b = append(b, h.s...)
	}
	return append(b, data...), nil
}
