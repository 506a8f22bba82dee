package presence

import (
	"sync"
	"testing"

	"github.com/pyrehq/pyre/actors/telemetry"
)

// presenceCount keeps a gauge of presences from the tracker's events, as transport/metrics does.
type presenceCount struct {
	mu sync.Mutex
	n  map[string]int // by key
}

func (p *presenceCount) events() telemetry.Events {
	p.n = map[string]int{}
	add := func(d int) func(telemetry.Presence) {
		return func(e telemetry.Presence) { p.mu.Lock(); p.n[e.Key] += d; p.mu.Unlock() }
	}
	return telemetry.Events{PresenceJoined: add(1), PresenceLeft: add(-1)}
}

func (p *presenceCount) get(key string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n[key]
}

// PresenceJoined and PresenceLeft count this node's presences only: a key another node also tracks
// joins here with its first local meta and leaves with its last, whatever the other node does meanwhile
// (counting remote metas left a gauge at 1 after the key left this node).
func TestPresenceEventsCountThisNodeOnly(t *testing.T) {
	nw, a, b, _ := three(t)
	var ca, cb presenceCount
	a.tr.ev, b.tr.ev = ca.events(), cb.events()

	a.track("$1", "alice", "ra") // first here: joins
	a.tick()
	nw.pump(t)
	b.track("$1", "alice", "rb") // b's first local meta, though a's is there: joins on b
	b.tick()
	nw.pump(t)
	if ca.get("alice") != 1 || cb.get("alice") != 1 {
		t.Fatalf("after both tracked: a %d, b %d, want 1 and 1", ca.get("alice"), cb.get("alice"))
	}
	a.tr.apply(op{kind: opDown, owner: "$1"}) // its last local meta gone, b's still there: leaves on a
	a.tick()
	nw.pump(t)
	if ca.get("alice") != 0 || cb.get("alice") != 1 {
		t.Fatalf("after a's leave: a %d, b %d, want 0 and 1", ca.get("alice"), cb.get("alice"))
	}
	a.track("$2", "alice", "ra2")
	a.tr.apply(op{kind: opUntrack, owner: "$2", topic: "room:1", key: "alice", prev: metaOf("ra2")})
	if ca.get("alice") != 0 {
		t.Fatalf("after a tracked and untracked again: a %d, want 0", ca.get("alice"))
	}
}
