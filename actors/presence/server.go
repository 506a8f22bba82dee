package presence

import (
	"bytes"
	"encoding/json"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/pyrehq/pyre/actors/channel"
	"github.com/pyrehq/pyre/actors/presence/crdt"
	"github.com/pyrehq/pyre/actors/telemetry"
)

// op is a change a channel made to what it tracks. Each op says what it expects (the meta it replaces or
// removes), so applying one that a rebuild already covered does nothing.
type op struct {
	kind  opKind
	owner string
	topic string
	key   string
	meta  json.RawMessage // opTrack, opUpdate: the new meta
	prev  json.RawMessage // opUpdate, opUntrack: the meta it replaces or removes
}

type opKind uint8

const (
	opTrack opKind = iota
	opUpdate
	opUntrack
	opDown // the channel ended: everything it tracked goes
)

// apply applies o to the set at once, in the caller's goroutine, so that a List right after a Track sees
// it, and queues its diff (or adds it to the batch, with Config.Window). The presences it made join or
// leave are reported (Config.Events) once the set is unlocked.
func (t *Tracker) apply(o op) {
	observed := t.ev.PresenceJoined != nil || t.ev.PresenceLeft != nil
	var evs []presenceEvent
	t.mu.Lock()
	t.applyLocked(o, observed, &evs)
	t.mu.Unlock()
	for _, e := range evs {
		if f := t.ev.PresenceJoined; e.joined && f != nil {
			f(e.Presence)
		} else if f := t.ev.PresenceLeft; !e.joined && f != nil {
			f(e.Presence)
		}
	}
}

type presenceEvent struct {
	telemetry.Presence
	joined bool
}

// noteJoin and noteLeave record a presence of this node joining (its key's first local meta on the topic)
// or leaving (its last) for telemetry; t.mu is held. Other nodes' metas of the key do not count: each
// node reports its own.
func (t *Tracker) noteJoin(evs *[]presenceEvent, topic, key string) {
	if n := t.localMetas(topic, key); n == 1 {
		*evs = append(*evs, presenceEvent{telemetry.Presence{Topic: topic, Key: key, Metas: n}, true})
	}
}

func (t *Tracker) noteLeave(evs *[]presenceEvent, topic, key string) {
	if t.localMetas(topic, key) == 0 {
		*evs = append(*evs, presenceEvent{telemetry.Presence{Topic: topic, Key: key}, false})
	}
}

// localMetas counts the metas of key on topic that this node tracks; t.mu is held.
func (t *Tracker) localMetas(topic, key string) int {
	self, n := t.state.Replica(), 0
	for _, e := range t.state.GetByKey(topic, key) {
		if e.Dot.Replica == self {
			n++
		}
	}
	return n
}

func (t *Tracker) applyLocked(o op, observed bool, evs *[]presenceEvent) {
	st := t.state
	cur, have := current(st, o)
	switch o.kind {
	case opTrack:
		if have {
			return // a rebuild has it
		}
		if e, err := st.Join(o.owner, o.topic, o.key, o.meta); err == nil {
			t.diff(o.topic).join(e.Key, e.Meta)
			if observed {
				t.noteJoin(evs, o.topic, o.key)
			}
		}
	case opUpdate:
		switch {
		case have && bytes.Equal(cur.Meta, o.meta):
			return // a rebuild has it
		case have:
			if left, joined, ok := st.Update(o.owner, o.topic, o.key, o.meta); ok {
				d := t.diff(o.topic)
				d.leave(left.Key, left.Meta)
				d.join(joined.Key, joined.Meta)
			}
		default:
			if e, err := st.Join(o.owner, o.topic, o.key, o.meta); err == nil {
				t.diff(o.topic).join(e.Key, e.Meta)
				if observed {
					t.noteJoin(evs, o.topic, o.key)
				}
			}
		}
	case opUntrack:
		if have && bytes.Equal(cur.Meta, o.prev) {
			if e, ok := st.Leave(o.owner, o.topic, o.key); ok {
				t.diff(o.topic).leave(e.Key, e.Meta)
				if observed {
					t.noteLeave(evs, o.topic, o.key)
				}
			}
		}
	case opDown:
		// One diff per topic with all of them, as Phoenix's when a tracked process exits.
		var d *topicDiff
		var topic string
		for _, e := range st.LeaveOwner(o.owner) { // in topic order
			if d == nil || e.Topic != topic {
				d, topic = t.diff(e.Topic), e.Topic
			}
			d.leave(e.Key, e.Meta)
			if observed {
				t.noteLeave(evs, e.Topic, e.Key)
			}
		}
	}
}

// current is the owner's presence of o.key in o.topic, if any (an owner tracks a key once). Owners are
// this node's channels: another node's presences, whatever their owner's name there, are not theirs.
func current(st *crdt.State, o op) (crdt.Entry, bool) {
	if o.kind == opDown {
		return crdt.Entry{}, false
	}
	for _, e := range st.GetByKey(o.topic, o.key) {
		if e.Owner == o.owner && e.Dot.Replica == st.Replica() {
			return e, true
		}
	}
	return crdt.Entry{}, false
}

// diff is where this change's joins and leaves go (t.mu held): a presence_diff of its own, queued at
// once, as Phoenix sends one per change; or, with Config.Window, topic's batch, which asks the actor for a
// flush when it begins.
func (t *Tracker) diff(topic string) *topicDiff {
	if t.cfg.Window <= 0 {
		return t.queueDiff(topic)
	}
	b := t.batchOf(topic)
	if b.diff == nil {
		b.diff = newTopicDiff()
	}
	return b.diff
}

// batchOf is topic's batch (t.mu held, batching mode); the first batch of a window asks the actor for a
// flush.
func (t *Tracker) batchOf(topic string) *topicBatch {
	if t.batch == nil {
		t.batch = make(map[string]*topicBatch)
		if pid := t.pid.Load(); pid != nil {
			t.root.Send(pid, flushSoon{})
		} // else the restarted actor flushes what it finds
	}
	b := t.batch[topic]
	if b == nil {
		b = &topicBatch{}
		t.batch[topic] = b
	}
	return b
}

// topicBatch is what a topic's window has gathered: one diff, and the channels waiting for the state.
type topicBatch struct {
	diff    *topicDiff
	waiters []*channel.Socket
}

// topicDiff is one presence_diff being built.
type topicDiff struct {
	joins, leaves map[string][]json.RawMessage
}

func newTopicDiff() *topicDiff {
	return &topicDiff{joins: map[string][]json.RawMessage{}, leaves: map[string][]json.RawMessage{}}
}

func (d *topicDiff) join(key string, meta json.RawMessage) {
	d.joins[key] = append(d.joins[key], meta)
}

// leave records a leave. In a batch, a leave of a meta that joined in the same window still goes out with
// it: phoenix.js applies a diff's joins before its leaves, so the pair leaves every client without it.
func (d *topicDiff) leave(key string, meta json.RawMessage) {
	d.leaves[key] = append(d.leaves[key], meta)
}

// flush queues each topic's batch (Config.Window): its diff, then the state for the channels that waited
// for it, as of that diff.
func (t *Tracker) flush() {
	t.mu.Lock()
	defer t.mu.Unlock()
	batch := t.batch
	t.batch = nil
	if t.rep == nil {
		_ = t.state.TakeDelta() // no peers: the delta only frees the removals it keeps
	}
	for topic, b := range batch {
		if d := b.diff; d != nil && (len(d.joins) > 0 || len(d.leaves) > 0) {
			p := t.pub(topic)
			p.version++
			p.queue = append(p.queue, pubItem{diff: d})
		}
		if len(b.waiters) > 0 {
			t.queueSnapshot(topic, b.waiters)
		}
	}
}

func asPresences(m map[string][]json.RawMessage) map[string]Presence {
	ps := make(map[string]Presence, len(m))
	for k, metas := range m {
		ps[k] = Presence{Metas: metas}
	}
	return ps
}

// rebuild checks this node's presences against every live channel's records, the truth, and makes them
// equal, sending clients the difference. After a crash of the tracker nothing should differ, since changes
// are applied by the channels themselves; this is the insurance that a lost or broken set heals. The set
// is changed in place, by this replica's own events: other nodes get the difference in the next delta,
// their presences are not touched, and a restart of the tracker actor is not a new replica.
func (t *Tracker) rebuild() {
	t.mu.Lock()
	defer t.mu.Unlock()
	st := t.state
	type id struct{ owner, topic, key string }
	is := map[id]json.RawMessage{}
	for _, e := range t.snapshot() { // under t.mu: no change slips between the snapshot and the check
		is[id{e.owner, e.topic, e.key}] = e.meta
	}
	was := map[id]json.RawMessage{}
	for _, e := range entries(st) {
		if e.Dot.Replica == st.Replica() {
			was[id{e.Owner, e.Topic, e.Key}] = e.Meta
		}
	}
	diffs := map[string]*topicDiff{} // one per topic: a heal is not a change of anyone's
	diff := func(topic string) *topicDiff {
		if diffs[topic] == nil {
			diffs[topic] = t.diff(topic)
		}
		return diffs[topic]
	}
	for k, meta := range was {
		now, ok := is[k]
		switch {
		case !ok:
			if e, ok := st.Leave(k.owner, k.topic, k.key); ok {
				diff(k.topic).leave(k.key, e.Meta)
			}
		case !bytes.Equal(now, meta):
			if left, joined, ok := st.Update(k.owner, k.topic, k.key, now); ok {
				diff(k.topic).leave(k.key, left.Meta)
				diff(k.topic).join(k.key, joined.Meta)
			}
		}
	}
	for k, meta := range is {
		if _, ok := was[k]; !ok {
			if e, err := st.Join(k.owner, k.topic, k.key, meta); err == nil {
				diff(k.topic).join(k.key, e.Meta)
			}
		}
	}
}

// entries lists every visible presence of st.
func entries(st *crdt.State) (es []crdt.Entry) {
	for _, topic := range st.Topics() {
		es = append(es, st.Get(topic)...)
	}
	return es
}

type (
	flushSoon      struct{} // a batch began: flush it after the window
	flush          struct{}
	tick           struct{} // with Config.Cluster: the replication's period
	membersChanged struct{}
)

// server is the tracker actor, under the endpoint supervisor: it times the flushes of the batched diffs
// (Config.Window) and, when (re)started, checks the set against the live channels.
type server struct {
	t       *Tracker
	self    *actor.PID
	stopTmr func() bool

	// With Config.Cluster: the period's timer, the membership watch and the relay registration.
	stopTick  func() bool
	stopWatch func()
	relay     *relay
}

func (s *server) Receive(ctx actor.Context) {
	switch msg := ctx.Message().(type) {
	case flushSoon:
		s.schedule()
	case flush:
		s.stopTmr = nil
		s.t.flush()
	case tick:
		s.t.mu.Lock()
		s.t.tick(time.Now())
		s.t.mu.Unlock()
		s.t.flushOut()
		s.scheduleTick()
	case membersChanged:
		s.t.mu.Lock()
		s.t.syncMembers(time.Now())
		s.t.mu.Unlock()
		s.t.flushOut()
	case *actor.Started:
		s.self = ctx.Self()
		s.t.pid.Store(s.self)
		s.t.rebuild()
		// At once, with what waited while it was down: a rebuild's joins may be of presences clients
		// have, which a later leave in the same batch must not cancel.
		s.t.flush()
		if s.t.rep != nil {
			s.startReplication()
		}
	case *actor.Stopping:
		if s.stopTmr != nil {
			s.stopTmr()
		}
		s.t.flush()
		if s.t.rep != nil {
			s.stopReplication()
		}
		s.t.pid.CompareAndSwap(s.self, nil)
	case *actor.Stopped:
		// The workers are the tracker's goroutines: its actor's stop (the endpoint's Shutdown) returns once
		// they are done, so no presence frame is written after it. They never wait on this actor, and this
		// is its last turn: nothing queues behind the wait.
		if s.t.onStopWait != nil {
			s.t.onStopWait()
		}
		s.t.wg.Wait()
	default:
		if s.t.rep != nil {
			s.t.handleRemote(msg)
		}
	}
}

// startReplication registers the relay (peers' messages reach this actor), watches membership and
// starts the period; a first tick at once meets the members.
func (s *server) startReplication() {
	t := s.t
	reg := t.root.ActorSystem().ProcessRegistry
	if old, ok := reg.GetLocal(t.rep.name); ok {
		if r, ours := old.(*relay); ours && r.t == t { // left by an incarnation that did not stop cleanly
			reg.Remove(actor.NewPID(reg.Address, t.rep.name))
		}
	}
	s.relay = &relay{t: t}
	if _, ok := reg.Add(s.relay, t.rep.name); !ok {
		s.relay = nil
		t.cfg.Logger.Error("pyre: presence relay name taken: no replication with other nodes", "name", t.rep.name)
	}
	root, self := t.root, s.self
	s.stopWatch = t.rep.cl.Watch(func() { root.Send(self, membersChanged{}) })
	root.Send(self, tick{})
}

// stopReplication sends what changed since the last period at once (a drain's last leaves reach the other
// nodes now; after a crash, an early delta harms nothing), and unregisters the relay.
func (s *server) stopReplication() {
	t := s.t
	if s.stopTick != nil {
		s.stopTick()
	}
	if s.stopWatch != nil {
		s.stopWatch()
	}
	t.sendFinal()
	reg := t.root.ActorSystem().ProcessRegistry
	if cur, ok := reg.GetLocal(t.rep.name); ok && s.relay != nil && cur == actor.Process(s.relay) {
		reg.Remove(actor.NewPID(reg.Address, t.rep.name))
	}
}

func (s *server) scheduleTick() {
	root, self := s.t.root, s.self
	s.stopTick = time.AfterFunc(s.t.cfg.Period, func() { root.Send(self, tick{}) }).Stop
}

func (s *server) schedule() {
	if s.stopTmr != nil {
		return
	}
	root, self := s.t.root, s.self
	s.stopTmr = time.AfterFunc(s.t.cfg.Window, func() { root.Send(self, flush{}) }).Stop
}
