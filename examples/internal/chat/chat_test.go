package chat

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/pyrehq/pyre/actors/channel"
	"github.com/pyrehq/pyre/actors/channeltest"
	"github.com/pyrehq/pyre/actors/message"
	"github.com/pyrehq/pyre/actors/presence"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestName(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"ada", "ada"},
		{"  ada  ", "ada"},
		{"", Anonymous},
		{"   ", Anonymous},
		{strings.Repeat("é", MaxName), strings.Repeat("é", MaxName)},
		{strings.Repeat("é", MaxName+5), strings.Repeat("é", MaxName)},
		{strings.Repeat("a", MaxName-1) + " b", strings.Repeat("a", MaxName-1)}, // cut, then trimmed
	} {
		if got := Name(tc.in); got != tc.want {
			t.Errorf("Name(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func newServer(t *testing.T, route func() channel.Channel) *channeltest.Server {
	r := channel.NewRouter(nil)
	r.Channel("chat:*", route)
	return channeltest.NewServer(t, r, channeltest.Options{})
}

func TestSecretRefused(t *testing.T) {
	srv := newServer(t, New)
	_, err := srv.MustConnect(nil).Join("chat:secret", nil)
	var refused *channeltest.JoinError
	if !errors.As(err, &refused) || refused.Reply.String() != `{"reason":"You don't have permission!"}` {
		t.Fatalf("join chat:secret = %v", err)
	}
}

// Every event is rebroadcast as new_msg, intercepted and pushed by each member's HandleOut: a push on
// its join, not a fastlane broadcast.
func TestLobbyRebroadcasts(t *testing.T) {
	srv := newServer(t, New)
	a, err := srv.MustConnect(nil).SubscribeAndJoin("chat:lobby", nil)
	if err != nil {
		t.Fatal(err)
	}
	b := srv.MustConnect(nil).MustJoin("chat:lobby", nil)
	msg := map[string]string{"body": "Hello World!", "user": "a"}
	a.Push("shout", msg)
	a.AssertBroadcast("new_msg", msg)
	for _, ch := range []*channeltest.Channel{a, b} {
		if m := ch.AssertPush("new_msg", msg); m.JoinRef.String() != ch.JoinRef() {
			t.Errorf("new_msg is not a push on its join: %s", channeltest.Describe(m))
		}
		ch.RefutePush("new_msg", channeltest.Any) // once
	}
	// A payload that is not an object is refused, and nothing is broadcast.
	a.AssertReply(a.Push("shout", []int{1}), "error", map[string]string{"reason": "payload must be an object"})
	a.RefuteBroadcast("new_msg", channeltest.Any)
	b.RefutePush("new_msg", channeltest.Any)
}

// presences decodes a presence_state, or one side of a presence_diff: the keys and each one's metas.
func presences(t *testing.T, p channel.Payload) map[string][]map[string]any {
	t.Helper()
	var v map[string]struct{ Metas []map[string]any }
	if err := p.Decode(&v); err != nil {
		t.Fatal(err)
	}
	out := make(map[string][]map[string]any, len(v))
	for k, e := range v {
		out[k] = e.Metas
	}
	return out
}

// With presence, a member gets the room's presence_state after its join reply, the others a
// presence_diff with its join, then with its leave; a member who joined without a name is Anonymous.
func TestPresence(t *testing.T) {
	var tracker *presence.Tracker
	r := channel.NewRouter(nil)
	r.Channel("chat:*", func() channel.Channel { return WithPresence(tracker)() })
	srv := channeltest.NewServer(t, r, channeltest.Options{})
	tracker, err := presence.Start(context.Background(), srv.Host, presence.Config{})
	if err != nil {
		t.Fatal(err)
	}

	ada := srv.MustConnect(nil).MustJoin("chat:room", map[string]string{"user": "  ada "})
	if got := ada.JoinReply().String(); got != `{"user":"ada"}` {
		t.Fatalf("join reply %s", got)
	}
	state := presences(t, ada.AssertPush("presence_state", channeltest.Any).Payload)
	if len(state) != 1 || len(state["ada"]) != 1 || state["ada"][0]["online_at"] == nil || state["ada"][0]["phx_ref"] == nil {
		t.Fatalf("presence_state %v", state)
	}

	bob := srv.MustConnect(nil).MustJoin("chat:room", nil)
	if got := bob.JoinReply().String(); got != `{"user":"anonymous"}` {
		t.Fatalf("join reply %s", got)
	}
	// Ada's own join may come in the same presence_diff (diffs are batched) or in one before.
	diff := func(side, key string) map[string][]map[string]any {
		t.Helper()
		var got map[string][]map[string]any
		ada.AssertPush("presence_diff", channeltest.MatchFunc(side+" with "+key, func(p channel.Payload) bool {
			var d map[string]json.RawMessage
			if p.Decode(&d) != nil {
				return false
			}
			got = presences(t, message.JSON(d[side]))
			return got[key] != nil
		}))
		return got
	}
	if joins := diff("joins", Anonymous); len(joins[Anonymous]) != 1 {
		t.Fatalf("joins %v", joins)
	}
	state = presences(t, bob.AssertPush("presence_state", channeltest.Any).Payload)
	if len(state) != 2 || len(state["ada"]) != 1 || len(state[Anonymous]) != 1 {
		t.Fatalf("bob's presence_state %v", state)
	}

	bob.AssertReply(bob.Leave(), "ok", nil)
	if leaves := diff("leaves", Anonymous); len(leaves) != 1 || len(leaves[Anonymous]) != 1 {
		t.Fatalf("leaves %v", leaves)
	}
}
