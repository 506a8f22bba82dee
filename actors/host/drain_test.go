package host

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/pyrehq/pyre/actors/message"
)

// drainConn records what one connection was sent and how it was closed.
type drainConn struct {
	mu     sync.Mutex
	frames []*message.Message
	code   CloseCode
	closed chan struct{}
}

func newDrainConn() *drainConn { return &drainConn{closed: make(chan struct{})} }

func (c *drainConn) Write(m *message.Message) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.code != 0 {
		return ErrConnClosed
	}
	c.frames = append(c.frames, m)
	return nil
}
func (c *drainConn) WriteBroadcast(*message.Broadcast) error { return nil }
func (c *drainConn) Close(code CloseCode) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.code == 0 {
		c.code = code
		close(c.closed)
	}
}

func (c *drainConn) replies() (n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range c.frames {
		if m.Event == message.EventReply && m.Topic != "" && m.Ref != m.JoinRef {
			n++
		}
	}
	return n
}

// gatedChannel holds every push until its gate opens, and records how it terminated.
type gatedChannel struct {
	gate     <-chan struct{}
	started  chan<- struct{}
	reasons  chan<- error
	received int
}

func (g *gatedChannel) Join(*Socket, string, Payload) (any, error) { return nil, nil }
func (g *gatedChannel) HandleIn(_ *Socket, _ string, p Payload) (Reply, error) {
	if g.received++; g.received == 1 {
		g.started <- struct{}{}
	}
	<-g.gate
	return ReplyOK(p), nil
}
func (g *gatedChannel) Terminate(_ *Socket, reason error) { g.reasons <- reason }

// Drain answers every push a channel already received, terminates the channels with ErrShutdown and only
// then closes each connection with 1012; connections go batch by batch, and new sessions are refused.
func TestDrainAnswersInFlightThenCloses1012(t *testing.T) {
	defer goleak.VerifyNone(t)
	const conns, pushes = 5, 3
	gate := make(chan struct{})
	started := make(chan struct{}, conns)
	reasons := make(chan error, conns)
	r := NewRouter(ConnectFunc(func(url.Values, ConnectInfo) (Assigns, error) { return nil, nil }))
	r.Channel("room:*", func() Channel { return &gatedChannel{gate: gate, started: started, reasons: reasons} })
	h := New(Config{})
	connected, err := Connect(r, nil, ConnectInfo{Transport: "websocket"})
	if err != nil {
		t.Fatal(err)
	}
	var outs []*drainConn
	for i := range conns {
		out := newDrainConn()
		s, err := h.Open(connected, out)
		if err != nil {
			t.Fatal(err)
		}
		outs = append(outs, out)
		topic := fmt.Sprintf("room:%d", i)
		s.Receive(&message.Message{JoinRef: "1", Ref: "1", Topic: topic, Event: message.EventJoin, Payload: message.EmptyObject})
		for p := range pushes {
			ref := message.Ref(fmt.Sprintf("%d", p+2))
			s.Receive(&message.Message{JoinRef: "1", Ref: ref, Topic: topic, Event: "ping", Payload: message.EmptyObject})
		}
	}
	for range conns {
		<-started // every channel is inside its first push; the others wait in its mailbox
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	drained := make(chan error, 1)
	refusing := make(chan struct{})
	var once sync.Once
	h.onClose = func() { once.Do(func() { close(refusing) }) }
	go func() { drained <- h.Drain(ctx, 2, time.Millisecond) }()
	// Drain refuses new sessions from its start, before it waits for anything.
	<-refusing
	if _, err := h.Open(connected, newDrainConn()); !errors.Is(err, ErrHostClosed) {
		t.Fatalf("Open after Drain started: %v, want ErrHostClosed", err)
	}
	for _, out := range outs {
		select {
		case <-out.closed:
			t.Fatalf("closed with %d before its in-flight pushes were answered", out.code)
		default:
		}
	}
	close(gate)
	if err := <-drained; err != nil {
		t.Fatalf("Drain: %v", err)
	}
	for i, out := range outs {
		<-out.closed
		if out.code != CloseServiceRestart {
			t.Errorf("conn %d closed with %d, want 1012", i, out.code)
		}
		if n := out.replies(); n != pushes {
			t.Errorf("conn %d: %d replies to its %d pushes", i, n, pushes)
		}
	}
	for range conns {
		if reason := <-reasons; !errors.Is(reason, ErrShutdown) {
			t.Errorf("Terminate reason %v, want ErrShutdown", reason)
		}
	}
	if err := h.Shutdown(ctx, CloseServiceRestart); err != nil {
		t.Fatal(err)
	}
}

// A Drain whose budget ends first returns the context's error; Shutdown then closes the rest.
func TestDrainBudgetExhausted(t *testing.T) {
	defer goleak.VerifyNone(t)
	gate := make(chan struct{})
	started := make(chan struct{}, 1)
	reasons := make(chan error, 1)
	r := NewRouter(ConnectFunc(func(url.Values, ConnectInfo) (Assigns, error) { return nil, nil }))
	r.Channel("room:*", func() Channel { return &gatedChannel{gate: gate, started: started, reasons: reasons} })
	h := New(Config{})
	s, out := openOne(t, h, r)
	s.Receive(&message.Message{JoinRef: "1", Ref: "1", Topic: "room:a", Event: message.EventJoin, Payload: message.EmptyObject})
	s.Receive(&message.Message{JoinRef: "1", Ref: "2", Topic: "room:a", Event: "ping", Payload: message.EmptyObject})
	<-started
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := h.Drain(ctx, 10, time.Second); !errors.Is(err, context.Canceled) {
		t.Fatalf("Drain with its budget gone: %v", err)
	}
	close(gate) // the stuck push can finish; Shutdown ends the rest
	sctx, scancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer scancel()
	if err := h.Shutdown(sctx, CloseServiceRestart); err != nil {
		t.Fatal(err)
	}
	<-out.closed
	if reason := <-reasons; !errors.Is(reason, ErrShutdown) {
		t.Errorf("Terminate reason %v, want ErrShutdown", reason)
	}
}

// Backpressure: with MaxInflight 1, Receive hands over one message at a time and waits for it to be
// handled; every wait ends (no lost wake-up), and all messages are answered in order.
func TestReceiveBackpressure(t *testing.T) {
	defer goleak.VerifyNone(t)
	const pushes = 200
	gate := make(chan struct{})
	started := make(chan struct{}, 1)
	reasons := make(chan error, 1)
	r := NewRouter(ConnectFunc(func(url.Values, ConnectInfo) (Assigns, error) { return nil, nil }))
	r.Channel("room:*", func() Channel { return &gatedChannel{gate: gate, started: started, reasons: reasons} })
	h := New(Config{MaxInflight: 1})
	s, out := openOne(t, h, r)
	var handed atomic.Int32
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		s.Receive(&message.Message{JoinRef: "1", Ref: "1", Topic: "room:a", Event: message.EventJoin, Payload: message.EmptyObject})
		for p := range pushes {
			s.Receive(&message.Message{JoinRef: "1", Ref: message.Ref(fmt.Sprint(p + 2)), Topic: "room:a", Event: "ping", Payload: message.EmptyObject})
			handed.Add(1)
		}
	}()
	<-started // the first push is in HandleIn, its gate closed
	if n := handed.Load(); n > 1 {
		t.Fatalf("%d pushes handed over while one was unhandled and MaxInflight is 1", n)
	}
	close(gate)
	<-sent
	// Every push was handed over: once the actors are idle, every reply is written.
	sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer scancel()
	if err := s.Sync(sctx); err != nil {
		t.Fatal(err)
	}
	if n := out.replies(); n != pushes {
		t.Fatalf("%d of %d replies", n, pushes)
	}
	out.mu.Lock()
	last := out.frames[len(out.frames)-1]
	out.mu.Unlock()
	if last.Ref != message.Ref(fmt.Sprint(pushes+1)) {
		t.Fatalf("last reply %v, want ref %d", last.Ref, pushes+1)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := h.Shutdown(ctx, CloseServiceRestart); err != nil {
		t.Fatal(err)
	}
}

// A Shutdown whose ctx ends before the socket actors stop returns ctx.Err() and leaves no goroutine of its
// own behind waiting for them (it would have no owner).
func TestShutdownTimedOutLeavesNoWaiter(t *testing.T) {
	defer goleak.VerifyNone(t)
	gate := make(chan struct{})
	started := make(chan struct{}, 1)
	reasons := make(chan error, 1)
	r := NewRouter(ConnectFunc(func(url.Values, ConnectInfo) (Assigns, error) { return nil, nil }))
	r.Channel("room:*", func() Channel { return &gatedChannel{gate: gate, started: started, reasons: reasons} })
	h := New(Config{})
	s, _ := openOne(t, h, r)
	s.Receive(&message.Message{JoinRef: "1", Ref: "1", Topic: "room:a", Event: message.EventJoin, Payload: message.EmptyObject})
	s.Receive(&message.Message{JoinRef: "1", Ref: "2", Topic: "room:a", Event: "ping", Payload: message.EmptyObject})
	<-started // the channel is stuck in HandleIn: its socket actor cannot stop
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := h.Shutdown(ctx, CloseServiceRestart); !errors.Is(err, context.Canceled) {
		t.Fatalf("Shutdown with its budget gone: %v", err)
	}
	buf := make([]byte, 1<<20)
	if stacks := string(buf[:runtime.Stack(buf, true)]); strings.Contains(stacks, "host.(*Host).waitSockets") {
		t.Errorf("a goroutine of Shutdown still waits for the socket actors:\n%s", stacks)
	}
	close(gate)
	sctx, scancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer scancel()
	if err := h.Shutdown(sctx, CloseServiceRestart); err != nil {
		t.Fatal(err)
	}
}
