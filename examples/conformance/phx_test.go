// nshafer/phx v0.2.5 has data races of its own (its socket and channel maps are written by callers and read
// by its reader goroutine without locks), so this test is built without the race detector; `make test`
// runs it in a separate step.

//go:build !race

package main

import (
	"fmt"
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
	mu    sync.Mutex
	m     map[string][]any
	names map[string]string // "topic/ref" of a push → its event (push)
	early map[string]any    // replies read before push named their ref
}

// reply records a phx_reply read by a socket as "<event>:<status>" once push has named its ref.
func (e *events) reply(m phx.Message) {
	if m.Event != "phx_reply" {
		return
	}
	key := fmt.Sprintf("%s/%d", m.Topic, m.Ref)
	e.mu.Lock()
	name, ok := e.names[key]
	if !ok {
		if e.early == nil {
			e.early = map[string]any{}
		}
		e.early[key] = m.Payload
	}
	e.mu.Unlock()
	if ok {
		e.addReply(name, m.Payload)
	}
}

// named names the push sent as topic/ref.
func (e *events) named(topic string, ref phx.Ref, event string) {
	key := fmt.Sprintf("%s/%d", topic, ref)
	e.mu.Lock()
	if e.names == nil {
		e.names = map[string]string{}
	}
	e.names[key] = event
	payload, early := e.early[key]
	delete(e.early, key)
	e.mu.Unlock()
	if early {
		e.addReply(event, payload)
	}
}

func (e *events) addReply(event string, payload any) {
	if r, ok := payload.(map[string]any); ok {
		status, _ := r["status"].(string)
		e.add(event+":"+status, r["response"])
	}
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

// phxSocket connects a phx socket whose replies ev records (events.reply).
func phxSocket(t *testing.T, srv *httptest.Server, ev *events, params string) *phx.Socket {
	t.Helper()
	u, err := url.Parse("ws" + srv.URL[len("http"):] + "/socket?" + params)
	if err != nil {
		t.Fatal(err)
	}
	s := phx.NewSocket(u)
	// phx reconnects when a heartbeat is unanswered after one interval, losing the pushes in flight: 100 ms
	// is within what a loaded machine can stall; 1 s still sends heartbeats during the test.
	s.HeartbeatInterval = time.Second
	s.OnMessage(ev.reply) // before Connect: phx reads its callbacks without a lock
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

// join joins ch, counting its replies (rejoins included) as prefix+"join_ok"/"join_error". A join reply
// can meet the same phx race as a push's (see push); phx then rejoins after its push timeout. Not seen in
// 200 runs under load: a join's reply comes later than a push's.
func join(t *testing.T, ch *phx.Channel, ev *events, prefix string) {
	t.Helper()
	p, err := ch.Join()
	if err != nil {
		t.Fatal(err)
	}
	p.Receive("ok", func(r any) { ev.add(prefix+"join_ok", r) })
	p.Receive("error", func(r any) { ev.add(prefix+"join_error", r) })
}

// push sends a push whose reply ev records as "<event>:<status>". The reply is read off the socket
// (events.reply), not through Push.Receive: phx v0.2.5's Push.Send registers its reply binding only after
// the push is on the wire, so a reply read in between (a loaded machine) reaches no callback.
func push(t *testing.T, ch *phx.Channel, ev *events, event string, payload any) {
	t.Helper()
	p, err := ch.Push(event, payload)
	if err != nil {
		t.Fatal(err)
	}
	ev.named(ch.Topic(), p.Ref, event)
}

func TestNshaferPhxClient(t *testing.T) {
	srv, _ := startConformance(t)
	ev := &events{}
	s := phxSocket(t, srv, ev, "user_id=alice")

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
	other := phxSocket(t, srv, ev, "user_id=bob")
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
	ev.named(echo.Topic(), lp.Ref, "leave") // its reply read off the socket, as push's
	ev.waitFor(t, "leave:ok", 1)
}
