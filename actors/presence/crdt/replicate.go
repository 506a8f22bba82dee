package crdt

import (
	"fmt"
	"slices"
	"strings"
)

// TakeDelta returns this replica's events since the previous TakeDelta (the zero Delta if none) and
// starts a new one. Take it on every broadcast tick even without peers: the pending removals are kept
// until then.
func (s *State) TakeDelta() Delta {
	self := s.self
	if self.clock == s.taken {
		return Delta{}
	}
	r := Range{Replica: self.name, From: s.taken, To: self.clock}
	if len(s.removed) > 0 {
		r.Removed = slices.Clone(s.removed)
		slices.Sort(r.Removed)
	}
	var entries []Entry
	for _, sl := range self.dots[self.search(s.taken+1):] {
		if sl.p != nil {
			entries = append(entries, sl.p.entry()) // self.dots is in clock order: already dot order
		}
	}
	s.taken = self.clock
	s.removed = s.removed[:0]
	if cap(s.removed) > 1024 {
		s.removed = nil
	}
	return Delta{Ranges: []Range{r}, Entries: entries}
}

// Extract returns what a peer whose context is remote lacks: the full state of every replica that both
// know and on which this state is ahead. A zero-valued clock per replica asks for everything.
func (s *State) Extract(remote Context) Delta {
	var reps []*replica
	for _, rc := range remote.Clocks {
		if r := s.replicas[rc.Replica]; r != nil && r.clock > rc.Clock && !slices.Contains(reps, r) {
			reps = append(reps, r)
		}
	}
	if len(reps) == 0 {
		return Delta{}
	}
	slices.SortFunc(reps, func(a, b *replica) int { return strings.Compare(string(a.name), string(b.name)) })
	var d Delta
	for _, r := range reps {
		d.Ranges = append(d.Ranges, Range{Replica: r.name, To: r.clock})
		for _, sl := range r.dots {
			if sl.p != nil {
				d.Entries = append(d.Entries, sl.p.entry())
			}
		}
	}
	return d
}

// Behind reports whether a peer whose context is remote has seen events this state has not, of a replica
// other than this one that this state knows: then ask the peer for Extract(s.Context()). Replicas this
// state does not know are ignored, so a peer that still remembers a removed or never-met replica does
// not cause endless transfers.
func (s *State) Behind(remote Context) bool {
	for _, rc := range remote.Clocks {
		if r := s.replicas[rc.Replica]; r != nil && r != s.self && rc.Clock > r.clock {
			return true
		}
	}
	return false
}

// Merge applies a delta from TakeDelta or Extract and returns the presences that became visible and
// those that stopped being visible, in package order: exactly the change of what Get reports, ready for
// presence_diff (an update shows as a leave of the old dot and a join of the new).
//
// Ranges of replicas this state does not know (never ReplicaUp'd, or removed) are ignored; those of this
// replica too, as it is the authority on its own presences. Ranges of down replicas are applied but
// reported when the replica comes up. Merge is all or nothing: it fails, changing nothing, with
// ErrInvalidDelta, ErrReplicaReused, or ErrNotContiguous when a range starts above the clock this state
// has for its replica — then ask that replica for Extract(s.Context()).
func (s *State) Merge(d Delta) (joins, leaves []Entry, err error) {
	if err := d.validate(); err != nil {
		return nil, nil, err
	}
	for _, rg := range d.Ranges {
		switch r := s.replicas[rg.Replica]; {
		case r == nil:
		case r == s.self:
			if rg.To > r.clock {
				return nil, nil, fmt.Errorf("%w: %q up to %d, issued %d", ErrReplicaReused, rg.Replica, rg.To, r.clock)
			}
		case rg.From > r.clock:
			return nil, nil, fmt.Errorf("%w: %q from %d, have %d", ErrNotContiguous, rg.Replica, rg.From, r.clock)
		}
	}
	entries := d.Entries
	for _, rg := range d.Ranges {
		n := 0
		for n < len(entries) && entries[n].Dot.Replica == rg.Replica {
			n++
		}
		es := entries[:n]
		entries = entries[n:]
		r := s.replicas[rg.Replica]
		if r == nil || r == s.self {
			continue
		}
		joins, leaves = s.mergeRange(r, rg, es, joins, leaves)
	}
	slices.SortFunc(joins, compareEntries)
	slices.SortFunc(leaves, compareEntries)
	return joins, leaves, nil
}

// mergeRange applies rg (From ≤ r.clock, checked) with es, its entries in clock order.
func (s *State) mergeRange(r *replica, rg Range, es []Entry, joins, leaves []Entry) ([]Entry, []Entry) {
	carried := func(clock uint64) bool {
		_, found := slices.BinarySearchFunc(es, clock, func(e Entry, c uint64) int {
			switch {
			case e.Dot.Clock < c:
				return -1
			case e.Dot.Clock > c:
				return 1
			}
			return 0
		})
		return found
	}
	drop := func(p *presence) {
		if !r.down {
			leaves = append(leaves, p.entry())
		}
		s.unlink(p)
	}
	// Removals: held dots the range covers but does not carry. Removed dots are ≤ From ≤ r.clock.
	for _, c := range rg.Removed {
		if p := r.find(c); p != nil {
			drop(p)
		}
	}
	// unlink only nils slots, so indexes stay valid while walking (From, min(To, clock)].
	for i := r.search(rg.From + 1); i < len(r.dots) && r.dots[i].clock <= rg.To; i++ {
		if p := r.dots[i].p; p != nil && !carried(p.clock) {
			drop(p)
		}
	}
	// Additions: entries above the clock. At or below it, a missing dot was removed and stays so.
	for _, e := range es {
		if e.Dot.Clock <= r.clock {
			continue
		}
		p := &presence{rep: r, clock: e.Dot.Clock, key: e.Key, owner: e.Owner, meta: cloneMeta(e.Meta)}
		s.link(p, e.Topic)
		if !r.down {
			joins = append(joins, p.entry())
		}
	}
	r.clock = max(r.clock, rg.To)
	r.compact()
	return joins, leaves
}

// ReplicaUp records that r is up. A replica met for the first time starts at clock 0 (Merge ignores
// replicas this state does not know); one that was down has its presences visible again, returned as
// joins.
func (s *State) ReplicaUp(r Replica) (joins []Entry) {
	rep := s.replicas[r]
	if rep == nil {
		s.replicas[r] = &replica{name: r}
		return nil
	}
	if !rep.down {
		return nil
	}
	rep.down = false
	return rep.entries()
}

// ReplicaDown hides the presences of r (a silent replica), returned as leaves, without forgetting them:
// ReplicaUp shows them again, RemoveReplica forgets them. This replica cannot be marked down.
func (s *State) ReplicaDown(r Replica) (leaves []Entry) {
	rep := s.replicas[r]
	if rep == nil || rep == s.self || rep.down {
		return nil
	}
	rep.down = true
	return rep.entries()
}

// RemoveReplica forgets r and its presences for good (Phoenix's permdown); those still visible are
// returned as leaves. Later data about r is ignored unless ReplicaUp(r) is called again.
func (s *State) RemoveReplica(r Replica) (leaves []Entry) {
	rep := s.replicas[r]
	if rep == nil || rep == s.self {
		return nil
	}
	if !rep.down {
		leaves = rep.entries()
	}
	for _, sl := range rep.dots {
		if sl.p != nil {
			s.unlink(sl.p)
		}
	}
	delete(s.replicas, r)
	return leaves
}
