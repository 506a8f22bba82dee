package transport

import (
	"errors"
	"sync"
	"testing"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/pyrehq/pyre/actors/channel"
	"github.com/pyrehq/pyre/actors/message"
	"github.com/pyrehq/pyre/supervisor"
)

// Channels as real actors (issue 13 §2): their PID, foreign messages, Requests, custom channel actors.

// pids records each joined channel's PID by topic, and what its channels terminated with.
type pids struct {
	mu   sync.Mutex
	m    map[string]*actor.PID
	term map[string][]error
}

func (p *pids) set(topic string, pid *actor.PID) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m == nil {
		p.m = map[string]*actor.PID{}
	}
	p.m[topic] = pid
}

func (p *pids) get(t *testing.T, topic string) *actor.PID {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	pid := p.m[topic]
	if pid == nil {
		t.Fatalf("no channel joined %s", topic)
	}
	return pid
}

func (p *pids) terminated(topic string, reason error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.term == nil {
		p.term = map[string][]error{}
	}
	p.term[topic] = append(p.term[topic], reason)
}

func (p *pids) reasons(topic string) []error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]error(nil), p.term[topic]...)
}

// Foreign messages.
type (
	tell     struct{ Text string }
	ask      struct{ N int }
	answer   struct{ N, Incarnation int }
	crashAsk struct{}
	stopAsk  struct{}
)

// pidRoom is a callback channel that other actors talk to through its PID.
type pidRoom struct{ pids *pids }

func (r *pidRoom) Join(s *channel.Socket, topic string, _ channel.Payload) (any, error) {
	r.pids.set(topic, s.PID())
	return map[string]string{"joined": topic}, nil
}

func (r *pidRoom) HandleIn(s *channel.Socket, event string, p channel.Payload) (channel.Reply, error) {
	return channel.ReplyOK(p), nil
}

func (r *pidRoom) HandleInfo(s *channel.Socket, msg any) error {
	switch m := msg.(type) {
	case tell:
		if s.Respond("no") != channel.ErrNoRequest {
			panic("a Send is not a Request")
		}
		return s.Push("told", map[string]string{"text": m.Text})
	case ask:
		if s.Sender() == nil {
			panic("a Request has a sender")
		}
		if err := s.Respond(answer{N: m.N, Incarnation: s.Incarnation()}); err != nil {
			panic(err)
		}
		if s.Respond("twice") != channel.ErrNoRequest {
			panic("one answer per request")
		}
	case crashAsk:
		panic("crash while asked")
	case stopAsk:
		return channel.StopNormal
	}
	return nil
}

func (r *pidRoom) Terminate(s *channel.Socket, reason error) { r.pids.terminated(s.Topic(), reason) }

func newActorsFixture(t *testing.T) (*fixture, *pids) {
	t.Helper()
	p := &pids{}
	f := &fixture{terminated: &reasons{}}
	router := channel.NewRouter(testSocket{})
	router.Channel("pid:*", func() channel.Channel { return &pidRoom{pids: p} })
	router.Channel("act:*", channel.FromActor(func() actor.Actor { return &customChannel{pids: p} }))
	router.Channel("tmp:*", channel.FromActor(func() actor.Actor { return &customChannel{pids: p} }),
		channel.WithRestart(supervisor.Temporary))
	f.ep = NewEndpoint(Config{})
	f.ep.Socket("/socket", router)
	f.srv = serve(t, f.ep)
	return f, p
}

func request(t *testing.T, ep *Endpoint, pid *actor.PID, msg any) (any, error) {
	t.Helper()
	return ep.Root().RequestFuture(pid, msg, waitLimit).Result()
}

func TestForeignSendReachesHandleInfo(t *testing.T) {
	f, p := newActorsFixture(t)
	c := dial(t, f.srv, v2, nil)
	joinOK(c, "1", "pid:a", `{}`)
	f.ep.Root().Send(p.get(t, "pid:a"), tell{Text: "hi"})
	c.expect(`["1",null,"pid:a","told",{"text":"hi"}]`)
}

func TestRequestAnsweredFromHandleInfo(t *testing.T) {
	f, p := newActorsFixture(t)
	c := dial(t, f.srv, v2, nil)
	joinOK(c, "1", "pid:b", `{}`)
	got, err := request(t, f.ep, p.get(t, "pid:b"), ask{N: 7})
	if err != nil || got != (answer{N: 7, Incarnation: 1}) {
		t.Fatalf("answer %v, %v; want {7 1}", got, err)
	}
}

// A request that crashes the channel is answered as by a dead pid, at once; the PID then names the
// restarted channel. A request to a channel that has ended is answered the same way.
func TestRequestToCrashedIncarnation(t *testing.T) {
	f, p := newActorsFixture(t)
	c := dial(t, f.srv, v2, nil)
	joinOK(c, "1", "pid:c", `{}`)
	pid := p.get(t, "pid:c")
	if _, err := request(t, f.ep, pid, crashAsk{}); !errors.Is(err, actor.ErrDeadLetter) {
		t.Fatalf("request that crashed the channel: %v, want ErrDeadLetter", err)
	}
	got, err := request(t, f.ep, pid, ask{N: 1})
	if err != nil || got != (answer{N: 1, Incarnation: 2}) {
		t.Fatalf("answer after the restart %v, %v; want {1 2}", got, err)
	}
	quiet(t, f.ep, "h1", c) // an in-place restart: the client hears nothing

	// A stop that leaves the request unanswered answers it as a dead pid; so is any later request.
	if _, err := request(t, f.ep, pid, stopAsk{}); !errors.Is(err, actor.ErrDeadLetter) {
		t.Fatalf("request that stopped the channel: %v, want ErrDeadLetter", err)
	}
	c.expect(`["1","1","pid:c","phx_close",{}]`)
	if _, err := request(t, f.ep, pid, ask{N: 2}); !errors.Is(err, actor.ErrDeadLetter) {
		t.Fatalf("request to an ended channel: %v, want ErrDeadLetter", err)
	}
}

// customChannel is a custom channel actor (FromActor) exercising the whole contract.
type customChannel struct {
	pids   *pids
	joined int // messages since JoinMsg, to show the value is fresh per incarnation
}

func (c *customChannel) Intercepts() []string { return []string{"filtered"} }

func (c *customChannel) Receive(ctx actor.Context) {
	s := channel.SocketOf(ctx)
	switch m := ctx.Message().(type) {
	case *channel.JoinMsg:
		var jp struct{ Deny bool }
		_ = m.Params.Decode(&jp)
		if jp.Deny {
			ctx.Respond(channel.Deny(map[string]string{"reason": "denied"}))
			return
		}
		c.pids.set(m.Topic, ctx.Self())
		ctx.Respond(map[string]string{"joined": m.Topic})
	case *channel.InMsg:
		c.joined++
		switch m.Event {
		case "echo":
			ctx.Respond(channel.ReplyOK(m.Payload))
		case "plain":
			ctx.Respond(map[string]int{"n": c.joined})
		case "push":
			_ = s.Push("pushed", m.Payload)
		case "broadcast":
			_ = s.Broadcast("shout", m.Payload)
		case "filtered":
			_ = s.Broadcast("filtered", m.Payload)
		case "incarnation":
			ctx.Respond(map[string]int{"incarnation": s.Incarnation()})
		case "crash":
			panic("custom boom")
		case "stop":
			ctx.Respond(channel.ReplyOK(nil))
			channel.Stop(ctx, nil)
		}
	case *channel.OutMsg:
		_ = s.Push(m.Event, map[string]any{"via": "out_msg"})
	case *channel.TerminateMsg:
		c.pids.terminated(s.Topic(), m.Reason)
	case ask:
		ctx.Respond(answer{N: m.N, Incarnation: s.Incarnation()})
	case tell:
		if err := s.Push("told", map[string]string{"text": m.Text}); err != nil {
			panic(err)
		}
	}
}

func TestCustomChannelActorProtocol(t *testing.T) {
	f, p := newActorsFixture(t)
	c := dial(t, f.srv, v2, nil)
	other := dial(t, f.srv, v2, nil)
	c.send(`["0","0","act:x","phx_join",{"Deny":true}]`)
	c.expect(`["0","0","act:x","phx_reply",{"response":{"reason":"denied"},"status":"error"}]`)
	joinOK(c, "1", "act:x", `{}`)
	pid := p.get(t, "act:x") // c's channel
	joinOK(other, "1", "act:x", `{}`)

	c.send(`["1","2","act:x","echo",{"a":1}]`)
	c.expect(`["1","2","act:x","phx_reply",{"response":{"a":1},"status":"ok"}]`)
	c.send(`["1","3","act:x","plain",{}]`)
	c.expect(`["1","3","act:x","phx_reply",{"response":{"n":2},"status":"ok"}]`)
	c.send(`["1","4","act:x","push",{"p":1}]`)
	c.expect(`["1",null,"act:x","pushed",{"p":1}]`)
	c.send(`["1","5","act:x","broadcast",{"b":1}]`)
	c.expect(`[null,null,"act:x","shout",{"b":1}]`)
	other.expect(`[null,null,"act:x","shout",{"b":1}]`)
	c.send(`["1","6","act:x","filtered",{}]`)
	c.expect(`["1",null,"act:x","filtered",{"via":"out_msg"}]`)
	other.expect(`["1",null,"act:x","filtered",{"via":"out_msg"}]`)

	// Other actors reach it by PID: a Send, a Request answered with ctx.Respond.
	f.ep.Root().Send(pid, tell{Text: "hey"})
	if got, err := request(t, f.ep, pid, ask{N: 3}); err != nil || got != (answer{N: 3, Incarnation: 1}) {
		t.Fatalf("answer %v, %v", got, err)
	}

	// A crash: the push is answered channel_crash, the channel restarts in place with a fresh actor value.
	c.send(`["1","7","act:x","crash",{}]`)
	c.send(`["1","8","act:x","incarnation",{}]`)
	c.send(`["1","9","act:x","plain",{}]`)
	c.expect(`["1",null,"act:x","told",{"text":"hey"}]`)
	c.expect(`["1","7","act:x","phx_reply",` + crashReply + `]`)
	c.expect(`["1","8","act:x","phx_reply",{"response":{"incarnation":2},"status":"ok"}]`)
	c.expect(`["1","9","act:x","phx_reply",{"response":{"n":2},"status":"ok"}]`)

	// Leave: the reply, then phx_close; TerminateMsg ran with ErrLeft.
	c.send(`["1","10","act:x","phx_leave",{}]`)
	c.expect(`["1","10","act:x","phx_reply",{"response":{},"status":"ok"}]`)
	c.expect(`["1","1","act:x","phx_close",{}]`)
	eventually(t, "terminated", func() bool { return len(p.reasons("act:x")) == 2 })
	var crash *channel.CrashError
	if r := p.reasons("act:x"); !errors.As(r[0], &crash) || !errors.Is(r[1], channel.ErrLeft) {
		t.Fatalf("terminate reasons %v, want a crash then ErrLeft", r)
	}

	// Stop from the actor: reply, then phx_close.
	other.send(`["1","2","act:x","stop",{}]`)
	other.expect(`["1","2","act:x","phx_reply",{"response":{},"status":"ok"}]`)
	other.expect(`["1","1","act:x","phx_close",{}]`)

	// Under a Temporary route, a crash ends the channel with phx_error, as Phoenix.
	joinOK(c, "11", "tmp:y", `{}`)
	c.send(`["11","12","tmp:y","crash",{}]`)
	c.expect(`["11","11","tmp:y","phx_error",{"reason":"channel_crash"}]`)
}

// mwLog records the types of the messages a route's middleware saw.
type mwLog struct {
	mu   sync.Mutex
	seen map[string]int
}

func (l *mwLog) middleware(next actor.ReceiverFunc) actor.ReceiverFunc {
	return func(ctx actor.ReceiverContext, env *actor.MessageEnvelope) {
		l.mu.Lock()
		switch m := env.Message.(type) {
		case *message.Message:
			l.seen["client:"+m.Event]++
		case tell:
			l.seen["tell"]++
		}
		l.mu.Unlock()
		next(ctx, env)
	}
}

func (l *mwLog) count(k string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.seen[k]
}

func TestRouteReceiverMiddleware(t *testing.T) {
	p, log := &pids{}, &mwLog{seen: map[string]int{}}
	router := channel.NewRouter(nil)
	router.Channel("mw:*", func() channel.Channel { return &pidRoom{pids: p} }, channel.WithReceiverMiddleware(log.middleware))
	router.Channel("plain:*", func() channel.Channel { return &pidRoom{pids: p} })
	ep := NewEndpoint(Config{})
	ep.Socket("/socket", router)
	srv := serve(t, ep)
	c := dial(t, srv, v2, nil)
	joinOK(c, "1", "mw:a", `{}`)
	joinOK(c, "2", "plain:a", `{}`)
	for _, topic := range []string{"mw:a", "plain:a"} {
		j := map[string]string{"mw:a": "1", "plain:a": "2"}[topic]
		c.send(`["` + j + `","3","` + topic + `","echo",{}]`)
		c.expect(`["` + j + `","3","` + topic + `","phx_reply",{"response":{},"status":"ok"}]`)
		ep.Root().Send(p.get(t, topic), tell{Text: topic})
		c.expect(`["` + j + `",null,"` + topic + `","told",{"text":"` + topic + `"}]`)
	}
	if log.count("client:echo") != 1 || log.count("tell") != 1 {
		t.Fatalf("middleware saw %v, want the mw:a route's echo push and tell once each", log.seen)
	}
}
