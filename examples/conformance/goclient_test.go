package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pyrehq/pyre/transport/client"
)

// TestGoClient drives the conformance app, served in-process on a loopback port, with Pyre's own Go
// client (transport/client) in raw-frame mode and checks the exact frames of transport/PROTOCOL.md §3.
// PYRE_CONFORMANCE_URL points it at another server instead (e.g. a Phoenix app with the same routes):
//
//	PYRE_CONFORMANCE_URL=ws://127.0.0.1:4187/socket/websocket go test -run GoClient ./examples/conformance
func TestGoClient(t *testing.T) {
	base := os.Getenv("PYRE_CONFORMANCE_URL")
	if base == "" {
		app := newApp()
		srv := httptest.NewServer(app.mux)
		t.Cleanup(func() {
			srv.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := app.shutdown(ctx); err != nil {
				t.Errorf("shutdown: %v", err)
			}
		})
		base = "ws" + strings.TrimPrefix(srv.URL, "http") + "/socket/websocket"
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	httpBase := "http://" + u.Host
	uniq := fmt.Sprintf("%d", time.Now().UnixNano())
	topic := func(prefix string) string { return prefix + ":" + uniq + ":" + prefix }

	rawDial := func(t *testing.T, query string) *rawSession {
		t.Helper()
		c, err := client.Dial(testCtx(t), base+"?vsn=2.0.0"+query, client.Options{RawFrames: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return &rawSession{t: t, c: c}
	}
	hc := &http.Client{Transport: &http.Transport{}}
	defer hc.CloseIdleConnections()
	httpGet := func(t *testing.T, path string) {
		t.Helper()
		resp, err := hc.Get(httpBase + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
		}
	}

	t.Run("heartbeat", func(t *testing.T) {
		s := rawDial(t, "")
		s.send(`[null,"5","phoenix","heartbeat",{}]`)
		s.expect(`[null,"5","phoenix","phx_reply",{"response":{},"status":"ok"}]`)
	})

	t.Run("join, replies, pushes", func(t *testing.T) {
		s := rawDial(t, "")
		T := topic("echo")
		s.sendf(`["1","1",%q,"phx_join",{}]`, T)
		s.expectf(`["1","1",%q,"phx_reply",{"response":{"joined":%q},"status":"ok"}]`, T, T)
		s.expectf(`["1",null,%q,"welcome",{"topic":%q}]`, T, T)
		s.sendf(`["1","2",%q,"echo",{"a":[1,"x"]}]`, T)
		s.expectf(`["1","2",%q,"phx_reply",{"response":{"a":[1,"x"]},"status":"ok"}]`, T)
		s.sendf(`["1","3",%q,"error",{"why":"because"}]`, T)
		s.expectf(`["1","3",%q,"phx_reply",{"response":{"why":"because"},"status":"error"}]`, T)
		s.sendf(`["1","4",%q,"reply_ok",{"ignored":true}]`, T)
		s.expectf(`["1","4",%q,"phx_reply",{"response":{},"status":"ok"}]`, T)
		s.sendf(`["1","5",%q,"noreply",{}]`, T)
		s.heartbeatBarrier("6")
		s.sendf(`["1","7",%q,"push",{"p":1}]`, T)
		s.expectf(`["1",null,%q,"push",{"p":1}]`, T)
		s.sendf(`["1","8",%q,"broadcast",{"b":1}]`, T)
		s.expectf(`[null,null,%q,"broadcast",{"b":1}]`, T)
		s.sendf(`["1",9,%q,"echo",{}]`, T) // numeric ref echoed as a number
		s.expectf(`["1",9,%q,"phx_reply",{"response":{},"status":"ok"}]`, T)
		s.sendf(`[null,"10",%q,"echo",{"nulljoin":1}]`, T) // null join_ref: handled by the channel
		// Phoenix answers with the channel's join_ref (socket_ref carries socket.join_ref), not the null sent.
		s.expectf(`["1","10",%q,"phx_reply",{"response":{"nulljoin":1},"status":"ok"}]`, T)
		s.sendf(`["1","11",%q,"async",{"n":1}]`, T)
		s.expectf(`["1","11",%q,"phx_reply",{"response":{"n":1},"status":"ok"}]`, T)
		s.sendf(`["1","12",%q,"echo",{},"extra",{}]`, T) // extra elements ignored
		s.expectf(`["1","12",%q,"phx_reply",{"response":{},"status":"ok"}]`, T)
	})

	t.Run("binary push and reply", func(t *testing.T) {
		s := rawDial(t, "")
		T := topic("echo")
		s.sendf(`["1","1",%q,"phx_join",{}]`, T)
		s.next()
		s.next()
		_, b, err := client.Encode(client.Message{JoinRef: "1", Ref: "2", Topic: T, Event: "binary", Binary: []byte{0, 1, 255}})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.c.SendBinary(b); err != nil {
			t.Fatal(err)
		}
		f := recvRaw(t, s.c)
		want := append([]byte{1, 1, 1, byte(len(T)), 2}, "12"+T+"ok"...)
		want = append(want, 0, 1, 255)
		if f.Type != client.BinaryFrame || !bytes.Equal(f.Data, want) {
			t.Fatalf("binary reply: got %v, want % x", f, want)
		}
	})

	t.Run("unmatched topics and stale join_refs", func(t *testing.T) {
		s := rawDial(t, "")
		s.send(`["9","9","nope:1","phx_join",{}]`)
		s.expect(`[null,"9","nope:1","phx_reply",{"response":{"reason":"unmatched topic"},"status":"error"}]`)
		T := topic("echo")
		s.sendf(`["1","3",%q,"echo",{}]`, T)
		s.expectf(`[null,"3",%q,"phx_reply",{"response":{"reason":"unmatched topic"},"status":"error"}]`, T)
		s.sendf(`["1","4",%q,"phx_leave",{}]`, T) // leave of a topic not joined: ok
		s.expectf(`["1","4",%q,"phx_reply",{"response":{},"status":"ok"}]`, T)
		s.sendf(`["5","5",%q,"phx_join",{}]`, T)
		s.next()
		s.next()
		s.sendf(`["99","6",%q,"echo",{}]`, T) // stale join_ref: dropped silently
		s.heartbeatBarrier("7")
	})

	t.Run("duplicate join, leave", func(t *testing.T) {
		s := rawDial(t, "")
		T := topic("echo")
		s.sendf(`["1","1",%q,"phx_join",{}]`, T)
		s.next()
		s.next()
		s.sendf(`["2","2",%q,"phx_join",{}]`, T)
		s.expectf(`["2","2",%q,"phx_reply",{"response":{"joined":%q},"status":"ok"}]`, T, T)
		s.expectf(`["1","1",%q,"phx_close",{}]`, T)
		s.expectf(`["2",null,%q,"welcome",{"topic":%q}]`, T, T)
		s.sendf(`["2","3",%q,"phx_leave",{}]`, T)
		s.expectf(`["2","3",%q,"phx_reply",{"response":{},"status":"ok"}]`, T)
		s.expectf(`["2","2",%q,"phx_close",{}]`, T)
		s.sendf(`["2","4",%q,"echo",{}]`, T)
		s.expectf(`[null,"4",%q,"phx_reply",{"response":{"reason":"unmatched topic"},"status":"error"}]`, T)
	})

	t.Run("null join_ref join", func(t *testing.T) {
		s := rawDial(t, "")
		T := topic("echo")
		s.sendf(`[null,"7",%q,"phx_join",{}]`, T)
		s.expectf(`[null,"7",%q,"phx_reply",{"response":{"joined":%q},"status":"ok"}]`, T, T)
		s.expectf(`["7",null,%q,"welcome",{"topic":%q}]`, T, T)
		s.sendf(`[null,"8",%q,"stop",{}]`, T)
		s.expectf(`[null,null,%q,"phx_close",{}]`, T)
	})

	t.Run("stops and crashes", func(t *testing.T) {
		s := rawDial(t, "")
		A, B, C := topic("echo")+"a", topic("echo")+"b", topic("echo")+"c"
		for i, T := range []string{A, B, C} {
			s.sendf(`["%d","%d",%q,"phx_join",{}]`, i+1, i+1, T)
			s.next()
			s.next()
		}
		s.sendf(`["1","10",%q,"stop",{}]`, A)
		s.expectf(`["1","1",%q,"phx_close",{}]`, A)
		s.sendf(`["2","11",%q,"stop_reply",{"r":1}]`, B)
		s.expectf(`["2","11",%q,"phx_reply",{"response":{"r":1},"status":"ok"}]`, B)
		s.expectf(`["2","2",%q,"phx_close",{}]`, B)
		s.sendf(`["3","12",%q,"crash",{}]`, C)
		s.expectf(`["3","3",%q,"phx_error",{"reason":"channel_crash"}]`, C)
		s.sendf(`["3","13",%q,"echo",{}]`, C)
		s.expectf(`[null,"13",%q,"phx_reply",{"response":{"reason":"unmatched topic"},"status":"error"}]`, C)
		s.heartbeatBarrier("14")
	})

	t.Run("endpoint broadcast and broadcast_from", func(t *testing.T) {
		T := topic("echo")
		a, b := rawDial(t, ""), rawDial(t, "")
		for _, s := range []*rawSession{a, b} {
			s.sendf(`["1","1",%q,"phx_join",{}]`, T)
			s.next()
			s.next()
		}
		httpGet(t, "/broadcast?topic="+url.QueryEscape(T)+"&event=news&msg=hi")
		a.expectf(`[null,null,%q,"news",{"msg":"hi"}]`, T)
		b.expectf(`[null,null,%q,"news",{"msg":"hi"}]`, T)
		a.sendf(`["1","2",%q,"broadcast_from",{"x":1}]`, T)
		b.expectf(`[null,null,%q,"broadcast_from",{"x":1}]`, T)
		a.heartbeatBarrier("3") // a does not get its own broadcast_from
	})

	t.Run("malformed frame closes 1011", func(t *testing.T) {
		for _, bad := range []struct {
			binary bool
			frame  string
		}{{false, `["1"`}, {false, `["1","1","t"]`}, {false, `{"topic":"t"}`}, {true, "\x07\x00"}, {true, "\x00\x05\x00\x00\x00ab"}} {
			s := rawDial(t, "")
			var err error
			if bad.binary {
				err = s.c.SendBinary([]byte(bad.frame))
			} else {
				err = s.c.Send([]byte(bad.frame))
			}
			if err != nil {
				t.Fatal(err)
			}
			if f, ok := <-s.c.Raw(); ok {
				t.Errorf("%q: frame before the close: %v", bad.frame, f)
			}
			if s.c.CloseCode() != 1011 {
				t.Errorf("%q: close code %d, want 1011", bad.frame, s.c.CloseCode())
			}
		}
	})

	t.Run("handshake refusals", func(t *testing.T) {
		for _, q := range []string{"?vsn=2.1.0", "?vsn=abc", "?vsn[]=2.0.0", "?vsn=2.0.0&reject=1"} {
			_, err := client.Dial(testCtx(t), base+q, client.Options{})
			var he *client.HandshakeError
			if !errors.As(err, &he) || he.StatusCode != 403 || len(he.Body) != 0 {
				t.Errorf("%s: %v (body %q)", q, err, bodyOf(he))
			}
		}
	})

	t.Run("auth token", func(t *testing.T) {
		c, err := client.Dial(testCtx(t), base+"?vsn=2.0.0", client.Options{AuthToken: "tok/+en"})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if c.Subprotocol() != "phoenix" {
			t.Errorf("subprotocol %q", c.Subprotocol())
		}
	})

	t.Run("disconnect by socket id closes 1001", func(t *testing.T) {
		id := "u" + uniq
		s := rawDial(t, "&user_id="+id)
		s.heartbeatBarrier("1") // connected and subscribed
		httpGet(t, "/broadcast?topic=users_socket:"+id+"&event=other")
		s.heartbeatBarrier("2") // other events on the id topic are ignored
		httpGet(t, "/broadcast?topic=users_socket:"+id+"&event=disconnect")
		waitClosed(t, s.c)
		if s.c.CloseCode() != 1001 {
			t.Errorf("close code %d, want 1001", s.c.CloseCode())
		}
	})

	t.Run("frame too big closes 1009", func(t *testing.T) {
		s := rawDial(t, "")
		big := fmt.Sprintf(`[null,"1","phoenix","heartbeat",{"x":%q}]`, strings.Repeat("x", 11<<20))
		_ = s.c.Send([]byte(big))
		waitClosed(t, s.c)
		// The server closes without reading the rest of the frame, so its kernel may answer the bytes
		// still arriving with a RST that overtakes the close frame: then the client sees 1006.
		if code := s.c.CloseCode(); code != 1009 {
			if code != 1006 {
				t.Errorf("close code %d, want 1009", code)
			}
			t.Logf("close frame lost to a TCP reset: %v", s.c.Err())
		}
	})

	t.Run("channel cap", func(t *testing.T) {
		s := rawDial(t, "")
		// echo:* pushes a welcome after each join: the replies are picked out by their ref.
		reply := func(ref int) string {
			t.Helper()
			prefix := fmt.Sprintf(`["%d","%d",`, ref, ref)
			for {
				if f := s.next(); strings.HasPrefix(f, prefix) && strings.Contains(f, `"phx_reply"`) {
					return f
				}
			}
		}
		for i := 1; i <= 100; i++ {
			s.sendf(`["%d","%d",%q,"phx_join",{}]`, i, i, fmt.Sprintf("%s%d", topic("echo"), i))
			if f := reply(i); !strings.Contains(f, `"status":"ok"`) {
				t.Fatalf("join %d: %s", i, f)
			}
		}
		T := topic("echo") + "101"
		s.sendf(`["101","101",%q,"phx_join",{}]`, T)
		if f, want := reply(101), fmt.Sprintf(`["101","101",%q,"phx_reply",{"response":{"reason":"too many channels joined"},"status":"error"}]`, T); f != want {
			t.Fatalf("join 101: got %s, want %s", f, want)
		}
	})

	t.Run("routed client", func(t *testing.T) {
		c, err := client.Dial(testCtx(t), base+"?vsn=2.0.0", client.Options{HeartbeatInterval: 20 * time.Millisecond, HeartbeatTimeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		ctx := testCtx(t)
		T := topic("echo")
		ch, r, err := c.Join(ctx, T, map[string]any{"a": 1})
		if err != nil || r.Reason() != "" || !r.OK() {
			t.Fatalf("Join: %+v, %v", r, err)
		}
		if m := recv(t, ch); m.Event != "welcome" {
			t.Fatalf("first message %+v", m)
		}
		if r, err = ch.Push(ctx, "echo", map[string]string{"s": "héllo ✓"}); err != nil || string(r.Response) != `{"s":"héllo ✓"}` {
			t.Fatalf("echo: %s, %v", r.Response, err)
		}
		if r, err = ch.PushBinary(ctx, "binary", []byte("bin")); err != nil || string(r.Binary) != "bin" {
			t.Fatalf("binary: %+v, %v", r, err)
		}
		if _, err = ch.Push(ctx, "error", map[string]string{"e": "x"}); !errors.As(err, new(*client.ReplyError)) {
			t.Fatalf("error: %v", err)
		}
		httpGet(t, "/broadcast?topic="+url.QueryEscape(T)+"&event=news&msg=hi")
		if m := recv(t, ch); m.Event != "news" || string(m.Payload) != `{"msg":"hi"}` || m.JoinRef != "" {
			t.Fatalf("broadcast %+v", m)
		}
		if _, err := ch.Push(ctx, "crash", nil); !errors.Is(err, client.ErrChannelClosed) {
			t.Fatalf("crash: %v", err)
		}
		if m := recv(t, ch); m.Event != "phx_error" {
			t.Fatalf("after crash %+v", m)
		}
		ch, _, err = c.Join(ctx, T, nil)
		if err != nil {
			t.Fatal(err)
		}
		recv(t, ch) // welcome
		if err := ch.Leave(ctx); err != nil {
			t.Fatal(err)
		}
		if m := recv(t, ch); m.Event != "phx_close" {
			t.Fatalf("after leave %+v", m)
		}
		// Let a few heartbeats go by.
		// Let a few heartbeats go by: refs come from one counter, which each NextRef call also takes one of.
		ref := func() uint64 { n, _ := strconv.ParseUint(c.NextRef(), 10, 64); return n }
		before, polls := ref(), uint64(0)
		waitFor(t, "three heartbeats", func() bool { polls++; return ref() >= before+polls+3 })
		if st := c.Stats(); st != (client.Stats{}) || c.Err() != nil {
			t.Fatalf("stats %+v, err %v", st, c.Err())
		}
	})
}

func bodyOf(he *client.HandshakeError) []byte {
	if he == nil {
		return nil
	}
	return he.Body
}

// rawSession is a raw-mode connection with exact-frame assertions.
type rawSession struct {
	t *testing.T
	c *client.Conn
}

func (s *rawSession) send(frame string) {
	s.t.Helper()
	if err := s.c.Send([]byte(frame)); err != nil {
		s.t.Fatal(err)
	}
}

func (s *rawSession) sendf(format string, args ...any) {
	s.t.Helper()
	s.send(fmt.Sprintf(format, args...))
}

func (s *rawSession) next() string {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	select {
	case f, ok := <-s.c.Raw():
		if !ok {
			s.t.Fatalf("connection closed: %v", s.c.Err())
		}
		return f.String()
	case <-ctx.Done():
		s.t.Fatal("no frame")
	}
	return ""
}

func (s *rawSession) expect(want string) {
	s.t.Helper()
	if got := s.next(); got != want {
		s.t.Errorf("got  %s\nwant %s", got, want)
	}
}

func (s *rawSession) expectf(format string, args ...any) {
	s.t.Helper()
	s.expect(fmt.Sprintf(format, args...))
}

// heartbeatBarrier sends a heartbeat and expects its reply as the very next frame: whatever was sent
// before it and should produce nothing did produce nothing.
func (s *rawSession) heartbeatBarrier(ref string) {
	s.t.Helper()
	s.sendf(`[null,%q,"phoenix","heartbeat",{}]`, ref)
	s.expectf(`[null,%q,"phoenix","phx_reply",{"response":{},"status":"ok"}]`, ref)
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func recvRaw(t testing.TB, c *client.Conn) client.Frame {
	t.Helper()
	select {
	case f, ok := <-c.Raw():
		if !ok {
			t.Fatal("Raw closed")
		}
		return f
	case <-time.After(5 * time.Second):
		t.Fatal("no raw frame")
	}
	return client.Frame{}
}

func waitClosed(t testing.TB, c *client.Conn) {
	t.Helper()
	select {
	case <-c.Closed():
	case <-time.After(5 * time.Second):
		t.Fatal("connection did not close")
	}
}

func recv(t testing.TB, ch *client.Channel) client.Message {
	t.Helper()
	select {
	case m, ok := <-ch.Messages():
		if !ok {
			t.Fatalf("%s: Messages closed", ch.Topic())
		}
		return m
	case <-time.After(5 * time.Second):
		t.Fatalf("%s: no message", ch.Topic())
	}
	return client.Message{}
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
