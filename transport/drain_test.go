package transport

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"testing"

	"github.com/pyrehq/pyre/actors/channel"
	"github.com/pyrehq/pyre/actors/host"
)

// workChannel answers "slow" once its gate opens; it signals when a slow push starts.
type workChannel struct {
	gate       <-chan struct{}
	started    chan<- string
	terminated *reasons
}

func (w *workChannel) Join(*channel.Socket, string, channel.Payload) (any, error) { return nil, nil }
func (w *workChannel) HandleIn(s *channel.Socket, event string, p channel.Payload) (channel.Reply, error) {
	if event == "slow" {
		w.started <- s.Topic()
		<-w.gate
	}
	return channel.ReplyOK(p), nil
}
func (w *workChannel) Terminate(s *channel.Socket, reason error) { w.terminated.add(s.Topic(), reason) }

func drainServer(t *testing.T, cfg Config, gate <-chan struct{}, started chan<- string, terminated *reasons) (*Endpoint, *httptest.Server) {
	t.Helper()
	r := channel.NewRouter(channel.ConnectFunc(func(url.Values, channel.ConnectInfo) (channel.Assigns, error) { return nil, nil }))
	r.Channel("work:*", func() channel.Channel { return &workChannel{gate: gate, started: started, terminated: terminated} })
	ep := NewEndpoint(cfg)
	ep.Socket("/socket", r)
	srv := serve(t, ep)
	return ep, srv
}

// Shutdown drains: new connections get 503, every push already received is answered, every channel
// terminates with ErrShutdown, every client sees a 1012 close (not 1000, not a reset) after its reply, and
// each reconnects to a second server and rejoins there.
func TestShutdownDrainsClientsToAnotherServer(t *testing.T) {
	const clients = 12
	gate := make(chan struct{})
	started := make(chan string, clients)
	termA := &reasons{}
	epA, srvA := drainServer(t, Config{DrainBatchSize: 5, DrainInterval: 1}, gate, started, termA)
	_, srvB := drainServer(t, Config{}, nil, nil, &reasons{})

	conns := make([]*rawClient, clients)
	for i := range conns {
		c := dial(t, srvA, v2, nil)
		conns[i] = c
		topic := fmt.Sprintf("work:%d", i)
		c.send(`["1","1","` + topic + `","phx_join",{}]`)
		c.expect(`["1","1","` + topic + `","phx_reply",{"response":{},"status":"ok"}]`)
		c.send(`["1","2","` + topic + `","slow",{"i":` + fmt.Sprint(i) + `}]`)
	}
	for range clients {
		<-started // every push is being handled: in flight when the drain starts
	}

	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	shut := make(chan error, 1)
	go func() { shut <- epA.Shutdown(ctx) }()
	// Polled on the endpoint's own flag, not by dialing: a dial that won the race would open a connection.
	eventually(t, "shutdown started", epA.isClosing)
	if _, resp, err := tryDial(t, srvA, v2, nil); err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("dial during shutdown: %v, %v; want 503", resp, err)
	}
	close(gate)
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}

	for i, c := range conns {
		topic := fmt.Sprintf("work:%d", i)
		c.expect(`["1","2","` + topic + `","phx_reply",{"response":{"i":` + fmt.Sprint(i) + `},"status":"ok"}]`)
		if code := c.waitClosed(); code != uint16(host.CloseServiceRestart) {
			t.Fatalf("client %d: close code %d, want 1012", i, code)
		}
		if r := termA.get(topic); len(r) != 1 || !errors.Is(r[0], channel.ErrShutdown) {
			t.Fatalf("%s terminated with %v, want ErrShutdown once", topic, r)
		}
		// The client reconnects elsewhere and rejoins.
		b := dial(t, srvB, v2, nil)
		b.send(`["1","1","` + topic + `","phx_join",{}]`)
		b.expect(`["1","1","` + topic + `","phx_reply",{"response":{},"status":"ok"}]`)
		b.send(`["1","2","` + topic + `","echo",{"again":true}]`)
		b.expect(`["1","2","` + topic + `","phx_reply",{"response":{"again":true},"status":"ok"}]`)
	}
	if s := epA.Stats(); s.Actors != 0 || s.Sockets != 0 || s.Channels != 0 {
		t.Fatalf("left on the drained server: %+v", s)
	}
}

// Shutdown calls whose ctx ends before the connections' goroutines do share one waiter for them: the
// endpoint owns it and every later Shutdown waits for it (a waiter per call would outlive its call unowned).
func TestShutdownTimedOutSharesOneWaiter(t *testing.T) {
	ep := NewEndpoint(Config{})
	block := make(chan struct{})
	ep.writers.Go(func() { <-block }) // a writer still blocked on its client
	helpers := func() int {
		buf := make([]byte, 1<<20)
		return strings.Count(string(buf[:runtime.Stack(buf, true)]), "transport.(*Endpoint).Shutdown.func")
	}
	// waiting counts the goroutines waiting in Shutdown's final select.
	waiting := func() int {
		buf := make([]byte, 1<<20)
		n := 0
		for g := range strings.SplitSeq(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
			if lines := strings.SplitN(g, "\n", 3); len(lines) > 1 && strings.Contains(lines[0], "[select") &&
				strings.Contains(lines[1], "transport.(*Endpoint).Shutdown(") { // in Shutdown's own select
				n++
			}
		}
		return n
	}
	for i := range 2 {
		ctx, cancel := context.WithCancel(context.Background())
		res := make(chan error, 1)
		go func() { res <- ep.Shutdown(ctx) }()
		eventually(t, "Shutdown waiting for the writer", func() bool { return waiting() == 1 })
		if n := helpers(); n != 1 {
			t.Errorf("call %d: %d goroutines of Shutdown waiting for the connections, want 1", i+1, n)
		}
		cancel()
		if err := <-res; !errors.Is(err, context.Canceled) {
			t.Fatalf("call %d: Shutdown: %v, want context.Canceled", i+1, err)
		}
	}
	close(block)
	if err := ep.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}
