package presence

import (
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"

	"github.com/pyrehq/pyre/actors/cluster"
	"github.com/pyrehq/pyre/actors/presence/crdt"
	"github.com/pyrehq/pyre/actors/presence/presencepb"
)

// Cluster is what a Tracker needs of a cluster node to replicate its presences; *cluster.Node has it.
type Cluster interface {
	// ID is this node's member id.
	ID() string
	// Members lists the live members, this node included.
	Members() []cluster.Member
	// Watch has f called, without blocking, each time Members changes; stop ends the calls.
	Watch(f func()) (stop func())
}

const (
	defaultPeriod   = 500 * time.Millisecond
	defaultPermdown = 20 * time.Minute
	// window bounds the heartbeats and transfers in flight to one peer (protoactor's writer queue is
	// unbounded): a slow peer misses deltas instead, and asks for a transfer when it sees the gap.
	window = 4
	// maxSilent: with nothing to send, the context alone goes out every maxSilent periods (anti-entropy).
	maxSilent = 10
	// lossPeriods: messages in flight with no ack for this many periods are counted lost, and the window
	// opens again (a batch lost with a cut stream is never acknowledged).
	lossPeriods = 10
	// maxMessage is the largest heartbeat sent to a peer: a bigger delta is not sent (logged), the peers
	// catch up by transfer. protoactor packs many messages to one node into one gRPC message, which the
	// cluster's receive limit bounds: a message too large would cut the stream to that node.
	maxMessage = 4 << 20
	// transferChunk is the size a transfer is cut into: the state of any size crosses, a part at a time.
	transferChunk = 1 << 20
	// relayPrefix + Config.Name is the name peers address this node's tracker by.
	relayPrefix = "pyre-presence-"
)

var errBadMessage = errors.New("presence: bad message from another node")

// replication is a clustered tracker's view of its peers (guarded by Tracker.mu). Each node's tracker is
// one replica of the set (crdt.State); membership comes from the cluster, not from heartbeat timing.
type replication struct {
	cl    Cluster
	self  string // this node's member id
	name  string // the relay's name, here and on every peer
	peers map[string]*peer
	gone  map[crdt.Replica]time.Time // replicas replaced by a newer one of their member: ignored from now on
	ticks uint64

	// out collects the messages decided under Tracker.mu; sent after it is released.
	out []outMsg
	// send delivers one message to a peer's tracker (root.Send through protoactor's remote); tests replace it.
	send func(to *actor.PID, m proto.Message)

	stats  replStats
	logged time.Time // rate limit of the bad-message log line
}

type outMsg struct {
	to *actor.PID
	m  proto.Message
}

type replStats struct {
	heartbeats, transfers, transferReqs, skipped, lost, ignored, bad, tooLarge atomic.Uint64
	bytes                                                                      atomic.Uint64
}

// peer is another member's tracker.
type peer struct {
	id, addr string
	pid      *actor.PID
	replica  crdt.Replica // its replica, once heard of
	live     bool         // a member now
	up       bool         // its replica is up in the state
	since    time.Time    // when it left membership
	silent   int          // periods without a heartbeat to it
	fresh    bool         // new or healed: heartbeat it at every period until it acknowledges
	sent     uint64       // seq of the last heartbeat or transfer sent
	acked    uint64
	progress time.Time // the first send after idle, or the latest ack
	askedAt  time.Time // a TransferReq outstanding since

	partFrom, partTo uint64 // the seqs of the last transfer's parts
}

func newReplication(t *Tracker, cl Cluster) *replication {
	r := &replication{cl: cl, self: cl.ID(), name: relayPrefix + t.cfg.Name, peers: map[string]*peer{},
		gone: map[crdt.Replica]time.Time{}}
	r.send = func(to *actor.PID, m proto.Message) { t.root.Send(to, m) }
	return r
}

// flushOut sends what was decided under the lock (t.mu not held).
func (t *Tracker) flushOut() {
	r := t.rep
	t.mu.Lock()
	out := r.out
	r.out = nil
	t.mu.Unlock()
	for _, o := range out {
		r.send(o.to, o.m)
	}
}

// queue a message to p (t.mu held).
func (r *replication) queue(p *peer, m proto.Message) {
	r.stats.bytes.Add(uint64(proto.Size(m)))
	r.out = append(r.out, outMsg{to: p.pid, m: m})
}

// room reports whether p's window has room for another heartbeat (transfer: and no transfer in flight),
// counting as lost what has gone unacknowledged too long (t.mu held). A transfer's parts are outside the
// heartbeats' window, so that deltas keep flowing while a large state crosses: the receiver merges them
// after it, in stream order.
func (r *replication) room(p *peer, now time.Time, period time.Duration, transfer bool) bool {
	if p.sent > p.acked && now.Sub(p.progress) > lossPeriods*period {
		r.stats.lost.Add(p.sent - p.acked)
		p.acked = p.sent
	}
	parts := uint64(0) // the transfer's parts unacknowledged
	if p.partTo > p.acked {
		parts = p.partTo - max(p.acked, p.partFrom-1)
	}
	return p.sent-p.acked-parts < window && (!transfer || parts == 0)
}

func (r *replication) nextSeq(p *peer, now time.Time) uint64 {
	if p.sent == p.acked {
		p.progress = now
	}
	p.sent++
	return p.sent
}

// report queues the joins and leaves of a merge, a replica up or down as presence_diffs: one per topic
// (t.mu held).
func (t *Tracker) report(joins, leaves []crdt.Entry) {
	diffs := map[string]*topicDiff{}
	diff := func(topic string) *topicDiff {
		d := diffs[topic]
		if d == nil {
			d = t.diff(topic)
			diffs[topic] = d
		}
		return d
	}
	for _, e := range joins {
		diff(e.Topic).join(e.Key, e.Meta)
	}
	for _, e := range leaves {
		diff(e.Topic).leave(e.Key, e.Meta)
	}
}

// syncMembers brings the peers in line with the cluster's members: a member that left has its replica
// down at once (its presences leave here); one back from a netsplit with the same id gets a heartbeat
// now, and its presences come back when it answers; the replica of a member that restarted (a new id at
// its address) or stayed away PermdownAfter is forgotten (t.mu held).
func (t *Tracker) syncMembers(now time.Time) {
	r := t.rep
	members := r.cl.Members()
	live := make(map[string]string, len(members))
	for _, m := range members {
		if m.ID != r.self {
			live[m.ID] = m.Address
		}
	}
	byAddr := make(map[string]string, len(live))
	for id, addr := range live {
		byAddr[addr] = id
		p := r.peers[id]
		switch {
		case p == nil:
			p = &peer{id: id, addr: addr, pid: actor.NewPID(addr, r.name)}
			r.peers[id] = p
			fallthrough
		case !p.live:
			p.live, p.fresh = true, true
			// What was in flight went with the stream.
			p.sent, p.acked, p.partFrom, p.partTo, p.askedAt = 0, 0, 0, 0, time.Time{}
			t.heartbeatTo(p, nil, now)
		}
	}
	for id, p := range r.peers {
		if _, ok := live[id]; ok {
			continue
		}
		if p.live {
			p.live, p.since = false, now
			if p.up {
				p.up = false
				t.report(nil, t.state.ReplicaDown(p.replica))
			}
		}
		other, taken := byAddr[p.addr]
		if p.replica == "" || (taken && other != id) || now.Sub(p.since) > t.cfg.PermdownAfter {
			t.forget(p)
		}
	}
	for rep, at := range r.gone {
		if now.Sub(at) > t.cfg.PermdownAfter {
			delete(r.gone, rep)
		}
	}
}

// forget removes p and its replica (t.mu held). Should the member come back after all (a netsplit longer
// than PermdownAfter), its replica is met again as new and transferred whole.
func (t *Tracker) forget(p *peer) {
	delete(t.rep.peers, p.id)
	if p.replica != "" {
		t.report(nil, t.state.RemoveReplica(p.replica))
	}
}

// tick is the heartbeat: membership, then this replica's delta to every live peer (t.mu held).
func (t *Tracker) tick(now time.Time) {
	r := t.rep
	r.ticks++
	t.syncMembers(now)
	d := deltaToPB(t.state.TakeDelta())
	if size := proto.Size(d); size > maxMessage {
		// Sent, it would cut the stream to every peer; they see the gap and ask for a transfer instead.
		r.stats.tooLarge.Add(1)
		t.cfg.Logger.Warn("pyre: presence delta too large for one message: the other nodes catch up by transfer", "bytes", size)
		d = nil
	}
	for _, p := range r.peers {
		if !p.live {
			continue
		}
		if d == nil && !p.fresh && p.silent+1 < maxSilent {
			p.silent++
			continue
		}
		t.heartbeatTo(p, d, now)
	}
	for _, p := range r.peers { // a transfer asked for and not answered: ask again
		if p.live && !p.askedAt.IsZero() && now.Sub(p.askedAt) > 2*t.cfg.Period {
			p.askedAt = time.Time{}
			t.askTransfer(p, now)
		}
	}
}

// sendFinal sends every live peer what changed since the last period, at once.
func (t *Tracker) sendFinal() {
	now := time.Now()
	t.mu.Lock()
	if d := deltaToPB(t.state.TakeDelta()); d != nil {
		for _, p := range t.rep.peers {
			if p.live {
				t.heartbeatTo(p, d, now)
			}
		}
	}
	t.mu.Unlock()
	t.flushOut()
}

// heartbeatTo sends p a heartbeat with d (nil: the context alone), if its window has room (t.mu held).
func (t *Tracker) heartbeatTo(p *peer, d *presencepb.Delta, now time.Time) {
	r := t.rep
	if !r.room(p, now, t.cfg.Period, false) {
		r.stats.skipped.Add(1) // it sees the gap at the next delta and asks for a transfer
		return
	}
	p.silent = 0
	r.stats.heartbeats.Add(1)
	r.queue(p, &presencepb.Heartbeat{Node: r.self, Replica: string(t.state.Replica()), Seq: r.nextSeq(p, now),
		Delta: d, Clocks: contextToPB(t.state.Context())})
}

// askTransfer asks p for what this replica lacks, once at a time (t.mu held).
func (t *Tracker) askTransfer(p *peer, now time.Time) {
	if !p.askedAt.IsZero() {
		return
	}
	p.askedAt = now
	t.rep.stats.transferReqs.Add(1)
	t.rep.queue(p, &presencepb.TransferReq{Node: t.rep.self, Replica: string(t.state.Replica()),
		Clocks: contextToPB(t.state.Context())})
}

// sender is the live peer a message comes from, with its replica made known (t.mu held). A message from
// a node that is not a member (yet, or any more) or from a forgotten replica is ignored: what it carried
// comes again later, or by transfer.
func (t *Tracker) sender(node, replica string, now time.Time) *peer {
	r := t.rep
	p := r.peers[node]
	if p == nil || !p.live || replica == "" {
		t.syncMembers(now) // maybe it joined a moment ago
		if p = r.peers[node]; p == nil || !p.live || replica == "" {
			r.stats.ignored.Add(1)
			return nil
		}
	}
	rep := crdt.Replica(replica)
	if _, gone := r.gone[rep]; gone || rep == t.state.Replica() {
		r.stats.ignored.Add(1)
		return nil
	}
	if p.replica != rep {
		if p.replica != "" { // its tracker was started again (a new Tracker on the same node)
			t.report(nil, t.state.RemoveReplica(p.replica))
			r.gone[p.replica] = now
		}
		p.replica = rep
		p.up = false
	}
	if !p.up {
		// New or back: its presences as last known come back now, and what it has since comes by
		// transfer (an Ack, which may be the first word from it, says nothing of its clocks).
		p.up = true
		t.report(t.state.ReplicaUp(rep), nil)
		t.askTransfer(p, now)
	}
	return p
}

func (t *Tracker) onHeartbeat(m *presencepb.Heartbeat, now time.Time) {
	p := t.sender(m.Node, m.Replica, now)
	if p == nil {
		return
	}
	t.rep.queue(p, &presencepb.Ack{Node: t.rep.self, Replica: string(t.state.Replica()), Seq: m.Seq})
	if m.Delta != nil {
		t.merge(p, m.Delta, now)
	}
	if t.state.Behind(contextFromPB(m.Clocks)) {
		t.askTransfer(p, now)
	}
}

func (t *Tracker) onTransferReq(m *presencepb.TransferReq, now time.Time) {
	p := t.sender(m.Node, m.Replica, now)
	if p == nil {
		return
	}
	// The requester may not know this replica yet: it asks for it from the start.
	c := contextFromPB(m.Clocks)
	if _, ok := c.Clock(t.state.Replica()); !ok {
		c.Clocks = append(c.Clocks, crdt.ReplicaClock{Replica: t.state.Replica()})
	}
	d := t.state.Extract(c)
	if !t.rep.room(p, now, t.cfg.Period, true) {
		return // a full window: it asks again
	}
	// Answered even when empty (nothing it lacks): the answer ends its request. A large state goes in
	// parts of transferChunk, all at once: one transfer in flight per peer, beside the window.
	parts := chunks(d, transferChunk)
	if len(parts) == 0 {
		parts = []crdt.Delta{{}}
	}
	p.partFrom = p.sent + 1
	p.partTo = p.sent + uint64(len(parts))
	for i, part := range parts {
		t.rep.stats.transfers.Add(1)
		t.rep.queue(p, &presencepb.Transfer{Node: t.rep.self, Replica: string(t.state.Replica()),
			Seq: t.rep.nextSeq(p, now), Delta: deltaToPB(part), More: i < len(parts)-1})
	}
}

func (t *Tracker) onTransfer(m *presencepb.Transfer, now time.Time) {
	p := t.sender(m.Node, m.Replica, now)
	if p == nil {
		return
	}
	if m.More {
		p.askedAt = now // the request stands, making progress, until the last part
	} else {
		p.askedAt = time.Time{}
	}
	t.rep.queue(p, &presencepb.Ack{Node: t.rep.self, Replica: string(t.state.Replica()), Seq: m.Seq})
	t.merge(p, m.Delta, now)
}

func (t *Tracker) onAck(m *presencepb.Ack, now time.Time) {
	p := t.sender(m.Node, m.Replica, now)
	if p != nil && m.Seq > p.acked && m.Seq <= p.sent {
		p.acked = m.Seq
		p.progress = now
		p.fresh = false
	}
}

// merge applies a delta from p and reports the change; a gap asks p for a transfer (t.mu held).
func (t *Tracker) merge(p *peer, pd *presencepb.Delta, now time.Time) {
	d, err := deltaFromPB(pd)
	if err == nil {
		var joins, leaves []crdt.Entry
		joins, leaves, err = t.state.Merge(d)
		t.report(joins, leaves)
	}
	switch {
	case err == nil:
	case errors.Is(err, crdt.ErrNotContiguous):
		t.askTransfer(p, now)
	default:
		t.rep.stats.bad.Add(1)
		if now.Sub(t.rep.logged) > 10*time.Second {
			t.rep.logged = now
			t.cfg.Logger.Warn("pyre: presence delta from another node refused", slog.String("peer", p.addr), slog.Any("err", err))
		}
	}
}

// handleRemote applies one message from another node's tracker (the tracker actor's turn).
func (t *Tracker) handleRemote(m any) bool {
	now := time.Now()
	t.mu.Lock()
	switch m := m.(type) {
	case *presencepb.Heartbeat:
		t.onHeartbeat(m, now)
	case *presencepb.TransferReq:
		t.onTransferReq(m, now)
	case *presencepb.Transfer:
		t.onTransfer(m, now)
	case *presencepb.Ack:
		t.onAck(m, now)
	default:
		t.mu.Unlock()
		return false
	}
	t.mu.Unlock()
	t.flushOut()
	return true
}

// relay is the name peers address this node's tracker by, NewPID(address, "pyre-presence-"+Name): an entry
// in protoactor's process registry (not an actor) that hands what arrives to the tracker actor now
// running. It has no mailbox and no state, so nothing of it can crash or be lost; while the tracker actor
// restarts, what arrives is dropped, and the replication heals it (a gap asks for a transfer). The one
// seam on protoactor's registry: actor.Process and ProcessRegistry.Add/Remove.
type relay struct{ t *Tracker }

func (r *relay) SendUserMessage(_ *actor.PID, m any) {
	if pid := r.t.pid.Load(); pid != nil {
		r.t.root.Send(pid, actor.UnwrapEnvelopeMessage(m))
	}
}

func (*relay) SendSystemMessage(*actor.PID, any) {}

func (*relay) Stop(*actor.PID) {}

// ReplicationStats are a clustered tracker's counters since Start.
type ReplicationStats struct {
	// Heartbeats and Transfers sent, TransferReqs asked; Bytes of every message sent to other nodes.
	Heartbeats, Transfers, TransferReqs, Bytes uint64
	// Skipped counts heartbeats not sent to a peer whose window was full (it catches up by transfer);
	// Lost messages never acknowledged; Ignored messages from non-members or forgotten replicas; Bad
	// deltas refused; TooLarge deltas not sent in a heartbeat (over 4 MiB: sent by transfer instead).
	Skipped, Lost, Ignored, Bad, TooLarge uint64
}

// ReplicationStats returns the counters of the replication with other nodes (zero without Config.Cluster).
func (t *Tracker) ReplicationStats() ReplicationStats {
	if t.rep == nil {
		return ReplicationStats{}
	}
	s := &t.rep.stats
	return ReplicationStats{Heartbeats: s.heartbeats.Load(), Transfers: s.transfers.Load(),
		TransferReqs: s.transferReqs.Load(), Bytes: s.bytes.Load(), Skipped: s.skipped.Load(), Lost: s.lost.Load(),
		Ignored: s.ignored.Load(), Bad: s.bad.Load(), TooLarge: s.tooLarge.Load()}
}
