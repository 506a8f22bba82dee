package serializer

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
	"unicode/utf8"

	"github.com/pyrehq/pyre/actors/message"
)

// Seeds shared by the text decoders: valid frames of both versions and near misses.
var textSeeds = []string{
	`[null,"5","phoenix","heartbeat",{}]`,
	`["1","1","room:1","phx_join",{"token":"x"}]`,
	`[1,2,"t","e",[1,"2",{"3":null}],"extra"]`,
	`["j\u00e9\"\\x","r\/\n\ud83d\ude00é","room:\u0031","ping",{"a":-1.5e3}]`,
	`["","5","phoenix","heartbeat",null]`,
	`[null,"1","t","e"]`,
	`[{},"1","t","e",{}]`,
	`[null,"1",7,"e",{}]`,
	`{"topic":"room:1","event":"phx_join","payload":{"a":1},"ref":"2","join_ref":"1"}`,
	`{"top\u0069c":"t","event":"e","payload":null,"ref":5}`,
	`{"topic":"t","event":"e","payload":{}}`,
	"[null,\"1\",\"\xff\",\"e\",{}]",
	`[[[[[[[[[[]]]]]]]]]]`,
	` `,
}

// refDecodeV2 is the V2 text decoder written with encoding/json and message.ParseRef, as the oracle.
func refDecodeV2(frame []byte) (*message.Message, bool) {
	if !utf8.Valid(frame) || !json.Valid(frame) {
		return nil, false
	}
	var arr []json.RawMessage
	if json.Unmarshal(frame, &arr) != nil || len(arr) < 5 {
		return nil, false
	}
	return refFields(arr[0], arr[1], arr[2], arr[3], arr[4])
}

// refDecodeV1 is the V1 decoder written with encoding/json and message.ParseRef.
func refDecodeV1(frame []byte) (*message.Message, bool) {
	if !utf8.Valid(frame) || !json.Valid(frame) {
		return nil, false
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(frame, &obj) != nil {
		return nil, false
	}
	t, okT := obj["topic"]
	e, okE := obj["event"]
	p, okP := obj["payload"]
	r, okR := obj["ref"]
	j, okJ := obj["join_ref"]
	if !okT || !okE || !okP || !okR {
		return nil, false
	}
	if !okJ {
		j = json.RawMessage("null")
	}
	return refFields(j, r, t, e, p)
}

func refFields(j, r, t, e, p json.RawMessage) (*message.Message, bool) {
	m := &message.Message{Payload: message.JSON(p)}
	var err error
	if m.JoinRef, err = message.ParseRef(j); err != nil {
		return nil, false
	}
	if m.Ref, err = message.ParseRef(r); err != nil {
		return nil, false
	}
	if t[0] != '"' || e[0] != '"' || json.Unmarshal(t, &m.Topic) != nil || json.Unmarshal(e, &m.Event) != nil {
		return nil, false
	}
	return m, true
}

// checkDecode runs a decoder against its oracle and checks the result does not alias the frame.
func checkDecode(t *testing.T, s Serializer, frame []byte, binary bool, oracle func([]byte) (*message.Message, bool)) *message.Message {
	t.Helper()
	want, ok := oracle(frame)
	m, err := s.Decode(frame, binary)
	if err != nil {
		if !errors.Is(err, ErrMalformed) {
			t.Fatalf("error %v does not wrap ErrMalformed", err)
		}
		if ok {
			t.Fatalf("Decode(%q) failed (%v), the oracle decodes %+v", frame, err, want)
		}
		return nil
	}
	if !ok {
		t.Fatalf("Decode(%q) = %+v, the oracle rejects it", frame, m)
	}
	if d := diffMessage(m, want); d != "" {
		t.Fatalf("Decode(%q): %s", frame, d)
	}
	wantPayload := bytes.Clone(want.Payload.Bytes())
	for i := range frame {
		frame[i] ^= 0xff
	}
	if !bytes.Equal(m.Payload.Bytes(), wantPayload) {
		t.Fatalf("payload aliases the frame")
	}
	return m
}

// checkReencode encodes a decoded message back as a push (or, for a V2 JSON payload that is not an object, a
// reply) and checks that the test-only parsers read the same topic, event, refs and payload.
func checkReencode(t *testing.T, s Serializer, m *message.Message) {
	t.Helper()
	out := *m
	reply := s == V2 && !m.Payload.IsBinary() && !m.Payload.IsObject()
	if reply {
		out.Status = "ok"
	}
	frame, binary, err := s.Encode(&out)
	if err != nil {
		t.Fatalf("re-encoding %+v: %v", m, err)
	}
	if binary != m.Payload.IsBinary() {
		t.Fatalf("binary = %v for payload %v", binary, m.Payload)
	}
	switch {
	case binary:
		kind, fields, data := parseBinary(t, frame)
		if kind != 0 || fields[0] != m.JoinRef.String() || fields[1] != m.Topic || fields[2] != m.Event || !bytes.Equal(data, m.Payload.Bytes()) {
			t.Fatalf("binary push %q read back as %d %q %q", frame, kind, fields, data)
		}
	case s == V1:
		topic, event, ref, payload := parseV1(t, frame)
		if topic != m.Topic || event != m.Event || ref != m.Ref.JSON() || payload != string(m.Payload.Bytes()) {
			t.Fatalf("V1 push %s read back as %q %q %s %s", frame, topic, event, ref, payload)
		}
	default:
		w := parseV2(t, frame)
		if w.J != m.JoinRef.JSON() || w.R != m.Ref.JSON() || w.Topic != m.Topic {
			t.Fatalf("V2 frame %s read back as %+v", frame, w)
		}
		if reply {
			r := parseReplyPayload(t, w.P)
			if w.Event != message.EventReply || string(r.Response) != string(m.Payload.Bytes()) || r.Status != "ok" {
				t.Fatalf("V2 reply %s read back as %+v", frame, w)
			}
		} else if w.Event != m.Event || w.P != string(m.Payload.Bytes()) {
			t.Fatalf("V2 push %s read back as %+v", frame, w)
		}
	}
}

func FuzzDecodeV2Text(f *testing.F) {
	for _, s := range textSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		if m := checkDecode(t, V2, frame, false, refDecodeV2); m != nil {
			checkReencode(t, V2, m)
		}
	})
}

func FuzzDecodeV1(f *testing.F) {
	for _, s := range textSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		if m := checkDecode(t, V1, frame, false, refDecodeV1); m != nil {
			checkReencode(t, V1, m)
		}
		if _, err := V1.Decode(frame, true); !errors.Is(err, ErrMalformed) {
			t.Fatalf("V1 decoded a binary frame: %v", err)
		}
	})
}

// refDecodeBinary is the oracle for V2 binary frames.
func refDecodeBinary(frame []byte) (*message.Message, bool) {
	if len(frame) < 5 || frame[0] != 0 {
		return nil, false
	}
	at := 5
	var f [4]string
	for i := range f {
		l := int(frame[1+i])
		if at+l > len(frame) || !utf8.Valid(frame[at:at+l]) {
			return nil, false
		}
		f[i] = string(frame[at : at+l])
		at += l
	}
	return &message.Message{JoinRef: message.StringRef(f[0]), Ref: message.StringRef(f[1]), Topic: f[2], Event: f[3],
		Payload: message.Binary(frame[at:])}, true
}

func FuzzDecodeV2Binary(f *testing.F) {
	for _, s := range [][]byte{
		bin(0, 2, 3, 5, 5, "12", "123", "topic", "event", 101, 102, 103),
		bin(0, 2, 5, 5, "12", "topic", "event", 101, 102, 103),
		bin(1, 2, 3, 5, 2, "12", "123", "topic", "ok", 101, 102, 103),
		bin(2, 5, 5, "topic", "event", 101, 102, 103),
		bin(0, 0, 0, 0, 0),
		bin(0, 255, 255, 255, 255),
		bin(0, 2, 0, 1, 1, "é", "t", "e"),
		bin(0, 1, 1, 1, 1, 0xff, "r", "t", "e"),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		orig := bytes.Clone(frame)
		m := checkDecode(t, V2, frame, true, refDecodeBinary)
		if m == nil {
			return
		}
		if !m.Payload.IsBinary() {
			t.Fatal("payload not binary")
		}
		checkReencode(t, V2, m)
		if m.Topic != string(orig[5+int(orig[1])+int(orig[2]):][:orig[3]]) {
			t.Fatalf("topic %q", m.Topic)
		}
	})
}

// FuzzRoundTrip encodes arbitrary topic, event, status and ref strings with every encoder: each frame must
// be valid JSON (or a well-formed binary frame) that reads back as encoding/json would have written it.
func FuzzRoundTrip(f *testing.F) {
	f.Add("room:1", "new_msg", "ok", "1", "2", `"raw"`)
	f.Add("a\"b\\c\n\x00", "é😀\u2028", "err\xff", "", "\xed\xa0\x80", `5`)
	f.Add("</script>", "\x7f", "", "j\"", "\\u0000", `{}`)
	f.Fuzz(func(t *testing.T, topic, event, status, jref, ref, rawRef string) {
		if got := appendQuoted(nil, topic); len(got) != quotedLen(topic) {
			t.Fatalf("quotedLen(%q) = %d, appended %d", topic, quotedLen(topic), len(got))
		}
		j, r := message.StringRef(jref), message.StringRef(ref)
		payload := message.JSON([]byte(`{"k":[1,"v"]}`))
		wantT, wantE, wantS := jsonRoundTrip(topic), jsonRoundTrip(event), jsonRoundTrip(status)

		push := &message.Message{JoinRef: j, Ref: r, Topic: topic, Event: event, Payload: payload}
		frame, _, err := V2.Encode(push)
		if err != nil {
			t.Fatal(err)
		}
		w := parseV2(t, frame)
		if w.J != string(j) || w.R != string(r) || w.Topic != wantT || w.Event != wantE || w.P != string(payload.Bytes()) {
			t.Fatalf("push %s read back as %+v", frame, w)
		}
		if m, err := V2.Decode(frame, false); err != nil || m.Topic != wantT || m.Event != wantE || m.JoinRef != j || m.Ref != r {
			t.Fatalf("push %s decodes as %+v, %v", frame, m, err)
		}

		if status != "" {
			rep := &message.Message{JoinRef: j, Ref: r, Topic: topic, Event: event, Status: status, Payload: payload}
			frame, _, err = V2.Encode(rep)
			if err != nil {
				t.Fatal(err)
			}
			w = parseV2(t, frame)
			rp := parseReplyPayload(t, w.P)
			if w.J != string(j) || w.R != string(r) || w.Topic != wantT || w.Event != "phx_reply" ||
				string(rp.Response) != string(payload.Bytes()) || rp.Status != wantS {
				t.Fatalf("reply %s read back as %+v", frame, w)
			}
			frame, _, err = V1.Encode(rep)
			if err != nil {
				t.Fatal(err)
			}
			gt, ge, gr, gp := parseV1(t, frame)
			rp = parseReplyPayload(t, gp)
			if gt != wantT || ge != "phx_reply" || gr != string(r) || rp.Status != wantS {
				t.Fatalf("V1 reply %s read back wrong", frame)
			}
		}

		frame, _, err = V1.Encode(push)
		if err != nil {
			t.Fatal(err)
		}
		if gt, ge, gr, gp := parseV1(t, frame); gt != wantT || ge != wantE || gr != string(r) || gp != string(payload.Bytes()) {
			t.Fatalf("V1 push %s read back wrong", frame)
		}

		b := message.NewBroadcast(topic, event, payload)
		for _, s := range []Serializer{V1, V2} {
			frame, _, err = s.EncodeBroadcast(b)
			if err != nil || !utf8.Valid(frame) || !json.Valid(frame) {
				t.Fatalf("%s broadcast %q: %v", s.Vsn(), frame, err)
			}
		}

		// Binary frames carry the strings raw.
		data := message.Binary([]byte(rawRef))
		frame, binary, err := V2.Encode(&message.Message{JoinRef: j, Ref: r, Topic: topic, Status: status, Event: event, Payload: data})
		tooLong := len(topic) > 255 || len(j.String()) > 255 || (status != "" && (len(r.String()) > 255 || len(status) > 255)) ||
			(status == "" && len(event) > 255)
		if tooLong {
			if !errors.Is(err, ErrTooLong) {
				t.Fatalf("err = %v, want ErrTooLong", err)
			}
		} else {
			if err != nil || !binary {
				t.Fatalf("binary encode: %v", err)
			}
			kind, fields, got := parseBinary(t, frame)
			want := []string{jsonRoundTrip(jref), topic, event}
			if status != "" {
				want = []string{jsonRoundTrip(jref), jsonRoundTrip(ref), topic, status}
			}
			if (kind == 1) != (status != "") || !equalStrings(fields, want) || string(got) != rawRef {
				t.Fatalf("binary frame %q read back as %d %q %q", frame, kind, fields, got)
			}
		}

		// A hand-made Ref is either refused or produces a valid frame that echoes it exactly.
		m := &message.Message{JoinRef: message.Ref(rawRef), Topic: "t", Event: "e"}
		frame, _, err = V2.Encode(m)
		if err != nil {
			if !errors.Is(err, message.ErrBadRef) {
				t.Fatalf("ref %q: %v", rawRef, err)
			}
			if _, perr := message.ParseRef([]byte(rawRef)); perr == nil && rawRef != "" && rawRef == string(bytes.TrimSpace([]byte(rawRef))) && utf8.ValidString(rawRef) {
				t.Fatalf("ref %q refused but ParseRef accepts it", rawRef)
			}
			return
		}
		w = parseV2(t, frame)
		if want := message.Ref(rawRef).JSON(); w.J != want {
			t.Fatalf("ref %q written as %s", rawRef, w.J)
		}
		if _, perr := message.ParseRef([]byte(rawRef)); perr != nil {
			t.Fatalf("ref %q accepted, ParseRef refuses it: %v", rawRef, perr)
		}
	})
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// FuzzValid checks the scanner against encoding/json on arbitrary input.
func FuzzValid(f *testing.F) {
	for _, s := range textSeeds {
		f.Add([]byte(s))
	}
	f.Add([]byte(`{"a":[1,{"b":"\u00e9"}],"c":-0.5E+3}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		want := utf8.Valid(data) && json.Valid(data)
		if got := valid(data); got != want {
			t.Fatalf("valid(%q) = %v, encoding/json says %v", data, got, want)
		}
	})
}
