package transport

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lxzan/gws"
)

// waitLimit bounds how long a test waits for a frame: a liveness bound, not a timing assertion.
const waitLimit = 10 * time.Second

// rawClient is a WebSocket client that records every frame, for asserting exact wire behaviour.
type rawClient struct {
	t      testing.TB
	conn   *gws.Conn
	frames chan rawFrame
	closed chan struct{}
	mu     sync.Mutex
	code   uint16
	ep     *Endpoint // serving it, when served by serve(): for barriers through its actors
}

// served maps the test servers serve() started to their endpoints.
var served sync.Map // *httptest.Server → *Endpoint

type rawFrame struct {
	data   []byte
	binary bool
}

func (c *rawClient) OnOpen(*gws.Conn)             {}
func (c *rawClient) OnPing(s *gws.Conn, p []byte) { _ = s.WritePong(p) }
func (c *rawClient) OnPong(*gws.Conn, []byte)     {}
func (c *rawClient) OnMessage(_ *gws.Conn, m *gws.Message) {
	defer m.Close()
	c.frames <- rawFrame{data: append([]byte(nil), m.Bytes()...), binary: m.Opcode == gws.OpcodeBinary}
}
func (c *rawClient) OnClose(_ *gws.Conn, err error) {
	c.mu.Lock()
	if ce, ok := err.(*gws.CloseError); ok {
		c.code = ce.Code
	}
	c.mu.Unlock()
	close(c.closed)
}

// dial connects to path (e.g. "/socket/websocket?vsn=2.0.0") on srv.
func dial(t testing.TB, srv *httptest.Server, path string, header http.Header) *rawClient {
	t.Helper()
	c, resp, err := tryDial(t, srv, path, header)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial %s: %v (HTTP %d)", path, err, status)
	}
	return c
}

func tryDial(t testing.TB, srv *httptest.Server, path string, header http.Header) (*rawClient, *http.Response, error) {
	c := &rawClient{t: t, frames: make(chan rawFrame, 1024), closed: make(chan struct{})}
	conn, resp, err := gws.NewClient(c, &gws.ClientOption{
		Addr:          "ws" + strings.TrimPrefix(srv.URL, "http") + path,
		RequestHeader: header,
	})
	if err != nil {
		return nil, resp, err
	}
	c.conn = conn
	if ep, ok := served.Load(srv); ok {
		c.ep = ep.(*Endpoint)
	}
	go conn.ReadLoop()
	t.Cleanup(func() {
		_ = conn.WriteClose(1000, nil)
		<-c.closed
	})
	return c, resp, nil
}

func (c *rawClient) send(frame string) {
	c.t.Helper()
	if err := c.conn.WriteString(frame); err != nil {
		c.t.Fatalf("send %s: %v", frame, err)
	}
}

func (c *rawClient) sendBinary(frame []byte) {
	c.t.Helper()
	if err := c.conn.WriteMessage(gws.OpcodeBinary, frame); err != nil {
		c.t.Fatalf("send binary: %v", err)
	}
}

// next returns the next frame.
func (c *rawClient) next() rawFrame {
	c.t.Helper()
	select {
	case f := <-c.frames:
		return f
	case <-c.closed:
		select {
		case f := <-c.frames:
			return f
		default:
		}
		c.t.Fatalf("connection closed (code %d) while waiting for a frame", c.closeCode())
	case <-time.After(waitLimit):
		c.t.Fatalf("no frame within %v", waitLimit)
	}
	return rawFrame{}
}

// expect asserts that the next frame is the JSON want (compared as values, so key order is free).
func (c *rawClient) expect(want string) {
	c.t.Helper()
	f := c.next()
	if !jsonEqual(f.data, []byte(want)) {
		c.t.Fatalf("frame mismatch\n got: %s\nwant: %s", f.data, want)
	}
}

// expectNone asserts that no frame is waiting right now (after a round trip that proves the server
// handled what came before, see sync).
func (c *rawClient) expectNone() {
	c.t.Helper()
	select {
	case f := <-c.frames:
		c.t.Fatalf("unexpected frame %s", f.data)
	default:
	}
}

// sync sends a heartbeat and waits for its reply, so every earlier frame has been handled by the socket.
func (c *rawClient) sync(ref string) {
	c.t.Helper()
	c.send(fmt.Sprintf(`[null,%q,"phoenix","heartbeat",{}]`, ref))
	c.expect(fmt.Sprintf(`[null,%q,"phoenix","phx_reply",{"response":{},"status":"ok"}]`, ref))
}

func (c *rawClient) waitClosed() uint16 {
	c.t.Helper()
	select {
	case <-c.closed:
	case <-time.After(waitLimit):
		c.t.Fatalf("connection not closed within %v", waitLimit)
	}
	return c.closeCode()
}

func (c *rawClient) closeCode() uint16 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.code
}

func jsonEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

// eventually polls cond until it holds or the liveness bound passes.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, waitLimit)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// quiet asserts that nothing more arrives at any of cs: a heartbeat round trip for each (what each sent
// has reached its socket actor), a barrier through every socket and channel actor of ep (Host.Sync: what
// they had to do is done, whatever mailbox it went through), a heartbeat round trip for each again (what
// they wrote is here, ahead of the reply in the same queue), and no other frame.
func quiet(t testing.TB, ep *Endpoint, tag string, cs ...*rawClient) {
	t.Helper()
	for i, c := range cs {
		c.sync(fmt.Sprintf("%s-in-%d", tag, i))
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := ep.host.Sync(ctx); err != nil {
		t.Fatalf("the actors did not become idle: %v", err)
	}
	for i, c := range cs {
		c.sync(fmt.Sprintf("%s-out-%d", tag, i))
		c.expectNone()
	}
}
