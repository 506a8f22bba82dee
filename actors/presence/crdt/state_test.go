package crdt

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"unsafe"
)

// The package doc and the memory figures assume this size (a malloc size class).
func TestPresenceSize(t *testing.T) {
	if n := unsafe.Sizeof(presence{}); n != 96 {
		t.Fatalf("presence is %d bytes, want 96: update doc.go", n)
	}
}

func TestJoin(t *testing.T) {
	s := New("a")
	e := mustJoin(t, s, "c1", "room:1", "alice", `{"x":1}`)
	want := Entry{Topic: "room:1", Key: "alice", Owner: "c1", Meta: []byte(`{"x":1}`), Dot: Dot{"a", 1}}
	if !sameEntry(e, want) {
		t.Fatalf("Join = %+v, want %+v", e, want)
	}
	if got := s.Get("room:1"); len(got) != 1 || !sameEntry(got[0], want) {
		t.Fatalf("Get = %+v", got)
	}
	if got := s.GetByKey("room:1", "alice"); len(got) != 1 || !sameEntry(got[0], want) {
		t.Fatalf("GetByKey = %+v", got)
	}
	if s.Get("room:2") != nil || s.GetByKey("room:1", "bob") != nil || s.GetByKey("room:2", "alice") != nil {
		t.Fatal("presence reported where none was tracked")
	}
	if s.Online() != 1 {
		t.Fatalf("Online = %d", s.Online())
	}
	checkInvariants(t, s)
}

func TestJoinTwice(t *testing.T) {
	s := New("a")
	mustJoin(t, s, "c1", "room:1", "alice", `{}`)
	if _, err := s.Join("c1", "room:1", "alice", []byte(`{}`)); !errors.Is(err, ErrAlreadyTracked) {
		t.Fatalf("second Join: err %v, want ErrAlreadyTracked", err)
	}
	// Another owner, another key or another topic is a new presence.
	mustJoin(t, s, "c2", "room:1", "alice", `{}`)
	mustJoin(t, s, "c1", "room:1", "bob", `{}`)
	mustJoin(t, s, "c1", "room:2", "alice", `{}`)
	if s.Online() != 4 || s.self.clock != 4 {
		t.Fatalf("Online %d, clock %d; want 4, 4 (a refused Join issues no dot)", s.Online(), s.self.clock)
	}
	checkInvariants(t, s)
}

func TestMetaCopied(t *testing.T) {
	s := New("a")
	meta := []byte(`{"v":1}`)
	mustJoin(t, s, "c", "t", "k", string(meta))
	buf := []byte(`{"v":1}`)
	s.Join("c", "t", "k2", buf)
	buf[5] = '9'
	if got := string(s.GetByKey("t", "k2")[0].Meta); got != `{"v":1}` {
		t.Fatalf("meta changed with the caller's buffer: %s", got)
	}
}

func TestLeave(t *testing.T) {
	s := New("a")
	if _, ok := s.Leave("c1", "room:1", "alice"); ok {
		t.Fatal("Leave of nothing reported ok")
	}
	j := mustJoin(t, s, "c1", "room:1", "alice", `{}`)
	mustJoin(t, s, "c2", "room:1", "alice", `{}`)
	if _, ok := s.Leave("c3", "room:1", "alice"); ok {
		t.Fatal("Leave by another owner reported ok")
	}
	e, ok := s.Leave("c1", "room:1", "alice")
	if !ok || !sameEntry(e, j) {
		t.Fatalf("Leave = %+v, %v; want %+v", e, ok, j)
	}
	if _, ok := s.Leave("c1", "room:1", "alice"); ok {
		t.Fatal("second Leave reported ok")
	}
	if got := dots(s.Get("room:1")); !slices.Equal(got, []Dot{{"a", 2}}) {
		t.Fatalf("Get = %v", got)
	}
	if s.self.clock != 3 {
		t.Fatalf("clock %d, want 3: a leave is an event, a refused one is not", s.self.clock)
	}
	s.Leave("c2", "room:1", "alice")
	if len(s.topics) != 0 || len(s.owners) != 0 || s.Online() != 0 {
		t.Fatalf("empty state keeps %d topics, %d owners", len(s.topics), len(s.owners))
	}
	checkInvariants(t, s)
}

func TestUpdate(t *testing.T) {
	s := New("a")
	if _, _, ok := s.Update("c1", "room:1", "alice", []byte(`{}`)); ok {
		t.Fatal("Update of nothing reported ok")
	}
	old := mustJoin(t, s, "c1", "room:1", "alice", `{"s":"away"}`)
	mustJoin(t, s, "c2", "room:1", "alice", `{}`)
	left, joined, ok := s.Update("c1", "room:1", "alice", []byte(`{"s":"here"}`))
	if !ok || !sameEntry(left, old) {
		t.Fatalf("Update left %+v, want %+v", left, old)
	}
	want := Entry{Topic: "room:1", Key: "alice", Owner: "c1", Meta: []byte(`{"s":"here"}`), Dot: Dot{"a", 3}}
	if !sameEntry(joined, want) {
		t.Fatalf("Update joined %+v, want %+v", joined, want)
	}
	if got := dots(s.GetByKey("room:1", "alice")); !slices.Equal(got, []Dot{{"a", 2}, {"a", 3}}) {
		t.Fatalf("GetByKey = %v, want the other presence then the updated one", got)
	}
	// The owner still tracks it, under the new dot.
	if e, ok := s.Leave("c1", "room:1", "alice"); !ok || e.Dot != want.Dot {
		t.Fatalf("Leave after Update = %+v, %v", e, ok)
	}
	// The only presence of a topic, updated.
	mustJoin(t, s, "c9", "solo", "k", `1`)
	_, j, ok := s.Update("c9", "solo", "k", []byte(`2`))
	if !ok || string(s.Get("solo")[0].Meta) != "2" || j.Dot.Clock != s.self.clock {
		t.Fatalf("Update of a topic's only presence: %v %+v", ok, s.Get("solo"))
	}
	checkInvariants(t, s)
}

func TestLeaveOwner(t *testing.T) {
	s := New("a")
	if s.LeaveOwner("nobody") != nil {
		t.Fatal("LeaveOwner of unknown owner returned entries")
	}
	mustJoin(t, s, "c1", "room:2", "alice", `{}`)
	mustJoin(t, s, "c1", "room:1", "bob", `{}`)
	mustJoin(t, s, "c2", "room:1", "bob", `{}`)
	mustJoin(t, s, "c1", "room:1", "alice", `{}`)
	mustJoin(t, s, "c1", "lobby", "alice", `{}`)
	before := visible(s)
	leaves := s.LeaveOwner("c1")
	checkDiff(t, before, nil, leaves, visible(s))
	want := []Dot{{"a", 5}, {"a", 4}, {"a", 2}, {"a", 1}} // lobby/alice, room:1/alice, room:1/bob, room:2/alice
	if got := dots(leaves); !slices.Equal(got, want) {
		t.Fatalf("LeaveOwner = %v, want %v", got, want)
	}
	if got := dots(s.Get("room:1")); !slices.Equal(got, []Dot{{"a", 3}}) {
		t.Fatalf("other owner's presence: %v", got)
	}
	if s.LeaveOwner("c1") != nil {
		t.Fatal("second LeaveOwner returned entries")
	}
	if s.self.clock != 9 {
		t.Fatalf("clock %d, want 9 (one event per removal)", s.self.clock)
	}
	checkInvariants(t, s)
}

func TestGetOrder(t *testing.T) {
	ps := peers("a", "b")
	a, b := ps[0], ps[1]
	mustJoin(t, b, "x", "room", "k2", `{}`) // b:1
	mustJoin(t, a, "x", "room", "k2", `{}`) // a:1
	mustJoin(t, a, "y", "room", "k1", `{}`) // a:2
	mustJoin(t, b, "y", "room", "k1", `{}`) // b:2
	mustJoin(t, a, "z", "room", "k2", `{}`) // a:3
	mustJoin(t, a, "w", "room", "k10", `{}`)
	mustMerge(t, a, b.TakeDelta())
	want := []string{"k1 a:2", "k1 b:2", "k10 a:4", "k2 a:1", "k2 a:3", "k2 b:1"}
	var got []string
	for _, e := range a.Get("room") {
		got = append(got, fmt.Sprintf("%s %v", e.Key, e.Dot))
	}
	if !slices.Equal(got, want) {
		t.Fatalf("Get order %v, want %v", got, want)
	}
	if got := dots(a.GetByKey("room", "k2")); !slices.Equal(got, []Dot{{"a", 1}, {"a", 3}, {"b", 1}}) {
		t.Fatalf("GetByKey order %v", got)
	}
}

func TestTakeDelta(t *testing.T) {
	s := New("a")
	if !s.TakeDelta().Empty() {
		t.Fatal("fresh state has a delta")
	}
	mustJoin(t, s, "c1", "t", "k1", `1`) // a:1
	mustJoin(t, s, "c1", "t", "k2", `2`) // a:2
	mustJoin(t, s, "c2", "t", "k3", `3`) // a:3
	s.Leave("c1", "t", "k2")             // a:4 removes a:2, added in this period
	d := s.TakeDelta()
	if len(d.Ranges) != 1 || d.Ranges[0].From != 0 || d.Ranges[0].To != 4 || d.Ranges[0].Removed != nil {
		t.Fatalf("delta ranges %+v", d.Ranges)
	}
	if got := dots(d.Entries); !slices.Equal(got, []Dot{{"a", 1}, {"a", 3}}) {
		t.Fatalf("delta entries %v", got)
	}
	if !s.TakeDelta().Empty() {
		t.Fatal("second TakeDelta not empty")
	}
	s.Leave("c2", "t", "k3")               // a:5 removes a:3
	s.Update("c1", "t", "k1", []byte(`9`)) // a:6 removes a:1, adds a:6
	mustJoin(t, s, "c3", "t", "k4", `4`)   // a:7
	s.Leave("c3", "t", "k4")               // a:8
	d = s.TakeDelta()
	want := Range{Replica: "a", From: 4, To: 8, Removed: []uint64{1, 3}}
	if len(d.Ranges) != 1 || fmt.Sprint(d.Ranges[0]) != fmt.Sprint(want) {
		t.Fatalf("delta ranges %+v, want %+v", d.Ranges, want)
	}
	if got := dots(d.Entries); !slices.Equal(got, []Dot{{"a", 6}}) {
		t.Fatalf("delta entries %v", got)
	}
	checkInvariants(t, s)
}

// A peer that sees a delta twice, late, or after a full state that already covers it ends up the same.
func TestMergeDeltas(t *testing.T) {
	ps := peers("a", "b")
	a, b := ps[0], ps[1]
	mustJoin(t, a, "c1", "t", "x", `1`)
	mustJoin(t, a, "c2", "t", "y", `2`)
	d1 := a.TakeDelta()
	mustMerge(t, b, d1)
	mustMerge(t, b, d1) // duplicate
	if len(b.Get("t")) != 2 {
		t.Fatalf("b sees %v", b.Get("t"))
	}
	a.Leave("c1", "t", "x")
	a.Update("c2", "t", "y", []byte(`3`))
	d2 := a.TakeDelta()
	before := visible(b)
	joins, leaves, err := b.Merge(d2)
	if err != nil {
		t.Fatal(err)
	}
	checkDiff(t, before, joins, leaves, visible(b))
	if got := dots(leaves); !slices.Equal(got, []Dot{{"a", 1}, {"a", 2}}) {
		t.Fatalf("leaves %v", got)
	}
	if got := dots(joins); !slices.Equal(got, []Dot{{"a", 4}}) {
		t.Fatalf("joins %v", got)
	}
	mustMerge(t, b, d1) // old: a:1 and a:2 are below b's clock and stay removed
	mustMerge(t, b, d2)
	if !sameSet(visible(a), visible(b)) || !sameContext(a.Context(), b.Context()) {
		t.Fatalf("a and b differ:\n%s---\n%s", dump(visible(a)), dump(visible(b)))
	}
}

// A remove that arrives before its add: the context covers the dot, so the late add does not bring it back.
func TestRemoveBeforeAdd(t *testing.T) {
	ps := peers("a", "b")
	a, b := ps[0], ps[1]
	mustJoin(t, a, "c1", "t", "x", `{}`)
	d1 := a.TakeDelta()
	a.Leave("c1", "t", "x")
	mustMerge(t, b, full(a)) // covers the join and the leave
	if b.Online() != 0 {
		t.Fatal("b sees a removed presence")
	}
	joins, _, err := b.Merge(d1)
	if err != nil || len(joins) != 0 || b.Online() != 0 {
		t.Fatalf("late add resurrected the presence: joins %v, err %v", joins, err)
	}
}

// Concurrent remove of one dot and add of another under the same key: the add survives everywhere.
func TestAddWins(t *testing.T) {
	ps := peers("a", "b")
	a, b := ps[0], ps[1]
	mustJoin(t, a, "c1", "t", "alice", `"a"`)
	mustMerge(t, b, a.TakeDelta())
	a.Leave("c1", "t", "alice")
	mustJoin(t, b, "c7", "t", "alice", `"b"`)
	da, db := a.TakeDelta(), b.TakeDelta()
	mustMerge(t, b, da)
	mustMerge(t, a, db)
	for _, s := range ps {
		if got := dots(s.GetByKey("t", "alice")); !slices.Equal(got, []Dot{{"b", 1}}) {
			t.Fatalf("%s sees %v, want only b:1", s.Replica(), got)
		}
	}
}

func TestMergeNotContiguous(t *testing.T) {
	ps := peers("a", "b")
	a, b := ps[0], ps[1]
	mustJoin(t, a, "c1", "t", "x", `{}`)
	d1 := a.TakeDelta()
	mustJoin(t, a, "c2", "t", "y", `{}`)
	d2 := a.TakeDelta()
	if err := merge(t, b, d2); !errors.Is(err, ErrNotContiguous) {
		t.Fatalf("gap: err %v, want ErrNotContiguous", err)
	}
	if b.Online() != 0 || !sameContext(b.Context(), peers("a", "b")[1].Context()) {
		t.Fatal("a refused delta changed the state")
	}
	if !b.Behind(a.Context()) {
		t.Fatal("b not Behind a")
	}
	mustMerge(t, b, a.Extract(b.Context()))
	mustMerge(t, b, d1)
	mustMerge(t, b, d2)
	if b.Behind(a.Context()) || !sameSet(visible(a), visible(b)) {
		t.Fatalf("b not caught up:\n%s", dump(visible(b)))
	}
}

func TestMergeIgnores(t *testing.T) {
	a, b := New("a"), New("b") // b does not know a
	mustJoin(t, a, "c", "t", "x", `{}`)
	d := a.TakeDelta()
	if j, l, err := b.Merge(d); err != nil || j != nil || l != nil || b.Online() != 0 {
		t.Fatalf("unknown replica merged: %v %v %v", j, l, err)
	}
	if _, ok := b.Context().Clock("a"); ok {
		t.Fatal("unknown replica entered the context")
	}
	b.ReplicaUp("a")
	mustMerge(t, b, d)
	if b.Online() != 1 {
		t.Fatal("known replica not merged")
	}

	// Own ranges: skipped when within the clock, refused beyond it.
	a.ReplicaUp("b")
	mustMerge(t, a, b.Extract(a.Context())) // nothing of a's from b
	if _, _, err := a.Merge(Delta{Ranges: []Range{{Replica: "a", To: 1}}}); err != nil || a.Online() != 1 {
		t.Fatalf("own range within clock: %v, online %d", err, a.Online())
	}
	if err := merge(t, a, Delta{Ranges: []Range{{Replica: "a", To: 5}}}); !errors.Is(err, ErrReplicaReused) {
		t.Fatalf("own range beyond clock: err %v, want ErrReplicaReused", err)
	}
}

func TestMergeInvalid(t *testing.T) {
	e := func(r Replica, c uint64) Entry { return Entry{Topic: "t", Key: "k", Dot: Dot{r, c}} }
	cases := map[string]Delta{
		"ranges unsorted":     {Ranges: []Range{{Replica: "b", To: 1}, {Replica: "a", To: 1}}},
		"ranges duplicated":   {Ranges: []Range{{Replica: "a", To: 1}, {Replica: "a", To: 2}}},
		"from above to":       {Ranges: []Range{{Replica: "a", From: 3, To: 2}}},
		"removed above from":  {Ranges: []Range{{Replica: "a", From: 2, To: 5, Removed: []uint64{3}}}},
		"removed zero":        {Ranges: []Range{{Replica: "a", From: 2, To: 5, Removed: []uint64{0}}}},
		"removed unsorted":    {Ranges: []Range{{Replica: "a", From: 5, To: 6, Removed: []uint64{2, 1}}}},
		"entry without range": {Ranges: []Range{{Replica: "a", To: 5}}, Entries: []Entry{e("b", 1)}},
		"entry below range":   {Ranges: []Range{{Replica: "a", From: 2, To: 5}}, Entries: []Entry{e("a", 2)}},
		"entry above range":   {Ranges: []Range{{Replica: "a", To: 5}}, Entries: []Entry{e("a", 6)}},
		"entries unsorted":    {Ranges: []Range{{Replica: "a", To: 5}}, Entries: []Entry{e("a", 3), e("a", 2)}},
		"entries duplicated":  {Ranges: []Range{{Replica: "a", To: 5}}, Entries: []Entry{e("a", 3), e("a", 3)}},
	}
	for name, d := range cases {
		t.Run(name, func(t *testing.T) {
			s := peers("s", "a", "b")[0]
			if err := merge(t, s, d); !errors.Is(err, ErrInvalidDelta) {
				t.Fatalf("err %v, want ErrInvalidDelta", err)
			}
			if !sameContext(s.Context(), peers("s", "a", "b")[0].Context()) {
				t.Fatal("refused delta changed the context")
			}
		})
	}
}

func TestExtract(t *testing.T) {
	ps := peers("a", "b", "c")
	a, b, c := ps[0], ps[1], ps[2]
	mustJoin(t, a, "o", "t", "1", `{}`)
	mustJoin(t, b, "o", "t", "2", `{}`)
	mustMerge(t, c, a.TakeDelta())
	mustMerge(t, c, b.TakeDelta())

	// c knows a and b; a asks with its context: b's state only (a is not behind on itself or on c).
	d := c.Extract(a.Context())
	if len(d.Ranges) != 1 || d.Ranges[0].Replica != "b" || d.Ranges[0].From != 0 || d.Ranges[0].To != 1 {
		t.Fatalf("Extract for a: %+v", d.Ranges)
	}
	if d := c.Extract(c.Context()); !d.Empty() {
		t.Fatalf("Extract of an equal context: %+v", d)
	}
	// Replicas the asker does not list are not sent; duplicates in its context are harmless.
	d = c.Extract(Context{Clocks: []ReplicaClock{{"b", 0}, {"zzz", 0}, {"b", 0}}})
	if len(d.Ranges) != 1 || d.Ranges[0].Replica != "b" {
		t.Fatalf("Extract for {b}: %+v", d.Ranges)
	}
	if !c.Extract(Context{}).Empty() {
		t.Fatal("Extract of an empty context not empty")
	}
	mustMerge(t, a, c.Extract(a.Context()))
	if got := dots(a.Get("t")); !slices.Equal(got, []Dot{{"a", 1}, {"b", 1}}) {
		t.Fatalf("a after extract: %v", got)
	}
}

func TestBehind(t *testing.T) {
	ps := peers("a", "b")
	a, b := ps[0], ps[1]
	mustJoin(t, a, "o", "t", "1", `{}`)
	if !b.Behind(a.Context()) || a.Behind(b.Context()) {
		t.Fatal("Behind wrong after a join on a")
	}
	// A replica b does not know, and b's own clock as seen by a, do not count.
	if b.Behind(Context{Clocks: []ReplicaClock{{"x", 9}, {"b", 9}}}) {
		t.Fatal("Behind counts unknown replicas or itself")
	}
	mustMerge(t, b, a.TakeDelta())
	if b.Behind(a.Context()) {
		t.Fatal("Behind after catching up")
	}
}

func TestReplicaDownUpRemove(t *testing.T) {
	ps := peers("a", "b")
	a, b := ps[0], ps[1]
	mustJoin(t, b, "o1", "t", "x", `{}`)
	mustJoin(t, b, "o2", "u", "y", `{}`)
	mustMerge(t, a, b.TakeDelta())
	mustJoin(t, a, "o1", "t", "z", `{}`)

	step := func(name string, f func() []Entry, wantJoin bool, want []Dot) {
		t.Helper()
		before := visible(a)
		got := f()
		if wantJoin {
			checkDiff(t, before, got, nil, visible(a))
		} else {
			checkDiff(t, before, nil, got, visible(a))
		}
		if !slices.Equal(dots(got), want) {
			t.Fatalf("%s = %v, want %v", name, dots(got), want)
		}
		checkInvariants(t, a)
	}
	step("ReplicaDown(b)", func() []Entry { return a.ReplicaDown("b") }, false, []Dot{{"b", 1}, {"b", 2}})
	step("ReplicaDown(b) again", func() []Entry { return a.ReplicaDown("b") }, false, nil)
	step("ReplicaDown(self)", func() []Entry { return a.ReplicaDown("a") }, false, nil)
	step("ReplicaDown(unknown)", func() []Entry { return a.ReplicaDown("zz") }, false, nil)
	if a.Online() != 1 || len(a.Get("u")) != 0 {
		t.Fatalf("down replica visible: online %d", a.Online())
	}

	// A down replica's deltas apply silently and show on ReplicaUp.
	b.Leave("o1", "t", "x")
	mustJoin(t, b, "o3", "t", "w", `{}`)
	if err := merge(t, a, b.TakeDelta()); err != nil {
		t.Fatal(err)
	}
	step("ReplicaUp(b)", func() []Entry { return a.ReplicaUp("b") }, true, []Dot{{"b", 4}, {"b", 2}})
	step("ReplicaUp(b) again", func() []Entry { return a.ReplicaUp("b") }, true, nil)

	step("RemoveReplica(b)", func() []Entry { return a.RemoveReplica("b") }, false, []Dot{{"b", 4}, {"b", 2}})
	step("RemoveReplica(self)", func() []Entry { return a.RemoveReplica("a") }, false, nil)
	if _, ok := a.Context().Clock("b"); ok || a.Online() != 1 {
		t.Fatal("removed replica still known")
	}
	// Data about a removed replica is ignored.
	mustJoin(t, b, "o4", "t", "v", `{}`)
	mustMerge(t, a, b.TakeDelta())
	mustMerge(t, a, full(b))
	if a.Online() != 1 {
		t.Fatal("removed replica came back through Merge")
	}
	// Removing a down replica reports nothing: its presences already left.
	a.ReplicaUp("b")
	mustMerge(t, a, full(b))
	a.ReplicaDown("b")
	step("RemoveReplica(down b)", func() []Entry { return a.RemoveReplica("b") }, false, nil)
	if a.Online() != 1 || len(a.topics) != 1 {
		t.Fatalf("leftovers after removal: online %d, topics %d", a.Online(), len(a.topics))
	}
}

// Many joins and leaves: the slot arrays compact and stay consistent.
func TestCompaction(t *testing.T) {
	ps := peers("a", "b")
	a, b := ps[0], ps[1]
	for round := range 5 {
		for i := range 1000 {
			mustJoin(t, a, fmt.Sprint("o", i), "t", fmt.Sprint("k", i%37), `{}`)
		}
		for i := range 1000 {
			if i%10 != round {
				a.LeaveOwner(fmt.Sprint("o", i))
			}
		}
		mustMerge(t, b, a.TakeDelta())
		for i := range 1000 {
			a.LeaveOwner(fmt.Sprint("o", i))
		}
		mustMerge(t, b, a.TakeDelta())
	}
	checkInvariants(t, a)
	if len(a.self.dots) > 64 || len(b.replicas["a"].dots) > 64 || b.Online() != 0 {
		t.Fatalf("slots not compacted: %d, %d", len(a.self.dots), len(b.replicas["a"].dots))
	}
}

func TestTopics(t *testing.T) {
	s := New("r")
	for _, topic := range []string{"room:b", "room:a", "room:b"} {
		if _, err := s.Join("o-"+topic+fmt.Sprint(len(s.Topics())), topic, "k", nil); err != nil {
			t.Fatal(err)
		}
	}
	if got := s.Topics(); !slices.Equal(got, []string{"room:a", "room:b"}) {
		t.Fatalf("Topics() = %v", got)
	}
	s.LeaveOwner("o-room:a1")
	if got := s.Topics(); !slices.Equal(got, []string{"room:b"}) {
		t.Fatalf("after the only presence of room:a left: %v", got)
	}
}
