package host

import (
	"bytes"
	"context"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/pyrehq/pyre/actors/message"
)

type ballastConn struct {
	*drainConn
	ballast []byte
}

// Issue 11.3: once every connection has closed, nothing of them stays reachable (protoactor's PIDSet keeps
// removed children in its slice; see supervisor.ReleaseChild).
func TestClosedConnectionsAreNotRetained(t *testing.T) {
	defer goleak.VerifyNone(t)
	const n, size = 200, 256 << 10
	r := NewRouter(nil)
	r.Channel("room:*", func() Channel { return &plainChannel{size: size / 2} })
	h := New(Config{})
	defer shutdown(t, h)
	connected, err := Connect(r, nil, ConnectInfo{Transport: "websocket"})
	if err != nil {
		t.Fatal(err)
	}
	before := liveHeap()
	sessions := make([]*Session, n)
	for i := range sessions {
		// Half the state is the connection's (as a transport's buffers), half the channel's.
		out := &ballastConn{drainConn: newDrainConn(), ballast: bytes.Repeat([]byte{1}, size/2)}
		s, err := h.Open(connected, out)
		if err != nil {
			t.Fatal(err)
		}
		s.Receive(&message.Message{JoinRef: "1", Ref: "1", Topic: "room:a", Event: message.EventJoin, Payload: message.EmptyObject})
		awaitFrames(t, out.drainConn, 1)
		sessions[i] = s
	}
	peak := liveHeap()
	for i, s := range sessions {
		s.Close()
		sessions[i] = nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// The socket supervisor has seen every socket actor terminate once it counts no child.
	for {
		c, err := h.sockSup.CountChildren(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if c.Specs == 0 && h.Stats().Sockets == 0 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	after := liveHeap()
	data := uint64(n * size)
	t.Logf("live heap %d KiB before, %d KiB with %d connections (%d MiB of state), %d KiB after they closed",
		before>>10, peak>>10, n, data>>20, after>>10)
	if retained := int64(after) - int64(before); retained > int64(data/16) {
		t.Fatalf("%d KiB still reachable with 0 sockets (%d KiB of state was open)", retained>>10, data>>10)
	}
}
