package main

import (
	"bytes"
	"context"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/lxzan/gws"
	"go.uber.org/goleak"

	"github.com/pyrehq/pyre/actors/channel"
	"github.com/pyrehq/pyre/transport"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// waitLimit bounds every wait for a frame: a liveness bound, never a timing assertion.
const waitLimit = 10 * time.Second

// client is a raw WebSocket client that records every frame.
type client struct {
	t      *testing.T
	conn   *gws.Conn
	frames chan wsFrame
	closed chan struct{}
	code   uint16 // written before closed is closed
}

type wsFrame struct {
	data   []byte
	binary bool
}

func (c *client) OnOpen(*gws.Conn)             {}
func (c *client) OnPing(s *gws.Conn, p []byte) { _ = s.WritePong(p) }
func (c *client) OnPong(*gws.Conn, []byte)     {}
func (c *client) OnMessage(_ *gws.Conn, m *gws.Message) {
	defer m.Close()
	c.frames <- wsFrame{append([]byte(nil), m.Bytes()...), m.Opcode == gws.OpcodeBinary}
}
func (c *client) OnClose(_ *gws.Conn, err error) {
	if ce, ok := err.(*gws.CloseError); ok {
		c.code = ce.Code
	}
	close(c.closed)
}

func dial(t *testing.T, srv *httptest.Server) *client {
	t.Helper()
	c := &client{t: t, frames: make(chan wsFrame, 64), closed: make(chan struct{})}
	conn, _, err := gws.NewClient(c, &gws.ClientOption{Addr: "ws" + strings.TrimPrefix(srv.URL, "http") + "/socket/websocket?vsn=2.0.0"})
	if err != nil {
		t.Fatal(err)
	}
	c.conn = conn
	go conn.ReadLoop()
	t.Cleanup(func() {
		_ = conn.WriteClose(1000, nil)
		<-c.closed
	})
	return c
}

func (c *client) text(s string) {
	c.t.Helper()
	if err := c.conn.WriteString(s); err != nil {
		c.t.Fatal(err)
	}
}

func (c *client) binary(b []byte) {
	c.t.Helper()
	if err := c.conn.WriteMessage(gws.OpcodeBinary, b); err != nil {
		c.t.Fatal(err)
	}
}

func (c *client) next() wsFrame {
	c.t.Helper()
	select {
	case f := <-c.frames:
		return f
	case <-c.closed:
		c.t.Fatalf("connection closed (%d) while waiting for a frame", c.code)
	case <-time.After(waitLimit):
		c.t.Fatal("no frame")
	}
	return wsFrame{}
}

func (c *client) expectText(want string) {
	c.t.Helper()
	if f := c.next(); f.binary || string(f.data) != want {
		c.t.Fatalf("got %q (binary %v)\nwant %s", f.data, f.binary, want)
	}
}

func (c *client) expectBinary(want []byte) {
	c.t.Helper()
	if f := c.next(); !f.binary || !bytes.Equal(f.data, want) {
		c.t.Fatalf("got % x (binary %v)\nwant % x", f.data, f.binary, want)
	}
}

func serve(t *testing.T, ep *transport.Endpoint) *httptest.Server {
	srv := httptest.NewServer(ep)
	t.Cleanup(func() {
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		if err := ep.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return srv
}

var quiet = transport.Config{Logger: slog.New(slog.DiscardHandler)}

// realtime-js's user broadcasts over the loopback, with the Realtime serializer mounted: a JSON one (kind
// 3, JSON encoding) reaches the other client as the V2 text frame realtime-js decodes, a binary one as
// kind 4; the sender, joined with ack, gets each acknowledged.
func TestRealtimeBroadcastsOverLoopback(t *testing.T) {
	srv := serve(t, newEndpoint(quiet))
	a, b := dial(t, srv), dial(t, srv)
	a.text(`["1","1","realtime:room","phx_join",{"config":{"broadcast":{"self":false,"ack":true}}}]`)
	a.expectText(`["1","1","realtime:room","phx_reply",{"response":{"postgres_changes":[]},"status":"ok"}]`)
	b.text(`["7","7","realtime:room","phx_join",{}]`)
	b.expectText(`["7","7","realtime:room","phx_reply",{"response":{"postgres_changes":[]},"status":"ok"}]`)

	a.binary(kind3("1", "2", "realtime:room", "cursor", "", encodingJSON, []byte(`{"x":1}`)))
	a.expectText(`["1","2","realtime:room","phx_reply",{"response":{},"status":"ok"}]`)
	b.expectText(`[null,null,"realtime:room","broadcast",{"type":"broadcast","event":"cursor","payload":{"x":1}}]`)

	a.binary(kind3("1", "3", "realtime:room", "file", "", encodingBinary, []byte{0xca, 0xfe}))
	a.expectText(`["1","3","realtime:room","phx_reply",{"response":{},"status":"ok"}]`)
	b.expectBinary(append([]byte{kindUserBroadcast, 13, 4, 0, encodingBinary}, "realtime:roomfile\xca\xfe"...))

	// The same from an older client, as a V2 text push.
	a.text(`["1","4","realtime:room","broadcast",{"type":"broadcast","event":"cursor","payload":{"x":2}}]`)
	a.expectText(`["1","4","realtime:room","phx_reply",{"response":{},"status":"ok"}]`)
	b.expectText(`[null,null,"realtime:room","broadcast",{"type":"broadcast","event":"cursor","payload":{"x":2}}]`)
}

// With Phoenix's serializers (no WithSerializers), the first kind 3 frame closes the connection with
// 1011: what a realtime-js user ran into (issue 13.5).
func TestDefaultSerializersRefuseUserBroadcastPush(t *testing.T) {
	router := channel.NewRouter(nil)
	router.Channel("realtime:*", func() channel.Channel { return &Room{} })
	ep := transport.NewEndpoint(quiet)
	ep.Socket("/socket", router)
	srv := serve(t, ep)
	a := dial(t, srv)
	a.text(`["1","1","realtime:room","phx_join",{}]`)
	a.expectText(`["1","1","realtime:room","phx_reply",{"response":{"postgres_changes":[]},"status":"ok"}]`)
	a.binary(kind3("1", "2", "realtime:room", "cursor", "", encodingJSON, []byte(`{"x":1}`)))
	select {
	case <-a.closed:
	case <-time.After(waitLimit):
		t.Fatal("not closed")
	}
	if a.code != 1011 {
		t.Fatalf("close code %d, want 1011", a.code)
	}
	if n := ep.Stats().MalformedFrames; n != 1 {
		t.Fatalf("MalformedFrames %d, want 1", n)
	}
}
