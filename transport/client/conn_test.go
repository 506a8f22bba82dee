package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"
)

func TestJoinPushReply(t *testing.T) {
	s := newTestServer(t)
	c := dial(t, s, Options{})
	ctx := testCtx(t)

	ch, r, err := c.Join(ctx, "room:1", map[string]any{"nick": "ann"})
	if err != nil {
		t.Fatal(err)
	}
	if !r.OK() || string(r.Response) != `{"topic":"room:1","params":{"nick":"ann"}}` {
		t.Fatalf("join reply %+v", r)
	}
	if ch.Topic() != "room:1" || ch.JoinRef() == "" || r.JoinRef != ch.JoinRef() || r.Ref != ch.JoinRef() {
		t.Fatalf("join_ref %q, reply %+v", ch.JoinRef(), r)
	}
	if ch.Conn() != c {
		t.Fatal("Conn()")
	}
	got := s.received()[0]
	if got.Event != "phx_join" || got.JoinRef != got.Ref || got.JoinRef != ch.JoinRef() {
		t.Fatalf("server saw %+v", got)
	}

	r, err = ch.Push(ctx, "echo", map[string]int{"a": 1})
	if err != nil || string(r.Response) != `{"a":1}` || r.Topic != "room:1" || r.JoinRef != ch.JoinRef() {
		t.Fatalf("echo: %+v, %v", r, err)
	}
	var v struct{ A int }
	if err := r.Unmarshal(&v); err != nil || v.A != 1 {
		t.Fatalf("Unmarshal: %v %+v", err, v)
	}

	r, err = ch.Push(ctx, "echo", json.RawMessage(`[1, 2]`))
	if err != nil || string(r.Response) != `[1,2]` { // the test server re-encodes; the client sent it verbatim
		t.Fatalf("echo raw: %s, %v", r.Response, err)
	}

	r, err = ch.Push(ctx, "error", nil)
	var re *ReplyError
	if !errors.As(err, &re) || re.Status != "error" || re.Event != "error" || re.Reason() != "nope" {
		t.Fatalf("error push: %v", err)
	}
	if r.Status != "error" || r.Reason() != "nope" {
		t.Fatalf("error reply %+v", r)
	}
	if st := c.Stats(); st != (Stats{}) {
		t.Fatalf("stats %+v", st)
	}
}

func TestJoinRefused(t *testing.T) {
	s := newTestServer(t)
	c := dial(t, s, Options{})
	ch, r, err := c.Join(testCtx(t), "deny:1", nil)
	var re *ReplyError
	if ch != nil || !errors.As(err, &re) || re.Event != "phx_join" || r.Reason() != "denied" {
		t.Fatalf("Join = %v, %+v, %v", ch, r, err)
	}
	if msg := err.Error(); msg != `client: deny:1 phx_join replied "error": {"reason":"denied"}` {
		t.Fatalf("message %q", msg)
	}
	if got := s.received()[0]; string(got.Payload) != `{}` {
		t.Fatalf("nil payload sent as %s", got.Payload)
	}

	// No route at all: the server replies with a null join_ref, which still reaches the caller.
	_, r, err = c.Join(testCtx(t), "nowhere:1", nil)
	if !errors.As(err, &re) || r.JoinRef != "" || r.Reason() != "unmatched topic" {
		t.Fatalf("unmatched join = %+v, %v", r, err)
	}
}

func TestJoinTimeoutSendsLeave(t *testing.T) {
	s := newTestServer(t)
	c := dial(t, s, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, _, err := c.Join(ctx, "slow:1", nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Join: %v", err)
	}
	waitFor(t, "phx_leave after the join timeout", func() bool {
		in := s.received()
		return len(in) == 2 && in[1].Event == "phx_leave" && in[1].JoinRef == in[0].JoinRef && in[1].Topic == "slow:1"
	})
	// The leave's reply has no caller.
	waitFor(t, "unclaimed leave reply", func() bool { return c.Stats().UnclaimedReplies == 1 })
}

func TestPushesAndBroadcasts(t *testing.T) {
	s := newTestServer(t)
	c := dial(t, s, Options{})
	ctx := testCtx(t)
	ch := join(t, c, "room:1", map[string]int{"pushes": 3})
	for i := range 3 {
		m := recv(t, ch)
		if m.Event != "tick" || m.JoinRef != ch.JoinRef() || m.Ref != "" || m.Topic != "room:1" || string(m.Payload) != fmt.Sprintf(`{"n":%d}`, i) {
			t.Fatalf("push %d: %+v", i, m)
		}
	}
	if _, err := ch.Push(ctx, "broadcast", map[string]string{"x": "y"}); err != nil {
		t.Fatal(err)
	}
	m := recv(t, ch)
	if m.Event != "bcast" || m.JoinRef != "" || m.Ref != "" || string(m.Payload) != `{"x":"y"}` || m.IsBinary() {
		t.Fatalf("text broadcast %+v", m)
	}
	m = recv(t, ch)
	if m.Event != "bcast" || m.Topic != "room:1" || string(m.Binary) != "raw" || m.Payload != nil {
		t.Fatalf("binary broadcast %+v", m)
	}
	if _, err := ch.Push(ctx, "push_binary", nil); err != nil {
		t.Fatal(err)
	}
	m = recv(t, ch)
	if m.Event != "pushed_bin" || m.JoinRef != ch.JoinRef() || !bytes.Equal(m.Binary, []byte{1, 2, 3}) {
		t.Fatalf("binary push %+v", m)
	}
	var p struct{ X string }
	if _, err := ch.Push(ctx, "push", map[string]string{"x": "z"}); err != nil {
		t.Fatal(err)
	}
	if m = recv(t, ch); m.Unmarshal(&p) != nil || p.X != "z" {
		t.Fatalf("push %+v", m)
	}
}

func TestBinaryPushAndReply(t *testing.T) {
	s := newTestServer(t)
	c := dial(t, s, Options{})
	ch := join(t, c, "room:1", nil)
	data := []byte{0, 1, 2, 255}
	r, err := ch.PushBinary(testCtx(t), "echo", data)
	if err != nil || r.Status != "ok" || !bytes.Equal(r.Binary, data) || r.Response != nil || r.Ref == "" || r.JoinRef != ch.JoinRef() {
		t.Fatalf("PushBinary = %+v, %v", r, err)
	}
	got := s.received()[1]
	if !bytes.Equal(got.Binary, data) || got.Event != "echo" || got.JoinRef != ch.JoinRef() || got.Ref != r.Ref {
		t.Fatalf("server saw %+v", got)
	}
	// An empty binary push is still binary.
	if r, err = ch.PushBinary(testCtx(t), "echo", nil); err != nil || r.Binary == nil || len(r.Binary) != 0 {
		t.Fatalf("empty PushBinary = %+v, %v", r, err)
	}
}

func TestNoReplyPushes(t *testing.T) {
	s := newTestServer(t)
	c := dial(t, s, Options{})
	ch := join(t, c, "room:1", nil)
	if err := ch.PushNoReply("echo", map[string]int{"a": 1}); err != nil {
		t.Fatal(err)
	}
	if err := ch.PushBinaryNoReply("echo", []byte("b")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "two unclaimed replies", func() bool { return c.Stats().UnclaimedReplies == 2 })
	in := s.received()
	if in[1].Ref == "" || in[2].Ref == "" || in[1].Ref == in[2].Ref || string(in[2].Binary) != "b" {
		t.Fatalf("server saw %+v", in)
	}
}

func TestLeave(t *testing.T) {
	s := newTestServer(t)
	c := dial(t, s, Options{})
	ch := join(t, c, "room:1", nil)
	if err := ch.Leave(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	m := recv(t, ch)
	if m.Event != "phx_close" || m.JoinRef != ch.JoinRef() || m.Ref != ch.JoinRef() {
		t.Fatalf("after leave: %+v", m)
	}
	if _, ok := <-ch.Messages(); ok {
		t.Fatal("Messages not closed after phx_close")
	}
	if _, err := ch.Push(testCtx(t), "echo", nil); !errors.Is(err, ErrChannelClosed) {
		t.Fatalf("Push after close: %v", err)
	}
	if err := ch.PushNoReply("echo", nil); !errors.Is(err, ErrChannelClosed) {
		t.Fatalf("PushNoReply after close: %v", err)
	}
	if err := ch.Leave(testCtx(t)); !errors.Is(err, ErrChannelClosed) {
		t.Fatalf("Leave after close: %v", err)
	}
	// The topic can be joined again.
	ch2 := join(t, c, "room:1", nil)
	if ch2.JoinRef() == ch.JoinRef() {
		t.Fatal("join_ref reused")
	}
}

func TestServerStopsChannel(t *testing.T) {
	s := newTestServer(t)
	c := dial(t, s, Options{})
	ch := join(t, c, "room:1", nil)
	if _, err := ch.Push(testCtx(t), "stop", nil); err != nil {
		t.Fatal(err)
	}
	if m := recv(t, ch); m.Event != "phx_close" {
		t.Fatalf("got %+v", m)
	}
	if _, ok := <-ch.Messages(); ok {
		t.Fatal("Messages not closed")
	}
}

func TestCrashFailsPendingPush(t *testing.T) {
	s := newTestServer(t)
	c := dial(t, s, Options{})
	ch := join(t, c, "room:1", nil)
	other := join(t, c, "room:2", nil)
	_, err := ch.Push(testCtx(t), "crash", nil)
	if !errors.Is(err, ErrChannelClosed) {
		t.Fatalf("Push crash: %v", err)
	}
	m := recv(t, ch)
	if m.Event != "phx_error" || m.JoinRef != ch.JoinRef() || string(m.Payload) != `{"reason":"channel_crash"}` {
		t.Fatalf("got %+v", m)
	}
	if _, ok := <-ch.Messages(); ok {
		t.Fatal("Messages not closed after phx_error")
	}
	if _, err := other.Push(testCtx(t), "echo", nil); err != nil {
		t.Fatalf("other channel: %v", err)
	}
}

func TestDuplicateJoin(t *testing.T) {
	s := newTestServer(t)
	c := dial(t, s, Options{})
	old := join(t, c, "room:1", nil)
	ch := join(t, c, "room:1", nil)
	m := recv(t, old)
	if m.Event != "phx_close" || m.JoinRef != old.JoinRef() {
		t.Fatalf("old channel got %+v", m)
	}
	if _, ok := <-old.Messages(); ok {
		t.Fatal("old Messages not closed")
	}
	if _, err := ch.Push(testCtx(t), "broadcast", nil); err != nil {
		t.Fatal(err)
	}
	if m := recv(t, ch); m.Event != "bcast" {
		t.Fatalf("new channel got %+v", m)
	}
}

func TestDropOldest(t *testing.T) {
	s := newTestServer(t)
	c := dial(t, s, Options{MessageBuffer: 4})
	ch := join(t, c, "room:1", nil)
	if _, err := ch.Push(testCtx(t), "flood", map[string]int{"n": 10}); err != nil {
		t.Fatal(err)
	}
	// The reply follows the pushes on the wire, so all ten have been routed by now.
	for i := 6; i < 10; i++ {
		if m := recv(t, ch); string(m.Payload) != fmt.Sprintf(`{"n":%d}`, i) {
			t.Fatalf("want n=%d, got %s", i, m.Payload)
		}
	}
	if ch.Dropped() != 6 || c.Stats().Dropped != 6 {
		t.Fatalf("Dropped %d, stats %+v", ch.Dropped(), c.Stats())
	}
}

func TestServerCloseCodes(t *testing.T) {
	for _, tc := range []struct {
		code   int
		reason string
	}{{1001, ""}, {1011, "boom"}, {1012, ""}, {1009, ""}, {4001, "custom"}} {
		t.Run(itoa(tc.code), func(t *testing.T) {
			s := newTestServer(t)
			c := dial(t, s, Options{})
			ch := join(t, c, "room:1", nil)
			pending := make(chan error, 1)
			go func() {
				_, err := ch.Push(context.Background(), "noreply", nil)
				pending <- err
			}()
			waitFor(t, "noreply push at the server", func() bool { return len(s.received()) == 2 })
			if c.CloseCode() != 0 || c.Err() != nil {
				t.Fatal("closed too early")
			}
			if err := ch.PushNoReply("close", map[string]any{"code": tc.code, "reason": tc.reason}); err != nil {
				t.Fatal(err)
			}
			waitClosed(t, c)
			if c.CloseCode() != tc.code {
				t.Fatalf("CloseCode %d", c.CloseCode())
			}
			var ce *CloseError
			if err := c.Err(); !errors.As(err, &ce) || !ce.Remote || ce.Reason != tc.reason || !errors.Is(err, ErrClosed) {
				t.Fatalf("Err %#v", err)
			}
			if err := <-pending; !errors.As(err, &ce) || ce.Code != tc.code {
				t.Fatalf("pending push: %v", err)
			}
			if _, ok := <-ch.Messages(); ok {
				t.Fatal("Messages not closed")
			}
			if _, err := ch.Push(testCtx(t), "echo", nil); !errors.Is(err, ErrClosed) && !errors.Is(err, ErrChannelClosed) {
				t.Fatalf("Push after close: %v", err)
			}
			if _, _, err := c.Join(testCtx(t), "room:2", nil); !errors.Is(err, ErrClosed) {
				t.Fatalf("Join after close: %v", err)
			}
			if err := c.Send([]byte("[]")); !errors.Is(err, ErrClosed) {
				t.Fatalf("Send after close: %v", err)
			}
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestClientClose(t *testing.T) {
	s := newTestServer(t)
	c := dial(t, s, Options{})
	ch := join(t, c, "room:1", nil)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.Closed():
	default:
		t.Fatal("Closed not closed after Close")
	}
	var ce *CloseError
	if !errors.As(c.Err(), &ce) || ce.Code != 1000 || ce.Remote || c.CloseCode() != 1000 {
		t.Fatalf("Err %v", c.Err())
	}
	if _, ok := <-ch.Messages(); ok {
		t.Fatal("Messages not closed")
	}
	if err := c.Close(); err != nil {
		t.Fatal("second Close:", err)
	}
	waitFor(t, "server sees close 1000", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.clientClose) == 1 && s.clientClose[0] == 1000
	})
}

func TestHandshakeErrors(t *testing.T) {
	s := newTestServer(t)
	ctx := testCtx(t)
	var he *HandshakeError

	_, err := Dial(ctx, s.BaseURL+"?vsn=3.0.0", Options{})
	if !errors.As(err, &he) || he.StatusCode != http.StatusForbidden || len(he.Body) != 0 {
		t.Fatalf("bad vsn: %v", err)
	}
	_, err = Dial(ctx, s.URL, Options{Params: url.Values{"reject": {"1"}}})
	if !errors.As(err, &he) || he.StatusCode != http.StatusForbidden {
		t.Fatalf("rejected connect: %v", err)
	}
	_, err = Dial(ctx, s.URL+"&busy=1", Options{})
	if !errors.As(err, &he) || he.StatusCode != http.StatusTooManyRequests || string(he.Body) != "slow down\n" {
		t.Fatalf("busy: %v (%q)", err, he.Body)
	}
	if err.Error() != "client: handshake refused: HTTP 429" {
		t.Fatalf("message %q", err)
	}
	if _, err = Dial(ctx, "http://127.0.0.1:1/socket", Options{}); err == nil {
		t.Fatal("http scheme accepted")
	}
	if _, err = Dial(ctx, "ws://127.0.0.1:1/socket/websocket", Options{}); err == nil {
		t.Fatal("dial to a closed port succeeded")
	}
}

func TestDialContext(t *testing.T) {
	// A TCP server that accepts and never answers the upgrade.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			defer nc.Close()
		}
	}()
	defer wg.Wait()
	defer ln.Close()

	url := "ws://" + ln.Addr().String() + "/socket/websocket?vsn=2.0.0"
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := Dial(ctx, url, Options{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("deadline: %v", err)
	}

	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)
	if _, err := Dial(ctx, url, Options{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancel: %v", err)
	}

	if _, err := Dial(ctx, url, Options{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled before dial: %v", err)
	}

	// Options.HandshakeTimeout applies when ctx has no deadline.
	if _, err := Dial(context.Background(), url, Options{HandshakeTimeout: 30 * time.Millisecond}); err == nil {
		t.Fatal("handshake timeout not applied")
	}

	// A custom DialContext is used.
	s := newTestServer(t)
	var used bool
	c, err := Dial(testCtx(t), s.URL, Options{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		used = true
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}})
	if err != nil || !used {
		t.Fatalf("DialContext used %v, err %v", used, err)
	}
	c.Close()
}

func TestAuthTokenParamsHeader(t *testing.T) {
	s := newTestServer(t)
	c, err := Dial(testCtx(t), s.URL+"&user_id=1", Options{
		AuthToken: "s3cret+/token==",
		Params:    url.Values{"user_id": {"2"}, "extra": {"a", "b"}},
		Header:    http.Header{"x-trace": {"abc"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Subprotocol() != "phoenix" {
		t.Fatalf("subprotocol %q", c.Subprotocol())
	}
	s.mu.Lock()
	tokens, q, h := s.tokens, s.queries[0], s.headers[0]
	s.mu.Unlock()
	if len(tokens) != 1 || tokens[0] != "s3cret+/token==" {
		t.Fatalf("tokens %q", tokens)
	}
	if q.Get("vsn") != "2.0.0" || fmt.Sprint(q["user_id"]) != "[2]" || fmt.Sprint(q["extra"]) != "[a b]" {
		t.Fatalf("query %v", q)
	}
	if h.Get("X-Trace") != "abc" || h.Get("Sec-WebSocket-Protocol") != "phoenix, base64url.bearer.phx.czNjcmV0Ky90b2tlbj09" {
		t.Fatalf("headers %v", h)
	}
}

func TestAuthTokenWithoutSubprotocol(t *testing.T) {
	s := newTestServer(t, func(s *testServer) { s.noSubprotocol = true })
	if _, err := Dial(testCtx(t), s.URL, Options{AuthToken: "x"}); !errors.Is(err, ErrSubprotocol) {
		t.Fatalf("Dial: %v", err)
	}
	c := dial(t, s, Options{}) // no token, no subprotocol needed
	if c.Subprotocol() != "" {
		t.Fatalf("subprotocol %q", c.Subprotocol())
	}
}

func TestHeartbeat(t *testing.T) {
	s := newTestServer(t)
	c := dial(t, s, Options{HeartbeatInterval: 5 * time.Millisecond, HeartbeatTimeout: 10 * time.Second})
	waitFor(t, "three heartbeats", func() bool { return s.heartbeats.Load() >= 3 })
	if c.Err() != nil {
		t.Fatal(c.Err())
	}
	for _, m := range s.received() {
		if m.Topic != "phoenix" || m.Event != "heartbeat" || m.JoinRef != "" || m.Ref == "" || string(m.Payload) != "{}" {
			t.Fatalf("heartbeat %+v", m)
		}
	}
	c.Close()
	if st := c.Stats(); st.UnclaimedReplies != 0 {
		t.Fatalf("heartbeat replies unclaimed: %+v", st)
	}
}

func TestHeartbeatTimeout(t *testing.T) {
	s := newTestServer(t)
	s.ignoreHeartbeats.Store(true)
	c := dial(t, s, Options{HeartbeatInterval: 5 * time.Millisecond})
	waitClosed(t, c)
	var ce *CloseError
	if !errors.As(c.Err(), &ce) || ce.Code != 1000 || ce.Reason != "heartbeat timeout" || ce.Remote {
		t.Fatalf("Err %v", c.Err())
	}
	if n := s.heartbeats.Load(); n != 1 {
		t.Fatalf("%d heartbeats sent before the timeout, want 1", n)
	}
}

func TestRawFrames(t *testing.T) {
	s := newTestServer(t)
	c := dial(t, s, Options{RawFrames: true})
	if _, _, err := c.Join(testCtx(t), "room:1", nil); !errors.Is(err, ErrRawFrames) {
		t.Fatalf("Join in raw mode: %v", err)
	}
	if _, err := c.Request(testCtx(t), Message{Topic: "room:1", Event: "x"}); !errors.Is(err, ErrRawFrames) {
		t.Fatalf("Request in raw mode: %v", err)
	}
	if err := c.Send([]byte(`["1","1","room:1","phx_join",{"pushes":1}]`)); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`["1","1","room:1","phx_reply",{"response":{"topic":"room:1","params":{"pushes":1}},"status":"ok"}]`,
		`["1",null,"room:1","tick",{"n":0}]`,
	} {
		if f := recvRaw(t, c); f.Type != TextFrame || string(f.Data) != want {
			t.Fatalf("got %v, want %s", f, want)
		}
	}
	_, b, err := Encode(Message{JoinRef: "1", Ref: "2", Topic: "room:1", Event: "echo", Binary: []byte("efg")})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SendBinary(b); err != nil {
		t.Fatal(err)
	}
	f := recvRaw(t, c)
	want := []byte("\x01\x01\x01\x06\x02" + "1" + "2" + "room:1" + "ok" + "efg")
	if f.Type != BinaryFrame || !bytes.Equal(f.Data, want) {
		t.Fatalf("got %v, want % x", f, want)
	}
	m, err := f.Decode()
	if err != nil || m.Status != "ok" || m.Ref != "2" || string(m.Binary) != "efg" {
		t.Fatalf("Decode = %+v, %v", m, err)
	}
	if f.String() != "binary "+fmt.Sprintf("% x", want) {
		t.Fatalf("String %q", f.String())
	}
	// A malformed frame: the test server, like Phoenix, closes with 1011 without a frame first.
	if err := c.Send([]byte(`["1"`)); err != nil {
		t.Fatal(err)
	}
	waitClosed(t, c)
	if _, ok := <-c.Raw(); ok {
		t.Fatal("Raw not closed")
	}
	if c.CloseCode() != 1011 {
		t.Fatalf("CloseCode %d", c.CloseCode())
	}
}

// In raw mode the read goroutine waits for the consumer instead of dropping; Close still works while it
// waits.
func TestRawFramesBackPressureAndClose(t *testing.T) {
	s := newTestServer(t)
	c := dial(t, s, Options{RawFrames: true, RawBuffer: 1, HeartbeatInterval: time.Millisecond})
	if err := c.Send([]byte(`["1","1","room:1","phx_join",{"pushes":20}]`)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a full Raw buffer", func() bool { return len(c.Raw()) == 1 })
	if f := recvRaw(t, c); !bytes.Contains(f.Data, []byte("phx_reply")) {
		t.Fatalf("first frame %v", f)
	}
	if f := recvRaw(t, c); string(f.Data) != `["1",null,"room:1","tick",{"n":0}]` {
		t.Fatalf("second frame %v", f)
	}
	done := make(chan struct{})
	go func() {
		c.Close()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close blocked by a full Raw buffer")
	}
}

func TestRequest(t *testing.T) {
	s := newTestServer(t)
	c := dial(t, s, Options{})
	ctx := testCtx(t)
	// An event on a topic not joined: "unmatched topic" with a null join_ref.
	r, err := c.Request(ctx, Message{Topic: "room:9", Event: "hello"})
	var re *ReplyError
	if !errors.As(err, &re) || r.JoinRef != "" || r.Ref == "" || r.Reason() != "unmatched topic" {
		t.Fatalf("Request = %+v, %v", r, err)
	}
	// phx_leave on a topic not joined is ok.
	if r, err = c.Request(ctx, Message{JoinRef: "77", Ref: "x1", Topic: "room:9", Event: "phx_leave"}); err != nil || r.Ref != "x1" || r.JoinRef != "77" {
		t.Fatalf("leave = %+v, %v", r, err)
	}
	// A join through Request creates no Channel: its pushes are unroutable.
	if _, err = c.Request(ctx, Message{JoinRef: "j", Ref: "j", Topic: "room:1", Event: "phx_join", Payload: json.RawMessage(`{"pushes":2}`)}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "unroutable pushes", func() bool { return c.Stats().Unroutable == 2 })
	// Binary request.
	if r, err = c.Request(ctx, Message{JoinRef: "j", Topic: "room:1", Event: "echo", Binary: []byte("b")}); err != nil || string(r.Binary) != "b" {
		t.Fatalf("binary = %+v, %v", r, err)
	}
}

func TestRequestDuplicateRef(t *testing.T) {
	s := newTestServer(t)
	c := dial(t, s, Options{})
	ch := join(t, c, "room:1", nil)
	errc := make(chan error, 1)
	go func() {
		_, err := c.Request(context.Background(), Message{JoinRef: ch.JoinRef(), Ref: "dup", Topic: "room:1", Event: "noreply"})
		errc <- err
	}()
	waitFor(t, "first request at the server", func() bool { return len(s.received()) == 2 })
	if _, err := c.Request(testCtx(t), Message{Ref: "dup", Topic: "room:1", Event: "x"}); !errors.Is(err, ErrDuplicateRef) {
		t.Fatalf("duplicate ref: %v", err)
	}
	c.Close()
	if err := <-errc; !errors.Is(err, ErrClosed) {
		t.Fatalf("pending request after Close: %v", err)
	}
}

func TestReplyWithWrongTopicIsUnclaimed(t *testing.T) {
	s := newTestServer(t)
	c := dial(t, s, Options{RawFrames: false})
	ch := join(t, c, "room:1", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	// The server answers pushes on room:2 (not joined) with an unmatched-topic reply to topic room:2; a
	// push on room:1 with the same ref, sent raw, gets no reply: the room:2 reply must not answer it.
	done := make(chan error, 1)
	go func() {
		_, err := c.Request(ctx, Message{JoinRef: ch.JoinRef(), Ref: "r1", Topic: "room:1", Event: "noreply"})
		done <- err
	}()
	waitFor(t, "request at the server", func() bool { return len(s.received()) == 2 })
	if err := c.Send([]byte(`[null,"r1","room:2","hello",{}]`)); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Request: %v", err)
	}
	waitFor(t, "unclaimed reply", func() bool { return c.Stats().UnclaimedReplies == 1 })
}

func TestMalformedInboundFrame(t *testing.T) {
	s := newTestServer(t)
	c := dial(t, s, Options{})
	ch := join(t, c, "room:1", nil)
	if _, err := ch.Push(testCtx(t), "garbage", nil); err != nil {
		t.Fatal(err)
	}
	if st := c.Stats(); st.Malformed != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestMaxMessageSize(t *testing.T) {
	s := newTestServer(t)
	c := dial(t, s, Options{MaxMessageSize: 1024})
	ch := join(t, c, "room:1", nil)
	if err := ch.PushNoReply("big", map[string]int{"n": 2048}); err != nil {
		t.Fatal(err)
	}
	waitClosed(t, c)
	var ce *CloseError
	if !errors.As(c.Err(), &ce) || ce.Code != 1009 || ce.Remote {
		t.Fatalf("Err %v", c.Err())
	}
}

func TestPingIsAnswered(t *testing.T) {
	s := newTestServer(t)
	c := dial(t, s, Options{})
	ch := join(t, c, "room:1", nil)
	if _, err := ch.Push(testCtx(t), "ping", nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "pong", func() bool { return s.pongs.Load() == 1 })
}

func TestConcurrentPushes(t *testing.T) {
	s := newTestServer(t)
	c := dial(t, s, Options{HeartbeatInterval: time.Millisecond, HeartbeatTimeout: -1})
	chans := []*Channel{join(t, c, "room:1", nil), join(t, c, "room:2", nil)}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ch := chans[g%2]
			for i := range 50 {
				want := fmt.Sprintf(`{"g":%d,"i":%d}`, g, i)
				r, err := ch.Push(context.Background(), "echo", json.RawMessage(want))
				if err != nil || string(r.Response) != want || r.Topic != ch.Topic() {
					errs <- fmt.Errorf("push %s: %s, %v", want, r.Response, err)
					return
				}
				if i%10 == 0 {
					_ = ch.PushNoReply("noreply", nil)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestCloseWhileCallsPending(t *testing.T) {
	s := newTestServer(t)
	c := dial(t, s, Options{})
	ch := join(t, c, "room:1", nil)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := ch.Push(context.Background(), "noreply", nil)
			if !errors.Is(err, ErrClosed) {
				t.Errorf("pending push: %v", err)
			}
		}()
	}
	waitFor(t, "pushes at the server", func() bool { return len(s.received()) == 5 })
	c.Close()
	wg.Wait()
}

func TestOnMessage(t *testing.T) {
	s := newTestServer(t)
	got := make(chan Message, 16)
	var chans []*Channel
	var mu sync.Mutex
	c := dial(t, s, Options{OnMessage: func(ch *Channel, m Message) {
		mu.Lock()
		chans = append(chans, ch)
		mu.Unlock()
		got <- m // buffered: the test never lets it fill
	}})
	ch := join(t, c, "room:1", map[string]int{"pushes": 2})
	if _, err := ch.Push(testCtx(t), "stop", nil); err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"tick", "tick", "phx_close"} {
		select {
		case m := <-got:
			if m.Event != want || m.Topic != "room:1" {
				t.Fatalf("message %d: %+v, want %s", i, m, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("message %d (%s) never reached OnMessage", i, want)
		}
	}
	if _, ok := <-ch.Messages(); ok {
		t.Fatal("Messages received a message although OnMessage is set")
	}
	mu.Lock()
	defer mu.Unlock()
	for _, x := range chans {
		if x != ch {
			t.Fatalf("OnMessage got channel %p, want %p", x, ch)
		}
	}
}
