// nshafer/phx v0.2.5 has data races of its own (its socket and channel maps are written by callers and read
// by its reader goroutine without locks), so this test is built without the race detector; `make test`
// runs it in a separate step.

//go:build !race

package main

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/nshafer/phx"
)

// phxWait bounds how long a test waits for an event: a liveness bound, not a timing assertion.
const phxWait = 10 * time.Second

// events collects callbacks from the phx client goroutines.
type events struct {
	mu sync.Mutex
	m  map[string][]any
}

func (e *events) add(name string, v any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.m == nil {
		e.m = map[string][]any{}
	}
	e.m[name] = append(e.m[name], v)
}

func (e *events) count(name string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.m[name])
}

func (e *events) last(name string) any {
	e.mu.Lock()
	defer e.mu.Unlock()
	l := e.m[name]
	if len(l) == 0 {
		return nil
	}
	return l[len(l)-1]
}

func (e *events) waitFor(t *testing.T, name string, n int) any {
	t.Helper()
	deadline := time.Now().Add(phxWait)
	for e.count(name) < n {
		if time.Now().After(deadline) {
			t.Fatalf("event %q: %d of %d within %v", name, e.count(name), n, phxWait)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return e.last(name)
}

func phxSocket(t *testing.T, srv *httptest.Server, params string) *phx.Socket {
	t.Helper()
	u, err := url.Parse("ws" + srv.URL[len("http"):] + "/socket?" + params)
	if err != nil {
		t.Fatal(err)
	}
	s := phx.NewSocket(u)
	s.HeartbeatInterval = 100 * time.Millisecond
	s.ReconnectAfterFunc = func(int) time.Duration { return 20 * time.Millisecond }
	opened := make(chan struct{}, 16)
	s.OnOpen(func() { opened <- struct{}{} })
	if err := s.Connect(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Disconnect() })
	select {
	case <-opened:
	case <-time.After(phxWait):
		t.Fatal("phx socket did not open")
	}
	return s
}

func join(t *testing.T, ch *phx.Channel, ev *events, prefix string) {
	t.Helper()
	p, err := ch.Join()
	if err != nil {
		t.Fatal(err)
	}
	p.Receive("ok", func(r any) { ev.add(prefix+"join_ok", r) })
	p.Receive("error", func(r any) { ev.add(prefix+"join_error", r) })
}

func push(t *testing.T, ch *phx.Channel, ev *events, event string, payload any) {
	t.Helper()
	p, err := ch.Push(event, payload)
	if err != nil {
		t.Fatal(err)
	}
	p.Receive("ok", func(r any) { ev.add(event+":ok", r) })
	p.Receive("error", func(r any) { ev.add(event+":error", r) })
}

func TestNshaferPhxClient(t *testing.T) {
	srv, _ := startConformance(t)
	ev := &events{}
	s := phxSocket(t, srv, "user_id=alice")

	echo := s.Channel("echo:phx", map[string]string{"hello": "world"})
	echo.On("welcome", func(p any) { ev.add("welcome", p) })
	echo.On("push", func(p any) { ev.add("push", p) })
	echo.OnError(func(p any) { ev.add("channel_error", p) })
	// phx pushes before the join is acknowledged: the server must handle it after the join.
	join(t, echo, ev, "")
	push(t, echo, ev, "echo", map[string]any{"n": 1})

	if r := ev.waitFor(t, "join_ok", 1).(map[string]any); r["joined"] != "echo:phx" {
		t.Fatalf("join reply %v", r)
	}
	if r := ev.waitFor(t, "echo:ok", 1).(map[string]any); r["n"] != float64(1) {
		t.Fatalf("echo reply %v", r)
	}
	if w := ev.waitFor(t, "welcome", 1).(map[string]any); w["topic"] != "echo:phx" {
		t.Fatalf("welcome %v", w)
	}

	push(t, echo, ev, "error", map[string]any{"why": "x"})
	if r := ev.waitFor(t, "error:error", 1).(map[string]any); r["why"] != "x" {
		t.Fatalf("error reply %v", r)
	}
	push(t, echo, ev, "async", map[string]any{"later": true})
	ev.waitFor(t, "async:ok", 1)
	push(t, echo, ev, "push", map[string]any{"p": 1})
	ev.waitFor(t, "push", 1)

	// Refused join.
	secret := s.Channel("chat:secret", nil)
	join(t, secret, ev, "secret_")
	if r := ev.waitFor(t, "secret_join_error", 1).(map[string]any); r["reason"] != "You don't have permission!" {
		t.Fatalf("refusal %v", r)
	}

	// Broadcast between two clients through the intercepted chat channel.
	other := phxSocket(t, srv, "user_id=bob")
	lobbyA, lobbyB := s.Channel("chat:lobby", nil), other.Channel("chat:lobby", nil)
	lobbyA.On("new_msg", func(p any) { ev.add("a_new_msg", p) })
	lobbyB.On("new_msg", func(p any) { ev.add("b_new_msg", p) })
	join(t, lobbyA, ev, "lobbyA_")
	join(t, lobbyB, ev, "lobbyB_")
	ev.waitFor(t, "lobbyA_join_ok", 1)
	ev.waitFor(t, "lobbyB_join_ok", 1)
	if _, err := lobbyB.Push("shout", map[string]any{"body": "hi"}); err != nil {
		t.Fatal(err)
	}
	ev.waitFor(t, "a_new_msg", 1)
	ev.waitFor(t, "b_new_msg", 1)

	// A crash gives phx_error; the client rejoins by itself and the channel works again.
	push(t, echo, ev, "crash", nil)
	ev.waitFor(t, "channel_error", 1)
	ev.waitFor(t, "join_ok", 2)
	push(t, echo, ev, "echo", map[string]any{"n": 2})
	ev.waitFor(t, "echo:ok", 2)

	// Kick: the server closes alice's connection (1001); phx reconnects and rejoins.
	resp, err := http.Get(srv.URL + "/broadcast?topic=users_socket:alice&event=disconnect")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	ev.waitFor(t, "join_ok", 3)
	push(t, echo, ev, "echo", map[string]any{"n": 3})
	ev.waitFor(t, "echo:ok", 3)

	// Leave (phx sends the join params as the leave payload).
	lp, err := echo.Leave()
	if err != nil {
		t.Fatal(err)
	}
	lp.Receive("ok", func(r any) { ev.add("leave_ok", r) })
	ev.waitFor(t, "leave_ok", 1)
}
