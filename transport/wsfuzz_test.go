package transport

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pyrehq/pyre/actors/channel"
	"github.com/pyrehq/pyre/supervisor"
)

// FuzzWebSocketBytes feeds arbitrary bytes to a live server's socket after the upgrade, then checks that the
// server closed that connection, did not panic, released what the connection held, and still serves
// another client. One endpoint serves the whole run; the endpoint's Shutdown (in the cleanup) and the
// package's goleak check catch goroutines left behind.
func FuzzWebSocketBytes(f *testing.F) {
	heartbeat := []byte(`[null,"1","phoenix","heartbeat",{}]`)
	join := []byte(`["1","1","room:1","phx_join",{}]`)
	for _, seed := range [][]byte{
		hugeLength(0xFFFFFFFFFFFFFFFF), // issue 11: the 14 bytes that crashed the process
		hugeLength(0x8000000000000000),
		clientFrame(true, 1, heartbeat, -1),
		append(clientFrame(true, 1, join, -1), clientFrame(true, 1, []byte(`["1","2","room:1","echo",{"a":1}]`), -1)...),
		clientFrame(true, 2, []byte{0, 1, 1, 6, 4, '1', '2', 'r', 'o', 'o', 'm', ':', '1', 'e', 'c', 'h', 'o', 'x'}, -1),
		clientFrame(true, 2, make([]byte, 100), 60<<10), // a frame in progress
		clientFrame(true, 2, make([]byte, 100), 1<<20),  // too big
		clientFrame(false, 1, []byte(`[null,"1",`), -1), // a message in progress
		append(clientFrame(false, 1, []byte(`[null,"1",`), -1), append(clientFrame(true, 9, nil, -1),
			clientFrame(true, 0, []byte(`"phoenix","heartbeat",{}]`), -1)...)...), // fragments and a ping
		clientFrame(true, 0, []byte("x"), -1),        // continuation first
		{0xC1, 0x81, 0, 0, 0, 0, 'x'},                // RSV1
		{0x81, 0x01, 'x'},                            // unmasked
		clientFrame(true, 8, []byte{3, 232}, -1),     // close
		clientFrame(true, 1, []byte{0xff, 0xfe}, -1), // not UTF-8
		clientFrame(true, 1, []byte("not json"), -1), // malformed
	} {
		f.Add(seed)
	}
	router := channel.NewRouter(testSocket{})
	router.Channel("room:*", func() channel.Channel { return &room{terminated: &reasons{}} },
		channel.WithRestart(supervisor.Temporary))
	ep := NewEndpoint(Config{MaxFrameSize: 64 << 10, MaxInboundBytes: 256 << 10,
		Logger: slog.New(slog.DiscardHandler)})
	ep.Socket("/socket", router)
	srv := serve(f, ep)
	addr := strings.TrimPrefix(srv.URL, "http://")
	control := dial(f, srv, v2, nil)
	var refs atomic.Int64

	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 256<<10 {
			data = data[:256<<10]
		}
		c, err := rawDialErr(addr, v2, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.conn.Close()
		_, _ = c.conn.Write(data) // fails when the server closed early
		_ = c.conn.(*net.TCPConn).CloseWrite()
		_ = c.conn.SetReadDeadline(time.Now().Add(waitLimit))
		if _, err := io.Copy(io.Discard, c.br); errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("server did not close the connection within %v", waitLimit)
		}
		eventually(t, "connection untracked", func() bool {
			ep.mu.Lock()
			defer ep.mu.Unlock()
			return len(ep.conns) == 1
		})
		if n := ep.panics.Load(); n != 0 {
			t.Fatalf("%d read loops panicked", n)
		}
		// The control client's last heartbeat is released once its read loop is back from OnMessage.
		eventually(t, "inbound budget released", func() bool { return ep.inbound.used.Load() == 0 })
		ref := fmt.Sprint(refs.Add(1))
		if err := control.conn.WriteString(`[null,"` + ref + `","phoenix","heartbeat",{}]`); err != nil {
			t.Fatalf("control client: %v", err)
		}
		want := `[null,"` + ref + `","phoenix","phx_reply",{"response":{},"status":"ok"}]`
		select {
		case fr := <-control.frames:
			if !jsonEqual(fr.data, []byte(want)) {
				t.Fatalf("control client got %s, want %s", fr.data, want)
			}
		case <-time.After(waitLimit):
			t.Fatalf("control client: no heartbeat reply within %v", waitLimit)
		}
	})
}
