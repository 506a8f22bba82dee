package serializer

import (
	"errors"
	"strings"
	"testing"

	"github.com/pyrehq/pyre/actors/message"
)

func TestV1Decode(t *testing.T) {
	msg := func(j, r message.Ref, topic, event, payload string) *message.Message {
		return &message.Message{JoinRef: j, Ref: r, Topic: topic, Event: event, Payload: message.JSON([]byte(payload))}
	}
	tests := []struct {
		name  string
		frame string
		want  *message.Message
	}{
		{"all keys", `{"topic":"room:1","event":"phx_join","payload":{"a":1},"ref":"2","join_ref":"1"}`,
			msg(`"1"`, `"2"`, "room:1", "phx_join", `{"a":1}`)},
		{"without join_ref", `{"topic":"t","event":"e","payload":{},"ref":"2"}`, msg("", `"2"`, "t", "e", `{}`)},
		{"null ref", `{"topic":"t","event":"e","payload":{},"ref":null}`, msg("", "", "t", "e", `{}`)},
		{"numeric refs", `{"topic":"t","event":"e","payload":{},"ref":5,"join_ref":-1e3}`, msg("-1e3", "5", "t", "e", `{}`)},
		{"any key order, whitespace", " { \"ref\" : \"2\" ,\n\"payload\":[1, 2] , \"event\":\"e\",\"topic\":\"t\" } ",
			msg("", `"2"`, "t", "e", `[1, 2]`)},
		{"payload of any type", `{"topic":"t","event":"e","payload":"x","ref":null}`, msg("", "", "t", "e", `"x"`)},
		{"null payload", `{"topic":"t","event":"e","payload":null,"ref":null}`, msg("", "", "t", "e", `null`)},
		{"unknown keys ignored", `{"topic":"t","x":{"topic":1},"event":"e","payload":{},"ref":null,"y":[]}`, msg("", "", "t", "e", `{}`)},
		{"last duplicate wins", `{"topic":"a","topic":"b","event":"e","payload":{},"ref":null}`, msg("", "", "b", "e", `{}`)},
		{"escaped keys", `{"top\u0069c":"t","\u0065vent":"e","payload":{},"ref":null,"join\u005fref":"1"}`, msg(`"1"`, "", "t", "e", `{}`)},
		{"case matters in keys", `{"topic":"t","Topic":1,"event":"e","payload":{},"ref":null}`, msg("", "", "t", "e", `{}`)},
		{"escaped values", `{"topic":"r\u00e9","event":"\"","payload":{},"ref":"\u0031"}`, msg("", `"\u0031"`, "ré", `"`, `{}`)},
		{"null join_ref", `{"topic":"t","event":"e","payload":{},"ref":"1","join_ref":null}`, msg("", `"1"`, "t", "e", `{}`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := V1.Decode([]byte(tt.frame), false)
			if err != nil {
				t.Fatal(err)
			}
			if d := diffMessage(m, tt.want); d != "" {
				t.Fatal(d)
			}
		})
	}
}

func TestV1DecodeMalformed(t *testing.T) {
	tests := []struct {
		name   string
		frame  string
		binary bool
		msg    string
	}{
		{"array under V1", `[null,"1","t","e",{}]`, false, "not a JSON object"},
		{"empty", ``, false, "not a JSON object"},
		{"string", `"topic"`, false, "not a JSON object"},
		{"empty object", `{}`, false, `missing key "topic"`},
		{"missing topic", `{"event":"e","payload":{},"ref":null}`, false, `missing key "topic"`},
		{"missing event", `{"topic":"t","payload":{},"ref":null}`, false, `missing key "event"`},
		{"missing payload", `{"topic":"t","event":"e","ref":null}`, false, `missing key "payload"`},
		{"missing ref", `{"topic":"t","event":"e","payload":{}}`, false, `missing key "ref"`},
		{"non-string topic", `{"topic":1,"event":"e","payload":{},"ref":null}`, false, "topic must be a string"},
		{"null topic", `{"topic":null,"event":"e","payload":{},"ref":null}`, false, "topic must be a string"},
		{"non-string event", `{"topic":"t","event":{},"payload":{},"ref":null}`, false, "event must be a string"},
		{"object ref", `{"topic":"t","event":"e","payload":{},"ref":{}}`, false, "ref must be a string, a number or null"},
		{"bool ref", `{"topic":"t","event":"e","payload":{},"ref":false}`, false, "ref must be"},
		{"array join_ref", `{"topic":"t","event":"e","payload":{},"ref":"1","join_ref":[]}`, false, "join_ref must be"},
		{"trailing garbage", `{"topic":"t","event":"e","payload":{},"ref":null}}`, false, "data after the object"},
		{"bad JSON", `{"topic":"t","event":"e","payload":{,"ref":null}`, false, "expected object key"},
		{"unterminated", `{"topic":"t","event":"e"`, false, "unexpected end"},
		{"missing colon", `{"topic" "t"}`, false, "expected ':'"},
		{"trailing comma", `{"topic":"t",}`, false, "expected object key"},
		{"invalid UTF-8", "{\"topic\":\"\xff\",\"event\":\"e\",\"payload\":{},\"ref\":null}", false, "invalid UTF-8"},
		{"binary frame", "\x00\x00\x00\x01\x01te", true, "V1 has no binary frames"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := V1.Decode([]byte(tt.frame), tt.binary)
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("got %+v, %v; want ErrMalformed", m, err)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("error %q does not mention %q", err, tt.msg)
			}
		})
	}
}

func TestV1Encode(t *testing.T) {
	tests := []struct {
		name string
		m    *message.Message
		want string
	}{
		{"push never carries join_ref", &message.Message{JoinRef: `"1"`, Topic: "room:1", Event: "new_msg", Payload: message.JSON([]byte(`{"b":1}`))},
			`{"event":"new_msg","payload":{"b":1},"ref":null,"topic":"room:1"}`},
		{"reply", &message.Message{JoinRef: `"1"`, Ref: `"2"`, Topic: "t", Event: "phx_reply", Status: "ok", Payload: message.JSON([]byte(`{"x":1}`))},
			`{"event":"phx_reply","payload":{"response":{"x":1},"status":"ok"},"ref":"2","topic":"t"}`},
		{"heartbeat reply", &message.Message{Ref: `"5"`, Topic: "phoenix", Status: "ok"},
			`{"event":"phx_reply","payload":{"response":{},"status":"ok"},"ref":"5","topic":"phoenix"}`},
		{"numeric ref", &message.Message{Ref: `5`, Topic: "t", Status: "error", Payload: message.JSON([]byte(`"no"`))},
			`{"event":"phx_reply","payload":{"response":"no","status":"error"},"ref":5,"topic":"t"}`},
		{"close with ref", &message.Message{JoinRef: `"1"`, Ref: `"1"`, Topic: "t", Event: "phx_close"},
			`{"event":"phx_close","payload":{},"ref":"1","topic":"t"}`},
		{"escaping", &message.Message{Topic: "a\"\n", Event: "é\x01"},
			`{"event":"é\u0001","payload":{},"ref":null,"topic":"a\"\n"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, binary, err := V1.Encode(tt.m)
			if err != nil || binary {
				t.Fatalf("err %v, binary %v", err, binary)
			}
			if string(got) != tt.want {
				t.Fatalf("got  %s\nwant %s", got, tt.want)
			}
			if len(got) != cap(got) {
				t.Errorf("frame len %d, cap %d: size estimate is off", len(got), cap(got))
			}
			parseV1(t, got)
		})
	}
}

func TestV1Binary(t *testing.T) {
	data := message.Binary([]byte{1})
	for _, m := range []*message.Message{
		{Topic: "t", Event: "e", Payload: data},
		{Topic: "t", Status: "ok", Payload: data},
	} {
		if _, _, err := V1.Encode(m); !errors.Is(err, ErrBinaryV1) {
			t.Errorf("Encode %+v: err = %v, want ErrBinaryV1", m, err)
		}
	}
	if _, _, err := V1.EncodeBroadcast(message.NewBroadcast("t", "e", data)); !errors.Is(err, ErrBinaryV1) {
		t.Errorf("EncodeBroadcast: err = %v, want ErrBinaryV1", err)
	}
}
