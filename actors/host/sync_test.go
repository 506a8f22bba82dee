package host

import (
	"context"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/pyrehq/pyre/actors/message"
)

// relayChannel rebroadcasts "shout" as the intercepted "relay"; its HandleOut sends itself a chain of n
// messages, the last of which pushes "relayed".
type relayChannel struct{}

type relayStep int

func (relayChannel) Join(*Socket, string, Payload) (any, error) { return nil, nil }
func (relayChannel) HandleIn(s *Socket, _ string, p Payload) (Reply, error) {
	return NoReply, s.Broadcast("relay", p)
}
func (relayChannel) Intercepts() []string { return []string{"relay"} }
func (relayChannel) HandleOut(s *Socket, _ string, p Payload) error {
	var n struct{ N int }
	_ = p.Decode(&n)
	s.Send(relayStep(n.N))
	return nil
}
func (relayChannel) HandleInfo(s *Socket, msg any) error {
	if n := msg.(relayStep); n > 0 {
		s.Send(n - 1)
		return nil
	}
	return s.Push("relayed", nil)
}

// Host.Sync returns once every connection's actors are idle, including what one connection's channel
// caused in another's (an intercepted broadcast, then a chain of messages to itself); Session.Sync of
// the sender alone does not wait for the receiver.
func TestHostSyncCoversOtherConnections(t *testing.T) {
	defer goleak.VerifyNone(t)
	r := NewRouter(nil)
	r.Channel("room:*", func() Channel { return relayChannel{} })
	h := New(Config{})
	defer shutdown(t, h)
	connected, err := Connect(r, nil, ConnectInfo{Transport: "websocket"})
	if err != nil {
		t.Fatal(err)
	}
	outs := make([]*drainConn, 2)
	sessions := make([]*Session, 2)
	for i := range outs {
		outs[i] = newDrainConn()
		if sessions[i], err = h.Open(connected, outs[i]); err != nil {
			t.Fatal(err)
		}
		sessions[i].Receive(&message.Message{JoinRef: "1", Ref: "1", Topic: "room:a", Event: message.EventJoin, Payload: message.EmptyObject})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	relayed := func(out *drainConn) (n int) {
		out.mu.Lock()
		defer out.mu.Unlock()
		for _, m := range out.frames {
			if m.Event == "relayed" {
				n++
			}
		}
		return n
	}
	for round := 1; round <= 20; round++ {
		if err := h.Sync(ctx); err != nil { // both joined, nothing in flight
			t.Fatal(err)
		}
		p, _ := message.PayloadOf(map[string]int{"n": 1000})
		sessions[0].Receive(&message.Message{JoinRef: "1", Ref: "2", Topic: "room:a", Event: "shout", Payload: p})
		if err := h.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		for i, out := range outs {
			if n := relayed(out); n != round {
				t.Fatalf("round %d: connection %d has %d relayed pushes once the host is idle, want %d", round, i, n, round)
			}
		}
	}
}
