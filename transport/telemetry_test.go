package transport

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pyrehq/pyre/actors/channel"
	"github.com/pyrehq/pyre/actors/host"
	"github.com/pyrehq/pyre/actors/telemetry"
	"github.com/pyrehq/pyre/supervisor/chaos"
)

// eventLog records telemetry events as lines, in the order they were emitted.
type eventLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *eventLog) add(format string, args ...any) {
	l.mu.Lock()
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
	l.mu.Unlock()
}

func (l *eventLog) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.lines)
}

// step waits for n more events than were seen (a liveness bound), and asserts them: in order, or as a set
// when ordered is false (events of different goroutines with no order between them).
func (l *eventLog) step(t *testing.T, seen *int, ordered bool, want ...string) {
	t.Helper()
	eventually(t, fmt.Sprintf("events %q", want), func() bool { return l.len() >= *seen+len(want) })
	l.mu.Lock()
	got := slices.Clone(l.lines[*seen : *seen+len(want)])
	l.mu.Unlock()
	*seen += len(want)
	if !ordered {
		slices.Sort(got)
		want = slices.Sorted(slices.Values(want))
	}
	if !slices.Equal(got, want) {
		t.Fatalf("events\n got: %q\nwant: %q", got, want)
	}
}

// observer records the lifecycle events (not the per-message ones, which metrics count).
func (l *eventLog) observer() telemetry.Events {
	return telemetry.Events{
		SocketConnected: func(e telemetry.SocketConnected) {
			l.add("connected %s %s %s vsn=%s socket=%t", e.Transport, e.Result, e.ID, e.Serializer, e.Socket != "")
		},
		SocketDisconnected: func(e telemetry.SocketDisconnected) {
			l.add("disconnected %s %s %d", e.Transport, e.ID, e.Code)
		},
		SocketDrain: func(e telemetry.SocketDrain) { l.add("drain %d/%d %d/%d", e.Count, e.Total, e.Index, e.Rounds) },
		ChannelJoined: func(e telemetry.ChannelJoined) {
			l.add("joined %s %s %s %s", e.Topic, e.Result, e.Restart, e.ID)
		},
		ChannelHandledIn: func(e telemetry.ChannelHandledIn) { l.add("handled_in %s %s %s", e.Topic, e.Event, e.Result) },
		ChannelLeft: func(e telemetry.ChannelLeft) {
			l.add("left %s %v %d", e.Topic, e.Reason, e.Incarnation)
		},
		ChannelCrashed: func(e telemetry.ChannelCrashed) {
			l.add("crashed %s %d %v at_handle_in=%t", e.Topic, e.Incarnation, e.Reason, strings.Contains(e.Stack, "room).HandleIn"))
		},
		ChannelRestarted: func(e telemetry.ChannelRestarted) { l.add("restarted %s %d", e.Topic, e.Incarnation) },
		ChannelEscalated: func(e telemetry.ChannelEscalated) {
			l.add("escalated %s %s %d", e.Topic, e.Scope, e.Incarnation)
		},
		SlowConsumer:   func(e telemetry.SlowConsumer) { l.add("slow %s %s", e.Transport, e.Cause) },
		LongPollOpened: func(e telemetry.LongPoll) { l.add("longpoll_opened %s", e.ID) },
		LongPollClosed: func(e telemetry.LongPoll) { l.add("longpoll_closed %s expired=%t", e.ID, e.Expired) },
	}
}

// TestEventSequence asserts the exact events of a scripted session: a connection, joins accepted and
// refused, a push, a crash restarted in place, a crash past its intensity, a leave, a kick; then a
// long-poll session ended by a drain.
func TestEventSequence(t *testing.T) {
	log := &eventLog{}
	f := newFixture(t, Config{Events: log.observer()})
	seen := 0

	c := dial(t, f.srv, v2+"&user_id=u", nil)
	log.step(t, &seen, true, "connected websocket ok users_socket:u vsn=2.0.0 socket=true")

	c.send(`["1","1","room:1","phx_join",{}]`)
	c.expect(`["1","1","room:1","phx_reply",{"response":{"joined":"room:1"},"status":"ok"}]`)
	log.step(t, &seen, true, "joined room:1 ok temporary users_socket:u")

	c.send(`["2","2","room:2","phx_join",{"deny":true}]`)
	c.expect(`["2","2","room:2","phx_reply",{"response":{"reason":"denied"},"status":"error"}]`)
	log.step(t, &seen, true, "joined room:2 error temporary users_socket:u")

	c.send(`["1","3","room:1","echo",{}]`)
	c.expect(`["1","3","room:1","phx_reply",{"response":{},"status":"ok"}]`)
	log.step(t, &seen, true, "handled_in room:1 echo ok")

	c.send(`["4","4","rs:1","phx_join",{}]`)
	c.expect(`["4","4","rs:1","phx_reply",{"response":{"joined":"rs:1"},"status":"ok"}]`)
	c.send(`["4","5","rs:1","crash",{}]`)
	c.expect(`["4","5","rs:1","phx_reply",{"response":{"reason":"channel_crash"},"status":"error"}]`)
	log.step(t, &seen, true,
		"joined rs:1 ok transient users_socket:u",
		"handled_in rs:1 crash crash",
		"crashed rs:1 1 channel: crash: boom at_handle_in=true",
		"restarted rs:1 2")

	c.send(`["6","6","once:1","phx_join",{}]`)
	c.expect(`["6","6","once:1","phx_reply",{"response":{"joined":"once:1"},"status":"ok"}]`)
	c.send(`["6","7","once:1","crash",{}]`)
	c.expect(`["6","7","once:1","phx_reply",{"response":{"reason":"channel_crash"},"status":"error"}]`)
	c.send(`["6","8","once:1","crash",{}]`)
	c.expect(`["6","8","once:1","phx_reply",{"response":{"reason":"channel_crash"},"status":"error"}]`)
	c.expect(`["6","6","once:1","phx_error",{"reason":"channel_crash"}]`)
	log.step(t, &seen, true,
		"joined once:1 ok transient users_socket:u",
		"handled_in once:1 crash crash",
		"crashed once:1 1 channel: crash: boom at_handle_in=true",
		"restarted once:1 2",
		"handled_in once:1 crash crash",
		"crashed once:1 2 channel: crash: boom at_handle_in=true",
		"escalated once:1 channel 2",
		"left once:1 channel: crash: boom 2")

	c.send(`["1","9","room:1","phx_leave",{}]`)
	c.expect(`["1","9","room:1","phx_reply",{"response":{},"status":"ok"}]`)
	c.expect(`["1","1","room:1","phx_close",{}]`)
	log.step(t, &seen, true, "left room:1 shutdown: left 1")

	// A kick: the channel's end and the connection's come from different goroutines.
	if err := f.ep.Disconnect("users_socket:u"); err != nil {
		t.Fatal(err)
	}
	if code := c.waitClosed(); code != 1001 {
		t.Fatalf("close code %d, want 1001", code)
	}
	log.step(t, &seen, false, "left rs:1 shutdown: closed 2", "disconnected websocket users_socket:u 1001")

	lp := lpOpen(t, f.srv, lpParams+"&user_id=l")
	log.step(t, &seen, true, "connected longpoll ok users_socket:l vsn=2.0.0 socket=true", "longpoll_opened users_socket:l")
	lp.join("1", "room:lp")
	log.step(t, &seen, true, "joined room:lp ok temporary users_socket:l")
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := f.ep.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	log.step(t, &seen, true,
		"drain 1/1 0/1",
		"left room:lp shutdown: server_shutdown 1",
		"disconnected longpoll users_socket:l 1012",
		"longpoll_closed users_socket:l expired=false")
	if n := log.len(); n != seen {
		t.Fatalf("%d more events: %q", n-seen, log.lines[seen:])
	}
}

// A panic in an event func is recovered and logged: the connection, its channel and the runtime carry
// on, and the other funcs still run.
func TestEventPanicRecovered(t *testing.T) {
	var buf lockedBuffer
	joined := make(chan string, 4)
	f := newFixture(t, Config{Logger: slog.New(slog.NewTextHandler(&buf, nil)), Events: telemetry.Events{
		SocketConnected:  func(telemetry.SocketConnected) { panic("observer boom") },
		ChannelJoined:    func(telemetry.ChannelJoined) { panic("observer boom") },
		ChannelHandledIn: func(e telemetry.ChannelHandledIn) { joined <- e.Event },
	}})
	c := dial(t, f.srv, v2, nil)
	c.send(`["1","1","room:1","phx_join",{}]`)
	c.expect(`["1","1","room:1","phx_reply",{"response":{"joined":"room:1"},"status":"ok"}]`)
	c.send(`["1","2","room:1","echo",{}]`)
	c.expect(`["1","2","room:1","phx_reply",{"response":{},"status":"ok"}]`)
	if e := <-joined; e != "echo" {
		t.Fatalf("HandledIn got %q", e)
	}
	eventually(t, "the panic logged", func() bool {
		return strings.Contains(buf.String(), "pyre: telemetry callback panicked") && strings.Contains(buf.String(), "observer boom")
	})
}

// tracing reports its Socket.Context's trace context in its join reply, and whether the context of the
// incarnation that crashed was cancelled.
type tracing struct{ last *chan context.Context }

func (tr *tracing) Join(s *channel.Socket, _ string, _ channel.Payload) (any, error) {
	tc, ok := telemetry.TraceContextFrom(s.Context())
	if s.Incarnation() > 1 {
		*tr.last <- s.Context()
	}
	return map[string]any{"traceparent": tc.Traceparent, "tracestate": tc.Tracestate, "ok": ok, "live": s.Context().Err() == nil}, nil
}

func (tr *tracing) HandleIn(s *channel.Socket, event string, _ channel.Payload) (channel.Reply, error) {
	*tr.last <- s.Context()
	if event == "crash" {
		panic("boom")
	}
	return channel.NoReply, channel.StopNormal
}

// Socket.Context carries the traceparent and tracestate of the upgrade request, and is cancelled when its
// incarnation ends: at an in-place restart (the new one has its own), and when the channel ends.
func TestSocketContextTrace(t *testing.T) {
	ctxs := make(chan context.Context, 4)
	router := channel.NewRouter(testSocket{})
	router.Channel("trace:*", func() channel.Channel { return &tracing{last: &ctxs} })
	ep := NewEndpoint(Config{})
	ep.Socket("/socket", router)
	srv := serve(t, ep)

	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	h := http.Header{"Traceparent": {tp}, "Tracestate": {"a=1", "b=2"}}
	c := dial(t, srv, v2, h)
	c.send(`["1","1","trace:1","phx_join",{}]`)
	c.expect(`["1","1","trace:1","phx_reply",{"response":{"traceparent":"` + tp + `","tracestate":"a=1,b=2","ok":true,"live":true},"status":"ok"}]`)
	c.send(`["1","2","trace:1","crash",{}]`)
	c.expect(`["1","2","trace:1","phx_reply",{"response":{"reason":"channel_crash"},"status":"error"}]`)
	first, second := <-ctxs, <-ctxs // the crashed incarnation's, the restarted one's
	if first.Err() == nil {
		t.Fatal("the crashed incarnation's context is not cancelled")
	}
	if second.Err() != nil || first == second {
		t.Fatal("the restarted incarnation has no live context of its own")
	}
	if tc, _ := telemetry.TraceContextFrom(second); tc.Traceparent != tp {
		t.Fatalf("restarted: traceparent %q", tc.Traceparent)
	}
	c.send(`["1","3","trace:1","stop",{}]`)
	c.expect(`["1","1","trace:1","phx_close",{}]`)
	third := <-ctxs
	eventually(t, "the ended channel's context cancelled", func() bool { return third.Err() != nil })

	// No trace headers: a live context with no trace context.
	plain := dial(t, srv, v2, nil)
	plain.send(`["1","1","trace:2","phx_join",{}]`)
	plain.expect(`["1","1","trace:2","phx_reply",{"response":{"traceparent":"","tracestate":"","ok":false,"live":true},"status":"ok"}]`)
}

// The supervisors' events: a killed channel (no stack: it did not panic), a connection past its restart
// intensity, and the endpoint supervisor restarting its janitor until it gives up.
func TestEventsSupervisors(t *testing.T) {
	log := &eventLog{}
	obs := log.observer()
	obs.InfrastructureRestarted = func(e telemetry.InfrastructureRestarted) { log.add("infra_restarted %s %v", e.Child, e.Reason) }
	obs.EndpointGaveUp = func(e telemetry.EndpointGaveUp) { log.add("gave_up %v", e.Reason) }
	f := newFixture(t, Config{Events: obs}, channel.WithConnIntensity(1, time.Hour))
	seen := 0
	c := dial(t, f.srv, v2, nil)
	log.step(t, &seen, true, "connected websocket ok  vsn=2.0.0 socket=true")
	joinOK(c, "1", "rs:k", `{}`)
	log.step(t, &seen, true, "joined rs:k ok transient ")
	target(t, f.ep, chaos.Selector{Kinds: []chaos.Kind{chaos.Channel}, Topic: "rs:k"}).Exit(nil)
	log.step(t, &seen, true, "crashed rs:k 1 killed at_handle_in=false", "restarted rs:k 2")
	c.send(`["1","2","rs:k","crash",{}]`)
	c.expect(`["1","2","rs:k","phx_reply",{"response":{"reason":"channel_crash"},"status":"error"}]`)
	if code := c.waitClosed(); code != 1011 {
		t.Fatalf("close code %d, want 1011", code)
	}
	log.step(t, &seen, true, "handled_in rs:k crash crash", "crashed rs:k 2 channel: crash: boom at_handle_in=true",
		"escalated rs:k connection 2")
	log.step(t, &seen, false, "left rs:k channel: crash: boom 2", "disconnected websocket  1011")

	for i := 0; i <= host.EndpointIntensity.Max; i++ {
		old := target(t, f.ep, chaos.Selector{Kinds: []chaos.Kind{chaos.Infrastructure}})
		old.Exit(nil)
		if i < host.EndpointIntensity.Max {
			log.step(t, &seen, true, "infra_restarted janitor killed")
		}
	}
	log.step(t, &seen, true, "gave_up killed")
}

// MessagesSent and MessageReceived name their connection as its other events do (the writer keeps that name
// beside it rather than reading the session per write).
func TestMessagesSentConn(t *testing.T) {
	var mu sync.Mutex
	var connected telemetry.Conn
	var sent []telemetry.Conn // of MessagesSent and MessageReceived
	f := newFixture(t, Config{Events: telemetry.Events{
		MessageReceived: func(e telemetry.MessageReceived) { mu.Lock(); sent = append(sent, e.Conn); mu.Unlock() },
		SocketConnected: func(e telemetry.SocketConnected) { mu.Lock(); connected = e.Conn; mu.Unlock() },
		MessagesSent:    func(e telemetry.MessagesSent) { mu.Lock(); sent = append(sent, e.Conn); mu.Unlock() },
	}})
	c := dial(t, f.srv, v2+"&user_id=u", nil)
	c.send(`["1","1","room:1","phx_join",{}]`)
	c.expect(`["1","1","room:1","phx_reply",{"response":{"joined":"room:1"},"status":"ok"}]`)
	eventually(t, "MessagesSent", func() bool { mu.Lock(); defer mu.Unlock(); return len(sent) > 0 })
	mu.Lock()
	defer mu.Unlock()
	if connected.Socket == "" || connected.ID != "users_socket:u" || connected.Transport != "websocket" {
		t.Fatalf("SocketConnected %+v", connected)
	}
	for _, s := range sent {
		if s != connected {
			t.Fatalf("MessagesSent/MessageReceived %+v, want %+v", s, connected)
		}
	}
}
