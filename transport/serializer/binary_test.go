package serializer

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/pyrehq/pyre/actors/message"
)

func TestV2DecodeBinary(t *testing.T) {
	tests := []struct {
		name  string
		frame []byte
		want  *message.Message
	}{
		{"empty refs are empty strings, as Phoenix decodes them", bin(0, 0, 0, 1, 1, "t", "e", "xyz"),
			&message.Message{JoinRef: message.StringRef(""), Ref: message.StringRef(""), Topic: "t", Event: "e", Payload: message.Binary([]byte("xyz"))}},
		{"empty data", bin(0, 1, 1, 1, 1, "1", "2", "t", "e"),
			&message.Message{JoinRef: `"1"`, Ref: `"2"`, Topic: "t", Event: "e", Payload: message.Binary([]byte{})}},
		{"refs needing escapes", bin(0, 3, 2, 1, 1, "a\"b", "\n\\", "t", "e", 0, 255),
			&message.Message{JoinRef: message.StringRef("a\"b"), Ref: message.StringRef("\n\\"), Topic: "t", Event: "e",
				Payload: message.Binary([]byte{0, 255})}},
		{"unicode header strings", bin(0, 2, 0, 4, 2, "é", "тт", "é", 1),
			&message.Message{JoinRef: message.StringRef("é"), Ref: message.StringRef(""), Topic: "тт", Event: "é", Payload: message.Binary([]byte{1})}},
		{"255-byte topic", bin(0, 0, 0, 255, 1, strings.Repeat("t", 255), "e"),
			&message.Message{JoinRef: message.StringRef(""), Ref: message.StringRef(""), Topic: strings.Repeat("t", 255), Event: "e", Payload: message.Binary([]byte{})}},
		{"data that looks like JSON stays binary", bin(0, 0, 0, 1, 1, "t", "e", `{"a":1}`),
			&message.Message{JoinRef: message.StringRef(""), Ref: message.StringRef(""), Topic: "t", Event: "e", Payload: message.Binary([]byte(`{"a":1}`))}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := V2.Decode(tt.frame, true)
			if err != nil {
				t.Fatal(err)
			}
			if d := diffMessage(m, tt.want); d != "" {
				t.Fatal(d)
			}
			if !m.Payload.IsBinary() {
				t.Fatal("payload is not binary")
			}
		})
	}
}

func TestV2DecodeBinaryMalformed(t *testing.T) {
	tests := []struct {
		name  string
		frame []byte
		msg   string
	}{
		{"empty", nil, "empty"},
		{"kind 1 (reply) sent by a client", bin(1, 2, 3, 5, 2, "12", "123", "topic", "ok", 101), "kind 1"},
		{"kind 2 (broadcast) sent by a client", bin(2, 5, 5, "topic", "event", 101), "kind 2"},
		{"unknown kind", bin(7, 0, 0, 0, 0), "kind 7"},
		{"kind only", bin(0), "header is 1 bytes"},
		{"short header", bin(0, 0, 0, 0), "header is 4 bytes"},
		{"lengths overrun the frame", bin(0, 2, 3, 5, 5, "12", "123", "topic", "even"), "need 20 bytes, frame has 19"},
		{"truncated after header", bin(0, 1, 0, 0, 0), "need 6 bytes, frame has 5"},
		{"max lengths, short frame", bin(0, 255, 255, 255, 255, "x"), "need 1025 bytes"},
		{"invalid UTF-8 topic", bin(0, 0, 0, 1, 1, 0xff, "e"), "topic is not valid UTF-8"},
		{"rune split across fields", bin(0, 1, 1, 1, 1, 0xc3, 0xa9, "t", "e"), "join_ref is not valid UTF-8"},
		{"invalid UTF-8 event", bin(0, 0, 0, 1, 1, "t", 0x80), "event is not valid UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := V2.Decode(tt.frame, true)
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("got %+v, %v; want ErrMalformed", m, err)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("error %q does not mention %q", err, tt.msg)
			}
		})
	}
}

func TestV2EncodeBinary(t *testing.T) {
	data := message.Binary([]byte{9, 8})
	long := strings.Repeat("x", 256)
	max := strings.Repeat("x", 255)
	tests := []struct {
		name string
		enc  func() ([]byte, bool, error)
		want []byte
		err  string // part of an ErrTooLong error; "" for success
	}{
		{"push numeric join_ref", func() ([]byte, bool, error) {
			return V2.Encode(&message.Message{JoinRef: "42", Topic: "t", Event: "e", Payload: data})
		}, bin(0, 2, 1, 1, "42", "t", "e", 9, 8), ""},
		{"push escaped join_ref is unquoted", func() ([]byte, bool, error) {
			return V2.Encode(&message.Message{JoinRef: `"a\"\u00e9"`, Topic: "t", Event: "e", Payload: data})
		}, bin(0, 4, 1, 1, "a\"é", "t", "e", 9, 8), ""},
		{"push drops the ref slot", func() ([]byte, bool, error) {
			return V2.Encode(&message.Message{JoinRef: `"1"`, Ref: `"1"`, Topic: "t", Event: "e", Payload: data})
		}, bin(0, 1, 1, 1, "1", "t", "e", 9, 8), ""},
		{"push empty data", func() ([]byte, bool, error) {
			return V2.Encode(&message.Message{Topic: "t", Event: "e", Payload: message.Binary(nil)})
		}, bin(0, 0, 1, 1, "t", "e"), ""},
		{"reply status word", func() ([]byte, bool, error) {
			return V2.Encode(&message.Message{JoinRef: `"1"`, Ref: "7", Topic: "t", Status: "error", Payload: data})
		}, bin(1, 1, 1, 1, 5, "1", "7", "t", "error", 9, 8), ""},
		{"255-byte strings fit", func() ([]byte, bool, error) {
			return V2.EncodeBroadcast(message.NewBroadcast(max, max, data))
		}, bin(2, 255, 255, max, max, 9, 8), ""},
		{"long topic", func() ([]byte, bool, error) {
			return V2.Encode(&message.Message{Topic: long, Event: "e", Payload: data})
		}, nil, "topic is 256 bytes"},
		{"long event", func() ([]byte, bool, error) {
			return V2.Encode(&message.Message{Topic: "t", Event: long, Payload: data})
		}, nil, "event is 256 bytes"},
		{"long join_ref", func() ([]byte, bool, error) {
			return V2.Encode(&message.Message{JoinRef: message.StringRef(long), Topic: "t", Event: "e", Payload: data})
		}, nil, "join_ref is 256 bytes"},
		{"long ref in a reply", func() ([]byte, bool, error) {
			return V2.Encode(&message.Message{Ref: message.StringRef(long), Topic: "t", Status: "ok", Payload: data})
		}, nil, "ref is 256 bytes"},
		{"long status", func() ([]byte, bool, error) {
			return V2.Encode(&message.Message{Topic: "t", Status: long, Payload: data})
		}, nil, "status is 256 bytes"},
		{"long broadcast topic", func() ([]byte, bool, error) {
			return V2.EncodeBroadcast(message.NewBroadcast(long, "e", data))
		}, nil, "topic is 256 bytes"},
		{"long broadcast event", func() ([]byte, bool, error) {
			return V2.EncodeBroadcast(message.NewBroadcast("t", long, data))
		}, nil, "event is 256 bytes"},
		{"long topic is fine in text frames", func() ([]byte, bool, error) {
			f, _, err := V2.Encode(&message.Message{Topic: long, Event: "e"})
			return f, true, err
		}, []byte(`[null,null,"` + long + `","e",{}]`), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, binary, err := tt.enc()
			if tt.err != "" {
				if !errors.Is(err, ErrTooLong) || !strings.Contains(err.Error(), tt.err) || binary {
					t.Fatalf("got %v, %v, binary %v; want ErrTooLong mentioning %q", got, err, binary, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !binary {
				t.Error("binary = false")
			}
			if !bytes.Equal(got, tt.want) {
				t.Fatalf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}
