package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func findPlayer(st raceState, id string) (playerState, bool) {
	for _, p := range st.Players {
		if p.ID == id {
			return p, true
		}
	}
	return playerState{}, false
}

func TestRace(t *testing.T) {
	_, srv := startApp(t)
	console := dial(t, srv, "console")
	console.mustJoin("console", map[string]any{}, nil)
	// The console's first push follows its join reply: the state of race 1, nobody playing.
	st := console.waitState("console", "initial race_state", func(raceState) bool { return true })
	if st.Race != 1 || st.Target != defaultTarget || st.Winner != nil || len(st.Players) != 0 {
		t.Fatalf("initial state = %+v", st)
	}

	alice := dial(t, srv, "alice")
	var aj joinResult
	alice.mustJoin("play", map[string]any{"name": "  Alice "}, &aj)
	if aj.Name != "Alice" || aj.ID == "" || aj.Race != 1 || aj.Target != defaultTarget {
		t.Fatalf("alice's join reply = %+v", aj)
	}
	alice.waitState("play", "alice's first race_state", func(st raceState) bool {
		_, ok := findPlayer(st, aj.ID)
		return ok
	})
	bob := dial(t, srv, "bob")
	var bj joinResult
	bob.mustJoin("play", map[string]any{"name": "Bob"}, &bj)
	console.waitState("console", "race_state with alice and bob", func(st raceState) bool { return len(st.Players) == 2 })

	// Bob taps a little; Alice taps a whole tap storm up to the target, without waiting for replies.
	for range 3 {
		if r := bob.call("play", "tap", nil); r.Status != "ok" {
			t.Fatalf("bob's tap: %+v", r)
		}
	}
	refs := make([]string, defaultTarget)
	for i := range refs {
		refs[i] = alice.push("play", "tap", nil)
	}
	for i, ref := range refs {
		f := alice.waitFor("reply to tap "+ref, func(f frame) bool { return f.Event == "phx_reply" && f.Ref != nil && *f.Ref == ref })
		var r struct {
			Status   string    `json:"status"`
			Response tapResult `json:"response"`
		}
		decode(t, f.Payload, &r)
		want := tapResult{Taps: i + 1, Counted: true, Won: i+1 == defaultTarget, Race: 1, Target: defaultTarget, Finished: i+1 == defaultTarget}
		if r.Status != "ok" || r.Response != want {
			t.Fatalf("reply to alice's tap %d = %s %+v, want ok %+v", i+1, r.Status, r.Response, want)
		}
	}

	// The console gets the winner at once, and a race_state naming the winner.
	var win raceState
	console.waitEvent("console", eventWinner, &win)
	if win.Winner == nil || win.Winner.ID != aj.ID || win.Winner.Name != "Alice" || win.Winner.Taps != defaultTarget {
		t.Fatalf("winner push = %+v", win)
	}
	console.waitState("console", "race_state with alice as winner", func(st raceState) bool {
		return st.Winner != nil && st.Winner.ID == aj.ID
	})
	var playWin raceState
	bob.waitEvent("play", eventWinner, &playWin)
	if playWin.Winner == nil || playWin.Winner.Name != "Alice" {
		t.Fatalf("winner push on play = %+v", playWin)
	}

	// After the win, Bob's taps are ignored.
	r := bob.call("play", "tap", nil)
	var tr tapResult
	decode(t, r.Response, &tr)
	if r.Status != "ok" || tr.Counted || tr.Taps != 3 || !tr.Finished {
		t.Fatalf("bob's tap after the win = %s %+v, want ignored with 3 taps", r.Status, tr)
	}
	r = console.call("console", "state", nil)
	decode(t, r.Response, &st)
	if p, _ := findPlayer(st, bj.ID); p.Taps != 3 || st.Winner == nil || st.Winner.ID != aj.ID {
		t.Fatalf("bob's taps after the win = %d, want 3 (state %+v)", p.Taps, st)
	}

	// new_race resets everyone and sets the target.
	r = console.call("console", "new_race", map[string]any{"target": 3})
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
	bob.waitState("play", "race 2 on play", func(st raceState) bool { return st.Race == 2 && st.Winner == nil })
	for i := range 3 {
		r := bob.call("play", "tap", nil)
		decode(t, r.Response, &tr)
		if !tr.Counted || tr.Taps != i+1 || tr.Race != 2 {
			t.Fatalf("bob's tap %d in race 2 = %+v", i+1, tr)
		}
	}
	console.waitState("console", "bob wins race 2", func(st raceState) bool {
		return st.Race == 2 && st.Winner != nil && st.Winner.ID == bj.ID && st.Winner.Taps == 3
	})

	// new_race without a target keeps it.
	r = console.call("console", "new_race", map[string]any{})
	decode(t, r.Response, &nr)
	if r.Status != "ok" || nr.Race != 3 || nr.Target != 3 {
		t.Fatalf("new_race {} reply = %s %+v", r.Status, nr)
	}
}

func TestPlayerLeavingIsRemoved(t *testing.T) {
	_, srv := startApp(t)
	console := dial(t, srv, "console")
	console.mustJoin("console", nil, nil)

	carol := dial(t, srv, "carol")
	var cj joinResult
	carol.mustJoin("play", map[string]any{"name": "Carol"}, &cj)
	dave := dial(t, srv, "dave")
	var dj joinResult
	dave.mustJoin("play", map[string]any{"name": "Dave"}, &dj)
	console.waitState("console", "two players", func(st raceState) bool { return len(st.Players) == 2 })

	// Leaving the channel removes Carol.
	if r := carol.call("play", "phx_leave", nil); r.Status != "ok" {
		t.Fatalf("leave: %+v", r)
	}
	// (Earlier states are still queued, one of them with Carol alone: wait for Dave alone.)
	console.waitState("console", "carol gone", func(st raceState) bool {
		_, dave := findPlayer(st, dj.ID)
		return len(st.Players) == 1 && dave
	})
	// Closing the connection removes Dave.
	dave.close()
	console.waitState("console", "dave gone", func(st raceState) bool { return len(st.Players) == 0 })
}

func TestPlayJoinRefused(t *testing.T) {
	_, srv := startApp(t)
	c := dial(t, srv, "player")
	for _, tc := range []struct {
		name   string
		params any
		reason string
	}{
		{"no params", nil, errNameRequired.Error()},
		{"no name", map[string]any{}, errNameRequired.Error()},
		{"empty", map[string]any{"name": ""}, errNameRequired.Error()},
		{"blank", map[string]any{"name": "   "}, errNameRequired.Error()},
		{"not a string", map[string]any{"name": 42}, errNameRequired.Error()},
		{"too long", map[string]any{"name": strings.Repeat("é", maxNameRunes+1)}, errNameTooLong.Error()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := c.join("play", tc.params)
			var got map[string]string
			decode(t, r.Response, &got)
			if r.Status != "error" || len(got) != 1 || got["reason"] != tc.reason {
				t.Fatalf("join play %v = %s %s, want error {reason: %q}", tc.params, r.Status, r.Response, tc.reason)
			}
		})
	}
	var ok joinResult
	c.mustJoin("play", map[string]any{"name": strings.Repeat("é", maxNameRunes)}, &ok)
}

func TestConsoleNewRaceBadTarget(t *testing.T) {
	_, srv := startApp(t)
	c := dial(t, srv, "console")
	c.mustJoin("console", nil, nil)
	for _, target := range []any{0, -1, maxTarget + 1, 2.5, "abc", true} {
		r := c.call("console", "new_race", map[string]any{"target": target})
		var got map[string]string
		decode(t, r.Response, &got)
		if r.Status != "error" || got["reason"] != errBadTarget.Error() {
			t.Errorf("new_race target %v = %s %s, want an error", target, r.Status, r.Response)
		}
	}
	if r := c.call("console", "nonsense", nil); r.Status != "error" {
		t.Errorf("unknown event = %+v, want an error", r)
	}
	st := c.call("console", "state", nil)
	var s raceState
	decode(t, st.Response, &s)
	if s.Race != 1 || s.Target != defaultTarget {
		t.Errorf("state after refused new_race = %+v, want race 1 unchanged", s)
	}
}

func TestChatSecretRefused(t *testing.T) {
	_, srv := startApp(t)
	c := dial(t, srv, "eve")
	r := c.join("chat:secret", nil)
	if r.Status != "error" || !jsonEqual(t, r.Response, `{"reason":"You don't have permission!"}`) {
		t.Fatalf("join chat:secret = %s %s", r.Status, r.Response)
	}
}

func TestChatLobby(t *testing.T) {
	_, srv := startApp(t)
	a := dial(t, srv, "a")
	b := dial(t, srv, "b")
	a.mustJoin("chat:lobby", nil, nil)
	b.mustJoin("chat:lobby", nil, nil)
	a.push("chat:lobby", "new_msg", map[string]string{"body": "Hello World!", "user": "a"})
	for _, c := range []*wsClient{a, b} {
		f := c.waitFor("new_msg", func(f frame) bool { return f.Topic == "chat:lobby" && f.Event == "new_msg" })
		// A push (from HandleOut), not a reply: ref is null, join_ref is this client's join.
		if f.Ref != nil || f.JoinRef == nil || *f.JoinRef != c.joins["chat:lobby"] {
			t.Errorf("%s: new_msg frame %s is not a push on its join", c.name, f)
		}
		if !jsonEqual(t, f.Payload, `{"body":"Hello World!","user":"a"}`) {
			t.Errorf("%s: new_msg payload %s", c.name, f.Payload)
		}
	}
}

func TestPages(t *testing.T) {
	_, srv := startApp(t)
	for _, tc := range []struct{ path, ctype, contains string }{
		{"/", "text/html", `href="/play"`},
		{"/play", "text/html", `id="tap"`},
		{"/console", "text/html", `id="new-race"`},
		{"/chat", "text/html", `id="messages"`},
		{"/play", "text/html", `id="racers"`},
		{"/console", "text/html", `id="racers"`},
		{"/chat", "text/html", `id="members"`},
		{"/static/common.js", "text/javascript", "tapracerPeople"},
		{"/static/style.css", "text/css", "--accent"},
		{"/static/play.js", "text/javascript", `from "/assets/phoenix.mjs"`},
		{"/static/console.js", "text/javascript", `from "/assets/phoenix.mjs"`},
		{"/static/chat.js", "text/javascript", `from "/assets/phoenix.mjs"`},
	} {
		code, ctype, body := get(t, srv.URL+tc.path)
		if code != http.StatusOK || !strings.HasPrefix(ctype, tc.ctype) || !strings.Contains(body, tc.contains) {
			t.Errorf("GET %s = %d %q (%d bytes), want 200 %s containing %q", tc.path, code, ctype, len(body), tc.ctype, tc.contains)
		}
	}
	if code, _, _ := get(t, srv.URL+"/nope"); code != http.StatusNotFound {
		t.Errorf("GET /nope = %d, want 404", code)
	}
	if _, err := os.Stat(phoenixModule); err != nil {
		t.Logf("skipping /assets/phoenix.mjs: %v (run `npm ci --prefix examples/tapracer/assets`)", err)
		return
	}
	code, ctype, body := get(t, srv.URL+"/assets/phoenix.mjs")
	if code != http.StatusOK || !strings.HasPrefix(ctype, "text/javascript") || !strings.Contains(body, "export") {
		t.Errorf("GET /assets/phoenix.mjs = %d %q", code, ctype)
	}
}

// Without node_modules, /assets/phoenix.mjs answers 503 saying what to run, and check says so at start.
func TestPhoenixJSMissing(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "static"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "static", "index.html"), []byte("<!doctype html>"), 0o644); err != nil {
		t.Fatal(err)
	}
	a := newApp(config{Dir: dir, Logger: discardLogger()})
	if err := a.check(); err == nil || !strings.Contains(err.Error(), "npm ci --prefix examples/tapracer/assets") {
		t.Errorf("check() = %v, want the npm ci hint", err)
	}
	srv := newServer(t, a)
	code, _, body := get(t, srv.URL+"/assets/phoenix.mjs")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "npm ci --prefix examples/tapracer/assets") {
		t.Errorf("GET /assets/phoenix.mjs = %d %q, want 503 with the npm ci hint", code, body)
	}
}

func get(t *testing.T, url string) (int, string, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
}

func jsonEqual(t *testing.T, got json.RawMessage, want string) bool {
	t.Helper()
	var a, b any
	if err := json.Unmarshal(got, &a); err != nil {
		t.Fatalf("decode %s: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &b); err != nil {
		t.Fatal(err)
	}
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

// TestRunShutdown checks main's serve-and-shutdown path without a browser: a connected player is closed
// and run returns nil once its context is canceled.
func TestRunShutdown(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addrs := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, "127.0.0.1:0", config{Dir: ".", Logger: discardLogger()}, func(a net.Addr) { addrs <- a })
	}()
	addr := <-addrs
	c := dialURL(t, "ws://"+addr.String(), "player")
	c.mustJoin("play", map[string]any{"name": "Grace"}, nil)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run = %v, want nil", err)
		}
	case <-time.After(waitLimit):
		t.Fatalf("run did not return within %v of the cancel", waitLimit)
	}
	select {
	case <-c.closed:
	case <-time.After(waitLimit):
		t.Fatalf("the player's connection is still open after shutdown")
	}
}
