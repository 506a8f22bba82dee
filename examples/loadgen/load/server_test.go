package load

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/pyrehq/pyre/actors/channel"
	"github.com/pyrehq/pyre/transport"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testServer is an in-process Pyre server for the load runs:
//
//   - connect: records the peer IP and user_id; reject=1 is refused (403);
//   - room:*: joins ok (counted per topic); "ping" replies ok with the payload, "nope" replies error
//     {"reason":"nope"}, "slow" never replies;
//   - deny:*: the join is refused with {"reason":"denied"};
//   - kick:*: joins ok, then the server disconnects the socket (1001);
//   - a publisher broadcasts "tick" {"ts": UnixNano} to room:0 … room:<ticks-1> every 10 ms.
type testServer struct {
	URL string // ws://127.0.0.1:port/socket (the loader completes it)
	ep  *transport.Endpoint

	mu    sync.Mutex
	peers map[string]int // connections by peer IP
	users map[string]int // connections by user_id
	joins map[string]int // ok joins by topic
}

type testSocket struct{ s *testServer }

func (ts testSocket) Connect(params url.Values, info channel.ConnectInfo) (channel.Assigns, error) {
	if params.Get("reject") == "1" {
		return nil, channel.Refuse("rejected")
	}
	host, _, _ := net.SplitHostPort(info.PeerAddr)
	ts.s.mu.Lock()
	ts.s.peers[host]++
	ts.s.users[params.Get("user_id")]++
	ts.s.mu.Unlock()
	return channel.Assigns{"user_id": params.Get("user_id")}, nil
}

func (testSocket) ID(a channel.Assigns) string {
	if id, _ := channel.Get[string](a, "user_id"); id != "" {
		return "users_socket:" + id
	}
	return ""
}

type testRoom struct{ s *testServer }

type kickMsg struct{}

func (r *testRoom) Join(s *channel.Socket, topic string, _ channel.Payload) (any, error) {
	if len(topic) > 5 && topic[:5] == "kick:" {
		s.Send(kickMsg{})
	}
	r.s.mu.Lock()
	r.s.joins[topic]++
	r.s.mu.Unlock()
	return nil, nil
}

func (r *testRoom) HandleIn(_ *channel.Socket, event string, p channel.Payload) (channel.Reply, error) {
	switch event {
	case "ping":
		return channel.ReplyOK(p), nil
	case "nope":
		return channel.ReplyError(map[string]string{"reason": "nope"}), nil
	}
	return channel.NoReply, nil // "slow"
}

func (r *testRoom) HandleInfo(s *channel.Socket, msg any) error {
	if _, ok := msg.(kickMsg); ok {
		id := s.ID()
		go func() { _ = r.s.ep.Disconnect(id) }() // after the join reply, from outside the actor
	}
	return nil
}

type deniedRoom struct{}

func (deniedRoom) Join(*channel.Socket, string, channel.Payload) (any, error) {
	return nil, channel.Deny(map[string]string{"reason": "denied"})
}

func (deniedRoom) HandleIn(*channel.Socket, string, channel.Payload) (channel.Reply, error) {
	return channel.NoReply, nil
}

// newTestServer starts the server and its publisher on 127.0.0.1:0; both stop at cleanup.
func newTestServer(t testing.TB, ticks int) *testServer {
	t.Helper()
	s := &testServer{peers: map[string]int{}, users: map[string]int{}, joins: map[string]int{}}
	router := channel.NewRouter(testSocket{s})
	room := func() channel.Channel { return &testRoom{s: s} }
	router.Channel("room:*", room)
	router.Channel("kick:*", room)
	router.Channel("deny:*", func() channel.Channel { return deniedRoom{} })
	s.ep = transport.NewEndpoint(transport.Config{Logger: slog.New(slog.DiscardHandler)})
	s.ep.Socket("/socket", router)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.URL = "ws://" + ln.Addr().String() + "/socket"
	hs := &http.Server{Handler: s.ep, ReadHeaderTimeout: 5 * time.Second}
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = hs.Serve(ln)
	}()
	quit, published := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(published)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-quit:
				return
			case <-tick.C:
			}
			for n := range ticks {
				_ = s.ep.Broadcast("room:"+strconv.Itoa(n), "tick", map[string]int64{"ts": time.Now().UnixNano()})
			}
		}
	}()
	t.Cleanup(func() {
		close(quit)
		<-published
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = hs.Shutdown(ctx)
		<-served
		if err := s.ep.Shutdown(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("endpoint shutdown: %v", err)
		}
	})
	return s
}

func (s *testServer) snapshot() (peers, users, joins map[string]int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.peers), maps.Clone(s.users), maps.Clone(s.joins)
}

// refusedURL returns a ws URL on a loopback port nobody listens on.
func refusedURL(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return "ws://" + addr + "/socket"
}

// waitFor polls cond every 5 ms until it holds or the deadline passes.
func waitFor(t testing.TB, what string, deadline time.Duration, cond func() bool) {
	t.Helper()
	end := time.Now().Add(deadline)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("timed out after %v waiting for %s", deadline, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
