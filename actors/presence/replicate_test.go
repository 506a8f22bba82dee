package presence

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"

	"github.com/pyrehq/pyre/actors/cluster"
	"github.com/pyrehq/pyre/actors/presence/crdt"
	"github.com/pyrehq/pyre/actors/presence/presencepb"
	"github.com/pyrehq/pyre/actors/pubsub"
)

// fakeCluster is a membership set by hand.
type fakeCluster struct {
	id string
	mu sync.Mutex
	ms []cluster.Member
}

func (c *fakeCluster) ID() string { return c.id }

func (c *fakeCluster) Members() []cluster.Member {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.ms)
}

func (c *fakeCluster) Watch(func()) func() { return func() {} }

func (c *fakeCluster) set(ms ...cluster.Member) {
	c.mu.Lock()
	c.ms = ms
	c.mu.Unlock()
}

// bareNet carries the replication messages between bare trackers by hand: sent messages wait in a queue until
// pump delivers them (a partition drops what crosses it).
type bareNet struct {
	mu    sync.Mutex
	nodes map[string]*bareNode // by address
	q     []netMsg
	cut   map[[2]string]bool
	bytes map[string]int // per message type
}

type netMsg struct {
	from, to string
	m        proto.Message
}

type bareNode struct {
	addr string
	tr   *Tracker
	cl   *fakeCluster
	col  *collector
	ps   *pubsub.PubSub
}

func (n *bareNode) member() cluster.Member { return cluster.Member{ID: n.cl.id, Address: n.addr} }

func newNet() *bareNet {
	return &bareNet{nodes: map[string]*bareNode{}, cut: map[[2]string]bool{}, bytes: map[string]int{}}
}

// node starts a bare clustered tracker (no actor, no remote) at addr; its collector listens to room:1.
func (nw *bareNet) node(addr, id string) *bareNode {
	ps := pubsub.New(pubsub.Config{})
	cl := &fakeCluster{id: id}
	tr := &Tracker{cfg: Config{Name: "presence", Period: time.Second, PermdownAfter: time.Hour, Logger: quiet}, ps: ps,
		owners: map[string]*owned{}, node: "n" + id}
	tr.state = crdt.New(crdt.Replica(id + "/" + tr.node))
	tr.rep = newReplication(tr, cl)
	tr.rep.send = func(to *actor.PID, m proto.Message) {
		nw.mu.Lock()
		nw.q = append(nw.q, netMsg{from: addr, to: to.Address, m: m})
		nw.bytes[string(m.ProtoReflect().Descriptor().Name())] += proto.Size(m)
		nw.mu.Unlock()
	}
	n := &bareNode{addr: addr, tr: tr, cl: cl, col: &collector{}, ps: ps}
	ps.Subscribe("room:1", n.col)
	nw.mu.Lock()
	nw.nodes[addr] = n
	nw.mu.Unlock()
	return n
}

// pump delivers queued messages (through a marshal round trip, as the wire does) until none is left.
func (nw *bareNet) pump(tb testing.TB) {
	tb.Helper()
	for range 10_000 {
		nw.mu.Lock()
		if len(nw.q) == 0 {
			nw.mu.Unlock()
			return
		}
		m := nw.q[0]
		nw.q = nw.q[1:]
		to, cut := nw.nodes[m.to], nw.cut[[2]string{m.from, m.to}]
		nw.mu.Unlock()
		if to == nil || cut {
			continue
		}
		raw, err := proto.Marshal(m.m)
		if err != nil {
			tb.Fatal(err)
		}
		in := m.m.ProtoReflect().New().Interface()
		if err := proto.Unmarshal(raw, in); err != nil {
			tb.Fatal(err)
		}
		if !to.tr.handleRemote(in) {
			tb.Fatalf("not handled: %T", in)
		}
	}
	tb.Fatal("messages never stop")
}

func (nw *bareNet) drop() {
	nw.mu.Lock()
	nw.q = nil
	nw.mu.Unlock()
}

func (n *bareNode) tick() {
	n.tr.mu.Lock()
	n.tr.tick(time.Now())
	n.tr.mu.Unlock()
	n.tr.flushOut()
}

func (n *bareNode) sync() {
	n.tr.mu.Lock()
	n.tr.syncMembers(time.Now())
	n.tr.mu.Unlock()
	n.tr.flushOut()
}

func (n *bareNode) track(owner, key, ref string) {
	n.tr.apply(op{kind: opTrack, owner: owner, topic: "room:1", key: key, meta: metaOf(ref)})
}

// diffs waits for the topic workers and returns the presence_diffs received since the last call.
func (n *bareNode) diffs() []string {
	n.tr.wg.Wait()
	n.col.mu.Lock()
	defer n.col.mu.Unlock()
	var out []string
	for _, b := range n.col.got {
		if b.Event == "presence_diff" {
			out = append(out, string(b.Payload.Bytes()))
		}
	}
	n.col.got = nil
	return out
}

func (n *bareNode) list() string {
	var parts []string
	for k, p := range n.tr.List("room:1") {
		var refs []string
		for _, m := range p.Metas {
			refs = append(refs, refOf(m))
		}
		slices.Sort(refs)
		parts = append(parts, k+":"+strings.Join(refs, ","))
	}
	slices.Sort(parts)
	return strings.Join(parts, ";")
}

func wantDiffs(tb testing.TB, n *bareNode, want ...string) {
	tb.Helper()
	if got := n.diffs(); !slices.Equal(got, want) {
		tb.Fatalf("%s: diffs\n got %q\nwant %q", n.addr, got, want)
	}
}

func diffJSON(joins, leaves map[string][]string) string {
	enc := func(m map[string][]string) map[string]Presence {
		out := map[string]Presence{}
		for k, refs := range m {
			var p Presence
			for _, r := range refs {
				p.Metas = append(p.Metas, metaOf(r))
			}
			out[k] = p
		}
		return out
	}
	raw, _ := json.Marshal(struct {
		Joins  map[string]Presence `json:"joins"`
		Leaves map[string]Presence `json:"leaves"`
	}{enc(joins), enc(leaves)})
	return string(raw)
}

// three connects three bare nodes and has them meet.
func three(tb testing.TB) (*bareNet, *bareNode, *bareNode, *bareNode) {
	nw := newNet()
	a, b, c := nw.node("a:1", "A"), nw.node("b:1", "B"), nw.node("c:1", "C")
	for _, n := range []*bareNode{a, b, c} {
		n.cl.set(a.member(), b.member(), c.member())
	}
	for _, n := range []*bareNode{a, b, c} {
		n.sync()
	}
	nw.pump(tb)
	return nw, a, b, c
}

// A join on one node reaches the others' subscribers as exactly Phoenix's diff, and every List; a node
// that leaves the membership has its presences leave at once on the others; when it comes back with the
// same member id (a healed netsplit) they come back once, with what changed meanwhile.
func TestReplicationJoinLeaveHeal(t *testing.T) {
	nw, a, b, c := three(t)
	a.track("$1", "alice", "ra")
	a.track("$2", "bob", "rb")
	wantDiffs(t, a, diffJSON(map[string][]string{"alice": {"ra"}}, nil), diffJSON(map[string][]string{"bob": {"rb"}}, nil))
	a.tick()
	nw.pump(t)
	both := diffJSON(map[string][]string{"alice": {"ra"}, "bob": {"rb"}}, nil)
	wantDiffs(t, b, both)
	wantDiffs(t, c, both)
	c.track("$1", "carol", "rc") // the same owner name as alice's on a: another node's channel
	c.tick()
	nw.pump(t)
	for _, n := range []*bareNode{a, b, c} {
		if got := n.list(); got != "alice:ra;bob:rb;carol:rc" {
			t.Fatalf("%s lists %s", n.addr, got)
		}
	}
	a.diffs()
	b.diffs()
	c.diffs()

	// a is cut off: the others see it leave at once, and a sees them leave.
	b.cl.set(b.member(), c.member())
	c.cl.set(b.member(), c.member())
	a.cl.set(a.member())
	for _, n := range []*bareNode{a, b, c} {
		n.sync()
	}
	nw.pump(t)
	gone := diffJSON(nil, map[string][]string{"alice": {"ra"}, "bob": {"rb"}})
	wantDiffs(t, b, gone)
	wantDiffs(t, c, gone)
	wantDiffs(t, a, diffJSON(nil, map[string][]string{"carol": {"rc"}}))

	// Meanwhile bob leaves on a (that diff is a's own).
	a.tr.apply(op{kind: opDown, owner: "$2"})
	a.tick()
	nw.pump(t)
	wantDiffs(t, a, diffJSON(nil, map[string][]string{"bob": {"rb"}}))
	wantDiffs(t, b)

	// Healed: alice comes back once on b and c (bob's leave arrives with a's state), carol on a.
	for _, n := range []*bareNode{a, b, c} {
		n.cl.set(a.member(), b.member(), c.member())
	}
	for _, n := range []*bareNode{a, b, c} {
		n.sync()
	}
	nw.pump(t)
	for _, n := range []*bareNode{a, b, c} {
		if got := n.list(); got != "alice:ra;carol:rc" {
			t.Fatalf("%s lists %s after the heal", n.addr, got)
		}
	}
	back := []string{diffJSON(map[string][]string{"alice": {"ra"}, "bob": {"rb"}}, nil), diffJSON(nil, map[string][]string{"bob": {"rb"}})}
	wantDiffs(t, b, back...)
	wantDiffs(t, c, back...)
	wantDiffs(t, a, diffJSON(map[string][]string{"carol": {"rc"}}, nil))
}

// A node that restarts is a new member id at the same address: the old replica is forgotten (its
// presences left when it died), the new one starts empty and its joins come as new.
func TestReplicationRestartedNode(t *testing.T) {
	nw, a, b, c := three(t)
	a.track("$1", "alice", "ra")
	a.tick()
	nw.pump(t)
	b.diffs()
	c.diffs()
	// a dies; a new process starts at its address.
	b.cl.set(b.member(), c.member())
	b.sync()
	wantDiffs(t, b, diffJSON(nil, map[string][]string{"alice": {"ra"}}))
	a2 := nw.node("a:1", "A2")
	for _, n := range []*bareNode{a2, b, c} {
		n.cl.set(a2.member(), b.member(), c.member())
	}
	for _, n := range []*bareNode{a2, b, c} {
		n.sync()
	}
	nw.pump(t)
	if _, kept := b.tr.rep.peers["A"]; kept {
		t.Fatal("b keeps the dead incarnation")
	}
	wantDiffs(t, c, diffJSON(nil, map[string][]string{"alice": {"ra"}}))
	a2.track("$1", "alice", "ra2")
	a2.tick()
	nw.pump(t)
	wantDiffs(t, b, diffJSON(map[string][]string{"alice": {"ra2"}}, nil))
	if got := c.list(); got != "alice:ra2" {
		t.Fatalf("c lists %s", got)
	}
}

// A peer that does not acknowledge gets no more than window messages; the deltas it missed come by
// transfer when it answers again, and it ends equal.
func TestReplicationSlowPeerCatchesUp(t *testing.T) {
	nw, a, b, _ := three(t)
	nw.mu.Lock()
	nw.cut[[2]string{"a:1", "b:1"}] = true
	nw.mu.Unlock()
	for i := range 3 * window {
		a.track(fmt.Sprint("$", i), fmt.Sprint("u", i), fmt.Sprint("r", i))
		a.tick()
	}
	nw.pump(t)
	if p := a.tr.rep.peers["B"]; p.sent-p.acked != window || a.tr.ReplicationStats().Skipped == 0 {
		t.Fatalf("in flight %d, skipped %d", p.sent-p.acked, a.tr.ReplicationStats().Skipped)
	}
	nw.mu.Lock()
	delete(nw.cut, [2]string{"a:1", "b:1"})
	nw.mu.Unlock()
	a.tr.rep.peers["B"].progress = time.Now().Add(-time.Hour) // what was in flight is lost
	a.track("$x", "last", "rx")
	a.tick()
	nw.pump(t)
	if b.list() != a.list() || strings.Count(a.list(), ";") != 3*window {
		t.Fatalf("b %s\na %s", b.list(), a.list())
	}
	if s := b.tr.ReplicationStats(); s.TransferReqs == 0 || a.tr.ReplicationStats().Lost != window {
		t.Fatalf("stats b %+v a %+v", s, a.tr.ReplicationStats())
	}
}

// The last changes of a draining node reach the others at once, without waiting for the period.
func TestReplicationFinalDelta(t *testing.T) {
	nw, a, b, _ := three(t)
	a.track("$1", "alice", "ra")
	a.tick()
	nw.pump(t)
	b.diffs()
	a.tr.apply(op{kind: opDown, owner: "$1"})
	a.tr.sendFinal()
	nw.pump(t)
	wantDiffs(t, b, diffJSON(nil, map[string][]string{"alice": {"ra"}}))
}

// The bytes of a heartbeat carrying N joins, and of an empty one (the context alone).
func TestReplicationHeartbeatBytes(t *testing.T) {
	for _, n := range []int{1, 100, 10_000} {
		nw := newNet()
		a, b := nw.node("a:1", "A"), nw.node("b:1", "B")
		a.cl.set(a.member(), b.member())
		b.cl.set(a.member(), b.member())
		a.sync()
		b.sync()
		nw.pump(t)
		clear(nw.bytes)
		for i := range n {
			meta := withRefs(json.RawMessage(`{"online_at":"1732600000"}`), fmt.Sprintf("F%07d", i), "")
			a.tr.apply(op{kind: opTrack, owner: fmt.Sprintf("$%d/$%d", i, i+1), topic: "room:1", key: fmt.Sprintf("user:%d", i), meta: meta})
		}
		a.tick()
		hb := nw.bytes["Heartbeat"]
		nw.pump(t)
		if got := strings.Count(b.list(), ";") + 1; got != n {
			t.Fatalf("%d presences arrived of %d", got, n)
		}
		t.Logf("heartbeat with %d joins: %d bytes (%.1f per presence)", n, hb, float64(hb)/float64(n))
		a.diffs()
		b.diffs()
	}
	nw, a, b, _ := three(t)
	clear(nw.bytes)
	for range maxSilent {
		a.tick()
	}
	nw.pump(t)
	t.Logf("empty heartbeat, 3 nodes: %d bytes per peer", nw.bytes["Heartbeat"]/2)
	_ = b
}

var quiet = slog.New(slog.DiscardHandler)

// A member away longer than PermdownAfter is forgotten; if it comes back after all with the same id, its
// presences come back whole.
func TestReplicationPermdownAndReturn(t *testing.T) {
	nw, a, b, c := three(t)
	a.track("$1", "alice", "ra")
	a.tick()
	nw.pump(t)
	b.diffs()
	b.cl.set(b.member(), c.member())
	b.sync()
	wantDiffs(t, b, diffJSON(nil, map[string][]string{"alice": {"ra"}}))
	b.tr.rep.peers["A"].since = time.Now().Add(-2 * b.tr.cfg.PermdownAfter)
	b.sync()
	if _, kept := b.tr.rep.peers["A"]; kept {
		t.Fatal("a not forgotten")
	}
	b.cl.set(a.member(), b.member(), c.member())
	b.sync()
	a.tick()
	nw.pump(t)
	wantDiffs(t, b, diffJSON(map[string][]string{"alice": {"ra"}}, nil))
	if got := b.list(); got != "alice:ra" {
		t.Fatalf("b lists %s", got)
	}
}

// A state larger than transferChunk reaches a new peer in parts, and it ends equal.
func TestReplicationChunkedTransfer(t *testing.T) {
	nw := newNet()
	a, b := nw.node("a:1", "A"), nw.node("b:1", "B")
	const n = 30_000
	for i := range n {
		meta := withRefs(json.RawMessage(`{"online_at":"1732600000"}`), fmt.Sprintf("F%07d", i), "")
		a.tr.apply(op{kind: opTrack, owner: fmt.Sprintf("$%d", i), topic: "room:1", key: fmt.Sprintf("user:%d", i), meta: meta})
	}
	a.tick() // no peer yet: the delta goes nowhere
	a.cl.set(a.member(), b.member())
	b.cl.set(a.member(), b.member())
	a.sync()
	b.sync()
	nw.pump(t)
	if got, want := b.list(), a.list(); got != want {
		t.Fatalf("b lists %d presences, a %d", strings.Count(got, ";")+1, strings.Count(want, ";")+1)
	}
	if s := a.tr.ReplicationStats(); s.Transfers < 3 || s.Bytes < n*70 {
		t.Fatalf("stats %+v", s)
	}
	b.diffs()
	a.diffs()
}

// pumpUntil delivers queued messages one at a time until cond holds (checked before each).
func (nw *bareNet) pumpUntil(tb testing.TB, cond func() bool) {
	tb.Helper()
	for range 10_000 {
		if cond() {
			return
		}
		nw.mu.Lock()
		if len(nw.q) == 0 {
			nw.mu.Unlock()
			tb.Fatal("queue empty before the condition held")
		}
		m := nw.q[0]
		nw.q = nw.q[1:]
		to := nw.nodes[m.to]
		nw.mu.Unlock()
		raw, _ := proto.Marshal(m.m)
		in := m.m.ProtoReflect().New().Interface()
		if err := proto.Unmarshal(raw, in); err != nil {
			tb.Fatal(err)
		}
		to.tr.handleRemote(in)
	}
}

// While a large state crosses in parts, the heartbeats go on beside it: a change made meanwhile arrives
// right after the transfer, without a second one.
func TestReplicationDeltasBesideTransfer(t *testing.T) {
	nw := newNet()
	a, b := nw.node("a:1", "A"), nw.node("b:1", "B")
	for i := range 30_000 {
		meta := withRefs(json.RawMessage(`{"online_at":"1732600000"}`), fmt.Sprintf("F%07d", i), "")
		a.tr.apply(op{kind: opTrack, owner: fmt.Sprintf("$%d", i), topic: "room:1", key: fmt.Sprintf("user:%d", i), meta: meta})
	}
	a.tick()
	a.cl.set(a.member(), b.member())
	b.cl.set(a.member(), b.member())
	a.sync()
	b.sync()
	transferQueued := func() bool {
		nw.mu.Lock()
		defer nw.mu.Unlock()
		for _, m := range nw.q {
			if _, ok := m.m.(*presencepb.Transfer); ok {
				return true
			}
		}
		return false
	}
	nw.pumpUntil(t, transferQueued)
	for i := range window - 1 { // with the fresh heartbeat unacknowledged, the window is full
		a.track(fmt.Sprint("$late", i), fmt.Sprint("late", i), fmt.Sprint("rl", i))
		a.tick()
	}
	nw.pump(t)
	if got, want := b.list(), a.list(); got != want {
		t.Fatalf("b lists %d presences, a %d", strings.Count(got, ";")+1, strings.Count(want, ";")+1)
	}
	if sa, sb := a.tr.ReplicationStats(), b.tr.ReplicationStats(); sa.Skipped != 0 || sb.TransferReqs != 1 {
		t.Fatalf("a %+v\nb %+v", sa, sb)
	}
	a.diffs()
	b.diffs()
}
