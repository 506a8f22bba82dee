package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lxzan/gws"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// waitLimit bounds every wait for a frame: a liveness bound, never a timing assertion.
const waitLimit = 15 * time.Second

// startApp serves a fresh app (real pages and phoenix.js from this directory) on a loopback httptest server.
func startApp(t *testing.T) (*app, *httptest.Server) {
	t.Helper()
	a := newApp(config{Dir: "."})
	return a, newServer(t, a)
}

// newServer serves a on a loopback httptest server. The cleanup stops the server, then shuts the app down
// as main does.
func newServer(t *testing.T, a *app) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(a.handler)
	t.Cleanup(func() {
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		if err := a.shutdown(ctx); err != nil {
			t.Errorf("app shutdown: %v", err)
		}
	})
	return srv
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// frame is one V2 JSON frame: [join_ref, ref, topic, event, payload].
type frame struct {
	JoinRef, Ref *string
	Topic, Event string
	Payload      json.RawMessage
}

func (f frame) String() string {
	s := func(p *string) string {
		if p == nil {
			return "null"
		}
		return strconv.Quote(*p)
	}
	return fmt.Sprintf("[%s,%s,%q,%q,%s]", s(f.JoinRef), s(f.Ref), f.Topic, f.Event, f.Payload)
}

func parseFrame(data []byte) (frame, error) {
	var parts []json.RawMessage
	if err := json.Unmarshal(data, &parts); err != nil || len(parts) != 5 {
		return frame{}, fmt.Errorf("not a V2 frame: %s", data)
	}
	var f frame
	if err := json.Unmarshal(parts[0], &f.JoinRef); err != nil {
		return frame{}, err
	}
	if err := json.Unmarshal(parts[1], &f.Ref); err != nil {
		return frame{}, err
	}
	if err := json.Unmarshal(parts[2], &f.Topic); err != nil {
		return frame{}, err
	}
	if err := json.Unmarshal(parts[3], &f.Event); err != nil {
		return frame{}, err
	}
	f.Payload = parts[4]
	return f, nil
}

// reply is a decoded phx_reply payload.
type reply struct {
	Status   string          `json:"status"`
	Response json.RawMessage `json:"response"`
}

// wsClient is a minimal Phoenix V2 client on gws: it sends frames, and lets the test wait for frames
// matching a condition; frames that do not match are kept for later waits.
type wsClient struct {
	t      testing.TB
	name   string
	conn   *gws.Conn
	frames chan []byte
	closed chan struct{}

	refMu    sync.Mutex
	nextRef  int
	backlog  []frame // received, not yet consumed by a wait
	joins    map[string]string
	presence map[string]*presenceView // by topic, kept by waitPresence
}

func (c *wsClient) OnOpen(*gws.Conn)             {}
func (c *wsClient) OnPing(s *gws.Conn, p []byte) { _ = s.WritePong(p) }
func (c *wsClient) OnPong(*gws.Conn, []byte)     {}
func (c *wsClient) OnClose(*gws.Conn, error)     { close(c.closed) }
func (c *wsClient) OnMessage(_ *gws.Conn, m *gws.Message) {
	defer m.Close()
	data := bytes.Clone(m.Bytes()) // the buffer goes back to gws's pool on Close
	select {
	case c.frames <- data:
	case <-time.After(waitLimit):
		c.t.Errorf("%s: test not reading frames; dropped %s", c.name, data)
	}
}

// dial opens a socket at /socket/websocket?vsn=2.0.0; the cleanup closes it and waits for the read loop.
func dial(t testing.TB, srv *httptest.Server, name string) *wsClient {
	t.Helper()
	return dialURL(t, "ws"+strings.TrimPrefix(srv.URL, "http"), name)
}

// dialURL is dial for the server at base ("ws://host:port").
func dialURL(t testing.TB, base, name string) *wsClient {
	t.Helper()
	c := &wsClient{t: t, name: name, frames: make(chan []byte, 4096), closed: make(chan struct{}), joins: map[string]string{}}
	conn, resp, err := gws.NewClient(c, &gws.ClientOption{Addr: base + "/socket/websocket?vsn=2.0.0"})
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("%s: dial: %v (HTTP %d)", name, err, status)
	}
	c.conn = conn
	go conn.ReadLoop()
	t.Cleanup(func() {
		_ = conn.WriteClose(1000, nil)
		select {
		case <-c.closed:
		case <-time.After(waitLimit):
			_ = conn.NetConn().Close()
			<-c.closed
		}
	})
	return c
}

// close closes the connection and waits until it is closed.
func (c *wsClient) close() {
	c.t.Helper()
	_ = c.conn.WriteClose(1000, nil)
	select {
	case <-c.closed:
	case <-time.After(waitLimit):
		c.t.Fatalf("%s: not closed within %v", c.name, waitLimit)
	}
}

func (c *wsClient) ref() string {
	c.refMu.Lock()
	defer c.refMu.Unlock()
	c.nextRef++
	return strconv.Itoa(c.nextRef)
}

// push sends event on topic (joined before, or a phx_join) and returns its ref.
func (c *wsClient) push(topic, event string, payload any) string {
	c.t.Helper()
	ref := c.ref()
	joinRef := c.joins[topic]
	if event == "phx_join" {
		joinRef = ref
		c.joins[topic] = ref
	}
	p, err := json.Marshal(payload)
	if err != nil {
		c.t.Fatal(err)
	}
	msg, _ := json.Marshal([]any{joinRef, ref, topic, event, json.RawMessage(p)})
	if err := c.conn.WriteMessage(gws.OpcodeText, msg); err != nil {
		c.t.Fatalf("%s: send %s: %v", c.name, msg, err)
	}
	return ref
}

// call pushes event and waits for its reply.
func (c *wsClient) call(topic, event string, payload any) reply {
	c.t.Helper()
	ref := c.push(topic, event, payload)
	f := c.waitFor(fmt.Sprintf("reply to %s %s (ref %s)", topic, event, ref), func(f frame) bool {
		return f.Event == "phx_reply" && f.Topic == topic && f.Ref != nil && *f.Ref == ref
	})
	var r reply
	if err := json.Unmarshal(f.Payload, &r); err != nil {
		c.t.Fatalf("%s: bad reply %s: %v", c.name, f, err)
	}
	return r
}

// join joins topic with params and returns the reply.
func (c *wsClient) join(topic string, params any) reply {
	c.t.Helper()
	return c.call(topic, "phx_join", params)
}

// mustJoin joins and fails the test unless the join is accepted.
func (c *wsClient) mustJoin(topic string, params any, resp any) {
	c.t.Helper()
	r := c.join(topic, params)
	if r.Status != "ok" {
		c.t.Fatalf("%s: join %s refused: %s", c.name, topic, r.Response)
	}
	if resp != nil {
		decode(c.t, r.Response, resp)
	}
}

// waitFor returns the first frame, kept or new, for which match holds, and removes it. It fails the test
// when none arrives within waitLimit.
func (c *wsClient) waitFor(what string, match func(frame) bool) frame {
	c.t.Helper()
	return c.wait(what, match, func(frame) bool { return false })
}

// wait is waitFor that also discards the frames, kept or new, for which drop holds.
func (c *wsClient) wait(what string, match, drop func(frame) bool) frame {
	c.t.Helper()
	for i, f := range c.backlog {
		if match(f) {
			rest := slices.DeleteFunc(c.backlog[i+1:], drop)
			c.backlog = append(slices.DeleteFunc(c.backlog[:i], drop), rest...)
			return f
		}
	}
	c.backlog = slices.DeleteFunc(c.backlog, drop)
	deadline := time.NewTimer(waitLimit)
	defer deadline.Stop()
	for {
		select {
		case data := <-c.frames:
			f, err := parseFrame(data)
			if err != nil {
				c.t.Fatalf("%s: %v", c.name, err)
			}
			if match(f) {
				return f
			}
			if !drop(f) {
				c.backlog = append(c.backlog, f)
			}
		case <-c.closed:
			c.t.Fatalf("%s: connection closed while waiting for %s", c.name, what)
		case <-deadline.C:
			c.t.Fatalf("%s: no %s within %v; unmatched frames:\n%s", c.name, what, waitLimit, c.dump())
		}
	}
}

// waitState waits for a race_state or winner push on topic whose state satisfies cond, and returns it.
// The race_state pushes before it are discarded: states arrive in order, so they are older. They are also
// throttled, so intermediate states may never be seen: always wait for the state you need.
func (c *wsClient) waitState(topic, what string, cond func(raceState) bool) raceState {
	c.t.Helper()
	var st raceState
	isState := func(f frame) bool { return f.Topic == topic && f.Event == eventRaceState }
	c.wait(what, func(f frame) bool {
		if f.Topic != topic || (f.Event != eventRaceState && f.Event != eventWinner) {
			return false
		}
		st = raceState{}
		if err := json.Unmarshal(f.Payload, &st); err != nil {
			c.t.Fatalf("%s: bad %s payload %s: %v", c.name, f.Event, f.Payload, err)
		}
		return cond(st)
	}, isState)
	return st
}

// waitEvent waits for a push of event on topic and decodes its payload into v.
func (c *wsClient) waitEvent(topic, event string, v any) {
	c.t.Helper()
	f := c.waitFor(topic+" "+event, func(f frame) bool { return f.Topic == topic && f.Event == event })
	decode(c.t, f.Payload, v)
}

func (c *wsClient) dump() string {
	var b strings.Builder
	for _, f := range c.backlog {
		b.WriteString("  " + f.String() + "\n")
	}
	return b.String()
}

func decode(t testing.TB, raw json.RawMessage, v any) {
	t.Helper()
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
}
