package transport

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/pyrehq/pyre/actors/channel"
)

func TestCapText(t *testing.T) {
	long := strings.Repeat("a", maxLogValue+10)
	if got := capText(long); got != long[:maxLogValue]+"…(1034 bytes)" {
		t.Fatalf("capText: %q", got)
	}
	if got := capText("short"); got != "short" {
		t.Fatalf("capText(short) = %q", got)
	}
	// Cut at a rune boundary: "é" is two bytes and straddles the bound.
	s := strings.Repeat("a", maxLogValue-1) + "é" + "b"
	if got := capText(s); got != strings.Repeat("a", maxLogValue-1)+"…(1026 bytes)" {
		t.Fatalf("capText cut a rune: %q", got)
	}
}

// lockedBuffer collects log output from many goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestCapLoggerValues(t *testing.T) {
	var buf lockedBuffer
	l := capLogger(slog.New(slog.NewTextHandler(&buf, nil)))
	if capLogger(l) != l {
		t.Fatal("capLogger wraps twice")
	}
	big := strings.Repeat("x", 5000)
	l.With("id", big).Error(big, "s", big, "err", errors.New(big), "any", []string{big}, "n", 42, "short", errors.New("boom"),
		slog.Group("g", "inner", big))
	out := buf.String()
	if n := strings.Count(out, "(5000 bytes)"); n != 5 {
		t.Fatalf("%d capped values, want 5 (message, s, err, g.inner, id; any is 5002):\n%.300s", n, out)
	}
	if !strings.Contains(out, "(5002 bytes)") || !strings.Contains(out, "n=42") || !strings.Contains(out, "short=boom") {
		t.Fatalf("values: %.2000s", out)
	}
	if len(out) > 8*maxLogValue+500 {
		t.Fatalf("line of %d bytes", len(out))
	}
}

// loud panics with the event name it cannot handle.
type loud struct{}

func (loud) Join(*channel.Socket, string, channel.Payload) (any, error) { return nil, nil }
func (loud) HandleIn(_ *channel.Socket, event string, _ channel.Payload) (channel.Reply, error) {
	panic("no handler for " + event)
}

// A 100 KB topic and event name and a panic quoting them make log lines of about 1 KB per value, not
// 200 KB (issue 11.10).
func TestLogLinesCapped(t *testing.T) {
	var buf lockedBuffer
	router := channel.NewRouter(testSocket{})
	router.Channel("loud:*", func() channel.Channel { return loud{} })
	ep := NewEndpoint(Config{Logger: slog.New(slog.NewTextHandler(&buf, nil))})
	ep.Socket("/socket", router)
	srv := serve(t, ep)

	topic, event := "loud:"+strings.Repeat("t", 100<<10), strings.Repeat("e", 100<<10)
	c := dial(t, srv, v2, nil)
	c.send(`["1","1","` + topic + `","phx_join",{}]`)
	c.expect(`["1","1","` + topic + `","phx_reply",{"response":{},"status":"ok"}]`)
	c.send(`["1","2","` + topic + `","` + event + `",{}]`)
	c.expect(`["1","2","` + topic + `","phx_reply",{"response":{"reason":"channel_crash"},"status":"error"}]`)
	eventually(t, "crash logged", func() bool { return strings.Contains(buf.String(), "pyre: channel crashed") })
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if len(line) > 3*maxLogValue+200 {
			t.Fatalf("log line of %d bytes: %.200s…", len(line), line)
		}
		if strings.Contains(line, "pyre: channel crashed") &&
			(!strings.Contains(line, "(102405 bytes)") || !strings.Contains(line, "(102415 bytes)")) {
			t.Fatalf("crash line without the cut topic (102405 bytes) and reason (102415 bytes): %s", line)
		}
	}
}
