package presence

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pyrehq/pyre/actors/host"
	"github.com/pyrehq/pyre/actors/message"
	"github.com/pyrehq/pyre/actors/presence/crdt"
	"github.com/pyrehq/pyre/actors/pubsub"
)

// collector records the broadcasts of a topic.
type collector struct {
	mu  sync.Mutex
	got []*message.Broadcast
}

func (c *collector) Deliver(b *message.Broadcast) {
	c.mu.Lock()
	c.got = append(c.got, b)
	c.mu.Unlock()
}

// bareTracker is a Tracker without its actor: changes are applied and flushed by hand.
func bareTracker() (*Tracker, *pubsub.PubSub) {
	ps := pubsub.New(pubsub.Config{})
	tr := &Tracker{cfg: Config{Window: time.Hour}, ps: ps, owners: map[string]*owned{}, node: "T"}
	tr.state = crdt.New(tr.replica())
	return tr, ps
}

func metaOf(ref string) json.RawMessage { return json.RawMessage(`{"phx_ref":"` + ref + `"}`) }

// A storm of changes within one window is one presence_diff per topic; a presence that joined and left in
// the same window is in both its joins and its leaves.
func TestBatchingCoalesces(t *testing.T) {
	s, ps := bareTracker()
	var a, b collector
	ps.Subscribe("room:a", &a)
	ps.Subscribe("room:b", &b)
	for i := range 500 {
		topic := "room:a"
		if i%5 == 0 {
			topic = "room:b"
		}
		s.apply(op{kind: opTrack, owner: fmt.Sprint("ch", i), topic: topic, key: fmt.Sprint("u", i), meta: metaOf(fmt.Sprint("r", i))})
	}
	s.apply(op{kind: opUntrack, owner: "ch1", topic: "room:a", key: "u1", prev: metaOf("r1")})    // joined in this window
	s.apply(op{kind: opUntrack, owner: "ch2", topic: "room:a", key: "u2", prev: metaOf("stale")}) // not the meta it has: ignored
	s.apply(op{kind: opTrack, owner: "ch3", topic: "room:a", key: "u3", meta: metaOf("r3")})      // again: ignored
	s.flush()
	s.wg.Wait()
	if len(a.got) != 1 || len(b.got) != 1 {
		t.Fatalf("%d and %d diffs for 500 changes in one window, want 1 each", len(a.got), len(b.got))
	}
	var d struct{ Joins, Leaves map[string]Presence }
	raw := a.got[0].Payload.Bytes()
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatal(err)
	}
	if len(d.Joins) != 400 || len(d.Leaves) != 1 || d.Leaves["u1"].Metas == nil || d.Joins["u1"].Metas == nil {
		t.Fatalf("room:a diff: %d joins, %d leaves (u1 %v)", len(d.Joins), len(d.Leaves), d.Leaves["u1"])
	}
	// The next window: an update is a leave of the old meta and a join of the new, in one diff.
	s.apply(op{kind: opUpdate, owner: "ch2", topic: "room:a", key: "u2", meta: metaOf("r2b"), prev: metaOf("r2")})
	s.apply(op{kind: opDown, owner: "ch4"})
	s.flush()
	s.wg.Wait()
	raw = a.got[1].Payload.Bytes()
	if !strings.Contains(string(raw), `"joins":{"u2":{"metas":[{"phx_ref":"r2b"}]}}`) ||
		!strings.Contains(string(raw), `"leaves":{"u2":{"metas":[{"phx_ref":"r2"}]},"u4":{"metas":[{"phx_ref":"r4"}]}}`) {
		t.Fatalf("second diff %s", raw)
	}
}

// The memory a tracked presence costs: the tracker's set and the channel's own record.
func BenchmarkTrackedKeyMemory(b *testing.B) {
	const n = 100_000
	for b.Loop() {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		s, _ := bareTracker()
		owners := make([]*owned, n)
		for i := range n {
			o := &owned{t: s, id: fmt.Sprintf("$%d/$%d", i, i+1), topic: fmt.Sprintf("room:%d", i%100)}
			meta := withRefs(json.RawMessage(`{"online_at":"1732600000"}`), s.node+fmt.Sprint(i), "")
			o.list = append(o.list, tracked{key: fmt.Sprintf("user:%d", i), ref: s.node + fmt.Sprint(i), meta: meta})
			s.owners[o.id] = o
			owners[i] = o
			s.apply(op{kind: opTrack, owner: o.id, topic: o.topic, key: o.list[0].key, meta: meta})
		}
		s.flush()
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "B/key")
		runtime.KeepAlive(owners)
		runtime.KeepAlive(s)
	}
}

// The tracker actor's stop waits for the publish workers (they are the tracker's goroutines): the host's
// Shutdown does not return while one still runs.
func TestStopWaitsForPublishWorkers(t *testing.T) {
	h := host.New(host.Config{})
	entered, gate := make(chan struct{}), make(chan struct{})
	var enter sync.Once
	tr, err := Start(context.Background(), h, Config{Fetch: func(_ string, ps map[string]Presence) map[string]Presence {
		enter.Do(func() { close(entered) })
		<-gate
		return ps
	}})
	if err != nil {
		t.Fatal(err)
	}
	waiting := make(chan struct{})
	tr.onStopWait = func() { close(waiting) }
	tr.apply(op{kind: opTrack, owner: "ch1", topic: "room:a", key: "u1", meta: metaOf("r1")})
	tr.flush()
	<-entered // the worker is in Fetch, sending the diff

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second) // a liveness bound
	defer cancel()
	shut := make(chan error, 1)
	go func() { shut <- h.Shutdown(ctx, host.CloseServiceRestart) }()
	select {
	case err := <-shut:
		tr.mu.RLock()
		running := len(tr.pubs)
		tr.mu.RUnlock()
		close(gate)
		tr.wg.Wait()
		t.Fatalf("Shutdown returned (%v) while %d publish worker(s) still ran", err, running)
	case <-waiting:
		close(gate)
	}
	if err := <-shut; err != nil {
		t.Fatal(err)
	}
	tr.mu.RLock()
	defer tr.mu.RUnlock()
	if len(tr.pubs) != 0 {
		t.Fatalf("%d publish workers left after Shutdown", len(tr.pubs))
	}
}

// workers may be waited for while new workers start (a channel tracking while the tracker actor stops),
// which a sync.WaitGroup forbids: Wait returns once none runs.
func TestWorkersWaitWhileStarting(t *testing.T) {
	var w workers
	w.Wait() // none ever ran
	for range 100 {
		gate := make(chan struct{})
		w.Go(func() { <-gate })
		waited := make(chan struct{})
		go func() { w.Wait(); close(waited) }()
		w.Go(func() {}) // starts while Wait waits
		close(gate)
		<-waited
		w.Wait()
	}
}
