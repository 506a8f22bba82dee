package host

import (
	"fmt"
	"testing"

	"github.com/pyrehq/pyre/actors/message"
	"github.com/pyrehq/pyre/actors/pubsub"
)

// countingConn stands in for a connection: it only counts what it is given.
type countingConn struct{ frames int }

func (c *countingConn) Write(*message.Message) error            { c.frames++; return nil }
func (c *countingConn) WriteBroadcast(*message.Broadcast) error { c.frames++; return nil }
func (c *countingConn) Close(CloseCode)                         {}

// fanout subscribes n joined channels, each on its own connection, to topic.
func fanout(ps *pubsub.PubSub, topic string, n int) []*countingConn {
	h := &Host{ps: ps}
	rt := &route{}
	conns := make([]*countingConn, n)
	for i := range conns {
		conns[i] = &countingConn{}
		cs := &connState{host: h, out: conns[i]}
		st := &chanState{conn: cs, route: rt, topic: topic}
		st.sub = &fastlane{ch: st}
		st.sub.ready.Store(true)
		ps.Subscribe(topic, st.sub)
	}
	return conns
}

// The fastlane path allocates nothing per subscriber: one broadcast to n subscribers costs the same
// allocations whatever n is.
func TestFastlaneAllocationsDoNotGrowWithSubscribers(t *testing.T) {
	allocs := func(n int) float64 {
		ps := pubsub.New(pubsub.Config{})
		conns := fanout(ps, "room:a", n)
		p := message.EmptyObject
		a := testing.AllocsPerRun(100, func() { ps.LocalBroadcast(message.NewBroadcast("room:a", "e", p)) })
		if conns[n-1].frames == 0 {
			t.Fatal("no delivery")
		}
		return a
	}
	small, large := allocs(10), allocs(1000)
	if large > small {
		t.Fatalf("allocations per broadcast: %.1f with 10 subscribers, %.1f with 1000", small, large)
	}
}

func BenchmarkFastlaneFanout(b *testing.B) {
	for _, n := range []int{1, 100, 10000} {
		b.Run(fmt.Sprintf("subscribers=%d", n), func(b *testing.B) {
			ps := pubsub.New(pubsub.Config{})
			fanout(ps, "room:a", n)
			p := message.EmptyObject
			b.ReportAllocs()
			for b.Loop() {
				ps.LocalBroadcast(message.NewBroadcast("room:a", "e", p))
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/delivery")
		})
	}
}
