package crdt

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"testing"
)

// visible is what Get reports over all topics, by dot.
func visible(s *State) map[Dot]Entry {
	out := make(map[Dot]Entry)
	for name := range s.topics {
		for _, e := range s.Get(name) {
			out[e.Dot] = e
		}
	}
	return out
}

func sameEntry(a, b Entry) bool {
	return a.Topic == b.Topic && a.Key == b.Key && a.Owner == b.Owner && a.Dot == b.Dot &&
		bytes.Equal(a.Meta, b.Meta)
}

func sameSet(a, b map[Dot]Entry) bool {
	return maps.EqualFunc(a, b, sameEntry)
}

func sameContext(a, b Context) bool {
	return slices.Equal(a.Clocks, b.Clocks)
}

func dump(m map[Dot]Entry) string {
	var b bytes.Buffer
	for _, d := range slices.SortedFunc(maps.Keys(m), Dot.Compare) {
		e := m[d]
		fmt.Fprintf(&b, "  %v %s/%s owner=%s meta=%s\n", d, e.Topic, e.Key, e.Owner, e.Meta)
	}
	return b.String()
}

// checkDiff asserts that joins and leaves, in package order, turn before into after.
func checkDiff(tb testing.TB, before map[Dot]Entry, joins, leaves []Entry, after map[Dot]Entry) {
	tb.Helper()
	if !slices.IsSortedFunc(joins, compareEntries) || !slices.IsSortedFunc(leaves, compareEntries) {
		tb.Fatalf("diff not in package order: joins %v leaves %v", joins, leaves)
	}
	got := maps.Clone(before)
	for _, e := range leaves {
		if old, ok := got[e.Dot]; !ok || !sameEntry(old, e) {
			tb.Fatalf("leave %v: not visible before (or different)", e.Dot)
		}
		delete(got, e.Dot)
	}
	for _, e := range joins {
		if _, ok := got[e.Dot]; ok {
			tb.Fatalf("join %v: already visible", e.Dot)
		}
		got[e.Dot] = e
	}
	if !sameSet(got, after) {
		tb.Fatalf("diff does not give the new visible set:\nbefore+diff:\n%safter:\n%s", dump(got), dump(after))
	}
}

// checkInvariants cross-checks every index of s.
func checkInvariants(tb testing.TB, s *State) {
	tb.Helper()
	inLists := 0
	for name, t := range s.topics {
		if t.name != name || len(t.keys) == 0 {
			tb.Fatalf("topic %q: bad record (name %q, %d keys)", name, t.name, len(t.keys))
		}
		for key, head := range t.keys {
			for p := head; p != nil; p = p.nextKey {
				inLists++
				if p.topic != t || p.key != key {
					tb.Fatalf("%v listed under %s/%s but says %s/%s", p.dot(), name, key, p.topic.name, p.key)
				}
				if p.nextKey != nil && !p.before(p.nextKey) {
					tb.Fatalf("key list %s/%s not in dot order", name, key)
				}
				if s.replicas[p.rep.name] != p.rep || p.rep.find(p.clock) != p {
					tb.Fatalf("%v not in its replica's slots", p.dot())
				}
				if p.clock > p.rep.clock {
					tb.Fatalf("%v above its replica's clock %d", p.dot(), p.rep.clock)
				}
			}
		}
	}
	live := 0
	for name, r := range s.replicas {
		if r.name != name {
			tb.Fatalf("replica %q recorded as %q", name, r.name)
		}
		n := 0
		for i, sl := range r.dots {
			if i > 0 && r.dots[i-1].clock >= sl.clock {
				tb.Fatalf("replica %q: slots not ascending", name)
			}
			if sl.p != nil {
				n++
				if sl.p.rep != r || sl.p.clock != sl.clock {
					tb.Fatalf("replica %q: slot %d holds %v", name, sl.clock, sl.p.dot())
				}
			}
		}
		if n != r.live {
			tb.Fatalf("replica %q: live %d, counted %d", name, r.live, n)
		}
		live += n
	}
	if live != inLists {
		tb.Fatalf("%d presences in slots, %d on key lists", live, inLists)
	}
	owned := 0
	for owner, head := range s.owners {
		for p := head; p != nil; p = p.nextOwner {
			owned++
			if p.owner != owner || p.rep != s.self || p.rep.find(p.clock) != p {
				tb.Fatalf("owner list %q holds %v (owner %q)", owner, p.dot(), p.owner)
			}
		}
	}
	if owned != s.self.live {
		tb.Fatalf("%d local presences, %d on owner lists", s.self.live, owned)
	}
	for _, c := range s.removed {
		if c > s.taken || s.self.find(c) != nil {
			tb.Fatalf("pending removal %d: above taken %d or still held", c, s.taken)
		}
	}
}

// zero is a context listing every replica s knows at clock 0: Extract(zero(s)) is a full state.
func zero(s *State) Context {
	c := s.Context()
	for i := range c.Clocks {
		c.Clocks[i].Clock = 0
	}
	return c
}

// full is s's full state.
func full(s *State) Delta { return s.Extract(zero(s)) }

// merge merges d into s, checking the returned diff and the indexes.
func merge(tb testing.TB, s *State, d Delta) error {
	tb.Helper()
	before := visible(s)
	joins, leaves, err := s.Merge(d)
	after := visible(s)
	if err != nil {
		if len(joins)+len(leaves) > 0 || !sameSet(before, after) {
			tb.Fatalf("failed Merge changed the state: %v", err)
		}
		return err
	}
	checkDiff(tb, before, joins, leaves, after)
	checkInvariants(tb, s)
	return nil
}

func mustMerge(tb testing.TB, s *State, d Delta) {
	tb.Helper()
	if err := merge(tb, s, d); err != nil {
		tb.Fatalf("Merge into %s: %v", s.Replica(), err)
	}
}

func mustJoin(tb testing.TB, s *State, owner, topic, key, meta string) Entry {
	tb.Helper()
	e, err := s.Join(owner, topic, key, []byte(meta))
	if err != nil {
		tb.Fatalf("Join(%s, %s, %s): %v", owner, topic, key, err)
	}
	return e
}

// peers returns states named by names, each knowing all others.
func peers(names ...Replica) []*State {
	out := make([]*State, len(names))
	for i, n := range names {
		out[i] = New(n)
		for _, m := range names {
			out[i].ReplicaUp(m)
		}
	}
	return out
}

func dots(es []Entry) []Dot {
	out := make([]Dot, len(es))
	for i, e := range es {
		out[i] = e.Dot
	}
	return out
}
