package crdt

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

type msg struct {
	from int
	d    Delta
}

// cluster drives replicas through random operations and message deliveries, checking after each step
// that the returned diffs are exact and the indexes consistent. choose(n) returns a number in [0, n).
type cluster struct {
	tb     testing.TB
	choose func(n int) int
	s      []*State
	alive  []int   // indexes of the replicas still running
	inbox  [][]msg // per receiver: deltas sent to it, not yet delivered
	junk   *State  // receives corrupted deltas: must only survive them
	stats  map[string]int
}

func newCluster(tb testing.TB, n int, choose func(int) int) *cluster {
	names := make([]Replica, n)
	for i := range names {
		names[i] = Replica(fmt.Sprint("r", i))
	}
	c := &cluster{tb: tb, choose: choose, s: peers(names...), inbox: make([][]msg, n), junk: New("junk"),
		stats: make(map[string]int)}
	for i := range n {
		c.alive = append(c.alive, i)
		c.junk.ReplicaUp(names[i])
	}
	return c
}

func (c *cluster) pick() int { return c.alive[c.choose(len(c.alive))] }

// local checks a local operation's diff.
func (c *cluster) local(s *State, op func() (joins, leaves []Entry)) {
	c.tb.Helper()
	before := visible(s)
	joins, leaves := op()
	checkDiff(c.tb, before, joins, leaves, visible(s))
	checkInvariants(c.tb, s)
}

func (c *cluster) step() {
	i := c.pick()
	s := c.s[i]
	owner := fmt.Sprint("o", c.choose(5))
	topic := fmt.Sprint("t", c.choose(3))
	key := fmt.Sprint("k", c.choose(4))
	switch c.choose(13) {
	case 0, 1, 2:
		meta := fmt.Appendf(nil, `{"v":%d}`, c.choose(100))
		c.local(s, func() ([]Entry, []Entry) {
			e, err := s.Join(owner, topic, key, meta)
			if err != nil {
				if !errors.Is(err, ErrAlreadyTracked) || s.findOwned(owner, topic, key) == nil {
					c.tb.Fatalf("Join: %v", err)
				}
				return nil, nil
			}
			return []Entry{e}, nil
		})
	case 3:
		c.local(s, func() ([]Entry, []Entry) {
			if e, ok := s.Leave(owner, topic, key); ok {
				return nil, []Entry{e}
			}
			return nil, nil
		})
	case 4:
		meta := fmt.Appendf(nil, `{"u":%d}`, c.choose(100))
		c.local(s, func() ([]Entry, []Entry) {
			if l, j, ok := s.Update(owner, topic, key, meta); ok {
				return []Entry{j}, []Entry{l}
			}
			return nil, nil
		})
	case 5:
		c.local(s, func() ([]Entry, []Entry) { return nil, s.LeaveOwner(owner) })
	case 6, 7:
		d := s.TakeDelta()
		if d.Empty() {
			return
		}
		for _, j := range c.alive {
			if j != i {
				c.inbox[j] = append(c.inbox[j], msg{from: i, d: d})
			}
		}
		c.corrupt(d)
	case 8, 9, 10:
		c.deliver(i, c.choose(5) == 0, c.choose(10) == 0)
	case 11:
		// Anti-entropy: compare contexts with a peer, fetch what is missing.
		j := c.pick()
		if j != i && s.Behind(c.s[j].Context()) {
			c.stats["anti-entropy transfers"]++
			mustMerge(c.tb, s, c.s[j].Extract(s.Context()))
		}
	case 12:
		j := c.pick()
		if j == i {
			return
		}
		r := c.s[j].Replica()
		if s.replicas[r].down {
			c.local(s, func() ([]Entry, []Entry) { return s.ReplicaUp(r), nil })
		} else {
			c.local(s, func() ([]Entry, []Entry) { return nil, s.ReplicaDown(r) })
		}
	}
}

// deliver merges one pending delta, chosen at random (reordering), into replica i; keep leaves it pending
// (a duplicate later), lose drops it unseen. A refused delta is answered as a tracker would: a transfer.
func (c *cluster) deliver(i int, keep, lose bool) {
	in := c.inbox[i]
	if len(in) == 0 {
		return
	}
	k := c.choose(len(in))
	m := in[k]
	if !keep {
		c.inbox[i] = slices.Delete(in, k, k+1)
	}
	if lose {
		return
	}
	s := c.s[i]
	err := merge(c.tb, s, m.d)
	c.stats["delivered"]++
	switch {
	case err == nil:
	case errors.Is(err, ErrNotContiguous):
		c.stats["refused"]++
		if !s.Behind(c.s[m.from].Context()) {
			c.tb.Fatalf("%s refused a delta from %s but is not Behind it", s.Replica(), c.s[m.from].Replica())
		}
		mustMerge(c.tb, s, c.s[m.from].Extract(s.Context()))
		mustMerge(c.tb, s, m.d) // now old news
	default:
		c.tb.Fatalf("Merge: %v", err)
	}
}

// corrupt merges a damaged copy of d into the junk state, which must refuse it or stay consistent.
func (c *cluster) corrupt(d Delta) {
	if c.choose(3) != 0 {
		return
	}
	d = Delta{Ranges: slices.Clone(d.Ranges), Entries: slices.Clone(d.Entries)}
	for i := range d.Ranges {
		d.Ranges[i].Removed = slices.Clone(d.Ranges[i].Removed)
	}
	r := &d.Ranges[0]
	switch c.choose(8) {
	case 0:
		if len(d.Entries) > 0 {
			d.Entries = slices.Delete(d.Entries, 0, 1)
		}
	case 1:
		r.From = uint64(c.choose(int(r.To) + 3))
	case 2:
		r.To = uint64(c.choose(int(r.To) + 3))
	case 3:
		slices.Reverse(d.Entries)
	case 4:
		d.Entries = append(d.Entries, d.Entries...)
	case 5:
		r.Removed = append(r.Removed, uint64(c.choose(int(r.To)+2)))
	case 6:
		r.Replica = c.s[c.choose(len(c.s))].Replica()
	case 7:
		if len(d.Entries) > 0 {
			d.Entries[0].Dot.Clock = uint64(c.choose(int(r.To) + 2))
		}
	}
	if _, _, err := c.junk.Merge(d); err == nil {
		c.stats["corrupt accepted"]++
		checkInvariants(c.tb, c.junk)
	} else {
		c.stats["corrupt refused"]++
	}
}

// converge brings every running replica up everywhere, delivers what is pending, runs one round of
// transfers, and checks that all agree with the truth: each replica's own presences.
func (c *cluster) converge() {
	tb := c.tb
	tb.Helper()
	for _, i := range c.alive {
		s := c.s[i]
		for _, j := range c.alive {
			c.local(s, func() ([]Entry, []Entry) { return s.ReplicaUp(c.s[j].Replica()), nil })
		}
	}
	for _, i := range c.alive {
		for len(c.inbox[i]) > 0 {
			c.deliver(i, false, false)
		}
	}
	for _, j := range c.alive {
		for _, i := range c.alive {
			if i != j {
				mustMerge(tb, c.s[j], c.s[i].Extract(c.s[j].Context()))
			}
		}
	}
	truth := make(map[Dot]Entry)
	for _, i := range c.alive {
		for _, sl := range c.s[i].self.dots {
			if sl.p != nil {
				truth[sl.p.dot()] = sl.p.entry()
			}
		}
	}
	first := c.s[c.alive[0]]
	for _, i := range c.alive {
		s := c.s[i]
		if got := visible(s); !sameSet(got, truth) {
			tb.Fatalf("%s diverged:\n%swant:\n%s", s.Replica(), dump(got), dump(truth))
		}
		if !sameContext(s.Context(), first.Context()) {
			tb.Fatalf("contexts differ: %v vs %v", s.Context(), first.Context())
		}
		if s.Online() != len(truth) {
			tb.Fatalf("%s: Online %d, want %d", s.Replica(), s.Online(), len(truth))
		}
		for _, j := range c.alive {
			if s.Behind(c.s[j].Context()) || !c.s[j].Extract(s.Context()).Empty() {
				tb.Fatalf("%s still behind %s after convergence", s.Replica(), c.s[j].Replica())
			}
		}
	}
	// Deltas taken now are old news everywhere.
	for _, i := range c.alive {
		d := c.s[i].TakeDelta()
		for _, j := range c.alive {
			before := visible(c.s[j])
			joins, leaves, err := c.s[j].Merge(d)
			if err != nil || len(joins)+len(leaves) > 0 || !sameSet(before, visible(c.s[j])) {
				tb.Fatalf("late delta changed a converged replica: %v %v %v", joins, leaves, err)
			}
		}
	}
}

func rngChooser(seed uint64) func(int) int {
	rng := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	return rng.IntN
}

func TestConvergence(t *testing.T) {
	total := make(map[string]int)
	for seed := range uint64(300) {
		choose := rngChooser(seed)
		c := newCluster(t, 3+choose(2), choose)
		for range 50 + choose(250) {
			c.step()
		}
		c.converge()
		for k, v := range c.stats {
			total[k] += v
		}
	}
	t.Logf("300 scenarios: %v", total)
}

// A replica that dies for good: the others remove it, ignore what it still had in flight, and converge
// on their own presences.
func TestConvergenceAfterRemoveReplica(t *testing.T) {
	for seed := range uint64(100) {
		choose := rngChooser(1000 + seed)
		c := newCluster(t, 4, choose)
		for range 100 + choose(100) {
			c.step()
		}
		dead := c.s[3].Replica()
		c.alive = c.alive[:3]
		for _, i := range c.alive {
			s := c.s[i]
			c.local(s, func() ([]Entry, []Entry) { return nil, s.RemoveReplica(dead) })
		}
		for range 100 {
			c.step()
		}
		c.converge()
		for _, i := range c.alive {
			if _, ok := c.s[i].Context().Clock(dead); ok {
				t.Fatalf("seed %d: %s still knows the removed replica", seed, c.s[i].Replica())
			}
		}
	}
}

// Merge laws on full states and on deltas of different replicas, compared on visible sets and contexts.
func TestMergeLaws(t *testing.T) {
	for seed := range uint64(200) {
		choose := rngChooser(5000 + seed)
		c := newCluster(t, 3, choose)
		for range 30 + choose(120) {
			c.step()
		}
		for _, s := range c.s { // all up: down-ness is local and not what is compared here
			for _, o := range c.s {
				s.ReplicaUp(o.Replica())
			}
		}
		var fs, ds []Delta
		for _, s := range c.s {
			fs = append(fs, full(s))
			ds = append(ds, s.TakeDelta())
		}
		obs := func(merges ...Delta) *State {
			o := New("obs")
			for _, s := range c.s {
				o.ReplicaUp(s.Replica())
			}
			for _, d := range merges {
				mustMerge(t, o, d)
			}
			return o
		}
		same := func(law string, a, b *State) {
			t.Helper()
			if !sameSet(visible(a), visible(b)) || !sameContext(a.Context(), b.Context()) {
				t.Fatalf("seed %d: %s fails:\n%s---\n%s", seed, law, dump(visible(a)), dump(visible(b)))
			}
		}
		x, y, z := fs[0], fs[1], fs[2]
		same("commutativity", obs(x, y), obs(y, x))
		same("commutativity of three", obs(x, y, z), obs(z, x, y))
		same("associativity", obs(x, y, z), obs(x, full(obs(y, z))))
		xx := obs(x)
		before := visible(xx)
		if j, l, err := xx.Merge(x); err != nil || len(j)+len(l) > 0 {
			t.Fatalf("seed %d: idempotence: second merge reported %v %v %v", seed, j, l, err)
		}
		same("idempotence", xx, obs(x))
		if !sameSet(before, visible(xx)) {
			t.Fatalf("seed %d: idempotence: set changed", seed)
		}

		// Deltas of different replicas on a common base, in both orders: same outcome.
		for a := range ds {
			for b := range ds {
				if a == b || ds[a].Empty() || ds[b].Empty() {
					continue
				}
				o1, o2 := obs(z), obs(z)
				e1a, e1b := merge(t, o1, ds[a]), merge(t, o1, ds[b])
				e2b, e2a := merge(t, o2, ds[b]), merge(t, o2, ds[a])
				if (e1a == nil) != (e2a == nil) || (e1b == nil) != (e2b == nil) {
					t.Fatalf("seed %d: delta admission depends on order: %v %v / %v %v", seed, e1a, e1b, e2a, e2b)
				}
				same("delta commutativity", o1, o2)
			}
		}
	}
}
