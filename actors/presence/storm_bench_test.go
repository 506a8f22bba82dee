package presence

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pyrehq/pyre/actors/message"
	"github.com/pyrehq/pyre/transport/client"
)

// diffCounter subscribes to a topic on the server and counts its presence_diff broadcasts as they are
// sent, and the joins and leaves inside them.
type diffCounter struct {
	diffs, joins, leaves atomic.Int64
}

func (c *diffCounter) Deliver(b *message.Broadcast) {
	if b.Event != "presence_diff" {
		return
	}
	var d struct{ Joins, Leaves map[string]wirePresence }
	if json.Unmarshal(b.Payload.Bytes(), &d) != nil {
		return
	}
	c.diffs.Add(1)
	for _, p := range d.Joins {
		c.joins.Add(int64(len(p.Metas)))
	}
	for _, p := range d.Leaves {
		c.leaves.Add(int64(len(p.Metas)))
	}
}

// BenchmarkReconnectStorm measures the diff rate of a reconnect storm: clients in one topic drop their
// connections and come back, 64 at a time; the server's presence_diff broadcasts and the joins and
// leaves inside them are counted as they are sent. With the default (one diff per change, each to every
// subscriber) a storm costs clients² frames: measured here, 5k clients reconnecting took 78 s and 10,000
// diffs by default, 12 s and 102 diffs with a 50 ms window.
//
//	go test -run '^$' -bench ReconnectStorm -benchtime 1x ./actors/presence
func BenchmarkReconnectStorm(b *testing.B) {
	const concurrency = 64
	for _, c := range []struct {
		window  time.Duration
		clients int
	}{{0, 1000}, {50 * time.Millisecond, 1000}, {0, 5000}, {50 * time.Millisecond, 5000}} {
		b.Run(fmt.Sprintf("window=%v/clients=%d", c.window, c.clients), func(b *testing.B) {
			for b.Loop() {
				storm(b, c.clients, concurrency, Config{Window: c.window})
			}
		})
	}
}

func storm(b *testing.B, clients, concurrency int, cfg Config) {
	f := newFixture(b, cfg)
	var count diffCounter
	f.ep.PubSub().Subscribe("room:storm", &count)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	conns := make([]*client.Conn, clients)
	connect := func() {
		var wg sync.WaitGroup
		sem := make(chan struct{}, concurrency)
		for i := range conns {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer func() { <-sem; wg.Done() }()
				c, err := client.Dial(ctx, f.ws, client.Options{Params: url.Values{"user": {fmt.Sprint("u", i)}}, MessageBuffer: 1})
				if err != nil {
					b.Error(err)
					return
				}
				if _, _, err := c.Join(ctx, "room:storm", nil); err != nil {
					b.Error(err)
				}
				conns[i] = c
			}()
		}
		wg.Wait()
	}
	// settle waits until the tracker lists n keys and every change is in a diff sent.
	settle := func(n int, changes int64) {
		for len(f.tr.List("room:storm")) != n || count.joins.Load()+count.leaves.Load() < changes {
			if ctx.Err() != nil {
				b.Fatalf("%d online, %d changes sent; want %d and %d", len(f.tr.List("room:storm")), count.joins.Load()+count.leaves.Load(), n, changes)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	connect()
	settle(clients, int64(clients))
	d0, j0, l0 := count.diffs.Load(), count.joins.Load(), count.leaves.Load()

	start := time.Now()
	for _, c := range conns {
		_ = c.Close()
	}
	connect()
	settle(clients, j0+l0+2*int64(clients)) // a leave and a join per client
	elapsed := time.Since(start)
	diffs, changes := count.diffs.Load()-d0, count.joins.Load()-j0+count.leaves.Load()-l0
	for _, c := range conns {
		_ = c.Close()
	}
	b.ReportMetric(float64(diffs), "diffs")
	b.ReportMetric(float64(changes), "changes")
	b.ReportMetric(float64(changes)/float64(max(diffs, 1)), "changes/diff")
	b.ReportMetric(float64(diffs)/elapsed.Seconds(), "diffs/s")
	b.ReportMetric(float64(changes)/elapsed.Seconds(), "changes/s")
	b.ReportMetric(elapsed.Seconds(), "storm_s")
}

// BenchmarkJoinStorm is issue 11's presence storm: 5k clients join one presence topic, 64 at a time, each
// until it has its presence_state, while a control client on another topic pushes and times the replies.
// It reports joins/s, the peak of live heap objects (sampled) and of RSS, the presence_state bytes
// encoded and received, and the control client's latency.
//
//	go test -run '^$' -bench JoinStorm -benchtime 1x ./actors/presence
func BenchmarkJoinStorm(b *testing.B) {
	for _, c := range []struct {
		window  time.Duration
		clients int
	}{{0, 2000}, {0, 5000}, {50 * time.Millisecond, 5000}} {
		b.Run(fmt.Sprintf("window=%v/clients=%d", c.window, c.clients), func(b *testing.B) {
			for b.Loop() {
				joinStorm(b, c.clients, 64, Config{Window: c.window})
			}
		})
	}
}

func joinStorm(b *testing.B, clients, concurrency int, cfg Config) {
	f := newFixture(b, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var states, stateBytes atomic.Int64
	onMsg := func(_ *client.Channel, m client.Message) {
		if m.Event == "presence_state" {
			states.Add(1)
			stateBytes.Add(int64(len(m.Payload)))
		}
	}
	ctl, err := client.Dial(ctx, f.ws, client.Options{Params: url.Values{"user": {"control"}}})
	if err != nil {
		b.Fatal(err)
	}
	defer ctl.Close()
	ctlCh, _, err := ctl.Join(ctx, "room:ctl", nil)
	if err != nil {
		b.Fatal(err)
	}

	// Samplers: the live heap, and the control client's round trips, until the storm is over.
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var peakHeap uint64
	wg.Go(func() {
		sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		for {
			metrics.Read(sample)
			peakHeap = max(peakHeap, sample[0].Value.Uint64())
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	})
	var rtts []time.Duration
	var timeouts int
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
			pctx, pcancel := context.WithTimeout(ctx, 5*time.Second)
			t0 := time.Now()
			_, err := ctlCh.Push(pctx, "ping", nil)
			pcancel()
			if err != nil {
				timeouts++
				continue
			}
			rtts = append(rtts, time.Since(t0))
		}
	})

	conns := make([]*client.Conn, clients)
	start := time.Now()
	sem := make(chan struct{}, concurrency)
	var jw sync.WaitGroup
	for i := range conns {
		sem <- struct{}{}
		jw.Go(func() {
			defer func() { <-sem }()
			c, err := client.Dial(ctx, f.ws, client.Options{Params: url.Values{"user": {fmt.Sprint("u", i)}}, MessageBuffer: 1, OnMessage: onMsg})
			if err != nil {
				b.Error(err)
				return
			}
			conns[i] = c
			if _, _, err := c.Join(ctx, "room:storm", nil); err != nil {
				b.Error(err)
			}
		})
	}
	jw.Wait()
	for states.Load() < int64(clients) && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
	elapsed := time.Since(start)
	close(stop)
	wg.Wait()
	got := states.Load()
	for _, c := range conns {
		if c != nil {
			_ = c.Close()
		}
	}
	slices.Sort(rtts)
	pct := func(p float64) float64 {
		if len(rtts) == 0 {
			return 0
		}
		return float64(rtts[int(p*float64(len(rtts)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(float64(clients)/elapsed.Seconds(), "joins/s")
	b.ReportMetric(float64(int64(clients)-got), "no_state")
	b.ReportMetric(float64(peakHeap)/(1<<20), "peak_heap_MB")
	b.ReportMetric(float64(peakRSS())/(1<<20), "peak_rss_MB")
	b.ReportMetric(float64(f.tr.stateBytes.Load())/(1<<20), "state_encoded_MB")
	b.ReportMetric(float64(stateBytes.Load())/(1<<20), "state_received_MB")
	b.ReportMetric(pct(0.5), "ctl_p50_ms")
	b.ReportMetric(pct(0.99), "ctl_p99_ms")
	b.ReportMetric(pct(1), "ctl_max_ms")
	b.ReportMetric(float64(timeouts), "ctl_timeouts")
}

// peakRSS is the process's peak resident set (VmHWM), 0 where /proc is missing.
func peakRSS() uint64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(data)) {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}
