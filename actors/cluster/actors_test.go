package cluster

import (
	"encoding/json"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pyrehq/pyre/actors/telemetry"
)

// The node's actors, killed again and again (more than the root's default strategy tolerates: 10 in
// 10 s), restart in place and lose nothing: no member leaves on either side, even after DeadAfter has
// passed twice (a restarted membership actor takes back its candidates and peers), every broadcast after
// each round of kills arrives in order, and no gap is counted (a restarted relay keeps the sequences).
func TestActorsKilledRestart(t *testing.T) {
	if !isolated(t) {
		return
	}
	addrs := freeAddrs(t, 2)
	var left atomic.Int32
	events := func(c *Config) {
		c.Events = telemetry.Events{MemberLeft: func(telemetry.Member) { left.Add(1) }}
	}
	a := startNode(t, addrs[0], events)
	b := startNode(t, addrs[1], events)
	connect(addrs, a, b)
	waitFor(t, "a cluster", 10*time.Second, func() bool { return len(a.node.Members()) == 2 && len(b.node.Members()) == 2 })
	ra, rb := &recorder{}, &recorder{}
	a.ps.Subscribe("t", ra)
	b.ps.Subscribe("t", rb)

	const rounds = 12
	for i := range rounds {
		for _, n := range []*testNode{a, b} {
			acts := n.node.Actors()
			if len(acts) != 3 {
				t.Fatalf("round %d: %d actors listed, want 3", i, len(acts))
			}
			for _, act := range acts {
				if !act.Exit(nil) {
					t.Fatalf("round %d: %s is gone", i, act.Name)
				}
			}
		}
		if err := a.ps.Broadcast(seqBroadcast("t", "a", i)); err != nil {
			t.Fatal(err)
		}
		if err := b.ps.Broadcast(seqBroadcast("t", "b", i)); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the round's broadcasts", 10*time.Second, func() bool { return ra.count() == 2*(i+1) && rb.count() == 2*(i+1) })
	}
	// DeadAfter twice over: a membership actor that had forgotten its peers would have let them go.
	for deadline := time.Now().Add(2 * a.node.cfg.DeadAfter); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if len(a.node.Members()) != 2 || len(b.node.Members()) != 2 || left.Load() != 0 {
			t.Fatalf("members %s / %s, %d left", memberAddrs(a.node), memberAddrs(b.node), left.Load())
		}
	}
	if err := a.ps.Broadcast(seqBroadcast("t", "a", rounds)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the last broadcast", 10*time.Second, func() bool { return rb.count() == 2*rounds+1 })
	for _, r := range []*recorder{ra, rb} {
		next := map[string]int{}
		for _, m := range r.all() {
			var p seqPayload
			if err := json.Unmarshal(m.Payload.Bytes(), &p); err != nil {
				t.Fatal(err)
			}
			if p.N != next[p.From] {
				t.Fatalf("from %s: got %d, want %d", p.From, p.N, next[p.From])
			}
			next[p.From]++
		}
	}
	for _, n := range []*testNode{a, b} {
		if st := n.node.Stats(); st.Gaps != 0 || st.LostBatches != 0 || st.Dropped != 0 {
			t.Fatalf("stats %+v", st)
		}
	}
}
