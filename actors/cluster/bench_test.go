package cluster

import (
	"encoding/binary"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pyrehq/pyre/actors/message"
)

// stamped records publish → delivery latency from a timestamp in the payload.
type stamped struct {
	mu   sync.Mutex
	lat  []time.Duration
	seen chan struct{}
}

func (s *stamped) Deliver(b *message.Broadcast) {
	d := time.Duration(time.Now().UnixNano() - int64(binary.LittleEndian.Uint64(b.Payload.Bytes())))
	s.mu.Lock()
	s.lat = append(s.lat, d)
	s.mu.Unlock()
	select {
	case s.seen <- struct{}{}:
	default:
	}
}

func stampedBroadcast(size int) *message.Broadcast {
	p := make([]byte, size)
	binary.LittleEndian.PutUint64(p, uint64(time.Now().UnixNano()))
	return message.NewBroadcast("bench", "t", message.Binary(p))
}

// Publish on A → delivery to a subscriber on B, two nodes in this process on loopback (not under -race:
// two remotes in one process race on grpc's global logger). "one" waits for each delivery before the
// next publish (the hop's latency); "burst" publishes back to back (batching, queueing included).
func BenchmarkCrossNodeBroadcast(b *testing.B) {
	if raceEnabled {
		b.Skip("two remotes in one process race on grpc's global logger")
	}
	addrs := freeAddrs(b, 2)
	defaults := func(c *Config) { c.HeartbeatInterval, c.DeadAfter = 0, 0 }
	na, nb := startNode(b, addrs[0], defaults), startNode(b, addrs[1], defaults)
	connect(addrs, na, nb)
	waitFor(b, "two members", 10*time.Second, func() bool { return len(na.node.Members()) == 2 && len(nb.node.Members()) == 2 })
	for _, mode := range []string{"one", "burst"} {
		b.Run(mode, func(b *testing.B) {
			sub := &stamped{seen: make(chan struct{}, 1)}
			nb.ps.Subscribe("bench", sub)
			defer nb.ps.Unsubscribe("bench", sub)
			b.ResetTimer()
			for range b.N {
				if err := na.ps.Broadcast(stampedBroadcast(128)); err != nil {
					b.Fatal(err)
				}
				if mode == "one" {
					<-sub.seen
				}
			}
			waitFor(b, "every delivery", 30*time.Second, func() bool {
				sub.mu.Lock()
				defer sub.mu.Unlock()
				return len(sub.lat) == b.N
			})
			b.StopTimer()
			slices.Sort(sub.lat)
			b.ReportMetric(float64(sub.lat[len(sub.lat)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(sub.lat[len(sub.lat)*99/100].Microseconds()), "p99-µs")
		})
	}
}
