package host

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/pyrehq/pyre/actors/message"
)

// gateConn records frames like drainConn, but a heartbeat reply is not recorded: it hands a token to the
// channel instead, proving that the socket actor has routed every frame sent before the heartbeat.
type gateConn struct {
	*drainConn
	tokens chan struct{}
}

func (c *gateConn) Write(m *message.Message) error {
	if m.Topic == message.TopicPhoenix {
		c.tokens <- struct{}{}
		return nil
	}
	return c.drainConn.Write(m)
}

type afterJoinMsg struct{ n int }

// orderChannel sends itself two messages from Join, which push after_join; pushes are answered with the
// number of those handled so far. Its Join (on incarnation joinGate) and its crash wait for a token.
type orderChannel struct {
	tokens   <-chan struct{}
	joinGate int
	infos    int
}

func (c *orderChannel) Join(s *Socket, _ string, _ Payload) (any, error) {
	if s.Incarnation() == c.joinGate {
		<-c.tokens // the frames behind the join are in the channel's mailbox
	}
	s.Send(afterJoinMsg{1})
	s.Send(afterJoinMsg{2})
	return nil, nil
}

func (c *orderChannel) HandleInfo(s *Socket, msg any) error {
	c.infos++
	return s.Push("after_join", map[string]int{"n": msg.(afterJoinMsg).n, "incarnation": s.Incarnation()})
}

func (c *orderChannel) HandleIn(_ *Socket, event string, _ Payload) (Reply, error) {
	if event == "crash" {
		<-c.tokens // the pushes behind the crash are in the channel's mailbox
		panic("boom")
	}
	return ReplyOK(map[string]int{"infos": c.infos}), nil
}

// awaitOrder waits for the frames in want, then checks them; it stops waiting early once the last frame
// wanted has come (so a wrong order fails at once).
func awaitOrder(t *testing.T, out *drainConn, want []string) {
	t.Helper()
	last := want[len(want)-1]
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		out.mu.Lock()
		got := append([]*message.Message(nil), out.frames...)
		out.mu.Unlock()
		if len(got) >= len(want) || slices.ContainsFunc(got, func(m *message.Message) bool { return frameString(m) == last }) ||
			time.Now().After(deadline) {
			checkFrames(t, got, want)
			return
		}
	}
}

func checkFrames(t *testing.T, got []*message.Message, want []string) {
	t.Helper()
	for i := range max(len(got), len(want)) {
		var g, w string
		if i < len(got) {
			g = frameString(got[i])
		}
		if i < len(want) {
			w = want[i]
		}
		if g != w {
			t.Fatalf("frame %d: %s, want %s; got:\n%s", i, g, w, framesString(got))
		}
	}
}

// Issue 12.1: what Join sends itself is handled before the client's next message, as in Phoenix (the
// socket waits for join/3). Join, pushes and leave arrive back to back; Join sends only once they are all
// in the channel's mailbox.
func TestJoinMessagesPrecedeNextFrames(t *testing.T) {
	defer goleak.VerifyNone(t)
	tokens := make(chan struct{}, 1)
	r := NewRouter(nil)
	r.Channel("room:*", func() Channel { return &orderChannel{tokens: tokens, joinGate: 1} })
	h := New(Config{})
	defer shutdown(t, h)
	out := &gateConn{drainConn: newDrainConn(), tokens: tokens}
	s := openOn(t, h, r, out)
	const rounds = 10
	var want []string
	for i := range rounds {
		topic := fmt.Sprintf("room:%d", i)
		send := func(ref, event string) {
			s.Receive(&message.Message{JoinRef: "1", Ref: message.Ref(ref), Topic: topic, Event: event, Payload: message.EmptyObject})
		}
		send("1", message.EventJoin)
		send("2", "ping")
		send("3", "ping")
		send("4", "ping")
		send("5", message.EventLeave)
		s.Receive(&message.Message{Ref: "9", Topic: message.TopicPhoenix, Event: message.EventHeartbeat, Payload: message.EmptyObject})
		want = append(want,
			fmt.Sprintf(`[1,1,%q,"phx_reply",ok {}]`, topic),
			fmt.Sprintf(`[1,null,%q,"after_join", {"incarnation":1,"n":1}]`, topic),
			fmt.Sprintf(`[1,null,%q,"after_join", {"incarnation":1,"n":2}]`, topic),
			fmt.Sprintf(`[1,2,%q,"phx_reply",ok {"infos":2}]`, topic),
			fmt.Sprintf(`[1,3,%q,"phx_reply",ok {"infos":2}]`, topic),
			fmt.Sprintf(`[1,4,%q,"phx_reply",ok {"infos":2}]`, topic),
			fmt.Sprintf(`[1,5,%q,"phx_reply",ok {}]`, topic),
			fmt.Sprintf(`[1,1,%q,"phx_close", {}]`, topic))
		awaitOrder(t, out.drainConn, want) // before the next round's token
	}
}

// The same after an in-place restart: the re-run Join's messages go before the pushes queued behind the
// crash.
func TestRejoinMessagesPrecedeQueuedFrames(t *testing.T) {
	defer goleak.VerifyNone(t)
	tokens := make(chan struct{}, 1)
	r := NewRouter(nil)
	r.Channel("room:*", func() Channel { return &orderChannel{tokens: tokens} })
	h := New(Config{})
	defer shutdown(t, h)
	out := &gateConn{drainConn: newDrainConn(), tokens: tokens}
	s := openOn(t, h, r, out)
	const topic = "room:r"
	send := func(ref, event string) {
		s.Receive(&message.Message{JoinRef: "1", Ref: message.Ref(ref), Topic: topic, Event: event, Payload: message.EmptyObject})
	}
	send("1", message.EventJoin)
	send("2", "crash")
	send("3", "ping")
	send("4", "ping")
	s.Receive(&message.Message{Ref: "9", Topic: message.TopicPhoenix, Event: message.EventHeartbeat, Payload: message.EmptyObject})
	want := []string{
		`[1,1,"room:r","phx_reply",ok {}]`,
		`[1,null,"room:r","after_join", {"incarnation":1,"n":1}]`,
		`[1,null,"room:r","after_join", {"incarnation":1,"n":2}]`,
		`[1,2,"room:r","phx_reply",error {"reason":"channel_crash"}]`,
		`[1,null,"room:r","after_join", {"incarnation":2,"n":1}]`,
		`[1,null,"room:r","after_join", {"incarnation":2,"n":2}]`,
		`[1,3,"room:r","phx_reply",ok {"infos":2}]`,
		`[1,4,"room:r","phx_reply",ok {"infos":2}]`,
	}
	awaitOrder(t, out.drainConn, want)
}
