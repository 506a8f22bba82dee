package serializer

import (
	"bytes"
	"errors"
	"testing"

	"github.com/pyrehq/pyre/actors/message"
)

// The vectors of transport/PROTOCOL.md §2 (binary frames), byte for byte.
func TestBinaryVectors(t *testing.T) {
	efg := []byte{101, 102, 103}

	t.Run("client push", func(t *testing.T) {
		frame := bin(0, 2, 3, 5, 5, "12", "123", "topic", "event", 101, 102, 103)
		m, err := V2.Decode(frame, true)
		if err != nil {
			t.Fatal(err)
		}
		want := &message.Message{
			JoinRef: message.StringRef("12"), Ref: message.StringRef("123"),
			Topic: "topic", Event: "event", Payload: message.Binary(efg),
		}
		if d := diffMessage(m, want); d != "" {
			t.Fatal(d)
		}
		if m.JoinRef.String() != "12" || m.Ref.String() != "123" || m.JoinRef.JSON() != `"12"` {
			t.Fatalf("refs %s %s", m.JoinRef.JSON(), m.Ref.JSON())
		}
	})

	tests := []struct {
		name string
		enc  func() ([]byte, bool, error)
		want []byte
	}{
		{"server push", func() ([]byte, bool, error) {
			return V2.Encode(&message.Message{JoinRef: message.StringRef("12"), Topic: "topic", Event: "event", Payload: message.Binary(efg)})
		}, bin(0, 2, 5, 5, "12", "topic", "event", 101, 102, 103)},
		{"reply", func() ([]byte, bool, error) {
			in := &message.Message{JoinRef: message.StringRef("12"), Ref: message.StringRef("123"), Topic: "topic", Event: "ping"}
			return V2.Encode(message.NewReply(in, message.StatusOK, message.Binary(efg)))
		}, bin(1, 2, 3, 5, 2, "12", "123", "topic", "ok", 101, 102, 103)},
		{"broadcast", func() ([]byte, bool, error) {
			return V2.EncodeBroadcast(message.NewBroadcast("topic", "event", message.Binary(efg)))
		}, bin(2, 5, 5, "topic", "event", 101, 102, 103)},
		{"server push, null join_ref", func() ([]byte, bool, error) {
			return V2.Encode(&message.Message{Topic: "topic", Event: "event", Payload: message.Binary(efg)})
		}, bin(0, 0, 5, 5, "topic", "event", 101, 102, 103)},
		{"reply, null refs", func() ([]byte, bool, error) {
			return V2.Encode(&message.Message{Topic: "topic", Event: message.EventReply, Status: "ok", Payload: message.Binary(efg)})
		}, bin(1, 0, 0, 5, 2, "topic", "ok", 101, 102, 103)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, binary, err := tt.enc()
			if err != nil {
				t.Fatal(err)
			}
			if !binary {
				t.Error("binary = false, want true")
			}
			if !bytes.Equal(got, tt.want) {
				t.Fatalf("got %v\nwant %v", got, tt.want)
			}
		})
	}
}

// The framing rows of transport/PROTOCOL.md §3: the client's frame is decoded, the server's answer is built from it
// as the socket would, and encoded.
func TestProtocolFraming(t *testing.T) {
	reply := func(status, response string) func(*message.Message) *message.Message {
		return func(in *message.Message) *message.Message {
			var p message.Payload
			if response != "" {
				p = message.JSON([]byte(response))
			}
			return message.NewReply(in, status, p)
		}
	}
	tests := []struct {
		name   string
		client string
		answer func(in *message.Message) *message.Message
		want   string
	}{
		{"heartbeat", `[null,"5","phoenix","heartbeat",{}]`, reply("ok", ""),
			`[null,"5","phoenix","phx_reply",{"response":{},"status":"ok"}]`},
		{"heartbeat from nshafer/phx (empty join_ref, null payload): the reply's join_ref is null, as Phoenix's",
			`["","5","phoenix","heartbeat",null]`,
			func(in *message.Message) *message.Message {
				return &message.Message{Ref: in.Ref, Topic: in.Topic, Event: message.EventReply, Status: "ok"}
			},
			`[null,"5","phoenix","phx_reply",{"response":{},"status":"ok"}]`},
		{"join ok", `["1","1","room:1","phx_join",{"token":"x"}]`, reply("ok", `{"count":3}`),
			`["1","1","room:1","phx_reply",{"response":{"count":3},"status":"ok"}]`},
		{"join refused", `["1","1","room:1","phx_join",{}]`, reply("error", `{"reason":"unauthorized"}`),
			`["1","1","room:1","phx_reply",{"response":{"reason":"unauthorized"},"status":"error"}]`},
		{"join crashed", `["1","1","room:1","phx_join",{}]`, reply("error", `{"reason":"join crashed"}`),
			`["1","1","room:1","phx_reply",{"response":{"reason":"join crashed"},"status":"error"}]`},
		{"join with null join_ref", `[null,"7","room:1","phx_join",{}]`, reply("ok", ""),
			`[null,"7","room:1","phx_reply",{"response":{},"status":"ok"}]`},
		{"push after a join with null join_ref carries the join's ref as J", `[null,"7","room:1","phx_join",{}]`,
			func(in *message.Message) *message.Message {
				return &message.Message{JoinRef: in.Ref, Topic: in.Topic, Event: "new_msg", Payload: message.JSON([]byte(`{"body":"hi"}`))}
			},
			`["7",null,"room:1","new_msg",{"body":"hi"}]`},
		{"close of a channel joined with null join_ref", `[null,"7","room:1","phx_join",{}]`,
			func(in *message.Message) *message.Message {
				return &message.Message{JoinRef: in.JoinRef, Ref: in.JoinRef, Topic: in.Topic, Event: message.EventClose}
			},
			`[null,null,"room:1","phx_close",{}]`},
		{"unmatched topic (join_ref null)", `["3","4","nope:1","phx_join",{}]`,
			func(in *message.Message) *message.Message {
				r := message.NewReply(in, "error", message.JSON([]byte(`{"reason":"unmatched topic"}`)))
				r.JoinRef = ""
				return r
			},
			`[null,"4","nope:1","phx_reply",{"response":{"reason":"unmatched topic"},"status":"error"}]`},
		{"too many channels", `["9","9","room:101","phx_join",{}]`, reply("error", `{"reason":"too many channels joined"}`),
			`["9","9","room:101","phx_reply",{"response":{"reason":"too many channels joined"},"status":"error"}]`},
		{"leave", `["1","8","room:1","phx_leave",{}]`, reply("ok", ""),
			`["1","8","room:1","phx_reply",{"response":{},"status":"ok"}]`},
		{"close after leave (ref slot = join_ref)", `["1","8","room:1","phx_leave",{}]`,
			func(in *message.Message) *message.Message {
				return &message.Message{JoinRef: in.JoinRef, Ref: in.JoinRef, Topic: in.Topic, Event: message.EventClose, Payload: message.EmptyObject}
			},
			`["1","1","room:1","phx_close",{}]`},
		{"channel crash", `["1","8","room:1","boom",{}]`,
			func(in *message.Message) *message.Message {
				return &message.Message{JoinRef: in.JoinRef, Ref: in.JoinRef, Topic: in.Topic, Event: message.EventError,
					Payload: message.JSON([]byte(`{"reason":"channel_crash"}`))}
			},
			`["1","1","room:1","phx_error",{"reason":"channel_crash"}]`},
		{"restarted push gets a crash reply", `["1","8","room:1","boom",{}]`, reply("error", `{"reason":"channel_crash"}`),
			`["1","8","room:1","phx_reply",{"response":{"reason":"channel_crash"},"status":"error"}]`},
		{"numeric refs are echoed as numbers", `[1,42,"room:1","ping",{}]`, reply("ok", ""),
			`[1,42,"room:1","phx_reply",{"response":{},"status":"ok"}]`},
		{"odd numeric refs are echoed exactly", `[-0.5e+3,1E2,"room:1","ping",{}]`, reply("ok", ""),
			`[-0.5e+3,1E2,"room:1","phx_reply",{"response":{},"status":"ok"}]`},
		{"refs with unicode and escapes round-trip", `["j\u00e9\"\\x","r\/\n\ud83d\ude00é","room:1","ping",{}]`, reply("ok", ""),
			`["j\u00e9\"\\x","r\/\n\ud83d\ude00é","room:1","phx_reply",{"response":{},"status":"ok"}]`},
		{"reply with another status word", `["1","2","room:1","ping",{}]`, reply("pending", `[1,2]`),
			`["1","2","room:1","phx_reply",{"response":[1,2],"status":"pending"}]`},
		{"reply response may be any value", `["1","2","room:1","ping",{}]`, reply("ok", `"pong"`),
			`["1","2","room:1","phx_reply",{"response":"pong","status":"ok"}]`},
		{"escaped topic is decoded then re-escaped", `["1","2","room:\u00e9\"","ping",{}]`, reply("ok", ""),
			`["1","2","room:é\"","phx_reply",{"response":{},"status":"ok"}]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, err := V2.Decode([]byte(tt.client), false)
			if err != nil {
				t.Fatal(err)
			}
			got, binary, err := V2.Encode(tt.answer(in))
			if err != nil {
				t.Fatal(err)
			}
			if binary {
				t.Error("binary = true for a JSON payload")
			}
			if string(got) != tt.want {
				t.Fatalf("got  %s\nwant %s", got, tt.want)
			}
			parseV2(t, got)
		})
	}
}

// A broadcast is [null, null, T, E, P], the same bytes for every subscriber.
func TestBroadcastFraming(t *testing.T) {
	b := message.NewBroadcast("room:1", "new_msg", message.JSON([]byte(`{"body":"hi"}`)))
	got, binary, err := V2.EncodeBroadcast(b)
	if err != nil || binary {
		t.Fatalf("err %v, binary %v", err, binary)
	}
	if want := `[null,null,"room:1","new_msg",{"body":"hi"}]`; string(got) != want {
		t.Fatalf("got %s, want %s", got, want)
	}
	got, _, err = V1.EncodeBroadcast(b)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"event":"new_msg","payload":{"body":"hi"},"ref":null,"topic":"room:1"}`; string(got) != want {
		t.Fatalf("got %s, want %s", got, want)
	}

	// Through the broadcast's cache, as the fastlane uses it: one encoding per slot.
	calls := 0
	for range 3 {
		for _, s := range []Serializer{V1, V2} {
			f, err := b.Encoded(s.Slot(), func(b *message.Broadcast) ([]byte, error) {
				calls++
				f, _, err := s.EncodeBroadcast(b)
				return f, err
			})
			if err != nil || len(f) == 0 {
				t.Fatalf("Encoded: %q, %v", f, err)
			}
		}
	}
	if calls != 2 {
		t.Fatalf("encoded %d times, want once per serializer", calls)
	}
}

// Phoenix's V2 raises on a push or broadcast whose JSON payload is not an object.
func TestV2NonObjectPayload(t *testing.T) {
	for _, p := range []string{`[1]`, `"s"`, `null`, `3`, ` true`} {
		_, _, err := V2.Encode(&message.Message{JoinRef: `"1"`, Topic: "t", Event: "e", Payload: message.JSON([]byte(p))})
		if !errors.Is(err, message.ErrNotObject) {
			t.Errorf("push %s: err = %v, want ErrNotObject", p, err)
		}
		_, _, err = V2.EncodeBroadcast(message.NewBroadcast("t", "e", message.JSON([]byte(p))))
		if !errors.Is(err, message.ErrNotObject) {
			t.Errorf("broadcast %s: err = %v, want ErrNotObject", p, err)
		}
		// V1 does not check (Phoenix's V1 does not either), and replies may carry any value.
		if _, _, err := V1.Encode(&message.Message{Topic: "t", Event: "e", Payload: message.JSON([]byte(p))}); err != nil {
			t.Errorf("V1 push %s: %v", p, err)
		}
		if _, _, err := V2.Encode(&message.Message{Topic: "t", Event: "phx_reply", Status: "ok", Payload: message.JSON([]byte(p))}); err != nil {
			t.Errorf("V2 reply %s: %v", p, err)
		}
	}
	got, _, err := V2.Encode(&message.Message{Topic: "t", Event: "e", Payload: message.JSON([]byte(" \n{}"))})
	if err != nil || string(got) != "[null,null,\"t\",\"e\", \n{}]" {
		t.Fatalf("object after whitespace: %q, %v", got, err)
	}
}
