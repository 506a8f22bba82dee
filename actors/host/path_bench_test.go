package host

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/pyrehq/pyre/actors/message"
)

// signalConn hands every frame written to it to the benchmark.
type signalConn struct{ frames chan *message.Message }

func (c *signalConn) Write(m *message.Message) error          { c.frames <- m; return nil }
func (c *signalConn) WriteBroadcast(*message.Broadcast) error { return nil }
func (c *signalConn) Close(CloseCode)                         {}

type benchChannel struct{}

func (benchChannel) Join(*Socket, string, Payload) (any, error) { return nil, nil }
func (benchChannel) HandleIn(_ *Socket, _ string, p Payload) (Reply, error) {
	return ReplyOK(p), nil
}

// openBench runs one connection on a fresh Host of cfg, with room:* routed to benchChannel.
func openBench(b *testing.B, cfg Config) (*Session, *signalConn) {
	b.Helper()
	r := NewRouter(ConnectFunc(func(url.Values, ConnectInfo) (Assigns, error) { return nil, nil }))
	r.Channel("room:*", func() Channel { return benchChannel{} })
	h := New(cfg)
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := h.Shutdown(ctx, CloseServiceRestart); err != nil {
			b.Error(err)
		}
	})
	connected, err := Connect(r, nil, ConnectInfo{Transport: "websocket"})
	if err != nil {
		b.Fatal(err)
	}
	out := &signalConn{frames: make(chan *message.Message, 16)}
	s, err := h.Open(connected, out)
	if err != nil {
		b.Fatal(err)
	}
	return s, out
}

func (c *signalConn) await(b *testing.B, event string) {
	for m := range c.frames {
		if m.Event == event {
			return
		}
	}
	b.Fatal("connection closed")
}

// The join path: phx_join through the socket actor, a channel actor spawned, Join run, the reply written;
// then phx_leave, Terminate, the reply and phx_close.
func BenchmarkJoinLeave(b *testing.B) {
	s, out := openBench(b, Config{})
	join := &message.Message{JoinRef: "1", Ref: "1", Topic: "room:a", Event: message.EventJoin, Payload: message.EmptyObject}
	leave := &message.Message{JoinRef: "1", Ref: "2", Topic: "room:a", Event: message.EventLeave, Payload: message.EmptyObject}
	b.ReportAllocs()
	for b.Loop() {
		s.Receive(join)
		out.await(b, message.EventReply)
		s.Receive(leave)
		out.await(b, message.EventClose)
	}
}

// The push path: a push through the socket actor to its channel actor, HandleIn, the reply written.
func BenchmarkPushReply(b *testing.B) {
	s, out := openBench(b, Config{})
	s.Receive(&message.Message{JoinRef: "1", Ref: "1", Topic: "room:a", Event: message.EventJoin, Payload: message.EmptyObject})
	out.await(b, message.EventReply)
	push := &message.Message{JoinRef: "1", Ref: "2", Topic: "room:a", Event: "ping", Payload: message.JSON([]byte(`{"n":1}`))}
	b.ReportAllocs()
	for b.Loop() {
		s.Receive(push)
		out.await(b, message.EventReply)
	}
}

// A connection's life on the Host, as the churn scenario of examples/measure drives it: Open (the socket
// actor started under the socket supervisor), phx_join and its reply, then Close, until the socket actor and
// its channel have stopped.
func BenchmarkOpenJoinClose(b *testing.B) {
	r := NewRouter(ConnectFunc(func(url.Values, ConnectInfo) (Assigns, error) { return nil, nil }))
	r.Channel("room:*", func() Channel { return benchChannel{} })
	h := New(Config{})
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := h.Shutdown(ctx, CloseServiceRestart); err != nil {
			b.Error(err)
		}
	})
	join := &message.Message{JoinRef: "1", Ref: "1", Topic: "room:a", Event: message.EventJoin, Payload: message.EmptyObject}
	b.ReportAllocs()
	for b.Loop() {
		connected, err := Connect(r, nil, ConnectInfo{Transport: "websocket"})
		if err != nil {
			b.Fatal(err)
		}
		out := &signalConn{frames: make(chan *message.Message, 16)}
		s, err := h.Open(connected, out)
		if err != nil {
			b.Fatal(err)
		}
		s.Receive(join)
		out.await(b, message.EventReply)
		s.Close()
		<-s.Done()
	}
}
