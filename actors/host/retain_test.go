package host

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
	"unsafe"

	"go.uber.org/goleak"

	"github.com/pyrehq/pyre/actors/message"
)

// liveHeap is the heap still reachable after a full collection.
func liveHeap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// bigParams is a JSON object of about n bytes.
func bigParams(n int) Payload {
	var b bytes.Buffer
	b.WriteString(`{"pad":"`)
	b.Write(bytes.Repeat([]byte("x"), max(n-10, 0)))
	b.WriteString(`"}`)
	return message.JSON(b.Bytes())
}

// awaitFrames polls until out holds n frames or more (a liveness bound, not a timing assertion).
func awaitFrames(t testing.TB, out *drainConn, n int) []*message.Message {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		out.mu.Lock()
		got := append([]*message.Message(nil), out.frames...)
		out.mu.Unlock()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d frames, want %d:\n%s", len(got), n, framesString(got))
		}
	}
}

// plainChannel keeps nothing of what it is given; its state is ballast made in Join, if any.
type plainChannel struct {
	ballast []byte
	size    int
}

func (c *plainChannel) Join(*Socket, string, Payload) (any, error) {
	if c.size > 0 {
		c.ballast = bytes.Repeat([]byte{1}, c.size)
	}
	return nil, nil
}

func (c *plainChannel) HandleIn(s *Socket, event string, _ Payload) (Reply, error) {
	switch event {
	case "crash":
		panic("boom")
	case "incarnation":
		return ReplyOK(map[string]int{"incarnation": s.Incarnation()}), nil
	}
	return ReplyOK(nil), nil
}

// openOne opens a session of r on h that writes to a new drainConn.
func openOne(t *testing.T, h *Host, r *Router) (*Session, *drainConn) {
	t.Helper()
	out := newDrainConn()
	return openOn(t, h, r, out), out
}

// openOn opens a session of r on h that writes to out.
func openOn(t *testing.T, h *Host, r *Router, out Conn) *Session {
	t.Helper()
	connected, err := Connect(r, nil, ConnectInfo{Transport: "websocket"})
	if err != nil {
		t.Fatal(err)
	}
	s, err := h.Open(connected, out)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func shutdown(t *testing.T, h *Host) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.Shutdown(ctx, CloseServiceRestart); err != nil {
		t.Fatal(err)
	}
}

func framesString(ms []*message.Message) string {
	var b strings.Builder
	for _, m := range ms {
		b.WriteString(frameString(m) + "\n")
	}
	return b.String()
}

func frameString(m *message.Message) string {
	return fmt.Sprintf("[%s,%s,%q,%q,%s %s]", m.JoinRef.JSON(), m.Ref.JSON(), m.Topic, m.Event, m.Status, m.Payload)
}

// Issue 11.2: a handled message stays reachable only if the user kept it. A connection with n channels
// joined with large params, each sent one large push, keeps neither the params (above MaxRejoinParams) nor
// the pushes once they are handled.
func TestHandledMessagesAreNotRetained(t *testing.T) {
	defer goleak.VerifyNone(t)
	const n, size = 20, 1 << 20
	r := NewRouter(nil)
	r.Channel("big:*", func() Channel { return &plainChannel{} })
	h := New(Config{})
	defer shutdown(t, h)
	s, out := openOne(t, h, r)
	before := liveHeap()
	for i := range n {
		topic := fmt.Sprintf("big:%d", i)
		s.Receive(&message.Message{JoinRef: "1", Ref: "1", Topic: topic, Event: message.EventJoin, Payload: bigParams(size)})
		s.Receive(&message.Message{JoinRef: "1", Ref: "2", Topic: topic, Event: "push", Payload: bigParams(size)})
	}
	frames := awaitFrames(t, out, 2*n)
	for _, f := range frames {
		if f.Status != message.StatusOK {
			t.Fatalf("frame %s, want ok replies only", frameString(f))
		}
	}
	after := liveHeap()
	data := uint64(2 * n * size)
	retained := int64(after) - int64(before)
	t.Logf("live heap %d KiB before, %d KiB after %d MiB of params and pushes were handled (%+d KiB)",
		before>>10, after>>10, data>>20, retained>>10)
	if retained > int64(data/16) {
		t.Fatalf("%d KiB still reachable after handling %d KiB", retained>>10, data>>10)
	}
	if got := h.Stats().Channels; got != n {
		t.Fatalf("%d channels running, want %d", got, n)
	}
}

// Join params up to MaxRejoinParams are kept for an in-place restart; a channel joined with larger ones
// cannot restart in place and a crash ends it with phx_error, as in Phoenix (no reply to the push).
func TestRestartNeedsParamsWithinLimit(t *testing.T) {
	defer goleak.VerifyNone(t)
	const limit = 4 << 10
	r := NewRouter(nil)
	r.Channel("big:*", func() Channel { return &plainChannel{} })
	h := New(Config{MaxRejoinParams: limit})
	defer shutdown(t, h)
	s, out := openOne(t, h, r)
	join := func(topic string, size int) {
		s.Receive(&message.Message{JoinRef: "1", Ref: "1", Topic: topic, Event: message.EventJoin, Payload: bigParams(size)})
	}
	push := func(topic, ref, event string) {
		s.Receive(&message.Message{JoinRef: "1", Ref: message.Ref(ref), Topic: topic, Event: event, Payload: message.EmptyObject})
	}

	join("big:small", limit)
	push("big:small", `"2"`, "crash")
	push("big:small", `"3"`, "incarnation")
	frames := awaitFrames(t, out, 3)
	check := func(frames []*message.Message, want ...string) {
		t.Helper()
		if len(frames) != len(want) {
			t.Fatalf("%d frames, want %d", len(frames), len(want))
		}
		for i, f := range frames {
			if got := frameString(f); got != want[i] {
				t.Fatalf("frame %d: %s, want %s", i, got, want[i])
			}
		}
	}
	check(frames,
		`[1,1,"big:small","phx_reply",ok {}]`,
		`[1,"2","big:small","phx_reply",error {"reason":"channel_crash"}]`,
		`[1,"3","big:small","phx_reply",ok {"incarnation":2}]`)

	join("big:large", limit+1)
	push("big:large", `"2"`, "crash")
	push("big:large", `"3"`, "incarnation")
	frames = awaitFrames(t, out, 6)
	check(frames[3:],
		`[1,1,"big:large","phx_reply",ok {}]`,
		`[1,1,"big:large","phx_error", {"reason":"channel_crash"}]`,
		`[null,"3","big:large","phx_reply",error {"reason":"unmatched topic"}]`)
	if got := h.Stats().Restarts; got != 1 {
		t.Fatalf("%d restarts, want 1", got)
	}
}

// There is one chanState per joined channel: what issues 11 and 12 added must not push it into a larger
// allocation (176 bytes).
func TestChanStateSize(t *testing.T) {
	if n := unsafe.Sizeof(chanState{}); n > 176 {
		t.Fatalf("chanState is %d bytes, over 176", n)
	}
}
