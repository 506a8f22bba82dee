package presence

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
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

// BenchmarkReconnectStorm measures the diff rate of a reconnect storm: 5k clients in one topic drop their
// connections and come back, 64 at a time; the server's presence_diff broadcasts and the joins and
// leaves inside them are counted as they are sent.
//
//	go test -run '^$' -bench ReconnectStorm -benchtime 1x ./actors/presence
func BenchmarkReconnectStorm(b *testing.B) {
	const clients, concurrency = 5000, 64
	for b.Loop() {
		storm(b, clients, concurrency)
	}
}

func storm(b *testing.B, clients, concurrency int) {
	f := newFixture(b, Config{}) // the default window
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
