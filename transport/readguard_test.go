package transport

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"errors"
	"io"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestTopBitLengthCloses1002(t *testing.T) {
	f := newFixture(t, Config{})
	addr := strings.TrimPrefix(f.srv.URL, "http://")
	control := dial(t, f.srv, v2, nil)
	for _, length := range []uint64{0xFFFFFFFFFFFFFFFF, 0x8000000000000000} {
		c := rawDial(t, addr, nil)
		c.write(hugeLength(length))
		c.expectClose(1002)
		// Pipelined with the handshake: the bytes net/http already buffered are checked too.
		c = rawDial(t, addr, hugeLength(length))
		c.expectClose(1002)
		control.sync("alive")
	}
}

// chunkReader returns its data in the given chunk sizes (the last chunk takes the rest).
type chunkReader struct {
	data   []byte
	chunks []int
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := len(r.data)
	if len(r.chunks) > 0 {
		n = min(n, r.chunks[0])
		r.chunks = r.chunks[1:]
	}
	n = copy(p, r.data[:n])
	r.data = r.data[n:]
	return n, nil
}

type guardRefusal struct {
	code uint16
	why  string
}

// guardRead reads stream through a read guard as gws does (through a small bufio.Reader), with the
// client's bytes arriving in chunks, and returns what gws would see and the refusal, if any.
func guardRead(t *testing.T, ep *Endpoint, stream []byte, chunks []int) ([]byte, *guardRefusal, *readGuard) {
	t.Helper()
	var g readGuard
	var got *guardRefusal
	g.init(ep, &chunkReader{data: stream, chunks: chunks}, nil, func(code uint16, why string) {
		if got != nil {
			t.Fatalf("refused twice: %d %q, then %d %q", got.code, got.why, code, why)
		}
		got = &guardRefusal{code, why}
	})
	out, err := io.ReadAll(bufio.NewReaderSize(&g, 16))
	if got != nil && !errors.Is(err, errRefused) || got == nil && err != nil {
		t.Fatalf("read error %v with refusal %v", err, got)
	}
	return out, got, &g
}

func guardEndpoint(maxFrame, budget int) *Endpoint {
	ep := &Endpoint{cfg: Config{MaxFrameSize: maxFrame}}
	ep.inbound.max = int64(budget)
	return ep
}

// splits runs check for stream split in two at every byte, and sent a byte at a time. In a long stream,
// the middle (a long payload: the frames are in its first 500 and last 100 bytes) is split at every 997th
// byte only.
func splits(t *testing.T, stream []byte, check func(chunks []int)) {
	t.Helper()
	for i := 0; i <= len(stream); i++ {
		if i > 500 && i < len(stream)-100 && i%997 != 0 {
			continue
		}
		check([]int{i})
	}
	ones := make([]int, len(stream))
	for i := range ones {
		ones[i] = 1
	}
	check(ones)
}

func TestReadGuardPassesValidStreams(t *testing.T) {
	big := bytes.Repeat([]byte("x"), 70_000) // a 64-bit length
	mid := bytes.Repeat([]byte("y"), 300)    // a 16-bit length
	var stream []byte
	for _, f := range [][]byte{
		clientFrame(true, 1, []byte(`[null,"1","phoenix","heartbeat",{}]`), -1),
		clientFrame(false, 1, []byte(`[null,"2",`), -1), // fragmented, with control frames between
		clientFrame(true, 9, []byte("ping"), -1),
		clientFrame(false, 0, nil, -1),
		clientFrame(true, 10, nil, -1),
		clientFrame(true, 0, []byte(`"phoenix","heartbeat",{}]`), -1),
		clientFrame(true, 2, mid, -1),
		clientFrame(true, 2, big, -1),
		clientFrame(true, 1, nil, -1),
		clientFrame(true, 8, []byte{3, 232}, -1),
	} {
		stream = append(stream, f...)
	}
	claimed := int64(35 + 3*(10+25) + 300 + 70_000) // a fragmented message counts three times
	splits(t, stream, func(chunks []int) {
		ep := guardEndpoint(1<<20, 1<<20)
		out, ref, g := guardRead(t, ep, stream, chunks)
		if ref != nil || !bytes.Equal(out, stream) {
			t.Fatalf("chunks %v: refusal %v, passed %d of %d bytes", chunks[:min(len(chunks), 3)], ref, len(out), len(stream))
		}
		if used := ep.inbound.used.Load(); used != claimed || g.since.Load() != 0 {
			t.Fatalf("budget used %d, want %d; unfinished since %d", used, claimed, g.since.Load())
		}
		g.handed()
		if used := ep.inbound.used.Load(); used != 0 {
			t.Fatalf("budget used %d after the messages were handed over", used)
		}
	})
}

func TestReadGuardRefusals(t *testing.T) {
	prefix := clientFrame(true, 1, []byte(`[null,"1","phoenix","heartbeat",{}]`), -1)
	frag := clientFrame(false, 1, []byte("[1,"), -1)
	for _, tc := range []struct {
		name          string
		before, bad   []byte
		code          uint16
		maxFrame, max int
	}{
		{"top bit all ones", nil, hugeLength(0xFFFFFFFFFFFFFFFF), 1002, 0, 0},
		{"top bit only", nil, hugeLength(0x8000000000000000), 1002, 0, 0},
		{"top bit on a ping", nil, append([]byte{0x89, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0}, 0, 0, 0, 0), 1002, 0, 0},
		{"rsv1", nil, append([]byte{0xC1}, clientFrame(true, 1, []byte("x"), -1)[1:]...), 1002, 0, 0},
		{"rsv3", nil, append([]byte{0x91}, clientFrame(true, 1, []byte("x"), -1)[1:]...), 1002, 0, 0},
		{"unmasked", nil, []byte{0x81, 0x01, 'x'}, 1002, 0, 0},
		{"reserved data opcode", nil, clientFrame(true, 3, nil, -1), 1002, 0, 0},
		{"reserved control opcode", nil, clientFrame(true, 11, nil, -1), 1002, 0, 0},
		{"fragmented ping", nil, clientFrame(false, 9, nil, -1), 1002, 0, 0},
		{"long ping", nil, clientFrame(true, 9, make([]byte, 126), -1), 1002, 0, 0},
		{"continuation first", nil, clientFrame(true, 0, []byte("x"), -1), 1002, 0, 0},
		{"text inside a fragmented message", frag, clientFrame(true, 1, []byte("x"), -1), 1002, 0, 0},
		{"frame too big", nil, clientFrame(true, 2, nil, 1025), 1009, 1024, 0},
		{"huge frame", nil, clientFrame(true, 2, nil, 1<<62), 1009, 1024, 0},
		{"fragments too big", clientFrame(false, 2, make([]byte, 1000), -1), clientFrame(true, 0, nil, 25), 1009, 1024, 0},
		{"budget", nil, clientFrame(true, 2, nil, 9000), 1013, 1 << 20, 8192},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := append(append([]byte(nil), prefix...), tc.before...)
			stream := append(append(append([]byte(nil), before...), tc.bad...), prefix...)
			splits(t, stream, func(chunks []int) {
				ep := guardEndpoint(cmp.Or(tc.maxFrame, 1<<20), cmp.Or(tc.max, 1<<20))
				out, ref, g := guardRead(t, ep, stream, chunks)
				if ref == nil || ref.code != tc.code || !bytes.Equal(out, before) {
					t.Fatalf("chunks %v: refusal %v, passed %x; want %d after %x", chunks[:min(len(chunks), 3)], ref, out, tc.code, before)
				}
				g.end()
				if used := ep.inbound.used.Load(); used != 0 {
					t.Fatalf("budget used %d after the connection ended", used)
				}
			})
		})
	}
}

// logRecorder is a slog handler that keeps the messages it is given.
type logRecorder struct {
	mu   sync.Mutex
	msgs []string
}

func (r *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *logRecorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, rec.Level.String()+" "+rec.Message)
	return nil
}
func (r *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *logRecorder) WithGroup(string) slog.Handler      { return r }

func (r *logRecorder) count(substr string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, m := range r.msgs {
		if strings.Contains(m, substr) {
			n++
		}
	}
	return n
}

// A panic on a connection's read goroutine ends that connection only, with 1011 and a log line, and its
// bookkeeping is done: the endpoint counts it gone, and Shutdown (the fixture's cleanup) returns.
func TestReadLoopPanicClosesOnlyThatConnection(t *testing.T) {
	logs := &logRecorder{}
	f := newFixture(t, Config{Logger: slog.New(logs)})
	f.ep.readHook = func(b []byte) {
		if bytes.Contains(b, []byte("PANIC")) {
			panic("test: read hook")
		}
	}
	control := dial(t, f.srv, v2, nil)
	control.send(`["1","1","room:1","phx_join",{}]`)
	control.expect(`["1","1","room:1","phx_reply",{"response":{"joined":"room:1"},"status":"ok"}]`)
	for i := 0; i < 3; i++ {
		c := rawDial(t, strings.TrimPrefix(f.srv.URL, "http://"), nil)
		c.write(clientFrame(true, 1, []byte(`"PANIC"`), -1))
		c.expectClose(1011)
	}
	eventually(t, "crashed connections untracked", func() bool { return f.ep.Stats().Sockets == 1 })
	if n := logs.count("read loop panicked"); n != 1 { // rate-limited: one line a second
		t.Fatalf("%d panic log lines, want 1", n)
	}
	if n := f.ep.panics.Load(); n != 3 {
		t.Fatalf("%d panics counted, want 3", n)
	}
	control.send(`["1","2","room:1","echo",{"still":"here"}]`)
	control.expect(`["1","2","room:1","phx_reply",{"response":{"still":"here"},"status":"ok"}]`)
}

// heapAlloc is the live heap after a collection.
func heapAlloc() int64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}

// Frames in progress cannot take more memory than the inbound budget across the endpoint: the claims that
// do not fit close their connections with 1013, the others carry on, and a small message still gets
// through a full budget.
func TestInboundBudgetBoundsFramesInProgress(t *testing.T) {
	const claim, budget = 4 << 20, 12 << 20 // the smallest budget for this MaxFrameSize
	logs := &logRecorder{}
	f := newFixture(t, Config{MaxFrameSize: claim, MaxInboundBytes: budget, Logger: slog.New(logs)})
	addr := strings.TrimPrefix(f.srv.URL, "http://")
	control := dial(t, f.srv, v2, nil)
	control.send(`["1","1","room:1","phx_join",{}]`)
	control.expect(`["1","1","room:1","phx_reply",{"response":{"joined":"room:1"},"status":"ok"}]`)
	before := heapAlloc()
	var open []*rawConn
	for i := 0; i < 10; i++ {
		c := rawDial(t, addr, nil)
		// A 4 MiB binary frame, all but its last byte held back: gws holds the frame's buffer meanwhile.
		c.write(clientFrame(true, 2, make([]byte, 1024), claim))
		if i < budget/claim {
			eventually(t, "claim taken", func() bool { return f.ep.inbound.used.Load() == int64(i+1)*claim })
			open = append(open, c)
			continue
		}
		c.expectClose(1013)
	}
	if grown := heapAlloc() - before; grown > budget+budget/2 {
		t.Fatalf("live heap grew by %d MiB with %d MiB of frames in progress allowed", grown>>20, budget>>20)
	}
	control.send(`["1","2","room:1","echo",{"still":"here"}]`)
	control.expect(`["1","2","room:1","phx_reply",{"response":{"still":"here"},"status":"ok"}]`)
	eventually(t, "refused connections gone, the others open", func() bool {
		return f.ep.Stats().Sockets == int64(1+len(open))
	})
	for _, c := range open { // still open: a heartbeat after the rest of the frame gets its reply
		c.write(make([]byte, claim-1024))
		c.write(clientFrame(true, 1, []byte(`[null,"9","phoenix","heartbeat",{}]`), -1))
		for {
			_, reply := c.readFrame()
			if jsonEqual(reply, []byte(`[null,"9","phoenix","phx_reply",{"response":{},"status":"ok"}]`)) {
				break
			}
		}
	}
	if n := logs.count("inbound frame refused"); n != 1 {
		t.Fatalf("%d refusal log lines, want 1 (rate-limited)", n)
	}
	for _, c := range open {
		c.conn.Close()
	}
	eventually(t, "budget released", func() bool { return f.ep.inbound.used.Load() == 0 })
}

// A message left unfinished is closed after IdleTimeout, although the client pings between fragments
// (each ping resets the idle clock); a connection that only pings stays open.
func TestUnfinishedMessageTimesOut(t *testing.T) {
	const idle = 300 * time.Millisecond
	f := newFixture(t, Config{IdleTimeout: idle})
	addr := strings.TrimPrefix(f.srv.URL, "http://")
	half := rawDial(t, addr, nil)
	pinger := rawDial(t, addr, nil)
	half.write(clientFrame(false, 1, bytes.Repeat([]byte("x"), 1000), -1))
	start := time.Now()
	done, stopped := make(chan struct{}), make(chan struct{})
	go func() { // pings from both, every idle/6, for 10 idle timeouts at most
		defer close(stopped)
		for i := 0; i < 60; i++ {
			select {
			case <-done:
				return
			case <-time.After(idle / 6):
			}
			_, _ = half.conn.Write(clientFrame(true, 9, []byte("p"), -1))
			_, _ = pinger.conn.Write(clientFrame(true, 9, []byte("p"), -1))
		}
	}()
	defer func() { <-stopped }()
	defer close(done)
	for {
		op, payload := half.readFrame()
		if op == 0xA {
			continue // a pong
		}
		if op != 0x8 || !bytes.Equal(payload, []byte{0x03, 0xE9}) {
			t.Fatalf("frame %x %x, want close 1001", op, payload)
		}
		break
	}
	select {
	case <-stopped:
		t.Fatalf("closed only once the pings stopped, after %v: the message outlived the idle timeout (%v)", time.Since(start), idle)
	default:
	}
	if d := time.Since(start); d < idle {
		t.Fatalf("closed after %v, before the idle timeout (%v)", d, idle)
	}
	// The pinger, connected as long (past the idle timeout), was never idle: it still answers.
	pinger.write(clientFrame(true, 1, []byte(`[null,"9","phoenix","heartbeat",{}]`), -1))
	for {
		op, payload := pinger.readFrame()
		if op == 0xA {
			continue
		}
		if op != 0x1 || !jsonEqual(payload, []byte(`[null,"9","phoenix","phx_reply",{"response":{},"status":"ok"}]`)) {
			t.Fatalf("pinger got %x %x, want the heartbeat reply", op, payload)
		}
		break
	}
}
