package serializer

import (
	"errors"
	"strings"
	"testing"

	"github.com/pyrehq/pyre/actors/message"
)

func TestV2Identity(t *testing.T) {
	if V2.Vsn() != "2.0.0" || V2.Slot() != 1 || V1.Vsn() != "1.0.0" || V1.Slot() != 0 {
		t.Fatalf("V1 %s/%d, V2 %s/%d", V1.Vsn(), V1.Slot(), V2.Vsn(), V2.Slot())
	}
}

func TestV2DecodeText(t *testing.T) {
	msg := func(j, r message.Ref, topic, event, payload string) *message.Message {
		return &message.Message{JoinRef: j, Ref: r, Topic: topic, Event: event, Payload: message.JSON([]byte(payload))}
	}
	tests := []struct {
		name  string
		frame string
		want  *message.Message
	}{
		{"join", `["1","2","room:1","phx_join",{"a":1}]`, msg(`"1"`, `"2"`, "room:1", "phx_join", `{"a":1}`)},
		{"null refs", `[null,null,"t","e",{}]`, msg("", "", "t", "e", `{}`)},
		{"numeric refs", `[12,-3.5e2,"t","e",{}]`, msg("12", "-3.5e2", "t", "e", `{}`)},
		{"empty string join_ref stays a string", `["","5","phoenix","heartbeat",{}]`, msg(`""`, `"5"`, "phoenix", "heartbeat", `{}`)},
		{"extra elements ignored", `["1","2","t","e",{},[1,{"x":[]}],"more",null]`, msg(`"1"`, `"2"`, "t", "e", `{}`)},
		{"whitespace everywhere", " \r\n\t[ \"1\" , null ,\n\"t\"\t,\"e\" , { \"a\" : [ 1 , 2 ] } ] \n",
			msg(`"1"`, "", "t", "e", `{ "a" : [ 1 , 2 ] }`)},
		{"payload array", `[null,"1","t","e",[1,"two",{"3":4}]]`, msg("", `"1"`, "t", "e", `[1,"two",{"3":4}]`)},
		{"payload string", `[null,"1","t","e","hi"]`, msg("", `"1"`, "t", "e", `"hi"`)},
		{"payload number", `[null,"1","t","e",-0.0e-0]`, msg("", `"1"`, "t", "e", `-0.0e-0`)},
		{"payload null", `[null,"1","t","e",null]`, msg("", `"1"`, "t", "e", `null`)},
		{"payload bools", `[null,"1","t","e",true]`, msg("", `"1"`, "t", "e", `true`)},
		{"escaped topic and event", `[null,"1","room:\u0031\n","ev\"\\\/\b\f\r\t",{}]`, msg("", `"1"`, "room:1\n", "ev\"\\/\b\f\r\t", `{}`)},
		{"surrogate pair", `[null,"1","\ud83d\ude00","e",{}]`, msg("", `"1"`, "😀", "e", `{}`)},
		{"lone surrogate becomes U+FFFD, as encoding/json does", `[null,"1","\ud83d","e",{}]`, msg("", `"1"`, "\uFFFD", "e", `{}`)},
		{"raw unicode", `["é","ü","тема","событие",{"k":"値"}]`, msg(`"é"`, `"ü"`, "тема", "событие", `{"k":"値"}`)},
		{"refs with escapes kept as sent", `["a\"b","\u0041",  "t","e",{}]`, msg(`"a\"b"`, `"\u0041"`, "t", "e", `{}`)},
		{"empty topic and event", `[null,null,"","",{}]`, msg("", "", "", "", `{}`)},
		{"DEL and U+2028 are plain characters", "[null,null,\"\x7f\u2028\",\"e\",{}]", msg("", "", "\x7f\u2028", "e", `{}`)},
		{"deep payload at the limit", `[null,null,"t","e",` + strings.Repeat("[", maxDepth-1) + strings.Repeat("]", maxDepth-1) + `]`,
			msg("", "", "t", "e", strings.Repeat("[", maxDepth-1)+strings.Repeat("]", maxDepth-1))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := V2.Decode([]byte(tt.frame), false)
			if err != nil {
				t.Fatal(err)
			}
			if d := diffMessage(m, tt.want); d != "" {
				t.Fatal(d)
			}
		})
	}
}

func TestV2DecodeTextMalformed(t *testing.T) {
	tests := []struct {
		name  string
		frame string
		msg   string // part of the error text
	}{
		{"empty", ``, "not a JSON array"},
		{"whitespace", "  \n", "not a JSON array"},
		{"object under V2", `{"topic":"t","event":"e","payload":{},"ref":"1"}`, "not a JSON array"},
		{"string", `"x"`, "not a JSON array"},
		{"empty array", `[]`, "0 elements"},
		{"one element", `[null]`, "1 elements"},
		{"four elements", `[null,"1","t","e"]`, "4 elements"},
		{"bad JSON", `[null,"1","t","e",{]`, "expected object key"},
		{"unterminated array", `[null,"1","t","e",{}`, "unexpected end"},
		{"unterminated string", `[null,"1","t","e`, "unterminated string"},
		{"trailing comma", `[null,"1","t","e",{},]`, "unexpected byte"},
		{"missing comma", `[null "1","t","e",{}]`, "expected ',' or ']'"},
		{"trailing garbage", `[null,"1","t","e",{}]x`, "data after the array"},
		{"two arrays", `[null,"1","t","e",{}][]`, "data after the array"},
		{"non-string topic", `[null,"1",7,"e",{}]`, "topic must be a string"},
		{"null topic", `[null,"1",null,"e",{}]`, "topic must be a string"},
		{"non-string event", `[null,"1","t",["e"],{}]`, "event must be a string"},
		{"object join_ref", `[{},"1","t","e",{}]`, "join_ref must be a string, a number or null"},
		{"object ref", `[null,{"r":1},"t","e",{}]`, "ref must be a string, a number or null"},
		{"array ref", `[null,[1],"t","e",{}]`, "ref must be"},
		{"bool ref", `[null,true,"t","e",{}]`, "ref must be"},
		{"bad literal", `[nul,"1","t","e",{}]`, "invalid literal"},
		{"leading zero", `[01,"1","t","e",{}]`, "expected ',' or ']'"},
		{"bad number", `[-,"1","t","e",{}]`, "bad number"},
		{"bad fraction", `[1.,"1","t","e",{}]`, "bad number"},
		{"bad exponent", `[1e+,"1","t","e",{}]`, "bad number"},
		{"NaN", `[NaN,"1","t","e",{}]`, "unexpected byte"},
		{"single quotes", `['1',"1","t","e",{}]`, "unexpected byte"},
		{"bad escape", `[null,"1","\x","e",{}]`, "bad escape"},
		{"bad unicode escape", `[null,"1","\u12G4","e",{}]`, `bad \u escape`},
		{"short unicode escape", `[null,"1","\u12`, `bad \u escape`},
		{"control character in string", "[null,\"1\",\"a\nb\",\"e\",{}]", "control character"},
		{"invalid UTF-8 in topic", "[null,\"1\",\"\xff\",\"e\",{}]", "invalid UTF-8"},
		{"invalid UTF-8 in payload", "[null,\"1\",\"t\",\"e\",{\"k\":\"\xc3\x28\"}]", "invalid UTF-8"},
		{"UTF-8 surrogate", "[null,\"1\",\"t\",\"e\",\"\xed\xa0\x80\"]", "invalid UTF-8"},
		{"non-ASCII outside strings", "[null,\"1\",\"t\",\"e\",{}]\u00a0", "data after the array"},
		{"object with non-string key", `[null,"1","t","e",{1:2}]`, "expected object key"},
		{"object missing colon", `[null,"1","t","e",{"a" 2}]`, "expected ':'"},
		{"object missing value", `[null,"1","t","e",{"a":}]`, "unexpected byte"},
		{"mismatched brackets", `[null,"1","t","e",{"a":[1}]`, "expected ',' or ']'"},
		{"too deep", `[null,"1","t","e",` + strings.Repeat("[", maxDepth) + strings.Repeat("]", maxDepth) + `]`, "nesting too deep"},
		{"deep and unterminated", strings.Repeat("[", 100000), "nesting too deep"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := V2.Decode([]byte(tt.frame), false)
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("got %+v, %v; want ErrMalformed", m, err)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("error %q does not mention %q", err, tt.msg)
			}
		})
	}
}

// The caller's buffer is reused after Decode: nothing in the message may alias it.
func TestDecodeCopies(t *testing.T) {
	tests := []struct {
		name   string
		s      Serializer
		frame  []byte
		binary bool
	}{
		{"V2 text", V2, str(`["1","2","room:1","ev",{"a":"b"}]`), false},
		{"V2 text, escaped", V2, str(`["1","2","room:\u0031","e\nv",{"a":"b"}]`), false},
		{"V2 binary", V2, bin(0, 1, 1, 6, 2, "1", "2", "room:1", "ev", "data"), true},
		{"V1", V1, str(`{"topic":"room:1","event":"ev","payload":{"a":"b"},"ref":"2","join_ref":"1"}`), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := tt.s.Decode(tt.frame, tt.binary)
			if err != nil {
				t.Fatal(err)
			}
			want := *m
			wantPayload := string(m.Payload.Bytes())
			for i := range tt.frame {
				tt.frame[i] = 'X'
			}
			if d := diffMessage(m, &want); d != "" || string(m.Payload.Bytes()) != wantPayload {
				t.Fatalf("message changed with the buffer: %s %q", d, m.Payload.Bytes())
			}
			if m.Topic != "room:1" || m.JoinRef.String() != "1" || m.Ref.String() != "2" {
				t.Fatalf("decoded %+v", m)
			}
		})
	}
}

func TestV2EncodeText(t *testing.T) {
	tests := []struct {
		name string
		m    *message.Message
		want string
	}{
		{"push", &message.Message{JoinRef: `"1"`, Topic: "room:1", Event: "new_msg", Payload: message.JSON([]byte(`{"body":"hi"}`))},
			`["1",null,"room:1","new_msg",{"body":"hi"}]`},
		{"push with empty payload", &message.Message{JoinRef: `"1"`, Topic: "t", Event: "e"}, `["1",null,"t","e",{}]`},
		{"push with ref (close/error)", &message.Message{JoinRef: `"1"`, Ref: `"1"`, Topic: "t", Event: "phx_close", Payload: message.EmptyObject},
			`["1","1","t","phx_close",{}]`},
		{"reply", &message.Message{JoinRef: `"1"`, Ref: `"2"`, Topic: "t", Event: "phx_reply", Status: "ok", Payload: message.JSON([]byte(`{"x":1}`))},
			`["1","2","t","phx_reply",{"response":{"x":1},"status":"ok"}]`},
		{"reply event is always phx_reply", &message.Message{JoinRef: `"1"`, Ref: `"2"`, Topic: "t", Event: "whatever", Status: "ok"},
			`["1","2","t","phx_reply",{"response":{},"status":"ok"}]`},
		{"reply with empty response", &message.Message{Ref: `3`, Topic: "t", Event: "phx_reply", Status: "error"},
			`[null,3,"t","phx_reply",{"response":{},"status":"error"}]`},
		{"reply status is escaped", &message.Message{Ref: `3`, Topic: "t", Status: "a\"b"},
			`[null,3,"t","phx_reply",{"response":{},"status":"a\"b"}]`},
		{"topic and event escaped", &message.Message{Topic: "a\"b\\c\nd\re\tf\bg\fh\x00\x1f</>&\u2028é", Event: "\x7f", Payload: message.EmptyObject},
			`[null,null,"a\"b\\c\nd\re\tf\bg\fh\u0000\u001f</>&` + "\u2028é" + `","` + "\x7f" + `",{}]`},
		{"invalid UTF-8 replaced", &message.Message{Topic: "a\xffb\xc3", Event: "e"}, `[null,null,"a\ufffdb\ufffd","e",{}]`},
		{"null ref token is written as null", &message.Message{JoinRef: "null", Topic: "t", Event: "e"}, `[null,null,"t","e",{}]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, binary, err := V2.Encode(tt.m)
			if err != nil {
				t.Fatal(err)
			}
			if binary {
				t.Error("binary = true")
			}
			if string(got) != tt.want {
				t.Fatalf("got  %s\nwant %s", got, tt.want)
			}
			if len(got) != cap(got) {
				t.Errorf("frame len %d, cap %d: size estimate is off", len(got), cap(got))
			}
			w := parseV2(t, got)
			if w.Topic != jsonRoundTrip(tt.m.Topic) {
				t.Errorf("topic read back as %q", w.Topic)
			}
		})
	}
}

// A Ref built by hand that is not a JSON string, number or null is refused rather than corrupting the frame.
func TestEncodeBadRef(t *testing.T) {
	bad := []message.Ref{`abc`, `"unterminated`, `{}`, `[1]`, `true`, `1 2`, `"a"b"`, "\"\xff\"", `01`, ` 1`, `nul`}
	for _, r := range bad {
		for _, m := range []*message.Message{
			{JoinRef: r, Topic: "t", Event: "e"},
			{Ref: r, Topic: "t", Event: "e"},
			{JoinRef: r, Topic: "t", Status: "ok"},
			{Ref: r, Topic: "t", Status: "ok", Payload: message.Binary([]byte("x"))},
			{JoinRef: r, Topic: "t", Event: "e", Payload: message.Binary([]byte("x"))},
		} {
			if _, _, err := V2.Encode(m); !errors.Is(err, message.ErrBadRef) {
				t.Errorf("V2 %+v: err = %v, want ErrBadRef", m, err)
			}
		}
		if _, _, err := V1.Encode(&message.Message{Ref: r, Topic: "t", Event: "e"}); !errors.Is(err, message.ErrBadRef) {
			t.Errorf("V1 ref %q: err = %v, want ErrBadRef", r, err)
		}
	}
	good := []message.Ref{`"a"`, `""`, `"\u00e9\n"`, `"é"`, `0`, `-1.5e3`, `null`}
	for _, r := range good {
		if _, _, err := V2.Encode(&message.Message{JoinRef: r, Ref: r, Topic: "t", Event: "e"}); err != nil {
			t.Errorf("ref %q: %v", r, err)
		}
	}
}
