package crdt

import (
	"encoding/json"
	"slices"
)

// presence is one stored entry (96 bytes). The presences of one (topic, key) form a list through nextKey,
// in dot order; a local presence is also on its owner's list through nextOwner. Lists instead of maps or
// slices per key, because almost every key has one presence.
type presence struct {
	rep       *replica
	clock     uint64
	topic     *topic
	key       string
	owner     string
	meta      json.RawMessage
	nextKey   *presence
	nextOwner *presence
}

func (p *presence) dot() Dot { return Dot{Replica: p.rep.name, Clock: p.clock} }

func (p *presence) entry() Entry {
	return Entry{Topic: p.topic.name, Key: p.key, Owner: p.owner, Meta: p.meta, Dot: p.dot()}
}

// before orders presences by dot.
func (p *presence) before(q *presence) bool {
	if p.rep != q.rep {
		return p.rep.name < q.rep.name
	}
	return p.clock < q.clock
}

type topic struct {
	name string
	keys map[string]*presence // key → first presence of its list
}

// slot indexes a replica's presences by clock; p is nil once the presence is gone.
type slot struct {
	clock uint64
	p     *presence
}

type replica struct {
	name  Replica
	clock uint64 // events 1..clock seen: the causal context, which Merge keeps gap-free
	down  bool
	// dots holds the replica's presences in clock order. New dots always come above clock, so it only
	// grows at the end; removals leave nil slots until compact.
	dots []slot
	live int
}

// search returns the index of the first slot whose clock is ≥ clock.
func (r *replica) search(clock uint64) int {
	i, _ := slices.BinarySearchFunc(r.dots, clock, func(s slot, c uint64) int {
		switch {
		case s.clock < c:
			return -1
		case s.clock > c:
			return 1
		}
		return 0
	})
	return i
}

func (r *replica) find(clock uint64) *presence {
	if i := r.search(clock); i < len(r.dots) && r.dots[i].clock == clock {
		return r.dots[i].p
	}
	return nil
}

func (r *replica) add(p *presence) {
	r.dots = append(r.dots, slot{clock: p.clock, p: p})
	r.live++
}

func (r *replica) kill(clock uint64) {
	if i := r.search(clock); i < len(r.dots) && r.dots[i].clock == clock && r.dots[i].p != nil {
		r.dots[i].p = nil
		r.live--
	}
}

// compact drops nil slots once they outnumber live ones (amortised O(1) per removal), and gives back the
// array when it has become mostly empty.
func (r *replica) compact() {
	dead := len(r.dots) - r.live
	if dead < 32 || dead < r.live {
		return
	}
	dots := r.dots[:0]
	if r.live < cap(r.dots)/4 {
		dots = make([]slot, 0, r.live+r.live/4)
	}
	for _, s := range r.dots {
		if s.p != nil {
			dots = append(dots, s)
		}
	}
	clear(r.dots[len(dots):len(r.dots)]) // no stale pointers past the end when compacting in place
	r.dots = dots
}

// entries returns the live presences as entries, in package order.
func (r *replica) entries() []Entry {
	if r.live == 0 {
		return nil
	}
	out := make([]Entry, 0, r.live)
	for _, s := range r.dots {
		if s.p != nil {
			out = append(out, s.p.entry())
		}
	}
	slices.SortFunc(out, compareEntries)
	return out
}

// link indexes p (whose rep, clock, key, owner and meta are set) under topicName. p.clock must be above
// every clock p.rep holds.
func (s *State) link(p *presence, topicName string) {
	t := s.topics[topicName]
	if t == nil {
		t = &topic{name: topicName, keys: make(map[string]*presence, 1)}
		s.topics[topicName] = t
	}
	p.topic = t
	head := t.keys[p.key]
	switch {
	case head == nil:
		t.keys[p.key] = p
	case p.before(head):
		p.key = head.key // one copy of the key's bytes per key
		p.nextKey = head
		t.keys[p.key] = p
	default:
		p.key = head.key
		q := head
		for q.nextKey != nil && q.nextKey.before(p) {
			q = q.nextKey
		}
		p.nextKey, q.nextKey = q.nextKey, p
	}
	p.rep.add(p)
}

// unlink removes p from its key list (and its topic when that empties) and from its replica's slots. The
// owner list is the caller's business.
func (s *State) unlink(p *presence) {
	t := p.topic
	if head := t.keys[p.key]; head == p {
		if p.nextKey == nil {
			delete(t.keys, p.key)
			if len(t.keys) == 0 {
				delete(s.topics, t.name)
			}
		} else {
			t.keys[p.key] = p.nextKey
		}
	} else {
		q := head
		for q.nextKey != p {
			q = q.nextKey
		}
		q.nextKey = p.nextKey
	}
	p.nextKey = nil
	p.rep.kill(p.clock)
}

// findOwned returns the local presence of owner under (topic, key), if any.
func (s *State) findOwned(owner, topic, key string) *presence {
	for p := s.owners[owner]; p != nil; p = p.nextOwner {
		if p.key == key && p.topic.name == topic {
			return p
		}
	}
	return nil
}

func (s *State) unlinkOwner(p *presence) {
	head := s.owners[p.owner]
	if head == p {
		if p.nextOwner == nil {
			delete(s.owners, p.owner)
		} else {
			s.owners[p.owner] = p.nextOwner
		}
	} else {
		q := head
		for q.nextOwner != p {
			q = q.nextOwner
		}
		q.nextOwner = p.nextOwner
	}
	p.nextOwner = nil
}
