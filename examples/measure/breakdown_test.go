package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"runtime/metrics"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pyrehq/pyre/actors/telemetry"
)

// The breakdown of a connection's memory, by who allocates it (issue 16):
//
//	go test -run TestMemoryBreakdown -v ./examples/measure/ [-breakdown.conns 2000]
//
// Each server (Pyre, and raw gws with a 512-byte and a 4 KiB read buffer) runs in this process behind a
// listener; bare TCP clients (no gws, no goroutine each) connect, join room:m0, then room:m1…m4. Every heap
// allocation is sampled (runtime.MemProfileRate = 1) and the live bytes after a GC are diffed between the
// readings and divided by the connections (per extra channel: by connections × 4). Allocations made by the
// clients are left out by their stacks. Goroutine stacks are not heap: they are the StackInuse delta.
var breakdownConns = flag.Int("breakdown.conns", 300, "TestMemoryBreakdown: connections per server")

func TestMemoryBreakdown(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	n := *breakdownConns
	old := runtime.MemProfileRate
	runtime.MemProfileRate = 1
	defer func() { runtime.MemProfileRate = old }()
	for _, kind := range []string{"pyre", "gws-512", "gws-4k"} {
		t.Run(kind, func(t *testing.T) {
			var b backend
			switch kind {
			case "pyre":
				p, err := newPyreBackend(time.Hour, 0, clusterOpts{}, telemetry.Events{})
				if err != nil {
					t.Fatal(err)
				}
				b = p
			case "gws-512":
				b = newGwsBackend(512)
			default:
				b = newGwsBackend(4 << 10)
			}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			srv := &http.Server{Handler: b.socket(), ReadHeaderTimeout: 10 * time.Second}
			go func() { _ = srv.Serve(ln) }()
			defer srv.Close()
			addr := ln.Addr().String()

			r0 := readBreakdown()
			clients := make([]*rawClient, 0, n)
			defer func() {
				for _, c := range clients {
					_ = c.conn.Close()
				}
			}()
			for i := range n {
				c, err := rawDial(addr)
				if err != nil {
					t.Fatalf("client %d: %v", i, err)
				}
				clients = append(clients, c)
				if err := c.join("room:m0", 1); err != nil {
					t.Fatalf("client %d: %v", i, err)
				}
			}
			r1 := readBreakdown()
			for _, c := range clients {
				for k := 1; k <= 4; k++ {
					if err := c.join(fmt.Sprintf("room:m%d", k), k+1); err != nil {
						t.Fatal(err)
					}
				}
			}
			r5 := readBreakdown()
			t.Logf("\n%s", formatBreakdown(kind, n, r0, r1, r5))
		})
	}
}

// breakdown is one reading: live heap bytes and objects by allocation group and by site, and the runtime's
// own figures.
type breakdown struct {
	groups, sites map[string][2]int64 // bytes, objects
	heapInuse     uint64
	stackInuse    uint64
	goroutines    int
}

func readBreakdown() breakdown {
	for range 3 {
		runtime.GC() // the profile shows the heap as of the last complete GC cycle
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b := breakdown{groups: map[string][2]int64{}, sites: map[string][2]int64{},
		heapInuse: ms.HeapInuse, stackInuse: ms.StackInuse, goroutines: runtime.NumGoroutine()}
	var recs []runtime.MemProfileRecord
	for {
		k, ok := runtime.MemProfile(recs, true)
		if ok {
			recs = recs[:k]
			break
		}
		recs = make([]runtime.MemProfileRecord, k+100)
	}
	for _, r := range recs {
		group, site := classify(r.Stack())
		if group == "" {
			continue // a client's
		}
		add := func(m map[string][2]int64, k string) {
			v := m[k]
			m[k] = [2]int64{v[0] + r.InUseBytes(), v[1] + r.InUseObjects()}
		}
		add(b.groups, group)
		add(b.sites, group+" · "+site)
	}
	return b
}

// classify names the group and the site of an allocation from its stack: the site is the innermost frame
// outside the runtime and the standard library's containers, the group its owner. "" for the clients'.
func classify(stk []uintptr) (group, site string) {
	frames := runtime.CallersFrames(stk)
	var names []string
	for {
		f, more := frames.Next()
		names = append(names, f.Function)
		if !more {
			break
		}
	}
	for _, fn := range names {
		if strings.Contains(fn, "measure.(*rawClient)") || strings.Contains(fn, "measure.rawDial") ||
			strings.Contains(fn, "measure.readBreakdown") {
			return "", ""
		}
	}
	skip := func(fn string) bool {
		for _, p := range []string{"runtime.", "internal/", "sync.", "sync/", "strings.", "bytes.", "slices.", "maps.", "reflect.", "strconv.", "unicode/", "encoding/"} {
			if strings.HasPrefix(fn, p) {
				return true
			}
		}
		return false
	}
	for i, fn := range names {
		if skip(fn) {
			continue
		}
		site = short(fn)
		if fn == "bufio.NewReaderSize" && i+1 < len(names) {
			return "read buffer (bufio)", site + " ← " + short(names[i+1])
		}
		switch {
		case strings.Contains(fn, "protoactor-go") || strings.Contains(fn, "concurrent-map"):
			return "protoactor (process, mailbox, context, registry)", site + callerIn(names[i+1:])
		case strings.Contains(fn, "lxzan/gws"):
			return "gws connection", site
		case strings.Contains(fn, "pyre/supervisor"):
			return "supervisor", site
		case strings.Contains(fn, "pyre/actors/pubsub"):
			return "pubsub", site
		case strings.Contains(fn, "pyre/actors/host") || strings.Contains(fn, "pyre/actors/channel"):
			return "channel runtime (actors/host)", site
		case strings.Contains(fn, "pyre/actors/message"):
			return "messages", site
		case strings.Contains(fn, "pyre/transport"):
			return "transport", site
		case strings.HasPrefix(fn, "net.") || strings.HasPrefix(fn, "net/http") || strings.HasPrefix(fn, "syscall."):
			return "net (fd, addresses)", site
		case strings.HasPrefix(fn, "main.") || strings.Contains(fn, "examples/measure"):
			return "server (examples/measure)", site
		}
		return "other", site
	}
	return "runtime (goroutines, timers)", short(names[0])
}

// callerIn names the first Pyre frame of a library allocation: who asked for it.
func callerIn(names []string) string {
	for _, fn := range names {
		if strings.Contains(fn, "pyrehq/pyre") {
			return " ← " + short(fn)
		}
	}
	return ""
}

func short(fn string) string {
	if i := strings.LastIndex(fn, "/"); i >= 0 {
		return fn[i+1:]
	}
	return fn
}

func formatBreakdown(kind string, n int, r0, r1, r5 breakdown) string {
	var sb strings.Builder
	perConn := func(a, b map[string][2]int64, div float64) ([]string, map[string][2]float64) {
		out := map[string][2]float64{}
		for k, v := range b {
			d := [2]float64{float64(v[0]-a[k][0]) / div, float64(v[1]-a[k][1]) / div}
			if d[0] >= 8 || d[0] <= -8 {
				out[k] = d
			}
		}
		keys := make([]string, 0, len(out))
		for k := range out {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, func(x, y string) int { return int(out[y][0]*100) - int(out[x][0]*100) })
		return keys, out
	}
	section := func(title string, a, b breakdown, div float64) {
		fmt.Fprintf(&sb, "%s %s (per %s):\n", kind, title, map[bool]string{true: "connection", false: "extra channel"}[div == float64(n)])
		keys, g := perConn(a.groups, b.groups, div)
		var total float64
		for _, k := range keys {
			total += g[k][0]
			fmt.Fprintf(&sb, "  %8.0f B %6.1f objs  %s\n", g[k][0], g[k][1], k)
		}
		fmt.Fprintf(&sb, "  %8.0f B heap sampled (HeapInuse delta %.0f B), stack %.0f B, goroutines %.2f\n", total,
			(float64(b.heapInuse)-float64(a.heapInuse))/div, (float64(b.stackInuse)-float64(a.stackInuse))/div,
			float64(b.goroutines-a.goroutines)/div)
		keys, s := perConn(a.sites, b.sites, div)
		fmt.Fprintf(&sb, "  sites:\n")
		for _, k := range keys {
			fmt.Fprintf(&sb, "    %8.0f B %6.1f objs  %s\n", s[k][0], s[k][1], k)
		}
	}
	// New goroutines start with the average stack in use at the last GC (Go's adaptive stack start): a read
	// goroutine that waits deeper than ~1.1 KB needs 4 KiB, else 2 KiB.
	start := []metrics.Sample{{Name: "/gc/stack/starting-size:bytes"}}
	metrics.Read(start)
	fmt.Fprintf(&sb, "%s: goroutine starting stack %d B\n", kind, start[0].Value.Uint64())
	section("connection with 1 channel", r0, r1, float64(n))
	section("4 more channels", r1, r5, float64(n)*4)
	return sb.String()
}

// rawClient is a bare WebSocket client: a TCP connection and nothing else, read synchronously.
type rawClient struct {
	conn net.Conn
	r    *bufio.Reader
}

func rawDial(addr string) (*rawClient, error) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	_, err = io.WriteString(conn, "GET /socket/websocket?vsn=2.0.0 HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"+
		"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	c := &rawClient{conn: conn, r: bufio.NewReaderSize(conn, 256)}
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			_ = conn.Close()
			return nil, err
		}
		if strings.HasPrefix(line, "HTTP/1.1 ") && !strings.HasPrefix(line, "HTTP/1.1 101") {
			_ = conn.Close()
			return nil, fmt.Errorf("upgrade: %s", strings.TrimSpace(line))
		}
		if line == "\r\n" {
			return c, nil
		}
	}
}

// join sends phx_join (masked text frame) and reads frames until its ok reply.
func (c *rawClient) join(topic string, ref int) error {
	_ = c.conn.SetDeadline(time.Now().Add(10 * time.Second))
	payload := fmt.Sprintf(`["%d","%d",%q,"phx_join",{}]`, ref, ref, topic)
	frame := []byte{0x81, 0x80 | byte(len(payload)), 0, 0, 0, 0} // zero mask: the payload as is
	if _, err := c.conn.Write(append(frame, payload...)); err != nil {
		return err
	}
	want := fmt.Sprintf(`["%d","%d",%q,"phx_reply",`, ref, ref, topic)
	for {
		var h [2]byte
		if _, err := io.ReadFull(c.r, h[:]); err != nil {
			return err
		}
		size := int(h[1] & 0x7f)
		if size == 126 {
			var e [2]byte
			if _, err := io.ReadFull(c.r, e[:]); err != nil {
				return err
			}
			size = int(e[0])<<8 | int(e[1])
		}
		body := make([]byte, size)
		if _, err := io.ReadFull(c.r, body); err != nil {
			return err
		}
		if bytes.HasPrefix(body, []byte(want)) {
			if !bytes.Contains(body, []byte(`"status":"ok"`)) {
				return fmt.Errorf("join %s: %s", topic, body)
			}
			return nil
		}
	}
}
