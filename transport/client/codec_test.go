package client

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// The binary vectors of transport/PROTOCOL.md §2.
var (
	vecClientPush = []byte("\x00\x02\x03\x05\x05" + "12" + "123" + "topic" + "event" + "efg")
	vecServerPush = []byte("\x00\x02\x05\x05" + "12" + "topic" + "event" + "efg")
	vecReply      = []byte("\x01\x02\x03\x05\x02" + "12" + "123" + "topic" + "ok" + "efg")
	vecBroadcast  = []byte("\x02\x05\x05" + "topic" + "event" + "efg")
)

func TestVectorsAreTheProtocolBytes(t *testing.T) {
	// <<0,2,3,5,5,"12","123","topic","event",101,102,103>> and friends, spelled out once.
	want := []byte{0, 2, 3, 5, 5, '1', '2', '1', '2', '3', 't', 'o', 'p', 'i', 'c', 'e', 'v', 'e', 'n', 't', 101, 102, 103}
	if !bytes.Equal(vecClientPush, want) {
		t.Fatalf("client push vector % x", vecClientPush)
	}
}

func TestDecodeBinary(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want Message
	}{
		{"server push", vecServerPush, Message{JoinRef: "12", Topic: "topic", Event: "event", Binary: []byte("efg")}},
		{"reply", vecReply, Message{JoinRef: "12", Ref: "123", Topic: "topic", Event: "phx_reply", Status: "ok", Binary: []byte("efg")}},
		{"broadcast", vecBroadcast, Message{Topic: "topic", Event: "event", Binary: []byte("efg")}},
		{"push with null join_ref and no data", []byte("\x00\x00\x01\x01te"), Message{Topic: "t", Event: "e", Binary: []byte{}}},
		{"reply with empty refs", []byte("\x01\x00\x00\x01\x05terror\xff"), Message{Topic: "t", Event: "phx_reply", Status: "error", Binary: []byte{0xff}}},
		{"broadcast, empty topic and event", []byte("\x02\x00\x00"), Message{Binary: []byte{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decode(BinaryFrame, tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
			if !got.IsBinary() {
				t.Fatal("IsBinary false")
			}
		})
	}
}

func TestDecodeBinaryMalformed(t *testing.T) {
	for _, in := range [][]byte{
		nil,
		{},
		{3, 0, 0},           // unknown kind
		{0, 0, 0},           // push header truncated
		{1, 0, 0, 0},        // reply header truncated
		{2, 0},              // broadcast header truncated
		{0, 2, 5, 5, '1'},   // fields longer than the frame
		{2, 5, 5, 't', 'o'}, // idem
		{1, 2, 3, 5, 2, '1', '2', '1', '2', '3', 't', 'o', 'p', 'i', 'c', 'o'},
	} {
		if m, err := Decode(BinaryFrame, in); !errors.Is(err, ErrMalformed) {
			t.Errorf("Decode(% x) = %+v, %v; want ErrMalformed", in, m, err)
		}
	}
}

func TestDecodeText(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Message
	}{
		{"push", `["1",null,"room:1","new_msg",{"body":"hi"}]`,
			Message{JoinRef: "1", Topic: "room:1", Event: "new_msg", Payload: json.RawMessage(`{"body":"hi"}`)}},
		{"reply", `["1","1","room:1","phx_reply",{"response":{},"status":"ok"}]`,
			Message{JoinRef: "1", Ref: "1", Topic: "room:1", Event: "phx_reply", Payload: json.RawMessage(`{"response":{},"status":"ok"}`)}},
		{"broadcast", `[null,null,"room:1","bcast",{}]`,
			Message{Topic: "room:1", Event: "bcast", Payload: json.RawMessage(`{}`)}},
		{"numeric refs stay their JSON text", `[7,-1.5e3,"t","e",{}]`,
			Message{JoinRef: "7", Ref: "-1.5e3", Topic: "t", Event: "e", Payload: json.RawMessage(`{}`)}},
		{"whitespace everywhere", " \n[ \"1\" ,\tnull , \"t\" ,\r\"e\" , [ 1 , 2 ] ] \n",
			Message{JoinRef: "1", Topic: "t", Event: "e", Payload: json.RawMessage(`[ 1 , 2 ]`)}},
		{"extra elements ignored", `["1","2","t","e",{},{"x":[1,"]"]},null]`,
			Message{JoinRef: "1", Ref: "2", Topic: "t", Event: "e", Payload: json.RawMessage(`{}`)}},
		{"escapes and unicode", `["1","2","room:\u00e9\"x","\u2603 ok","s"]`,
			Message{JoinRef: "1", Ref: "2", Topic: "room:é\"x", Event: "☃ ok", Payload: json.RawMessage(`"s"`)}},
		{"raw utf-8", `["1","2","room:é","e",null]`,
			Message{JoinRef: "1", Ref: "2", Topic: "room:é", Event: "e", Payload: json.RawMessage(`null`)}},
		{"payload with brackets in strings", `["1","2","t","e",{"a":"]}[{","b":["\"]"]}]`,
			Message{JoinRef: "1", Ref: "2", Topic: "t", Event: "e", Payload: json.RawMessage(`{"a":"]}[{","b":["\"]"]}`)}},
		{"number payload", `[null,null,"t","e",-0.5]`, Message{Topic: "t", Event: "e", Payload: json.RawMessage(`-0.5`)}},
		{"empty strings are kept as empty", `["","","","",true]`, Message{Payload: json.RawMessage(`true`)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decode(TextFrame, []byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestDecodeTextMalformed(t *testing.T) {
	for _, in := range []string{
		``,
		`{}`,
		`[]`,
		`["1","1","t","e"]`,
		`["1","1","t"]`,
		`["1","1","t","e",]`,
		`["1","1","t","e",{}`,
		`["1","1","t","e",{}]x`,
		`["1","1","t","e",{}] []`,
		`["1","1","t","e",{]`,
		`["1","1","t","e",{"a":}]`,
		`["1","1","t","e",nul]`,
		`["1","1","t","e",{}},`,
		`["1" "1","t","e",{}]`,
		`[true,"1","t","e",{}]`,
		`["1",{},"t","e",{}]`,
		`["1","1",null,"e",{}]`,
		`["1","1","t",5,{}]`,
		`["1","1","t","e",{}, ]`,
		`["1","1","t","e",{},x]`,
		`["1","1","t\x01","e",{}]`,
		`["1","1","t\q","e",{}]`,
		`["1","1","t","e","unterminated]`,
		`["1","1","t","e",{"a":"b}]`,
		`["1","1","t","e",01]`,
	} {
		if m, err := Decode(TextFrame, []byte(in)); !errors.Is(err, ErrMalformed) {
			t.Errorf("Decode(%q) = %+v, %v; want ErrMalformed", in, m, err)
		}
	}
	if _, err := Decode(FrameType(9), []byte(`[]`)); !errors.Is(err, ErrMalformed) {
		t.Errorf("unknown frame type: %v", err)
	}
}

func TestDecodeDoesNotAlias(t *testing.T) {
	for _, tc := range []struct {
		typ FrameType
		in  string
	}{{TextFrame, `["1","2","t","e",{"a":1}]`}, {BinaryFrame, string(vecServerPush)}} {
		in := []byte(tc.in)
		m, err := Decode(tc.typ, in)
		if err != nil {
			t.Fatal(err)
		}
		want := m.Payload
		if tc.typ == BinaryFrame {
			want = m.Binary
		}
		saved := string(want)
		for i := range in {
			in[i] = 'X'
		}
		if string(want) != saved {
			t.Fatalf("%s: decoded data aliases the frame", tc.typ)
		}
	}
}

func TestEncode(t *testing.T) {
	tests := []struct {
		name string
		in   Message
		typ  FrameType
		want string
	}{
		{"client push vector", Message{JoinRef: "12", Ref: "123", Topic: "topic", Event: "event", Binary: []byte("efg")}, BinaryFrame, string(vecClientPush)},
		{"binary, null refs, empty data", Message{Topic: "t", Event: "e", Binary: []byte{}}, BinaryFrame, "\x00\x00\x00\x01\x01te"},
		{"join", Message{JoinRef: "1", Ref: "1", Topic: "room:1", Event: "phx_join", Payload: json.RawMessage(`{"a":1}`)}, TextFrame, `["1","1","room:1","phx_join",{"a":1}]`},
		{"heartbeat", Message{Ref: "5", Topic: "phoenix", Event: "heartbeat"}, TextFrame, `[null,"5","phoenix","heartbeat",{}]`},
		{"escaped strings", Message{Ref: "a\"b", Topic: "room:é", Event: "tab\t", Payload: json.RawMessage(`[]`)}, TextFrame, `[null,"a\"b","room:é","tab\t",[]]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			typ, got, err := Encode(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if typ != tt.typ || string(got) != tt.want {
				t.Fatalf("got %s %q, want %s %q", typ, got, tt.typ, tt.want)
			}
		})
	}
}

func TestEncodeFieldTooLong(t *testing.T) {
	long := strings.Repeat("x", 256)
	for _, m := range []Message{
		{JoinRef: long, Binary: []byte{}},
		{Ref: long, Binary: []byte{}},
		{Topic: long, Binary: []byte{}},
		{Event: long, Binary: []byte{}},
	} {
		if _, _, err := Encode(m); !errors.Is(err, ErrFieldTooLong) {
			t.Errorf("Encode: %v, want ErrFieldTooLong", err)
		}
	}
	if _, b, err := Encode(Message{Topic: strings.Repeat("x", 255), Binary: []byte{}}); err != nil || b[3] != 255 {
		t.Errorf("255-byte topic: %v", err)
	}
}

// A text push encoded by the client has the server's text layout too, so it decodes back unchanged.
func TestEncodeDecodeTextRoundTrip(t *testing.T) {
	for _, m := range []Message{
		{JoinRef: "1", Ref: "2", Topic: "room:1", Event: "e", Payload: json.RawMessage(`{"x":["y"]}`)},
		{Topic: "\u2028weird\\topic\x7f", Event: "<&>", Payload: json.RawMessage(`"s"`)},
	} {
		_, b, err := Encode(m)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Decode(TextFrame, b)
		if err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		if !reflect.DeepEqual(got, m) {
			t.Fatalf("round trip of %s: got %+v, want %+v", b, got, m)
		}
	}
}

func TestReplyFromMessage(t *testing.T) {
	tests := []struct {
		name    string
		in      Message
		want    Reply
		wantErr bool
	}{
		{"ok", Message{JoinRef: "1", Ref: "2", Topic: "t", Event: "phx_reply", Payload: json.RawMessage(`{"response":{"a":1},"status":"ok"}`)},
			Reply{JoinRef: "1", Ref: "2", Topic: "t", Status: "ok", Response: json.RawMessage(`{"a":1}`)}, false},
		{"status first, response not an object", Message{Ref: "2", Topic: "t", Payload: json.RawMessage(`{"status":"error","response":"boom"}`)},
			Reply{Ref: "2", Topic: "t", Status: "error", Response: json.RawMessage(`"boom"`)}, false},
		{"binary", Message{Ref: "2", Topic: "t", Status: "ok", Binary: []byte{1}},
			Reply{Ref: "2", Topic: "t", Status: "ok", Binary: []byte{1}}, false},
		{"no status", Message{Ref: "2", Topic: "t", Payload: json.RawMessage(`{"response":{}}`)}, Reply{Ref: "2", Topic: "t"}, true},
		{"not an object", Message{Ref: "2", Topic: "t", Payload: json.RawMessage(`[]`)}, Reply{Ref: "2", Topic: "t"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := replyFromMessage(tt.in)
			if (err != nil) != tt.wantErr || (err != nil && !errors.Is(err, ErrMalformed)) {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
	r := Reply{Status: "error", Response: json.RawMessage(`{"reason":"unmatched topic"}`)}
	if r.Reason() != "unmatched topic" || r.OK() {
		t.Fatalf("Reason %q OK %v", r.Reason(), r.OK())
	}
	if (Reply{Response: json.RawMessage(`"x"`)}).Reason() != "" {
		t.Fatal("Reason of a non-object")
	}
}

func TestMarshalPayload(t *testing.T) {
	for _, tc := range []struct {
		in   any
		want string
	}{
		{nil, `{}`},
		{json.RawMessage(nil), `{}`},
		{json.RawMessage(`{"a" : 1}`), `{"a" : 1}`}, // verbatim
		{map[string]int{"a": 1}, `{"a":1}`},
		{[]int{1}, `[1]`},
	} {
		got, err := marshalPayload(tc.in)
		if err != nil || string(got) != tc.want {
			t.Errorf("marshalPayload(%#v) = %s, %v; want %s", tc.in, got, err, tc.want)
		}
	}
	if _, err := marshalPayload(make(chan int)); err == nil {
		t.Error("marshalPayload(chan) did not fail")
	}
}

// refDecodeText is an independent decoder built on encoding/json, for differential fuzzing.
func refDecodeText(b []byte) (Message, bool) {
	var arr []json.RawMessage
	if json.Unmarshal(b, &arr) != nil || len(arr) < 5 {
		return Message{}, false
	}
	ref := func(v json.RawMessage) (string, bool) {
		switch v[0] {
		case 'n':
			return "", true
		case '"':
			var s string
			return s, json.Unmarshal(v, &s) == nil
		}
		var n json.Number
		if json.Unmarshal(v, &n) != nil {
			return "", false
		}
		return string(v), true
	}
	var m Message
	var ok1, ok2 bool
	m.JoinRef, ok1 = ref(arr[0])
	m.Ref, ok2 = ref(arr[1])
	if !ok1 || !ok2 || arr[2][0] != '"' || arr[3][0] != '"' {
		return Message{}, false
	}
	if json.Unmarshal(arr[2], &m.Topic) != nil || json.Unmarshal(arr[3], &m.Event) != nil {
		return Message{}, false
	}
	m.Payload = arr[4]
	return m, true
}

func FuzzDecodeFrame(f *testing.F) {
	for _, seed := range [][]byte{vecServerPush, vecReply, vecBroadcast, vecClientPush, {0}, {1}, {2}, {3}} {
		f.Add(seed, true)
	}
	for _, seed := range []string{
		`["1","1","room:1","phx_reply",{"response":{},"status":"ok"}]`,
		`[null,null,"t","e",{"a":["]",{"b":"\""}]},1,[]]`,
		`[1,2.5e3,"\u00e9","e",null]`,
		`["1","1","t","e"]`, ` [ "1" , null , "t" , "e" , "p" ] `, `["1",nul,"t","e",{}]`,
	} {
		f.Add([]byte(seed), false)
	}
	f.Fuzz(func(t *testing.T, data []byte, binary bool) {
		if binary {
			m, err := Decode(BinaryFrame, data)
			if err != nil {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("error does not wrap ErrMalformed: %v", err)
				}
				return
			}
			// Binary frames are canonical: re-encoding the decoded message gives the input back.
			var again []byte
			switch data[0] {
			case 0:
				again = encodeServerPush(m.JoinRef, m.Topic, m.Event, m.Binary)
			case 1:
				if m.Event != "phx_reply" {
					t.Fatalf("reply decoded with event %q", m.Event)
				}
				again = encodeServerReply(m.JoinRef, m.Ref, m.Topic, m.Status, m.Binary)
			case 2:
				again = encodeServerBroadcast(m.Topic, m.Event, m.Binary)
			default:
				t.Fatalf("kind %d decoded", data[0])
			}
			if !bytes.Equal(again, data) || m.Binary == nil {
				t.Fatalf("decode(% x) = %+v, re-encodes to % x", data, m, again)
			}
			return
		}
		got, err := Decode(TextFrame, data)
		want, ok := refDecodeText(data)
		if (err == nil) != ok {
			t.Fatalf("Decode(%q): err = %v, reference ok = %v", data, err, ok)
		}
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("Decode(%q) = %+v, reference %+v", data, got, want)
		}
	})
}
