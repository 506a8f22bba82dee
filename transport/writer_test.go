package transport

import (
	"context"
	"runtime"
	"strings"
	"testing"
	"time"
)

// writerGoroutines returns the stacks of the goroutines writing to a WebSocket connection of their own
// (writeQueue, writeQueueFrom) or closing one (lingerConn.Close).
func writerGoroutines() []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var out []string
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		if strings.Contains(g, "transport.(*wsConn).writeQueue") || strings.Contains(g, "transport.(*lingerConn).Close") {
			out = append(out, g)
		}
	}
	return out
}

func shutdownLeavesNoWriter(t *testing.T, ep *Endpoint) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := ep.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if left := writerGoroutines(); len(left) > 0 {
		t.Fatalf("Shutdown returned with %d writer goroutines left:\n%s", len(left), strings.Join(left, "\n\n"))
	}
}

// Shutdown waits for a connection's own writer, here one holding its first frame for WriteDelay, after the
// client has gone and its read loop has ended.
func TestShutdownWaitsForWriters(t *testing.T) {
	f := newFixture(t, Config{WriteDelay: 2 * time.Second})
	conn := stalledClient(t, strings.TrimPrefix(f.srv.URL, "http://"), "room:w")
	eventually(t, "the join reply's writer started", func() bool { return len(writerGoroutines()) == 1 })
	_ = conn.Close()
	eventually(t, "the socket ended", func() bool { return f.ep.Stats().Sockets == 0 })
	shutdownLeavesNoWriter(t, f.ep)
}

// Shutdown returns, with no writer left, while a writer is blocked on a client that does not read: the
// write ends at its deadline.
func TestShutdownWithWriterStuckOnClient(t *testing.T) {
	f := newFixture(t, Config{WriteTimeout: time.Second, MaxQueueBytes: 64 << 20, MaxQueueMessages: 1 << 14})
	stalledClient(t, strings.TrimPrefix(f.srv.URL, "http://"), "room:stuck")
	eventually(t, "stalled client joined", func() bool { return f.ep.Stats().Channels == 1 })
	body := strings.Repeat("x", 16<<10)
	for n := 0; len(writerGoroutines()) == 0; n++ {
		if n == 2000 { // 32 MB: far more than loopback buffers hold
			t.Fatal("no writer of the connection's own after 2000 broadcasts")
		}
		if err := f.ep.Broadcast("room:stuck", "big", map[string]any{"n": n, "body": body}); err != nil {
			t.Fatal(err)
		}
	}
	shutdownLeavesNoWriter(t, f.ep)
}
