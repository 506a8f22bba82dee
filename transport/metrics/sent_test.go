package metrics_test

import (
	"runtime"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pyrehq/pyre/actors/telemetry"
	"github.com/pyrehq/pyre/transport/metrics"
)

// The sent counters are spread over shards: what a scrape reads is still every write's sum, exactly, for
// writes from many goroutines at once and across GCs (which drop the pool's hold on its shards), and a
// transport with no shard slot is counted too.
func TestSentExact(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := metrics.New(reg, metrics.Config{})
	if err != nil {
		t.Fatal(err)
	}
	ev := m.Events()
	const writers, writes = 8, 2000
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range writes {
				if i%500 == 0 && w == 0 {
					runtime.GC()
				}
				ev.MessagesSent(telemetry.MessagesSent{Conn: telemetry.Conn{Transport: "websocket"}, Frames: 2, Bytes: 10})
				ev.MessagesSent(telemetry.MessagesSent{Conn: telemetry.Conn{Transport: "longpoll"}, Frames: 1, Bytes: 3})
			}
		})
	}
	ev.MessagesSent(telemetry.MessagesSent{Conn: telemetry.Conn{Transport: "carrier-pigeon"}, Frames: 1, Bytes: 7})
	wg.Wait()
	got, _ := values(t, reg)
	want := map[string]float64{
		`pyre_messages_sent_total{transport="websocket"}`:      2 * writers * writes,
		`pyre_sent_bytes_total{transport="websocket"}`:         10 * writers * writes,
		`pyre_messages_sent_total{transport="longpoll"}`:       writers * writes,
		`pyre_sent_bytes_total{transport="longpoll"}`:          3 * writers * writes,
		`pyre_messages_sent_total{transport="carrier-pigeon"}`: 1,
		`pyre_sent_bytes_total{transport="carrier-pigeon"}`:    7,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
}
