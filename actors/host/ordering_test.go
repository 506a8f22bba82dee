package host

import (
	"net/url"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/pyrehq/pyre/actors/message"
)

// publishingConn publishes a broadcast on the join's topic from inside the Write of the join reply: after the
// channel subscribed, before its reply is queued — the narrowest window a broadcast can hit.
type publishingConn struct {
	h      *Host
	mu     sync.Mutex
	frames []string // event names, in the order queued
	got    chan struct{}
}

func (c *publishingConn) Write(m *message.Message) error {
	if m.Event == message.EventReply && m.Ref == m.JoinRef {
		_ = c.h.Broadcast(m.Topic, "during_reply", nil)
	}
	c.add(m.Event)
	return nil
}

func (c *publishingConn) WriteBroadcast(b *message.Broadcast) error {
	c.add(b.Event)
	return nil
}

func (c *publishingConn) add(event string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.frames = append(c.frames, event)
	if len(c.frames) == 2 {
		close(c.got)
	}
}

func (c *publishingConn) Close(CloseCode) {}

type quietChannel struct{}

func (quietChannel) Join(*Socket, string, Payload) (any, error)       { return nil, nil }
func (quietChannel) HandleIn(*Socket, string, Payload) (Reply, error) { return NoReply, nil }

// A broadcast published between the channel's subscription and the queueing of its join reply goes out after
// the reply (transport/PROTOCOL.md §11, row 2; Phoenix: fastlane frames wait in the socket's mailbox behind the reply).
func TestJoinReplyPrecedesBroadcastPublishedDuringIt(t *testing.T) {
	defer goleak.VerifyNone(t)
	r := NewRouter(ConnectFunc(func(url.Values, ConnectInfo) (Assigns, error) { return nil, nil }))
	r.Channel("room:*", func() Channel { return quietChannel{} })
	h := New(Config{})
	connected, err := Connect(r, nil, ConnectInfo{Transport: "websocket"})
	if err != nil {
		t.Fatal(err)
	}
	out := &publishingConn{h: h, got: make(chan struct{})}
	s, err := h.Open(connected, out)
	if err != nil {
		t.Fatal(err)
	}
	s.Receive(&message.Message{JoinRef: `"1"`, Ref: `"1"`, Topic: "room:1", Event: message.EventJoin, Payload: message.EmptyObject})
	select {
	case <-out.got:
	case <-time.After(10 * time.Second):
		t.Fatal("no reply and broadcast within 10 s")
	}
	out.mu.Lock()
	frames := append([]string(nil), out.frames...)
	out.mu.Unlock()
	if len(frames) != 2 || frames[0] != message.EventReply || frames[1] != "during_reply" {
		t.Fatalf("queued %v, want the join reply, then the broadcast", frames)
	}
	if err := h.Shutdown(t.Context(), CloseServiceRestart); err != nil {
		t.Fatal(err)
	}
}
