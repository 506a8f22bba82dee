package client

import (
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
)

// FrameType is the opcode of a WebSocket data frame.
type FrameType uint8

// The two data frame types. The values are the WebSocket opcodes.
const (
	TextFrame   FrameType = 1
	BinaryFrame FrameType = 2
)

func (t FrameType) String() string {
	switch t {
	case TextFrame:
		return "text"
	case BinaryFrame:
		return "binary"
	}
	return "opcode(" + strconv.Itoa(int(t)) + ")"
}

// Frame is one inbound WebSocket data frame, undecoded, as delivered by Conn.Raw. Data is owned by the
// receiver.
type Frame struct {
	Type FrameType // TextFrame or BinaryFrame
	Data []byte    // the frame's bytes, the caller's to keep
}

// Decode decodes the frame as a server-to-client V2 frame (see Decode).
func (f Frame) Decode() (Message, error) { return Decode(f.Type, f.Data) }

// String renders a text frame as its text and a binary frame as its bytes in hex, for test failure output.
func (f Frame) String() string {
	if f.Type == TextFrame {
		return string(f.Data)
	}
	return fmt.Sprintf("%s % x", f.Type, f.Data)
}

// Message is one decoded V2 frame. Inbound, it is a push (JoinRef set, Ref empty), a broadcast (both
// empty), a reply (Event "phx_reply") or a channel's phx_close/phx_error. Outbound (Encode, Conn.Request),
// it is a client push.
type Message struct {
	// JoinRef and Ref are "" for JSON null (and for empty strings in binary frames). A numeric ref in a
	// text frame is kept as its JSON text ("5").
	JoinRef string
	Ref     string
	Topic   string // the channel's topic
	Event   string // the event: an application event, "phx_reply", "phx_close", "phx_error"...
	// Payload is the JSON payload of a text frame (any JSON value); nil for a binary frame. A text reply's
	// payload is {"response":..,"status":..}.
	Payload json.RawMessage
	// Binary is the data of a binary frame, non-nil (possibly empty) exactly when the frame was binary.
	// Outbound, a non-nil Binary selects a binary push.
	Binary []byte
	// Status is the status of a binary reply (kind 1), whose Event is "phx_reply"; empty otherwise.
	Status string
}

// IsBinary reports whether the message came (or goes) as a binary frame.
func (m Message) IsBinary() bool { return m.Binary != nil }

// Unmarshal decodes the JSON payload into v.
func (m Message) Unmarshal(v any) error { return json.Unmarshal(m.Payload, v) }

// Reply is the server's answer to a push (a phx_reply frame).
type Reply struct {
	JoinRef string // the join_ref of the channel the push was sent on
	Ref     string // the push's ref
	Topic   string // the push's topic
	// Status is "ok", "error" or another word chosen by the channel.
	Status string
	// Response is the reply's JSON response for a text reply (any JSON value; {} for a bare status).
	Response json.RawMessage
	// Binary is the data of a binary reply; nil for a text reply.
	Binary []byte
}

// OK reports whether Status is "ok".
func (r Reply) OK() bool { return r.Status == "ok" }

// Unmarshal decodes the JSON response into v.
func (r Reply) Unmarshal(v any) error { return json.Unmarshal(r.Response, v) }

// Reason returns response.reason when the response is an object whose "reason" is a string (the shape of
// Phoenix and Pyre error replies, e.g. "unmatched topic"), else "".
func (r Reply) Reason() string {
	var v struct {
		Reason string `json:"reason"`
	}
	if json.Unmarshal(r.Response, &v) != nil {
		return ""
	}
	return v.Reason
}

// replyFromMessage turns a decoded phx_reply into a Reply.
func replyFromMessage(m Message) (Reply, error) {
	r := Reply{JoinRef: m.JoinRef, Ref: m.Ref, Topic: m.Topic}
	if m.Binary != nil {
		r.Status, r.Binary = m.Status, m.Binary
		return r, nil
	}
	var p struct {
		Status   *string         `json:"status"`
		Response json.RawMessage `json:"response"`
	}
	if err := json.Unmarshal(m.Payload, &p); err != nil || p.Status == nil {
		return r, malformed("reply payload %s", m.Payload)
	}
	r.Status, r.Response = *p.Status, p.Response
	return r, nil
}

// Decode decodes one server-to-client V2 frame: a text frame [J,R,T,E,P] (transport/PROTOCOL.md §2; extra elements
// are ignored) or a binary push (kind 0), reply (kind 1) or broadcast (kind 2). The returned Message does
// not alias data. Errors wrap ErrMalformed.
func Decode(typ FrameType, data []byte) (Message, error) {
	switch typ {
	case TextFrame:
		return decodeText(data)
	case BinaryFrame:
		return decodeBinary(data)
	}
	return Message{}, malformed("frame type %s", typ)
}

// Encode encodes m as a client push: a binary frame (kind 0, `0,len(J),len(R),len(T),len(E),J,R,T,E,data`)
// when m.Binary is non-nil, else a text frame [J,R,T,E,P] with P = m.Payload ({} when empty) written
// verbatim. Empty JoinRef and Ref encode as null (text) or empty strings (binary).
func Encode(m Message) (FrameType, []byte, error) {
	if m.Binary != nil {
		b, err := appendBinaryPush(nil, m.JoinRef, m.Ref, m.Topic, m.Event, m.Binary)
		return BinaryFrame, b, err
	}
	return TextFrame, appendTextPush(nil, m.JoinRef, m.Ref, m.Topic, m.Event, m.Payload), nil
}

// ---- encoding ----

var emptyObject = json.RawMessage(`{}`)

// marshalPayload turns a push payload into JSON: nil is {}, a json.RawMessage is used verbatim (not
// validated), anything else goes through json.Marshal.
func marshalPayload(v any) (json.RawMessage, error) {
	switch p := v.(type) {
	case nil:
		return emptyObject, nil
	case json.RawMessage:
		if len(p) == 0 {
			return emptyObject, nil
		}
		return p, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("client: encode payload: %w", err)
	}
	return b, nil
}

func appendTextPush(dst []byte, joinRef, ref, topic, event string, payload []byte) []byte {
	dst = append(dst, '[')
	dst = appendRef(dst, joinRef)
	dst = append(dst, ',')
	dst = appendRef(dst, ref)
	dst = append(dst, ',')
	dst = appendString(dst, topic)
	dst = append(dst, ',')
	dst = appendString(dst, event)
	dst = append(dst, ',')
	if len(payload) == 0 {
		payload = emptyObject
	}
	dst = append(dst, payload...)
	return append(dst, ']')
}

func appendRef(dst []byte, ref string) []byte {
	if ref == "" {
		return append(dst, "null"...)
	}
	return appendString(dst, ref)
}

// appendString appends s as a JSON string.
func appendString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x80 || c == '"' || c == '\\' {
			b, _ := json.Marshal(s) // cannot fail for a string
			return append(dst, b...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}

func appendBinaryPush(dst []byte, joinRef, ref, topic, event string, data []byte) ([]byte, error) {
	if len(joinRef) > 255 || len(ref) > 255 || len(topic) > 255 || len(event) > 255 {
		return nil, ErrFieldTooLong
	}
	dst = append(dst, 0, byte(len(joinRef)), byte(len(ref)), byte(len(topic)), byte(len(event)))
	dst = append(dst, joinRef...)
	dst = append(dst, ref...)
	dst = append(dst, topic...)
	dst = append(dst, event...)
	return append(dst, data...), nil
}

// bufPool recycles outbound frame buffers (gws copies a frame before WriteMessage returns).
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// ---- decoding ----

func decodeBinary(b []byte) (Message, error) {
	if len(b) == 0 {
		return Message{}, malformed("empty binary frame")
	}
	var n int // header strings in this kind
	switch kind := b[0]; kind {
	case 0: // push: 0,len(J),len(T),len(E),J,T,E,data
		n = 3
	case 1: // reply: 1,len(J),len(R),len(T),len(status),J,R,T,status,data
		n = 4
	case 2: // broadcast: 2,len(T),len(E),T,E,data
		n = 2
	default:
		return Message{}, malformed("unknown binary frame kind %d", kind)
	}
	if len(b) < 1+n {
		return Message{}, malformed("binary frame kind %d: header truncated", b[0])
	}
	var fields [4]string
	off := 1 + n
	for i := range n {
		l := int(b[1+i])
		if len(b)-off < l {
			return Message{}, malformed("binary frame kind %d: shorter than its header", b[0])
		}
		fields[i] = string(b[off : off+l])
		off += l
	}
	m := Message{Binary: append(make([]byte, 0, len(b)-off), b[off:]...)}
	switch b[0] {
	case 0:
		m.JoinRef, m.Topic, m.Event = fields[0], fields[1], fields[2]
	case 1:
		m.JoinRef, m.Ref, m.Topic, m.Status = fields[0], fields[1], fields[2], fields[3]
		m.Event = "phx_reply"
	case 2:
		m.Topic, m.Event = fields[0], fields[1]
	}
	return m, nil
}

func decodeText(b []byte) (Message, error) {
	var m Message
	d := textDecoder{b: b}
	d.skipSpace()
	if !d.consume('[') {
		return m, malformed("text frame is not a JSON array")
	}
	var err error
	for i := 0; i < 5; i++ {
		if i > 0 && !d.consume(',') {
			return Message{}, malformed("text frame has fewer than 5 elements or bad separator")
		}
		d.skipSpace()
		if d.peek() == ']' {
			return Message{}, malformed("text frame has fewer than 5 elements")
		}
		var v []byte
		if v, err = d.value(); err != nil {
			return Message{}, err
		}
		switch i {
		case 0:
			m.JoinRef, err = refValue(v)
		case 1:
			m.Ref, err = refValue(v)
		case 2:
			m.Topic, err = stringValue(v)
		case 3:
			m.Event, err = stringValue(v)
		case 4:
			m.Payload = append(json.RawMessage(nil), v...)
		}
		if err != nil {
			return Message{}, err
		}
	}
	for { // extra elements are ignored, but the frame must still be valid JSON
		if d.consume(']') {
			break
		}
		if !d.consume(',') {
			return Message{}, malformed("text frame: expected ',' or ']' at offset %d", d.i)
		}
		if _, err = d.value(); err != nil {
			return Message{}, err
		}
	}
	d.skipSpace()
	if d.i != len(d.b) {
		return Message{}, malformed("text frame: trailing data at offset %d", d.i)
	}
	return m, nil
}

// refValue decodes a join_ref or ref: a string, null ("") or a number (kept as its JSON text).
func refValue(v []byte) (string, error) {
	switch c := v[0]; {
	case c == '"':
		return stringValue(v)
	case c == 'n': // value() validated the literal: it is null
		return "", nil
	case c == '-' || (c >= '0' && c <= '9'):
		return string(v), nil
	}
	return "", malformed("ref must be a string, a number or null, got %s", v)
}

// stringValue decodes a validated JSON value that must be a string.
func stringValue(v []byte) (string, error) {
	if v[0] != '"' {
		return "", malformed("expected a JSON string, got %s", v)
	}
	inner := v[1 : len(v)-1]
	for _, c := range inner {
		if c == '\\' || c >= 0x80 { // escapes or non-ASCII: let encoding/json handle them
			var s string
			if err := json.Unmarshal(v, &s); err != nil {
				return "", malformed("bad JSON string: %v", err)
			}
			return s, nil
		}
	}
	return string(inner), nil
}

// textDecoder walks a V2 text frame. It finds the extent of each element and validates it with json.Valid.
type textDecoder struct {
	b []byte
	i int
}

func (d *textDecoder) skipSpace() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

func (d *textDecoder) peek() byte {
	if d.i < len(d.b) {
		return d.b[d.i]
	}
	return 0
}

// consume skips whitespace and then c, reporting whether c was there.
func (d *textDecoder) consume(c byte) bool {
	d.skipSpace()
	if d.peek() == c {
		d.i++
		return true
	}
	return false
}

// skipString advances past the JSON string starting at d.i (which is '"').
func (d *textDecoder) skipString() bool {
	for d.i++; d.i < len(d.b); d.i++ {
		switch d.b[d.i] {
		case '\\':
			d.i++
		case '"':
			d.i++
			return true
		}
	}
	return false
}

// value returns the next JSON value (validated), without surrounding whitespace.
func (d *textDecoder) value() ([]byte, error) {
	d.skipSpace()
	start := d.i
	switch d.peek() {
	case '"':
		if !d.skipString() {
			return nil, malformed("unterminated string at offset %d", start)
		}
	case '[', '{':
		depth := 0
	scan:
		for d.i < len(d.b) {
			switch d.b[d.i] {
			case '"':
				if !d.skipString() {
					return nil, malformed("unterminated string in value at offset %d", start)
				}
				continue
			case '[', '{':
				depth++
			case ']', '}':
				depth--
				if depth == 0 {
					d.i++
					break scan
				}
			}
			d.i++
		}
		if depth != 0 {
			return nil, malformed("unterminated value at offset %d", start)
		}
	default: // number or literal: up to the next delimiter
		for d.i < len(d.b) {
			c := d.b[d.i]
			if c == ',' || c == ']' || c == '}' || c == ' ' || c == '\t' || c == '\n' || c == '\r' {
				break
			}
			d.i++
		}
	}
	v := d.b[start:d.i]
	if len(v) == 0 || !json.Valid(v) {
		return nil, malformed("invalid JSON value at offset %d", start)
	}
	return v, nil
}
