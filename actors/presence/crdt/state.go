package crdt

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// State is one replica's view of the presences of the cluster. It is not safe for concurrent use: one
// actor (the tracker) owns it. What it returns shares no mutable memory with it (see Entry on Meta), so
// it may be handed to other goroutines.
type State struct {
	self     *replica
	replicas map[Replica]*replica // self included
	topics   map[string]*topic
	owners   map[string]*presence // local presences only: owner → first of its list

	// The pending delta: self's events taken+1..self.clock, and removed self dots ≤ taken (any order).
	taken   uint64
	removed []uint64
}

// New returns an empty state for replica r, which knows no other replica yet (see ReplicaUp).
func New(r Replica) *State {
	self := &replica{name: r}
	return &State{
		self:     self,
		replicas: map[Replica]*replica{r: self},
		topics:   make(map[string]*topic),
		owners:   make(map[string]*presence),
	}
}

// Replica returns the name of this state's replica.
func (s *State) Replica() Replica { return s.self.name }

// Join adds a presence of owner under (topic, key), tagged with a new dot of this replica. An owner
// tracks a (topic, key) at most once: a second Join fails with ErrAlreadyTracked. Meta is copied.
func (s *State) Join(owner, topic, key string, meta json.RawMessage) (Entry, error) {
	if s.findOwned(owner, topic, key) != nil {
		return Entry{}, fmt.Errorf("%w: owner %q, topic %q, key %q", ErrAlreadyTracked, owner, topic, key)
	}
	s.self.clock++
	p := &presence{rep: s.self, clock: s.self.clock, key: key, owner: owner, meta: cloneMeta(meta)}
	s.link(p, topic)
	p.nextOwner = s.owners[owner]
	s.owners[owner] = p
	return p.entry(), nil
}

// Leave removes the presence owner tracks under (topic, key), reporting false if there is none.
func (s *State) Leave(owner, topic, key string) (Entry, bool) {
	p := s.findOwned(owner, topic, key)
	if p == nil {
		return Entry{}, false
	}
	e := p.entry()
	s.unlinkOwner(p)
	s.removeLocal(p)
	s.self.compact()
	return e, true
}

// LeaveOwner removes every presence owner tracks (its channel ended), in package order.
func (s *State) LeaveOwner(owner string) []Entry {
	p := s.owners[owner]
	if p == nil {
		return nil
	}
	delete(s.owners, owner)
	var out []Entry
	for p != nil {
		next := p.nextOwner
		p.nextOwner = nil
		out = append(out, p.entry())
		s.removeLocal(p)
		p = next
	}
	s.self.compact()
	slices.SortFunc(out, compareEntries)
	return out
}

// removeLocal removes a local presence as an event of this replica: the clock moves on even though no
// presence carries the new dot, so that peers comparing contexts can tell they missed the removal.
func (s *State) removeLocal(p *presence) {
	s.unlink(p)
	if p.clock <= s.taken {
		s.removed = append(s.removed, p.clock)
	}
	s.self.clock++
}

// Update replaces the meta of the presence owner tracks under (topic, key): the old entry leaves and a new
// one, under a new dot, joins (Phoenix's phx_ref_prev is left.Dot). It reports false if there is none.
func (s *State) Update(owner, topic, key string, meta json.RawMessage) (left, joined Entry, ok bool) {
	p := s.findOwned(owner, topic, key)
	if p == nil {
		return Entry{}, Entry{}, false
	}
	left = p.entry()
	s.unlink(p)
	if p.clock <= s.taken {
		s.removed = append(s.removed, p.clock)
	}
	// One event both removes the old dot and adds the new one: the removal travels with it in the delta.
	s.self.clock++
	p.clock = s.self.clock
	p.meta = cloneMeta(meta)
	s.link(p, left.Topic)
	s.self.compact()
	return left, p.entry(), true
}

// Get returns the presences of topic from replicas that are up, ordered by key, then dot; nil if none.
func (s *State) Get(topic string) []Entry {
	t := s.topics[topic]
	if t == nil {
		return nil
	}
	keys := make([]string, 0, len(t.keys))
	for k := range t.keys {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]Entry, 0, len(keys)) // one presence per key is the common case
	for _, k := range keys {
		out = appendVisible(out, t.keys[k])
	}
	return out
}

// Topics returns the topics that hold presences, sorted.
func (s *State) Topics() []string {
	out := make([]string, 0, len(s.topics))
	for name := range s.topics {
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

// GetByKey returns the presences of (topic, key) from replicas that are up, in dot order; nil if none.
func (s *State) GetByKey(topic, key string) []Entry {
	t := s.topics[topic]
	if t == nil {
		return nil
	}
	return appendVisible(nil, t.keys[key])
}

func appendVisible(out []Entry, p *presence) []Entry {
	for ; p != nil; p = p.nextKey {
		if !p.rep.down {
			out = append(out, p.entry())
		}
	}
	return out
}

// Online returns how many presences are visible (their replica is up).
func (s *State) Online() int {
	n := 0
	for _, r := range s.replicas {
		if !r.down {
			n += r.live
		}
	}
	return n
}

// Context returns the causal context: the clock of every replica this state knows, down ones included.
func (s *State) Context() Context {
	c := Context{Clocks: make([]ReplicaClock, 0, len(s.replicas))}
	for _, r := range s.replicas {
		c.Clocks = append(c.Clocks, ReplicaClock{Replica: r.name, Clock: r.clock})
	}
	slices.SortFunc(c.Clocks, func(a, b ReplicaClock) int {
		return strings.Compare(string(a.Replica), string(b.Replica))
	})
	return c
}

// cloneMeta copies meta into an exactly sized array: the caller's may be a pooled buffer, or a slice of a
// large one that must not stay pinned.
func cloneMeta(meta json.RawMessage) json.RawMessage {
	if meta == nil {
		return nil
	}
	return append(json.RawMessage(make([]byte, 0, len(meta))), meta...)
}
