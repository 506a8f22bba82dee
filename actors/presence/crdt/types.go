package crdt

import (
	"cmp"
	"encoding/json"
	"fmt"
	"strings"
)

// Replica names one State, in practice one node's tracker. A restarted process must use a new name
// (node name plus an incarnation), because its clock starts again at zero.
type Replica string

// Dot tags one event of a replica: the Clock-th event issued by Replica. Every presence is added under a
// dot of its own, so a dot identifies a presence across the cluster (the basis for phx_ref).
type Dot struct {
	Replica Replica // the replica that issued the event
	Clock   uint64  // its clock at the event, from 1
}

// Compare orders dots by replica, then clock.
func (d Dot) Compare(o Dot) int {
	if c := strings.Compare(string(d.Replica), string(o.Replica)); c != 0 {
		return c
	}
	return cmp.Compare(d.Clock, o.Clock)
}

func (d Dot) String() string { return fmt.Sprintf("%s:%d", d.Replica, d.Clock) }

// Entry is one presence. Meta is opaque (a JSON object by convention) and never modified in place by the
// State, which shares it with every Entry it returns: treat it as read-only.
type Entry struct {
	Topic string          // the topic it is tracked in
	Key   string          // the presence's key (a user id, say); one key may have several entries
	Owner string          // who tracked it on Dot.Replica (a channel's id); meaningful on that replica only
	Meta  json.RawMessage // the presence's meta
	Dot   Dot             // the event that added it: unique across the cluster
}

// compareEntries is the one order of every list the package returns: topic, key, dot.
func compareEntries(a, b Entry) int {
	if c := strings.Compare(a.Topic, b.Topic); c != 0 {
		return c
	}
	if c := strings.Compare(a.Key, b.Key); c != 0 {
		return c
	}
	return a.Dot.Compare(b.Dot)
}

// ReplicaClock says that events 1..Clock of Replica have been seen.
type ReplicaClock struct {
	Replica Replica // the replica
	Clock   uint64  // how many of its events have been seen
}

// Context is a causal context: for each replica a State knows, how much of its history it has seen.
// Contexts built by State are sorted by replica; contexts received from elsewhere need not be.
type Context struct {
	Clocks []ReplicaClock // one per replica, at most
}

// Clock returns the clock recorded for r, and whether r is listed.
func (c Context) Clock(r Replica) (uint64, bool) {
	for _, rc := range c.Clocks {
		if rc.Replica == r {
			return rc.Clock, true
		}
	}
	return 0, false
}

// Range is the part of one replica's history a Delta carries: its events From+1..To, plus the dots at or
// below From that those events removed. From is 0 in a full state.
//
// Applied to a state whose clock for Replica is c ≥ From, a Range means: every dot of Replica that is in
// (From, To] or in Removed and is not among the Delta's entries has been removed; every entry above c is
// new; the clock becomes max(c, To).
type Range struct {
	Replica Replica  // whose history
	From    uint64   // the events above From...
	To      uint64   // ...up to To, included
	Removed []uint64 // ascending, each in 1..From
}

// Delta is a piece of state to replicate: produced by TakeDelta (one replica's recent events) or Extract
// (full states of the replicas a peer lags on), consumed by Merge. Ranges are sorted by replica, one per
// replica; Entries are sorted by dot, and each lies in the (From, To] of its replica's Range. The zero
// Delta is empty.
type Delta struct {
	Ranges  []Range // what of each replica's history the delta covers
	Entries []Entry // the live entries in those ranges
}

// Empty reports whether d carries nothing.
func (d Delta) Empty() bool { return len(d.Ranges) == 0 }

// validate checks the structural rules Merge relies on.
func (d Delta) validate() error {
	for i, r := range d.Ranges {
		if i > 0 && d.Ranges[i-1].Replica >= r.Replica {
			return fmt.Errorf("%w: ranges not sorted by replica at %q", ErrInvalidDelta, r.Replica)
		}
		if r.From > r.To {
			return fmt.Errorf("%w: %q: range from %d above to %d", ErrInvalidDelta, r.Replica, r.From, r.To)
		}
		for j, c := range r.Removed {
			if c == 0 || c > r.From || (j > 0 && r.Removed[j-1] >= c) {
				return fmt.Errorf("%w: %q: removed dots not ascending within 1..%d", ErrInvalidDelta, r.Replica, r.From)
			}
		}
	}
	ri := 0
	for i, e := range d.Entries {
		if i > 0 && d.Entries[i-1].Dot.Compare(e.Dot) >= 0 {
			return fmt.Errorf("%w: entries not sorted by dot at %v", ErrInvalidDelta, e.Dot)
		}
		for ri < len(d.Ranges) && d.Ranges[ri].Replica < e.Dot.Replica {
			ri++
		}
		if ri == len(d.Ranges) || d.Ranges[ri].Replica != e.Dot.Replica {
			return fmt.Errorf("%w: entry %v has no range", ErrInvalidDelta, e.Dot)
		}
		if r := d.Ranges[ri]; e.Dot.Clock <= r.From || e.Dot.Clock > r.To {
			return fmt.Errorf("%w: entry %v outside its range (%d, %d]", ErrInvalidDelta, e.Dot, r.From, r.To)
		}
	}
	return nil
}
