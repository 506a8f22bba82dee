package transport

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pyrehq/pyre/actors/channel"
	"github.com/pyrehq/pyre/actors/host"
	"github.com/pyrehq/pyre/supervisor"
	"github.com/pyrehq/pyre/supervisor/chaos"
	"github.com/pyrehq/pyre/supervisor/chaos/pyrechaos"
)

// In-place channel restarts, transport/PROTOCOL.md §6. The fixture's routes: room:* Temporary (Phoenix), rs:*
// Transient (the default), perm:* Permanent, once:* Transient with one restart allowed per hour.

const crashReply = `{"response":{"reason":"channel_crash"},"status":"error"}`

func joinOK(c *rawClient, j, topic, params string) {
	c.t.Helper()
	c.send(`["` + j + `","` + j + `","` + topic + `","phx_join",` + params + `]`)
	c.expect(`["` + j + `","` + j + `","` + topic + `","phx_reply",{"response":{"joined":"` + topic + `"},"status":"ok"}]`)
}

func TestRestartTransientCrashKeepsChannel(t *testing.T) {
	f := newFixture(t, Config{})
	c := dial(t, f.srv, v2, nil)
	other := dial(t, f.srv, v2, nil)
	joinOK(c, "1", "rs:a", `{}`)
	joinOK(other, "1", "rs:a", `{}`)

	// The crashing push and the pushes queued behind it, sent without waiting: the crash is answered,
	// the queued ones are handled by the restarted channel, in order, under the same join_ref.
	c.send(`["1","2","rs:a","crash",{}]`)
	c.send(`["1","3","rs:a","echo",{"n":3}]`)
	c.send(`["1","4","rs:a","incarnation",{}]`)
	c.expect(`["1","2","rs:a","phx_reply",` + crashReply + `]`)
	c.expect(`["1","3","rs:a","phx_reply",{"response":{"n":3},"status":"ok"}]`)
	c.expect(`["1","4","rs:a","phx_reply",{"response":{"incarnation":2},"status":"ok"}]`)

	// The subscription survived: broadcasts still arrive, and the restarted channel's own side
	// subscription (made again by the re-run Join) works.
	other.send(`["1","2","rs:a","broadcast",{"after":"restart"}]`)
	c.expect(`[null,null,"rs:a","shout",{"after":"restart"}]`)
	other.expect(`[null,null,"rs:a","shout",{"after":"restart"}]`)
	if err := f.ep.Broadcast("side:rs:a", "ping", nil); err != nil {
		t.Fatal(err)
	}
	c.expect(`["1",null,"rs:a","side",{"event":"ping"}]`)
	other.expect(`["1",null,"rs:a","side",{"event":"ping"}]`)
	quiet(t, f.ep, "h1", c, other) // no phx_error, no second side delivery from the old incarnation

	var crash *channel.CrashError
	if r := f.terminated.get("rs:a"); len(r) != 1 || !errors.As(r[0], &crash) || crash.Value != "boom" {
		t.Fatalf("terminate reasons %v, want one CrashError(boom)", r)
	}
	if got := f.ep.Stats().Restarts; got != 1 {
		t.Fatalf("restarts = %d, want 1", got)
	}
}

func TestRestartAfterCrashOutsidePush(t *testing.T) {
	f := newFixture(t, Config{})
	c := dial(t, f.srv, v2, nil)
	joinOK(c, "1", "rs:info", `{}`)
	c.send(`["1","2","rs:info","crash_later",{}]`)
	c.expect(`["1","2","rs:info","phx_reply",{"response":{},"status":"ok"}]`)
	eventually(t, "restart", func() bool { return f.ep.Stats().Restarts == 1 })
	c.send(`["1","3","rs:info","incarnation",{}]`)
	c.expect(`["1","3","rs:info","phx_reply",{"response":{"incarnation":2},"status":"ok"}]`)
}

func TestRestartTransientNormalStopCloses(t *testing.T) {
	f := newFixture(t, Config{})
	c := dial(t, f.srv, v2, nil)
	joinOK(c, "1", "rs:s", `{}`)
	c.send(`["1","2","rs:s","stop_reply",{"bye":1}]`)
	c.expect(`["1","2","rs:s","phx_reply",{"response":{"bye":1},"status":"ok"}]`)
	c.expect(`["1","1","rs:s","phx_close",{}]`)
	c.send(`["1","3","rs:s","echo",{}]`)
	c.expect(`[null,"3","rs:s","phx_reply",{"response":{"reason":"unmatched topic"},"status":"error"}]`)
}

func TestRestartPermanentAfterNormalStop(t *testing.T) {
	f := newFixture(t, Config{})
	c := dial(t, f.srv, v2, nil)
	joinOK(c, "1", "perm:p", `{}`)
	c.send(`["1","2","perm:p","stop_reply",{"bye":1}]`)
	c.expect(`["1","2","perm:p","phx_reply",{"response":{"bye":1},"status":"ok"}]`)
	c.send(`["1","3","perm:p","incarnation",{}]`)
	c.expect(`["1","3","perm:p","phx_reply",{"response":{"incarnation":2},"status":"ok"}]`)

	// A leave is the client's own stop: never restarted.
	c.send(`["1","4","perm:p","phx_leave",{}]`)
	c.expect(`["1","4","perm:p","phx_reply",{"response":{},"status":"ok"}]`)
	c.expect(`["1","1","perm:p","phx_close",{}]`)
	quiet(t, f.ep, "h", c)
	if r := f.terminated.get("perm:p"); len(r) != 2 || !errors.Is(r[1], channel.ErrLeft) {
		t.Fatalf("terminate reasons %v, want StopNormal then ErrLeft", r)
	}
}

func TestRestartTemporaryIsPhoenix(t *testing.T) {
	f := newFixture(t, Config{})
	c := dial(t, f.srv, v2, nil)
	joinOK(c, "1", "room:t", `{}`)
	c.send(`["1","2","room:t","crash",{}]`)
	c.expect(`["1","1","room:t","phx_error",{"reason":"channel_crash"}]`) // no reply to the push, as Phoenix
	if got := f.ep.Stats().Restarts; got != 0 {
		t.Fatalf("restarts = %d, want 0", got)
	}
}

func TestRestartChannelIntensity(t *testing.T) {
	f := newFixture(t, Config{})
	c := dial(t, f.srv, v2, nil)
	joinOK(c, "1", "once:i", `{}`)
	c.send(`["1","2","once:i","crash",{}]`)
	c.expect(`["1","2","once:i","phx_reply",` + crashReply + `]`)
	c.send(`["1","3","once:i","crash",{}]`)
	c.send(`["1","4","once:i","echo",{}]`) // queued behind the fatal crash: answered, not lost
	c.expect(`["1","3","once:i","phx_reply",` + crashReply + `]`)
	c.expect(`["1","1","once:i","phx_error",{"reason":"channel_crash"}]`)
	c.expect(`[null,"4","once:i","phx_reply",{"response":{"reason":"unmatched topic"},"status":"error"}]`)
	// The client rejoins, which starts afresh.
	joinOK(c, "5", "once:i", `{}`)
	c.send(`["5","6","once:i","incarnation",{}]`)
	c.expect(`["5","6","once:i","phx_reply",{"response":{"incarnation":1},"status":"ok"}]`)
}

func TestRestartRejoinRefusedOrCrashed(t *testing.T) {
	for _, params := range []string{`{"deny_rejoin":true}`, `{"crash_rejoin":true}`} {
		t.Run(params, func(t *testing.T) {
			f := newFixture(t, Config{})
			c := dial(t, f.srv, v2, nil)
			joinOK(c, "1", "rs:j", params)
			c.send(`["1","2","rs:j","crash",{}]`)
			c.expect(`["1","2","rs:j","phx_reply",` + crashReply + `]`)
			c.expect(`["1","1","rs:j","phx_error",{"reason":"channel_crash"}]`)
			c.send(`["1","3","rs:j","echo",{}]`)
			c.expect(`[null,"3","rs:j","phx_reply",{"response":{"reason":"unmatched topic"},"status":"error"}]`)
		})
	}
}

func TestRestartConnectionIntensityCloses1011(t *testing.T) {
	f := newFixture(t, Config{}, channel.WithConnIntensity(1, time.Hour))
	c := dial(t, f.srv, v2, nil)
	other := dial(t, f.srv, v2, nil)
	joinOK(c, "1", "rs:x", `{}`)
	joinOK(c, "2", "rs:y", `{}`)
	joinOK(other, "1", "rs:x", `{}`)
	c.send(`["1","3","rs:x","crash",{}]`)
	c.expect(`["1","3","rs:x","phx_reply",` + crashReply + `]`)
	eventually(t, "rs:x restarted", func() bool { return f.ep.Stats().Restarts == 1 }) // the reply precedes the decision
	c.send(`["2","4","rs:y","crash",{}]`)
	c.expect(`["2","4","rs:y","phx_reply",` + crashReply + `]`)
	c.expect(`["2","2","rs:y","phx_error",{"reason":"channel_crash"}]`)
	if code := c.waitClosed(); code != 1011 {
		t.Fatalf("close code %d, want 1011", code)
	}
	// Another connection on the same topic is untouched.
	other.send(`["1","2","rs:x","echo",{"ok":1}]`)
	other.expect(`["1","2","rs:x","phx_reply",{"response":{"ok":1},"status":"ok"}]`)
	eventually(t, "channels terminated", func() bool { return len(f.terminated.get("rs:y")) == 1 && len(f.terminated.get("rs:x")) == 2 })
	if r := f.terminated.get("rs:x"); !errors.Is(r[1], channel.ErrTooManyRestarts) || !errors.Is(r[1], supervisor.ErrShutdown) {
		t.Fatalf("rs:x terminate reasons %v, want shutdown: too many restarts last", r)
	}
}

// target finds the one live chaos target of kind matching topic (channels) or socket id (sockets).
func target(t *testing.T, ep *Endpoint, sel chaos.Selector) chaos.Target {
	t.Helper()
	var found []chaos.Target
	for _, tg := range pyrechaos.Population(ep).Targets() {
		if sel.Matches(tg) {
			found = append(found, tg)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d targets match %+v, want 1", len(found), sel)
	}
	return found[0]
}

func TestChaosKillAndPanicChannel(t *testing.T) {
	f := newFixture(t, Config{})
	c := dial(t, f.srv, v2, nil)
	joinOK(c, "1", "rs:k", `{}`)
	joinOK(c, "2", "rs:bystander", `{}`)
	channels := chaos.Selector{Kinds: []chaos.Kind{chaos.Channel}, Topic: "rs:k"}

	// A kill is OTP's exit(Pid, kill): restarted in place, Terminate does not run, the client hears nothing.
	if !target(t, f.ep, channels).Exit(nil) {
		t.Fatal("kill found no channel")
	}
	eventually(t, "restart after kill", func() bool { return f.ep.Stats().Restarts == 1 })
	c.send(`["1","3","rs:k","incarnation",{}]`)
	c.expect(`["1","3","rs:k","phx_reply",{"response":{"incarnation":2},"status":"ok"}]`)
	if r := f.terminated.get("rs:k"); len(r) != 0 {
		t.Fatalf("terminate ran after a kill: %v", r)
	}

	// An injected panic is a crash in user code: Terminate runs, then the restart.
	if !target(t, f.ep, channels).Panic("chaos") {
		t.Fatal("panic found no channel")
	}
	eventually(t, "restart after panic", func() bool { return f.ep.Stats().Restarts == 2 })
	c.send(`["1","4","rs:k","incarnation",{}]`)
	c.expect(`["1","4","rs:k","phx_reply",{"response":{"incarnation":3},"status":"ok"}]`)
	var crash *channel.CrashError
	if r := f.terminated.get("rs:k"); len(r) != 1 || !errors.As(r[0], &crash) || crash.Value != "chaos" {
		t.Fatalf("terminate reasons %v, want one CrashError(chaos)", r)
	}
	quiet(t, f.ep, "h", c)

	// A kill on a Temporary route ends the channel as Phoenix would.
	joinOK(c, "5", "room:k", `{}`)
	target(t, f.ep, chaos.Selector{Kinds: []chaos.Kind{chaos.Channel}, Topic: "room:k"}).Exit(nil)
	c.expect(`["5","5","room:k","phx_error",{"reason":"channel_crash"}]`)
	c.send(`["2","6","rs:bystander","incarnation",{}]`)
	c.expect(`["2","6","rs:bystander","phx_reply",{"response":{"incarnation":1},"status":"ok"}]`)
}

func TestChaosKillSocketCloses1011(t *testing.T) {
	for _, method := range []chaos.Method{chaos.Exit, chaos.Panic} {
		t.Run(method.String(), func(t *testing.T) {
			f := newFixture(t, Config{})
			c := dial(t, f.srv, v2+"&user_id=victim", nil)
			other := dial(t, f.srv, v2+"&user_id=other", nil)
			joinOK(c, "1", "rs:s1", `{}`)
			joinOK(c, "2", "room:s2", `{}`)
			joinOK(other, "1", "rs:s1", `{}`)
			tg := target(t, f.ep, chaos.Selector{Kinds: []chaos.Kind{chaos.Socket}, SocketID: "users_socket:victim"})
			if method == chaos.Exit {
				tg.Exit(nil)
			} else {
				tg.Panic("socket boom")
			}
			if code := c.waitClosed(); code != 1011 {
				t.Fatalf("close code %d, want 1011", code)
			}
			eventually(t, "channels terminated", func() bool {
				return len(f.terminated.get("rs:s1")) == 1 && len(f.terminated.get("room:s2")) == 1
			})
			for _, topic := range []string{"rs:s1", "room:s2"} {
				r := f.terminated.get(topic)[0]
				if supervisor.IsNormal(r) {
					t.Fatalf("%s terminated with %v, want the abnormal reason of the socket", topic, r)
				}
			}
			other.send(`["1","2","rs:s1","echo",{"ok":1}]`)
			other.expect(`["1","2","rs:s1","phx_reply",{"response":{"ok":1},"status":"ok"}]`)
		})
	}
}

func TestChaosKillInfrastructureRestarts(t *testing.T) {
	f := newFixture(t, Config{IdleTimeout: 300 * time.Millisecond})
	infra := chaos.Selector{Kinds: []chaos.Kind{chaos.Infrastructure}}
	for i, method := range []chaos.Method{chaos.Exit, chaos.Panic} {
		before := target(t, f.ep, infra)
		if before.Labels[chaos.LabelChild] != "janitor" {
			t.Fatalf("infrastructure target %v, want the janitor", before.Labels)
		}
		if method == chaos.Exit {
			before.Exit(nil)
		} else {
			before.Panic("janitor boom")
		}
		eventually(t, "janitor restarted", func() bool {
			for _, tg := range pyrechaos.Population(f.ep).Targets() {
				if tg.Kind == chaos.Infrastructure && tg.ID != before.ID {
					return true
				}
			}
			return false
		})
		// The restarted janitor still does its job: an idle connection is closed with 1001.
		c := dial(t, f.srv, v2, nil)
		if code := c.waitClosed(); code != 1001 {
			t.Fatalf("round %d: close code %d, want 1001", i, code)
		}
	}
}

// A channel that crashed and whose connection goes away before its supervisor decides must not leave its
// subscription behind (found by examples/chaos).
func TestCrashThenCloseLeavesNoSubscription(t *testing.T) {
	f := newFixture(t, Config{})
	for i := 0; i < 20; i++ {
		c := dial(t, f.srv, v2, nil)
		joinOK(c, "1", "rs:gone", `{}`)
		c.send(`["1","2","rs:gone","crash",{}]`)
		_ = c.conn.NetConn().Close() // gone at once, whatever the server is doing
	}
	for i := 0; i < 20; i++ {
		c := dial(t, f.srv, v2+"&user_id=u", nil)
		joinOK(c, "1", "rs:gone2", `{}`)
		target(t, f.ep, chaos.Selector{Kinds: []chaos.Kind{chaos.Channel}, Topic: "rs:gone2"}).Panic("x")
		target(t, f.ep, chaos.Selector{Kinds: []chaos.Kind{chaos.Socket}, SocketID: "users_socket:u"}).Exit(nil)
		c.waitClosed()
		eventually(t, "socket gone", func() bool { return f.ep.Stats().Sockets == 0 })
	}
	eventually(t, "everything gone", func() bool {
		s := f.ep.Stats()
		return s.Sockets == 0 && s.Channels == 0 && s.Topics == 0
	})
	if n := len(pyrechaos.Population(f.ep).Targets()); n != 1 { // the janitor
		t.Fatalf("%d targets left, want only the janitor", n)
	}
}

// An endpoint whose supervisor gives up (infrastructure crashing past its intensity) closes every
// connection with 1011 and refuses new ones with 503 (found by examples/chaos).
func TestEndpointGivesUp(t *testing.T) {
	f := newFixture(t, Config{})
	c := dial(t, f.srv, v2, nil)
	joinOK(c, "1", "rs:e", `{}`)
	for i := 0; i <= host.EndpointIntensity.Max; i++ {
		old := target(t, f.ep, chaos.Selector{Kinds: []chaos.Kind{chaos.Infrastructure}})
		old.Exit(nil)
		if i == host.EndpointIntensity.Max {
			break
		}
		eventually(t, "janitor restarted", func() bool {
			for _, tg := range pyrechaos.Population(f.ep).Targets() {
				if tg.Kind == chaos.Infrastructure && tg.ID != old.ID {
					return true
				}
			}
			return false
		})
	}
	if code := c.waitClosed(); code != 1011 {
		t.Fatalf("close code %d, want 1011", code)
	}
	eventually(t, "endpoint stopped", func() bool { return f.ep.Err() != nil })
	if !errors.Is(f.ep.Err(), supervisor.ErrMaxIntensity) {
		t.Fatalf("Err() = %v, want ErrMaxIntensity", f.ep.Err())
	}
	if _, resp, err := tryDial(t, f.srv, v2, nil); err == nil || resp == nil || resp.StatusCode != 503 {
		t.Fatalf("dial after give-up: resp %v err %v, want 503", resp, err)
	}
	if r := f.terminated.get("rs:e"); len(r) != 1 || !errors.Is(r[0], channel.ErrShutdown) {
		t.Fatalf("terminate reasons %v, want ErrShutdown", r)
	}
}

// With a write delay, each busy connection writes from a goroutine of its own; nothing is lost or
// reordered.
func TestWriteDelayDeliversInOrder(t *testing.T) {
	f := newFixture(t, Config{WriteDelay: 2 * time.Millisecond})
	c := dial(t, f.srv, v2, nil)
	joinOK(c, "1", "room:wd", `{}`)
	for i := range 50 {
		if err := f.ep.Broadcast("room:wd", "n", map[string]int{"i": i}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 50 {
		c.expect(fmt.Sprintf(`[null,null,"room:wd","n",{"i":%d}]`, i))
	}
	c.send(`["1","2","room:wd","echo",{"after":true}]`)
	c.expect(`["1","2","room:wd","phx_reply",{"response":{"after":true},"status":"ok"}]`)
}

// A rejoin sent right behind a leave, without waiting for the leave's reply, is not a duplicate join: the
// old channel's phx_close is sent once, by the old channel (found by make bench's churn scenario).
func TestLeaveThenImmediateRejoinClosesOnce(t *testing.T) {
	f := newFixture(t, Config{})
	c := dial(t, f.srv, v2, nil)
	old := "1"
	joinOK(c, old, "room:lr", `{}`)
	for i := range 20 {
		rejoin := fmt.Sprint(i + 2)
		c.send(`["` + old + `","l` + old + `","room:lr","phx_leave",{}]`)
		c.send(`["` + rejoin + `","` + rejoin + `","room:lr","phx_join",{}]`)
		closes, replies := 0, 0
		for replies < 2 || closes < 1 {
			fr := string(c.next().data)
			switch {
			case strings.Contains(fr, `"phx_close"`):
				closes++
			case strings.Contains(fr, `"phx_reply"`):
				replies++
			}
		}
		quiet(t, f.ep, "h"+old, c) // no second phx_close for the old join ref
		if closes != 1 {
			t.Fatalf("round %d: %d phx_close frames, want 1", i, closes)
		}
		old = rejoin
	}
}

// Endpoint.Actors describes each actor as the dashboard shows it: a socket's transport and queue, a
// channel's restart type and incarnation.
func TestActorsDescribeRestartTypeAndIncarnation(t *testing.T) {
	f := newFixture(t, Config{})
	c := dial(t, f.srv, v2, nil)
	joinOK(c, "1", "rs:a", `{}`)
	joinOK(c, "2", "room:b", `{}`)
	c.send(`["1","3","rs:a","crash",{}]`)
	c.expect(`["1","3","rs:a","phx_reply",` + crashReply + `]`)
	c.send(`["1","4","rs:a","incarnation",{}]`)
	c.expect(`["1","4","rs:a","phx_reply",{"response":{"incarnation":2},"status":"ok"}]`)

	type row struct {
		transport   string
		restart     supervisor.Restart
		incarnation int
	}
	got := map[string]row{}
	for _, a := range f.ep.Actors() {
		switch a.Kind {
		case host.SocketActor:
			got["socket"] = row{transport: a.Transport}
		case host.ChannelActor:
			got[a.Topic] = row{restart: a.Restart, incarnation: a.Incarnation}
		}
	}
	want := map[string]row{
		"socket": {transport: "websocket"},
		"rs:a":   {restart: supervisor.Transient, incarnation: 2},
		"room:b": {restart: supervisor.Temporary, incarnation: 1},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("actors %v, want %v", got, want)
	}
}
