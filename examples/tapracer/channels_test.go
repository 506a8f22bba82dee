package main

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/pyrehq/pyre/actors/channel"
	"github.com/pyrehq/pyre/actors/channeltest"
	"github.com/pyrehq/pyre/actors/presence"
)

// startChannels runs TapRacer's channels on channeltest: the real race and presence tracker on a real
// host, no network. The race is closed after the host has shut down, as app.shutdown does.
func startChannels(t *testing.T) *channeltest.Server {
	t.Helper()
	var srv *channeltest.Server
	rc := newRace(func(topic, event string, payload any) error { return srv.Host.Broadcast(topic, event, payload) }, 0, realClock())
	t.Cleanup(rc.close) // cleanups run last first: after the server's
	r := channel.NewRouter(channel.ConnectFunc(userSocket))
	srv = channeltest.NewServer(t, r, channeltest.Options{})
	tracker, err := presence.Start(context.Background(), srv.Host, presence.Config{Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	routes(r, rc, tracker) // before the first client connects
	return srv
}

// joinAs connects a client and joins topic, decoding the join reply into resp (if not nil).
func joinAs(t *testing.T, srv *channeltest.Server, topic string, params, resp any) *channeltest.Channel {
	t.Helper()
	ch := srv.MustConnect(nil).MustJoin(topic, params)
	if resp != nil {
		decodePayload(t, ch.JoinReply(), resp)
	}
	return ch
}

func decodePayload(t testing.TB, p channel.Payload, v any) {
	t.Helper()
	if err := p.Decode(v); err != nil {
		t.Fatalf("decode %s: %v", p, err)
	}
}

// nextState takes ch's race_state pushes in order until one satisfies cond, and returns it: states
// arrive in order, so the ones before are older. They are also throttled, so intermediate states may
// never be seen: always wait for the state you need.
func nextState(t *testing.T, ch *channeltest.Channel, what string, cond func(raceState) bool) raceState {
	t.Helper()
	for {
		var st raceState
		m := ch.AssertPush(eventRaceState, channeltest.MatchFunc(what+" (or an older race_state)", func(channel.Payload) bool { return true }))
		decodePayload(t, m.Payload, &st)
		if cond(st) {
			return st
		}
	}
}

// call pushes event and returns the reply's status and response.
func call(t *testing.T, ch *channeltest.Channel, event string, payload any) reply {
	t.Helper()
	m := ch.AssertReply(ch.Push(event, payload), "", channeltest.Any)
	return reply{Status: m.Status, Response: json.RawMessage(m.Payload.Bytes())}
}

func TestRace(t *testing.T) {
	srv := startChannels(t)
	console := joinAs(t, srv, "console", map[string]any{}, nil)
	// The console's first push follows its join reply: the state of race 1, nobody playing.
	st := nextState(t, console, "initial race_state", func(raceState) bool { return true })
	if st.Race != 1 || st.Target != defaultTarget || st.Winner != nil || len(st.Players) != 0 {
		t.Fatalf("initial state = %+v", st)
	}

	var aj joinResult
	alice := joinAs(t, srv, "play", map[string]any{"name": "  Alice "}, &aj)
	if aj.Name != "Alice" || aj.ID == "" || aj.Race != 1 || aj.Target != defaultTarget {
		t.Fatalf("alice's join reply = %+v", aj)
	}
	nextState(t, alice, "alice's first race_state", func(st raceState) bool {
		_, ok := findPlayer(st, aj.ID)
		return ok
	})
	var bj joinResult
	bob := joinAs(t, srv, "play", map[string]any{"name": "Bob"}, &bj)
	nextState(t, console, "race_state with alice and bob", func(st raceState) bool { return len(st.Players) == 2 })

	// Bob taps a little; Alice taps a whole tap storm up to the target, without waiting for replies.
	for range 3 {
		if r := call(t, bob, "tap", nil); r.Status != "ok" {
			t.Fatalf("bob's tap: %+v", r)
		}
	}
	refs := make([]string, defaultTarget)
	for i := range refs {
		refs[i] = alice.Push("tap", nil)
	}
	for i, ref := range refs {
		want := tapResult{Taps: i + 1, Counted: true, Won: i+1 == defaultTarget, Race: 1, Target: defaultTarget, Finished: i+1 == defaultTarget}
		alice.AssertReply(ref, "ok", want)
	}

	// The console gets the winner at once, and a race_state naming the winner.
	var win raceState
	decodePayload(t, console.AssertPush(eventWinner, channeltest.Any).Payload, &win)
	if win.Winner == nil || win.Winner.ID != aj.ID || win.Winner.Name != "Alice" || win.Winner.Taps != defaultTarget {
		t.Fatalf("winner push = %+v", win)
	}
	nextState(t, console, "race_state with alice as winner", func(st raceState) bool {
		return st.Winner != nil && st.Winner.ID == aj.ID
	})
	var playWin raceState
	decodePayload(t, bob.AssertPush(eventWinner, channeltest.Any).Payload, &playWin)
	if playWin.Winner == nil || playWin.Winner.Name != "Alice" {
		t.Fatalf("winner push on play = %+v", playWin)
	}

	// After the win, Bob's taps are ignored.
	r := call(t, bob, "tap", nil)
	var tr tapResult
	decode(t, r.Response, &tr)
	if r.Status != "ok" || tr.Counted || tr.Taps != 3 || !tr.Finished {
		t.Fatalf("bob's tap after the win = %s %+v, want ignored with 3 taps", r.Status, tr)
	}
	r = call(t, console, "state", nil)
	decode(t, r.Response, &st)
	if p, _ := findPlayer(st, bj.ID); p.Taps != 3 || st.Winner == nil || st.Winner.ID != aj.ID {
		t.Fatalf("bob's taps after the win = %d, want 3 (state %+v)", p.Taps, st)
	}

	// new_race resets everyone and sets the target.
	r = call(t, console, "new_race", map[string]any{"target": 3})
	var nr raceState
	decode(t, r.Response, &nr)
	if r.Status != "ok" || nr.Race != 2 || nr.Target != 3 || nr.Winner != nil || len(nr.Players) != 2 {
		t.Fatalf("new_race reply = %s %+v", r.Status, nr)
	}
	for _, p := range nr.Players {
		if p.Taps != 0 {
			t.Fatalf("new race starts with %+v", nr.Players)
		}
	}
	nextState(t, bob, "race 2 on play", func(st raceState) bool { return st.Race == 2 && st.Winner == nil })
	for i := range 3 {
		r := call(t, bob, "tap", nil)
		decode(t, r.Response, &tr)
		if !tr.Counted || tr.Taps != i+1 || tr.Race != 2 {
			t.Fatalf("bob's tap %d in race 2 = %+v", i+1, tr)
		}
	}
	nextState(t, console, "bob wins race 2", func(st raceState) bool {
		return st.Race == 2 && st.Winner != nil && st.Winner.ID == bj.ID && st.Winner.Taps == 3
	})

	// new_race without a target keeps it.
	r = call(t, console, "new_race", map[string]any{})
	decode(t, r.Response, &nr)
	if r.Status != "ok" || nr.Race != 3 || nr.Target != 3 {
		t.Fatalf("new_race {} reply = %s %+v", r.Status, nr)
	}
}

func TestPlayerLeavingIsRemoved(t *testing.T) {
	srv := startChannels(t)
	console := joinAs(t, srv, "console", nil, nil)
	var cj, dj joinResult
	carol := joinAs(t, srv, "play", map[string]any{"name": "Carol"}, &cj)
	dave := joinAs(t, srv, "play", map[string]any{"name": "Dave"}, &dj)
	nextState(t, console, "two players", func(st raceState) bool { return len(st.Players) == 2 })

	// Leaving the channel removes Carol.
	carol.AssertReply(carol.Leave(), "ok", nil)
	nextState(t, console, "carol gone", func(st raceState) bool {
		_, dave := findPlayer(st, dj.ID)
		return len(st.Players) == 1 && dave
	})
	// Closing the connection removes Dave.
	dave.Client().Disconnect()
	nextState(t, console, "dave gone", func(st raceState) bool { return len(st.Players) == 0 })
}

func TestPlayJoinRefused(t *testing.T) {
	srv := startChannels(t)
	c := srv.MustConnect(nil)
	for _, tc := range []struct {
		name   string
		params any
		reason string
	}{
		{"no params", json.RawMessage("null"), errNameRequired.Error()},
		{"no name", map[string]any{}, errNameRequired.Error()},
		{"empty", map[string]any{"name": ""}, errNameRequired.Error()},
		{"blank", map[string]any{"name": "   "}, errNameRequired.Error()},
		{"not a string", map[string]any{"name": 42}, errNameRequired.Error()},
		{"too long", map[string]any{"name": strings.Repeat("é", maxNameRunes+1)}, errNameTooLong.Error()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.Join("play", tc.params)
			var refused *channeltest.JoinError
			if !errors.As(err, &refused) || refused.Status != "error" || !channeltest.Equal(reason(tc.reason)).Match(refused.Reply) {
				t.Fatalf("join play %v = %v, want error {reason: %q}", tc.params, err, tc.reason)
			}
		})
	}
	c.MustJoin("play", map[string]any{"name": strings.Repeat("é", maxNameRunes)})
}

func TestConsoleNewRaceBadTarget(t *testing.T) {
	srv := startChannels(t)
	c := joinAs(t, srv, "console", nil, nil)
	for _, target := range []any{0, -1, maxTarget + 1, 2.5, "abc", true} {
		c.AssertReply(c.Push("new_race", map[string]any{"target": target}), "error", channeltest.Partial(map[string]string{"reason": errBadTarget.Error()}))
	}
	c.AssertReply(c.Push("nonsense", nil), "error", channeltest.Any)
	var s raceState
	decodePayload(t, c.AssertReply(c.Push("state", nil), "ok", channeltest.Any).Payload, &s)
	if s.Race != 1 || s.Target != defaultTarget {
		t.Errorf("state after refused new_race = %+v, want race 1 unchanged", s)
	}
}

func TestChatSecretRefused(t *testing.T) {
	srv := startChannels(t)
	_, err := srv.MustConnect(nil).Join("chat:secret", nil)
	var refused *channeltest.JoinError
	if !errors.As(err, &refused) || refused.Status != "error" || !channeltest.Equal(reason("You don't have permission!")).Match(refused.Reply) {
		t.Fatalf("join chat:secret = %v", err)
	}
}

func TestChatLobby(t *testing.T) {
	srv := startChannels(t)
	a := joinAs(t, srv, "chat:lobby", nil, nil)
	b := joinAs(t, srv, "chat:lobby", nil, nil)
	a.Push("new_msg", map[string]string{"body": "Hello World!", "user": "a"})
	for _, ch := range []*channeltest.Channel{a, b} {
		m := ch.AssertPush("new_msg", map[string]string{"body": "Hello World!", "user": "a"})
		// A push (from HandleOut), not a reply: ref is null, join_ref is this client's join.
		if !m.Ref.IsNull() || m.JoinRef.String() != ch.JoinRef() {
			t.Errorf("new_msg frame %s is not a push on its join", channeltest.Describe(m))
		}
	}
}
