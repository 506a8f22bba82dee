package channeltest_test

import (
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/pyrehq/pyre/actors/channel"
	"github.com/pyrehq/pyre/actors/channeltest"
)

// roomChannel is the channel the examples test: it echoes "ping", rebroadcasts "shout" and reminds the
// client after a minute.
type roomChannel struct{}

type remind struct{}

func (roomChannel) Join(s *channel.Socket, topic string, params channel.Payload) (any, error) {
	if topic == "room:secret" {
		return nil, channel.Deny(map[string]string{"reason": "unauthorized"})
	}
	s.SendAfter(time.Minute, remind{})
	return map[string]string{"hello": s.Assigns()["user"].(string)}, nil
}

func (roomChannel) HandleIn(s *channel.Socket, event string, p channel.Payload) (channel.Reply, error) {
	switch event {
	case "ping":
		return channel.ReplyOK(p), nil
	case "shout":
		return channel.NoReply, s.Broadcast("shout", p)
	}
	return channel.ReplyError(map[string]string{"reason": "unknown event"}), nil
}

func (roomChannel) HandleInfo(s *channel.Socket, msg any) error {
	if _, ok := msg.(remind); ok {
		return s.Push("reminder", map[string]string{"text": "still there?"})
	}
	return nil
}

func router() *channel.Router {
	r := channel.NewRouter(channel.ConnectFunc(func(params url.Values, _ channel.ConnectInfo) (channel.Assigns, error) {
		return channel.Assigns{"user": params.Get("user")}, nil
	}))
	r.Channel("room:*", func() channel.Channel { return roomChannel{} })
	return r
}

// t stands for the *testing.T of the test function the examples are written in; TestExamples runs them
// with its own.
var t *testing.T

func TestExamples(tt *testing.T) {
	t = tt
	defer func() { t = nil }()
	Example()
	ExampleClient_Join()
}

// A test of a channel, as Phoenix.ChannelTest writes them.
func Example() {
	srv := channeltest.NewServer(t, router(), channeltest.Options{})
	client := srv.MustConnect(url.Values{"user": {"ada"}})

	room, err := client.SubscribeAndJoin("room:lobby", nil)
	if err != nil {
		t.Fatal(err)
	}
	// The join reply.
	var reply map[string]string
	if err := room.JoinReply().Decode(&reply); err != nil || reply["hello"] != "ada" {
		t.Fatalf("join reply %s", room.JoinReply())
	}

	// push → ref, then the reply to that ref.
	ref := room.Push("ping", map[string]string{"hello": "there"})
	room.AssertReply(ref, "ok", map[string]string{"hello": "there"})

	// A broadcast reaches the test's subscription and every member of the room, this client included.
	room.Push("shout", map[string]string{"body": "hi"})
	room.AssertBroadcast("shout", map[string]string{"body": "hi"})
	room.AssertPush("shout", channeltest.Partial(map[string]string{"body": "hi"}))

	// Time is the test's: the reminder comes after a minute, and not before.
	srv.Advance(59 * time.Second)
	room.RefutePush("reminder", channeltest.Any)
	srv.Advance(time.Second)
	room.AssertPush("reminder", map[string]string{"text": "still there?"})

	// Leaving: an ok reply, then phx_close.
	room.AssertReply(room.Leave(), "ok", nil)
	room.AssertPush("phx_close", nil)
}

// A refused join returns the refusal's reply.
func ExampleClient_Join() {
	srv := channeltest.NewServer(t, router(), channeltest.Options{})
	_, err := srv.MustConnect(nil).Join("room:secret", nil)
	var refused *channeltest.JoinError
	if !errors.As(err, &refused) || refused.Reply.String() != `{"reason":"unauthorized"}` {
		t.Fatalf("join room:secret = %v", err)
	}
}
