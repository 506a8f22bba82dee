package transport

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/pyrehq/pyre/actors/channel"
	"github.com/pyrehq/pyre/supervisor"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// reasons records Terminate reasons per topic.
type reasons struct {
	mu sync.Mutex
	m  map[string][]error
}

func (r *reasons) add(topic string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		r.m = map[string][]error{}
	}
	r.m[topic] = append(r.m[topic], err)
}

func (r *reasons) get(topic string) []error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]error(nil), r.m[topic]...)
}

// room is the test channel: its events exercise every callback outcome.
type room struct{ terminated *reasons }

type joinParams struct {
	Deny        bool `json:"deny"`
	Crash       bool `json:"crash"`
	Welcome     bool `json:"welcome"`
	DenyRejoin  bool `json:"deny_rejoin"`
	CrashRejoin bool `json:"crash_rejoin"`
	Extra       string
}

type crashInfo struct{}

type afterJoin struct{}

func (r *room) Join(s *channel.Socket, topic string, p channel.Payload) (any, error) {
	var jp joinParams
	_ = p.Decode(&jp)
	switch {
	case jp.Deny:
		return nil, channel.Deny(map[string]string{"reason": "denied"})
	case jp.Crash:
		panic("join boom")
	case jp.DenyRejoin && s.Incarnation() > 1:
		return nil, channel.Deny(map[string]string{"reason": "no rejoin"})
	case jp.CrashRejoin && s.Incarnation() > 1:
		panic("rejoin boom")
	}
	if err := s.Push("too_early", nil); !errors.Is(err, channel.ErrPushInJoin) {
		panic("push inside join must fail")
	}
	if jp.Welcome {
		s.Send(afterJoin{})
	}
	s.Subscribe("side:" + topic)
	return map[string]string{"joined": topic}, nil
}

func (r *room) HandleIn(s *channel.Socket, event string, p channel.Payload) (channel.Reply, error) {
	switch event {
	case "echo":
		return channel.ReplyOK(p), nil
	case "error":
		return channel.ReplyError(p), nil
	case "custom":
		return channel.ReplyStatus("custom", nil), nil
	case "noreply":
		return channel.NoReply, nil
	case "crash":
		panic("boom")
	case "stop":
		return channel.NoReply, channel.StopNormal
	case "stop_reply":
		return channel.ReplyOK(p), channel.StopNormal
	case "stop_error":
		return channel.ReplyError(nil), errors.New("failed")
	case "push":
		return channel.NoReply, s.Push("pushed", p)
	case "bad_push":
		_ = s.Push("pushed", []int{1})
		return channel.NoReply, nil
	case "broadcast":
		return channel.NoReply, s.Broadcast("shout", p)
	case "broadcast_from":
		return channel.NoReply, s.BroadcastFrom("shout", p)
	case "filtered":
		return channel.NoReply, s.Broadcast("filtered", p)
	case "incarnation":
		return channel.ReplyOK(map[string]int{"incarnation": s.Incarnation()}), nil
	case "crash_later":
		s.Send(crashInfo{})
		return channel.ReplyOK(nil), nil
	case "async":
		ref := s.ReplyRef()
		go func() { _ = ref.Reply(channel.ReplyOK(p)) }()
		return channel.NoReply, nil
	}
	return channel.ReplyError(map[string]string{"unknown": event}), nil
}

func (r *room) Intercepts() []string { return []string{"filtered"} }

func (r *room) HandleOut(s *channel.Socket, event string, p channel.Payload) error {
	var body struct {
		Drop bool `json:"drop"`
	}
	_ = p.Decode(&body)
	if body.Drop {
		return nil
	}
	return s.Push(event, map[string]any{"via": "handle_out", "for": s.Topic()})
}

func (r *room) HandleInfo(s *channel.Socket, msg any) error {
	switch m := msg.(type) {
	case afterJoin:
		return s.Push("welcome", map[string]string{"topic": s.Topic()})
	case crashInfo:
		panic("info boom")
	case *channel.Broadcast:
		return s.Push("side", map[string]string{"event": m.Event})
	}
	return nil
}

func (r *room) Terminate(s *channel.Socket, reason error) {
	r.terminated.add(s.Topic(), reason)
}

type testSocket struct{}

func (testSocket) Connect(params url.Values, info channel.ConnectInfo) (channel.Assigns, error) {
	if params.Get("reject") == "1" {
		return nil, channel.Refuse("no")
	}
	if params.Get("limit") == "1" {
		return nil, &channel.RefuseError{Status: http.StatusTooManyRequests}
	}
	a := channel.Assigns{"user_id": params.Get("user_id"), "token": info.AuthToken}
	if params.Get("info") == "1" { // as Phoenix, connect info reaches channels only through assigns
		a["info"] = info
	}
	return a, nil
}

func (testSocket) ID(a channel.Assigns) string {
	if id, _ := channel.Get[string](a, "user_id"); id != "" {
		return "users_socket:" + id
	}
	return ""
}

type fixture struct {
	srv        *httptest.Server
	ep         *Endpoint
	terminated *reasons
}

func newFixture(t *testing.T, cfg Config, opts ...channel.RouterOption) *fixture {
	t.Helper()
	f := &fixture{terminated: &reasons{}}
	router := channel.NewRouter(testSocket{}, opts...)
	newRoom := func() channel.Channel { return &room{terminated: f.terminated} }
	// room:* is Phoenix-exact; the others exercise in-place restarts (transport/PROTOCOL.md §6).
	router.Channel("room:*", newRoom, channel.WithRestart(supervisor.Temporary))
	router.Channel("rs:*", newRoom)
	router.Channel("perm:*", newRoom, channel.WithRestart(supervisor.Permanent))
	router.Channel("once:*", newRoom, channel.WithIntensity(1, time.Hour))
	router.Channel("token", func() channel.Channel { return &tokenChannel{} })
	f.ep = NewEndpoint(cfg)
	f.ep.Socket("/socket", router)
	f.srv = serve(t, f.ep)
	return f
}

// serve serves ep on a loopback test server; the test's cleanup closes the server and shuts ep down.
func serve(t testing.TB, ep *Endpoint) *httptest.Server {
	srv := httptest.NewServer(ep)
	served.Store(srv, ep)
	t.Cleanup(func() {
		served.Delete(srv)
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		if err := ep.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return srv
}

// tokenChannel replies with the connection's auth token.
type tokenChannel struct{}

func (*tokenChannel) Join(s *channel.Socket, _ string, p channel.Payload) (any, error) {
	var q struct {
		Info bool `json:"info"`
	}
	_ = p.Decode(&q)
	if q.Info {
		ci, _ := channel.Get[channel.ConnectInfo](s.Assigns(), "info")
		return map[string]any{"transport": ci.Transport, "x": ci.XHeaders, "trace": ci.TraceContext,
			"ws": ci.WSHeaders, "ua": ci.UserAgent, "vsn": ci.URI.Query().Get("vsn"), "peer": ci.PeerAddr != ""}, nil
	}
	return map[string]any{"token": s.Assigns()["token"]}, nil
}
func (*tokenChannel) HandleIn(*channel.Socket, string, channel.Payload) (channel.Reply, error) {
	return channel.NoReply, nil
}

const v2 = "/socket/websocket?vsn=2.0.0"

func TestHeartbeat(t *testing.T) {
	f := newFixture(t, Config{})
	c := dial(t, f.srv, v2, nil)
	c.send(`[null,"5","phoenix","heartbeat",{}]`)
	c.expect(`[null,"5","phoenix","phx_reply",{"response":{},"status":"ok"}]`)
	// nshafer/phx sends "" as join_ref and null as payload; Phoenix answers with a null join_ref whatever
	// the client sent.
	c.send(`["","6","phoenix","heartbeat",null]`)
	c.expect(`[null,"6","phoenix","phx_reply",{"response":{},"status":"ok"}]`)
}

func TestJoinReplyPrecedesPushes(t *testing.T) {
	f := newFixture(t, Config{})
	c := dial(t, f.srv, v2, nil)
	c.send(`["1","1","room:1","phx_join",{"welcome":true}]`)
	c.expect(`["1","1","room:1","phx_reply",{"response":{"joined":"room:1"},"status":"ok"}]`)
	c.expect(`["1",null,"room:1","welcome",{"topic":"room:1"}]`)
}

func TestJoinOutcomes(t *testing.T) {
	f := newFixture(t, Config{})
	c := dial(t, f.srv, v2, nil)

	c.send(`["1","1","room:d","phx_join",{"deny":true}]`)
	c.expect(`["1","1","room:d","phx_reply",{"response":{"reason":"denied"},"status":"error"}]`)
	c.send(`["1","2","room:d","echo",{}]`)
	c.expect(`[null,"2","room:d","phx_reply",{"response":{"reason":"unmatched topic"},"status":"error"}]`)

	c.send(`["3","3","room:c","phx_join",{"crash":true}]`)
	c.expect(`["3","3","room:c","phx_reply",{"response":{"reason":"join crashed"},"status":"error"}]`)

	c.send(`["4","4","nope:1","phx_join",{}]`)
	c.expect(`[null,"4","nope:1","phx_reply",{"response":{"reason":"unmatched topic"},"status":"error"}]`)

	c.send(`[null,"5","nope:1","event",{}]`)
	c.expect(`[null,"5","nope:1","phx_reply",{"response":{"reason":"unmatched topic"},"status":"error"}]`)

	// Refs are echoed exactly: numbers stay numbers.
	c.send(`[6,7,"room:n","phx_join",{}]`)
	c.expect(`[6,7,"room:n","phx_reply",{"response":{"joined":"room:n"},"status":"ok"}]`)
	c.send(`[6,8,"room:n","echo",{"a":1}]`)
	c.expect(`[6,8,"room:n","phx_reply",{"response":{"a":1},"status":"ok"}]`)
}

func TestJoinWithNullJoinRef(t *testing.T) {
	f := newFixture(t, Config{})
	c := dial(t, f.srv, v2, nil)
	c.send(`[null,"7","room:1","phx_join",{"welcome":true}]`)
	c.expect(`[null,"7","room:1","phx_reply",{"response":{"joined":"room:1"},"status":"ok"}]`)
	c.expect(`["7",null,"room:1","welcome",{"topic":"room:1"}]`)
	c.send(`[null,"8","room:1","stop",{}]`)
	c.expect(`[null,null,"room:1","phx_close",{}]`)
}

func TestChannelCap(t *testing.T) {
	f := newFixture(t, Config{}, channel.WithMaxChannels(2))
	c := dial(t, f.srv, v2, nil)
	for i, topic := range []string{"room:a", "room:b"} {
		ref := string(rune('1' + i))
		c.send(`["` + ref + `","` + ref + `","` + topic + `","phx_join",{}]`)
		c.expect(`["` + ref + `","` + ref + `","` + topic + `","phx_reply",{"response":{"joined":"` + topic + `"},"status":"ok"}]`)
	}
	c.send(`["3","3","room:c","phx_join",{}]`)
	c.expect(`["3","3","room:c","phx_reply",{"response":{"reason":"too many channels joined"},"status":"error"}]`)
	// Leaving frees a slot.
	c.send(`["1","4","room:a","phx_leave",{}]`)
	c.expect(`["1","4","room:a","phx_reply",{"response":{},"status":"ok"}]`)
	c.expect(`["1","1","room:a","phx_close",{}]`)
	c.sync("s")
	c.send(`["5","5","room:c","phx_join",{}]`)
	c.expect(`["5","5","room:c","phx_reply",{"response":{"joined":"room:c"},"status":"ok"}]`)
}

func TestDuplicateJoin(t *testing.T) {
	f := newFixture(t, Config{})
	c := dial(t, f.srv, v2, nil)
	c.send(`["1","1","room:1","phx_join",{}]`)
	c.expect(`["1","1","room:1","phx_reply",{"response":{"joined":"room:1"},"status":"ok"}]`)
	c.send(`["2","2","room:1","phx_join",{"welcome":true}]`)
	c.expect(`["2","2","room:1","phx_reply",{"response":{"joined":"room:1"},"status":"ok"}]`)
	c.expect(`["1","1","room:1","phx_close",{}]`)
	c.expect(`["2",null,"room:1","welcome",{"topic":"room:1"}]`)
	eventually(t, "old channel terminated", func() bool { return len(f.terminated.get("room:1")) == 1 })
	if r := f.terminated.get("room:1")[0]; !errors.Is(r, channel.ErrDuplicateJoin) {
		t.Fatalf("terminate reason %v, want ErrDuplicateJoin", r)
	}
	// Only one subscription remains: a broadcast arrives once.
	c.send(`["2","3","room:1","broadcast",{"n":1}]`)
	c.expect(`[null,null,"room:1","shout",{"n":1}]`)
	quiet(t, f.ep, "s", c)
}

func TestStaleJoinRefDropped(t *testing.T) {
	f := newFixture(t, Config{})
	c := dial(t, f.srv, v2, nil)
	c.send(`["1","1","room:1","phx_join",{}]`)
	c.expect(`["1","1","room:1","phx_reply",{"response":{"joined":"room:1"},"status":"ok"}]`)
	c.send(`["old","2","room:1","echo",{}]`)
	quiet(t, f.ep, "s", c)
	// A null join_ref is handled by the channel.
	c.send(`[null,"3","room:1","echo",{"x":1}]`)
	c.expect(`["1","3","room:1","phx_reply",{"response":{"x":1},"status":"ok"}]`)
}

func TestLeave(t *testing.T) {
	f := newFixture(t, Config{})
	c := dial(t, f.srv, v2, nil)
	c.send(`["1","1","room:1","phx_join",{}]`)
	c.expect(`["1","1","room:1","phx_reply",{"response":{"joined":"room:1"},"status":"ok"}]`)
	c.send(`["1","2","room:1","phx_leave",{}]`)
	c.expect(`["1","2","room:1","phx_reply",{"response":{},"status":"ok"}]`)
	c.expect(`["1","1","room:1","phx_close",{}]`)
	eventually(t, "terminated", func() bool { return len(f.terminated.get("room:1")) == 1 })
	if r := f.terminated.get("room:1")[0]; !errors.Is(r, channel.ErrLeft) {
		t.Fatalf("reason %v, want ErrLeft", r)
	}
	// Leaving a topic that is not joined answers ok, not "unmatched topic".
	c.send(`["9","3","room:2","phx_leave",{}]`)
	c.expect(`["9","3","room:2","phx_reply",{"response":{},"status":"ok"}]`)
}

func TestReplies(t *testing.T) {
	f := newFixture(t, Config{})
	c := dial(t, f.srv, v2, nil)
	c.send(`["1","1","room:1","phx_join",{}]`)
	c.expect(`["1","1","room:1","phx_reply",{"response":{"joined":"room:1"},"status":"ok"}]`)
	c.send(`["1","2","room:1","echo",[1,"two"]]`)
	c.expect(`["1","2","room:1","phx_reply",{"response":[1,"two"],"status":"ok"}]`)
	c.send(`["1","3","room:1","error",{"why":"x"}]`)
	c.expect(`["1","3","room:1","phx_reply",{"response":{"why":"x"},"status":"error"}]`)
	c.send(`["1","4","room:1","custom",{}]`)
	c.expect(`["1","4","room:1","phx_reply",{"response":{},"status":"custom"}]`)
	c.send(`["1","5","room:1","noreply",{}]`)
	c.send(`["1","6","room:1","push",{"p":1}]`)
	c.expect(`["1",null,"room:1","pushed",{"p":1}]`)
	c.send(`["1","7","room:1","async",{"later":true}]`)
	c.expect(`["1","7","room:1","phx_reply",{"response":{"later":true},"status":"ok"}]`)
}

func TestStops(t *testing.T) {
	f := newFixture(t, Config{})
	c := dial(t, f.srv, v2, nil)
	join := func(j, topic string) {
		c.send(`["` + j + `","` + j + `","` + topic + `","phx_join",{}]`)
		c.expect(`["` + j + `","` + j + `","` + topic + `","phx_reply",{"response":{"joined":"` + topic + `"},"status":"ok"}]`)
	}
	join("1", "room:stop")
	c.send(`["1","2","room:stop","stop",{}]`)
	c.expect(`["1","1","room:stop","phx_close",{}]`)

	join("3", "room:sr")
	c.send(`["3","4","room:sr","stop_reply",{"bye":1}]`)
	c.expect(`["3","4","room:sr","phx_reply",{"response":{"bye":1},"status":"ok"}]`)
	c.expect(`["3","3","room:sr","phx_close",{}]`)

	join("5", "room:se")
	c.send(`["5","6","room:se","stop_error",{}]`)
	c.expect(`["5","6","room:se","phx_reply",{"response":{},"status":"error"}]`)
	c.expect(`["5","5","room:se","phx_error",{"reason":"channel_crash"}]`)

	join("7", "room:bp")
	c.send(`["7","8","room:bp","bad_push",{}]`)
	c.expect(`["7","7","room:bp","phx_error",{"reason":"channel_crash"}]`)

	eventually(t, "terminated", func() bool { return len(f.terminated.get("room:se")) == 1 })
	if r := f.terminated.get("room:stop"); len(r) != 1 || !errors.Is(r[0], channel.StopNormal) {
		t.Fatalf("stop reasons %v", r)
	}
}

func TestCrashIsolated(t *testing.T) {
	f := newFixture(t, Config{})
	c := dial(t, f.srv, v2, nil)
	other := dial(t, f.srv, v2, nil)
	c.send(`["1","1","room:a","phx_join",{}]`)
	c.expect(`["1","1","room:a","phx_reply",{"response":{"joined":"room:a"},"status":"ok"}]`)
	c.send(`["2","2","room:b","phx_join",{}]`)
	c.expect(`["2","2","room:b","phx_reply",{"response":{"joined":"room:b"},"status":"ok"}]`)
	other.send(`["1","1","room:a","phx_join",{}]`)
	other.expect(`["1","1","room:a","phx_reply",{"response":{"joined":"room:a"},"status":"ok"}]`)

	c.send(`["1","3","room:a","crash",{}]`)
	c.expect(`["1","1","room:a","phx_error",{"reason":"channel_crash"}]`)
	c.send(`["2","4","room:b","echo",{"alive":true}]`)
	c.expect(`["2","4","room:b","phx_reply",{"response":{"alive":true},"status":"ok"}]`)
	other.send(`["1","2","room:a","echo",{"alive":true}]`)
	other.expect(`["1","2","room:a","phx_reply",{"response":{"alive":true},"status":"ok"}]`)

	eventually(t, "terminate ran", func() bool { return len(f.terminated.get("room:a")) == 1 })
	var crash *channel.CrashError
	if r := f.terminated.get("room:a")[0]; !errors.As(r, &crash) || crash.Value != "boom" {
		t.Fatalf("reason %v, want a CrashError(boom)", r)
	}
	// The crashed topic can be joined again.
	c.send(`["5","5","room:a","phx_join",{}]`)
	c.expect(`["5","5","room:a","phx_reply",{"response":{"joined":"room:a"},"status":"ok"}]`)
}

func TestBroadcasts(t *testing.T) {
	f := newFixture(t, Config{})
	a := dial(t, f.srv, v2, nil)
	b := dial(t, f.srv, v2, nil)
	for _, c := range []*rawClient{a, b} {
		c.send(`["1","1","room:x","phx_join",{}]`)
		c.expect(`["1","1","room:x","phx_reply",{"response":{"joined":"room:x"},"status":"ok"}]`)
	}
	a.send(`["1","2","room:x","broadcast",{"m":1}]`)
	a.expect(`[null,null,"room:x","shout",{"m":1}]`)
	b.expect(`[null,null,"room:x","shout",{"m":1}]`)

	a.send(`["1","3","room:x","broadcast_from",{"m":2}]`)
	b.expect(`[null,null,"room:x","shout",{"m":2}]`)
	quiet(t, f.ep, "s", a, b)

	// Intercepted: each subscriber's HandleOut pushes (with its join_ref) or filters.
	a.send(`["1","4","room:x","filtered",{}]`)
	a.expect(`["1",null,"room:x","filtered",{"for":"room:x","via":"handle_out"}]`)
	b.expect(`["1",null,"room:x","filtered",{"for":"room:x","via":"handle_out"}]`)
	a.send(`["1","5","room:x","filtered",{"drop":true}]`)
	quiet(t, f.ep, "s2", a, b)

	// Endpoint-level broadcast, from outside any channel.
	if err := f.ep.Broadcast("room:x", "news", map[string]int{"n": 3}); err != nil {
		t.Fatal(err)
	}
	a.expect(`[null,null,"room:x","news",{"n":3}]`)
	b.expect(`[null,null,"room:x","news",{"n":3}]`)
	if err := f.ep.Broadcast("room:x", "news", []int{1}); err == nil {
		t.Fatal("a non-object broadcast payload must be refused")
	}

	// Extra subscriptions arrive in HandleInfo, not on the wire.
	if err := f.ep.Broadcast("side:room:x", "ping", nil); err != nil {
		t.Fatal(err)
	}
	a.expect(`["1",null,"room:x","side",{"event":"ping"}]`)
	b.expect(`["1",null,"room:x","side",{"event":"ping"}]`)
}

func TestBinaryFrames(t *testing.T) {
	f := newFixture(t, Config{})
	c := dial(t, f.srv, v2, nil)
	c.send(`["12","1","room:b","phx_join",{}]`)
	c.expect(`["12","1","room:b","phx_reply",{"response":{"joined":"room:b"},"status":"ok"}]`)
	// Client push kind 0: echo replies with a binary reply frame (kind 1).
	c.sendBinary(append([]byte{0, 2, 3, 6, 4}, []byte("12123room:becho\x01\x02\x03")...))
	got := c.next()
	want := append([]byte{1, 2, 3, 6, 2}, []byte("12123room:bok\x01\x02\x03")...)
	if !got.binary || string(got.data) != string(want) {
		t.Fatalf("binary reply %v (binary=%v), want %v", got.data, got.binary, want)
	}
	// A binary broadcast is a kind 2 frame.
	c.sendBinary(append([]byte{0, 2, 3, 6, 9}, []byte("12124room:bbroadcast\x09")...))
	got = c.next()
	want = append([]byte{2, 6, 5}, []byte("room:bshout\x09")...)
	if !got.binary || string(got.data) != string(want) {
		t.Fatalf("binary broadcast %v, want %v", got.data, want)
	}
	// A binary push is kind 0 without ref.
	c.sendBinary(append([]byte{0, 2, 3, 6, 4}, []byte("12125room:bpush\x07")...))
	got = c.next()
	want = append([]byte{0, 2, 6, 6}, []byte("12room:bpushed\x07")...)
	if !got.binary || string(got.data) != string(want) {
		t.Fatalf("binary push %v, want %v", got.data, want)
	}
}

func TestV1Serializer(t *testing.T) {
	f := newFixture(t, Config{})
	for _, path := range []string{"/socket/websocket", "/socket/websocket?vsn=1.0.0"} {
		c := dial(t, f.srv, path, nil)
		c.send(`{"topic":"room:1","event":"phx_join","payload":{},"ref":"1","join_ref":"1"}`)
		c.expect(`{"topic":"room:1","event":"phx_reply","payload":{"response":{"joined":"room:1"},"status":"ok"},"ref":"1"}`)
		c.send(`{"topic":"room:1","event":"push","payload":{"a":1},"ref":"2"}`)
		c.expect(`{"topic":"room:1","event":"pushed","payload":{"a":1},"ref":null}`)
		// A V2 frame on a V1 socket is malformed.
		c.send(`["1","3","room:1","echo",{}]`)
		if code := c.waitClosed(); code != 1011 {
			t.Fatalf("close code %d, want 1011", code)
		}
	}
}

func TestHandshakeRefusals(t *testing.T) {
	f := newFixture(t, Config{CheckOrigin: OriginList("//allowed.example")})
	cases := []struct {
		name   string
		path   string
		header http.Header
		status int
	}{
		{"bad vsn", "/socket/websocket?vsn=2.1.0", nil, 403},
		{"garbage vsn", "/socket/websocket?vsn=abc", nil, 403},
		{"empty vsn", "/socket/websocket?vsn=", nil, 403},
		{"vsn list", "/socket/websocket?vsn[]=2.0.0", nil, 403},
		{"connect refused", v2 + "&reject=1", nil, 403},
		{"custom refusal status", v2 + "&limit=1", nil, 429},
		{"origin refused", v2, http.Header{"Origin": {"http://evil.example"}}, 403},
		{"null origin", v2, http.Header{"Origin": {"null"}}, 403},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, f.srv.URL+tc.path, nil)
			for k, v := range tc.header {
				req.Header[k] = v
			}
			req.Header.Set("Connection", "Upgrade")
			req.Header.Set("Upgrade", "websocket")
			req.Header.Set("Sec-WebSocket-Version", "13")
			req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
		})
	}
	resp, err := http.Post(f.srv.URL+v2, "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("POST status %d, want 400", resp.StatusCode)
	}
	// Allowed origin and no origin both connect.
	dial(t, f.srv, v2, http.Header{"Origin": {"https://allowed.example:8443"}}).sync("a")
	dial(t, f.srv, v2, nil).sync("b")
}

func TestAuthTokenSubprotocol(t *testing.T) {
	f := newFixture(t, Config{})
	// base64 (no padding) of "secret-token"
	h := http.Header{}
	h.Set("Sec-WebSocket-Protocol", "phoenix, base64url.bearer.phx.c2VjcmV0LXRva2Vu")
	c := dial(t, f.srv, v2, h)
	if got := c.conn.SubProtocol(); got != "phoenix" {
		t.Fatalf("subprotocol %q, want phoenix", got)
	}
	c.send(`["1","1","token","phx_join",{}]`)
	c.expect(`["1","1","token","phx_reply",{"response":{"token":"secret-token"},"status":"ok"}]`)
}

func TestConnectInfo(t *testing.T) {
	f := newFixture(t, Config{})
	h := http.Header{}
	h.Set("X-Request-Id", "r1")
	h.Set("Traceparent", "00-abc-def-01")
	h.Set("User-Agent", "pyre-test")
	c := dial(t, f.srv, v2+"&info=1", h)
	c.send(`["1","1","token","phx_join",{"info":true}]`)
	// Only the header classes present get a map; the handshake key is not kept.
	c.expect(`["1","1","token","phx_reply",{"response":{"transport":"websocket","x":{"X-Request-Id":["r1"]},` +
		`"trace":{"Traceparent":["00-abc-def-01"]},"ws":{"Sec-Websocket-Version":["13"]},"ua":"pyre-test","vsn":"2.0.0","peer":true},"status":"ok"}]`)

	plain := dial(t, f.srv, v2+"&info=1", nil)
	plain.send(`["1","1","token","phx_join",{"info":true}]`)
	f2 := plain.next()
	if !strings.Contains(string(f2.data), `"x":null`) || !strings.Contains(string(f2.data), `"trace":null`) {
		t.Fatalf("connect info without x- or trace headers: %s", f2.data)
	}
}

// A malformed frame closes its connection only (1011), is counted in Stats and logged at WARN, once a
// second at most (issue 13.5: at DEBUG a client reconnecting in a loop left the log empty).
func TestMalformedFrameClosesOnlyThatConnection(t *testing.T) {
	logs := &logRecorder{}
	f := newFixture(t, Config{Logger: slog.New(logs)})
	good := dial(t, f.srv, v2, nil)
	good.send(`["1","1","room:1","phx_join",{}]`)
	good.expect(`["1","1","room:1","phx_reply",{"response":{"joined":"room:1"},"status":"ok"}]`)
	for _, frame := range []string{`not json`, `["1","2","room:1"]`, `{"topic":"x"}`, `[1,2,3,4,5]`} {
		bad := dial(t, f.srv, v2, nil)
		bad.send(`["1","1","room:1","phx_join",{}]`)
		bad.expect(`["1","1","room:1","phx_reply",{"response":{"joined":"room:1"},"status":"ok"}]`)
		bad.send(frame)
		if code := bad.waitClosed(); code != 1011 {
			t.Fatalf("%s: close code %d, want 1011", frame, code)
		}
	}
	bad := dial(t, f.srv, v2, nil)
	bad.sendBinary([]byte{0, 9, 9})
	if code := bad.waitClosed(); code != 1011 {
		t.Fatalf("bad binary: close code %d, want 1011", code)
	}
	good.send(`["1","2","room:1","echo",{"still":"here"}]`)
	good.expect(`["1","2","room:1","phx_reply",{"response":{"still":"here"},"status":"ok"}]`)
	if n := f.ep.Stats().MalformedFrames; n != 5 {
		t.Fatalf("Stats().MalformedFrames = %d, want 5", n)
	}
	if n := logs.count("WARN pyre: malformed frame"); n != 1 { // rate-limited: one line a second
		t.Fatalf("%d WARN lines for malformed frames, want 1; log: %q", n, logs.msgs)
	}
}

func TestFrameTooBig(t *testing.T) {
	f := newFixture(t, Config{MaxFrameSize: 1024})
	c := dial(t, f.srv, v2, nil)
	big := make([]byte, 2048)
	for i := range big {
		big[i] = 'a'
	}
	c.send(`["1","1","room:1","phx_join",{"pad":"` + string(big) + `"}]`)
	if code := c.waitClosed(); code != 1009 {
		t.Fatalf("close code %d, want 1009", code)
	}
}

func TestDisconnectBySocketID(t *testing.T) {
	f := newFixture(t, Config{})
	c := dial(t, f.srv, v2+"&user_id=42", nil)
	c.send(`["1","1","room:1","phx_join",{}]`)
	c.expect(`["1","1","room:1","phx_reply",{"response":{"joined":"room:1"},"status":"ok"}]`)
	other := dial(t, f.srv, v2+"&user_id=7", nil)
	// Other events on the id topic are ignored.
	if err := f.ep.Broadcast("users_socket:42", "hello", nil); err != nil {
		t.Fatal(err)
	}
	quiet(t, f.ep, "s", c, other)
	if err := f.ep.Disconnect("users_socket:42"); err != nil {
		t.Fatal(err)
	}
	if code := c.waitClosed(); code != 1001 {
		t.Fatalf("close code %d, want 1001", code)
	}
	eventually(t, "channel terminated as closed", func() bool {
		r := f.terminated.get("room:1")
		return len(r) == 1 && errors.Is(r[0], channel.ErrClosed)
	})
	other.sync("alive")
}

func TestIdleTimeout(t *testing.T) {
	f := newFixture(t, Config{IdleTimeout: 200 * time.Millisecond})
	c := dial(t, f.srv, v2, nil)
	if code := c.waitClosed(); code != 1001 {
		t.Fatalf("close code %d, want 1001", code)
	}
}

func TestShutdownClosesWith1012(t *testing.T) {
	f := newFixture(t, Config{})
	var clients []*rawClient
	for i := 0; i < 5; i++ {
		c := dial(t, f.srv, v2, nil)
		c.send(`["1","1","room:1","phx_join",{}]`)
		c.expect(`["1","1","room:1","phx_reply",{"response":{"joined":"room:1"},"status":"ok"}]`)
		clients = append(clients, c)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := f.ep.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	for _, c := range clients {
		if code := c.waitClosed(); code != 1012 {
			t.Fatalf("close code %d, want 1012", code)
		}
	}
	r := f.terminated.get("room:1")
	if len(r) != 5 {
		t.Fatalf("%d channels terminated, want 5", len(r))
	}
	for _, reason := range r {
		if !errors.Is(reason, channel.ErrShutdown) {
			t.Fatalf("reason %v, want ErrShutdown", reason)
		}
	}
	if s := f.ep.Stats(); s.Actors != 0 {
		t.Fatalf("actors left after shutdown: %+v", s)
	}
	// Connections after shutdown are refused.
	if _, _, err := tryDial(t, f.srv, v2, nil); err == nil {
		t.Fatal("connection accepted after shutdown")
	}
}

// TestReplyJoinRefs checks the join_ref of every reply kind against Phoenix 1.8 (Phoenix.Socket handle_in,
// Phoenix.Channel.Server.join, the V1/V2 serializers), over V2 and, converted, V1 (whose frames never carry
// join_ref). Replies the socket answers itself for no channel carry null whatever the client sent (heartbeat,
// unmatched topic), except a leave's; a join reply echoes the join_ref as sent; a channel's own frames carry
// its join_ref, which is the join's ref when the join had none ("" is a join_ref: nshafer/phx sends it).
func TestReplyJoinRefs(t *testing.T) {
	steps := []struct{ send, expect string }{
		{`["","1","phoenix","heartbeat",{}]`, `[null,"1","phoenix","phx_reply",{"response":{},"status":"ok"}]`},
		{`["7","2","phoenix","heartbeat",{}]`, `[null,"2","phoenix","phx_reply",{"response":{},"status":"ok"}]`},
		{`["7","3","phoenix","other",{}]`, `[null,"3","phoenix","phx_reply",{"response":{"reason":"unmatched topic"},"status":"error"}]`},
		{`["9","4","room:x","echo",{}]`, `[null,"4","room:x","phx_reply",{"response":{"reason":"unmatched topic"},"status":"error"}]`},
		{`["9","5","room:x","phx_leave",{}]`, `["9","5","room:x","phx_reply",{"response":{},"status":"ok"}]`},
		{`["","6","room:x","phx_leave",{}]`, `["","6","room:x","phx_reply",{"response":{},"status":"ok"}]`},
		{`["6","7","nope:1","phx_join",{}]`, `[null,"7","nope:1","phx_reply",{"response":{"reason":"unmatched topic"},"status":"error"}]`},
		{`["8","8","room:d","phx_join",{"deny":true}]`, `["8","8","room:d","phx_reply",{"response":{"reason":"denied"},"status":"error"}]`},
		{`["","9","room:e","phx_join",{}]`, `["","9","room:e","phx_reply",{"response":{"joined":"room:e"},"status":"ok"}]`},
		{`["","10","room:e","echo",{"a":1}]`, `["","10","room:e","phx_reply",{"response":{"a":1},"status":"ok"}]`},
		{`[null,"11","room:e","echo",{"a":2}]`, `["","11","room:e","phx_reply",{"response":{"a":2},"status":"ok"}]`},
		{`["","12","room:e","phx_leave",{}]`, `["","12","room:e","phx_reply",{"response":{},"status":"ok"}]`},
		{``, `["","","room:e","phx_close",{}]`},
		{`[null,"13","room:n","phx_join",{}]`, `[null,"13","room:n","phx_reply",{"response":{"joined":"room:n"},"status":"ok"}]`},
		{`[null,"14","room:n","echo",{}]`, `["13","14","room:n","phx_reply",{"response":{},"status":"ok"}]`},
		{`[null,"15","room:n","crash",{}]`, `[null,null,"room:n","phx_error",{"reason":"channel_crash"}]`},
		{`["16","16","room:p","phx_join",{}]`, `["16","16","room:p","phx_reply",{"response":{"joined":"room:p"},"status":"ok"}]`},
		{`["17","17","room:p","phx_join",{}]`, `["17","17","room:p","phx_reply",{"response":{"joined":"room:p"},"status":"ok"}]`},
		{``, `["16","16","room:p","phx_close",{}]`},
		{`["17","18","room:p","stop_error",{}]`, `["17","18","room:p","phx_reply",{"response":{},"status":"error"}]`},
		{``, `["17","17","room:p","phx_error",{"reason":"channel_crash"}]`},
	}
	// On a connection of its own: a refused join's channel leaves the socket's table a moment after its reply.
	capSteps := []struct{ send, expect string }{
		{`["19","19","room:q","phx_join",{}]`, `["19","19","room:q","phx_reply",{"response":{"joined":"room:q"},"status":"ok"}]`},
		{`["","20","room:r","phx_join",{}]`, `["","20","room:r","phx_reply",{"response":{"reason":"too many channels joined"},"status":"error"}]`},
	}
	f, capped := newFixture(t, Config{}), newFixture(t, Config{}, channel.WithMaxChannels(1))
	for _, run := range []struct {
		vsn   string
		srv   *httptest.Server
		steps []struct{ send, expect string }
	}{{"2.0.0", f.srv, steps}, {"1.0.0", f.srv, steps}, {"2.0.0", capped.srv, capSteps}, {"1.0.0", capped.srv, capSteps}} {
		vsn := run.vsn
		c := dial(t, run.srv, "/socket/websocket?vsn="+vsn, nil)
		for _, s := range run.steps {
			send, expect := s.send, s.expect
			if vsn == "1.0.0" {
				send, expect = v1Frame(t, send, true), v1Frame(t, expect, false)
			}
			if send != "" {
				c.send(send)
			}
			f := c.next()
			if !jsonEqual(f.data, []byte(expect)) {
				t.Fatalf("vsn %s: after %s\n got: %s\nwant: %s", vsn, send, f.data, expect)
			}
		}
		// Nothing else came: a heartbeat's reply is the next frame.
		hb, reply := `[null,"s","phoenix","heartbeat",{}]`, `[null,"s","phoenix","phx_reply",{"response":{},"status":"ok"}]`
		if vsn == "1.0.0" {
			hb, reply = v1Frame(t, hb, true), v1Frame(t, reply, false)
		}
		c.send(hb)
		c.expect(reply)
	}
}

// v1Frame converts a V2 text frame to V1: inbound with its join_ref, outbound without (V1 never sends it).
func v1Frame(t testing.TB, v2 string, inbound bool) string {
	t.Helper()
	if v2 == "" {
		return ""
	}
	var a [5]json.RawMessage
	if err := json.Unmarshal([]byte(v2), &a); err != nil {
		t.Fatal(err)
	}
	m := map[string]json.RawMessage{"ref": a[1], "topic": a[2], "event": a[3], "payload": a[4]}
	if inbound {
		m["join_ref"] = a[0]
	}
	b, _ := json.Marshal(m)
	return string(b)
}
