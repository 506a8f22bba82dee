package presence

import (
	"bytes"
	"encoding/json"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/pyrehq/pyre/actors/channel"
	"github.com/pyrehq/pyre/actors/presence/crdt"
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
// it, and queues its diff (or adds it to the batch, with Config.Window).
func (t *Tracker) apply(o op) {
	t.mu.Lock()
	defer t.mu.Unlock()
	st := t.state
	cur, have := current(st, o)
	switch o.kind {
	case opTrack:
		if have {
			return // a rebuild has it
		}
		if e, err := st.Join(o.owner, o.topic, o.key, o.meta); err == nil {
			t.diff(o.topic).join(e.Key, e.Meta)
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
			}
		}
	case opUntrack:
		if have && bytes.Equal(cur.Meta, o.prev) {
			if e, ok := st.Leave(o.owner, o.topic, o.key); ok {
				t.diff(o.topic).leave(e.Key, e.Meta)
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
		}
	}
}

// current is the owner's presence of o.key in o.topic, if any (an owner tracks a key once).
func current(st *crdt.State, o op) (crdt.Entry, bool) {
	if o.kind == opDown {
		return crdt.Entry{}, false
	}
	for _, e := range st.GetByKey(o.topic, o.key) {
		if e.Owner == o.owner {
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
	_ = t.state.TakeDelta() // no peers yet: the delta only frees the removals it keeps
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

// rebuild checks the set against every live channel's records, the truth, and makes it equal to them,
// sending clients the difference. After a crash of the tracker nothing should differ, since changes are
// applied by the channels themselves; this is the insurance that a lost or broken set heals.
func (t *Tracker) rebuild() {
	t.mu.Lock()
	defer t.mu.Unlock()
	fresh := crdt.New(t.replica())
	for _, e := range t.snapshot() { // under t.mu: no change slips between the snapshot and the swap
		_, _ = fresh.Join(e.owner, e.topic, e.key, e.meta)
	}
	type id struct{ owner, topic, key string }
	index := func(es []crdt.Entry) map[id]json.RawMessage {
		m := make(map[id]json.RawMessage, len(es))
		for _, e := range es {
			m[id{e.Owner, e.Topic, e.Key}] = e.Meta
		}
		return m
	}
	was, is := index(entries(t.state)), index(entries(fresh))
	diffs := map[string]*topicDiff{} // one per topic: a heal is not a change of anyone's
	diff := func(topic string) *topicDiff {
		if diffs[topic] == nil {
			diffs[topic] = t.diff(topic)
		}
		return diffs[topic]
	}
	for k, meta := range was {
		if now, ok := is[k]; !ok || !bytes.Equal(now, meta) {
			diff(k.topic).leave(k.key, meta)
		}
	}
	for k, meta := range is {
		if then, ok := was[k]; !ok || !bytes.Equal(then, meta) {
			diff(k.topic).join(k.key, meta)
		}
	}
	t.state = fresh
}

// entries lists every visible presence of st.
func entries(st *crdt.State) (es []crdt.Entry) {
	for _, topic := range st.Topics() {
		es = append(es, st.Get(topic)...)
	}
	return es
}

type (
	flushSoon struct{} // a batch began: flush it after the window
	flush     struct{}
)

// server is the tracker actor, under the endpoint supervisor: it times the flushes of the batched diffs
// (Config.Window) and, when (re)started, checks the set against the live channels.
type server struct {
	t       *Tracker
	self    *actor.PID
	stopTmr func() bool
}

func (s *server) Receive(ctx actor.Context) {
	switch ctx.Message().(type) {
	case flushSoon:
		s.schedule()
	case flush:
		s.stopTmr = nil
		s.t.flush()
	case *actor.Started:
		s.self = ctx.Self()
		s.t.pid.Store(s.self)
		s.t.rebuild()
		// At once, with what waited while it was down: a rebuild's joins may be of presences clients
		// have, which a later leave in the same batch must not cancel.
		s.t.flush()
	case *actor.Stopping:
		if s.stopTmr != nil {
			s.stopTmr()
		}
		s.t.flush()
		s.t.pid.CompareAndSwap(s.self, nil)
	case *actor.Stopped:
		// The workers are the tracker's goroutines: its actor's stop (the endpoint's Shutdown) returns once
		// they are done, so no presence frame is written after it. They never wait on this actor, and this
		// is its last turn: nothing queues behind the wait.
		if s.t.onStopWait != nil {
			s.t.onStopWait()
		}
		s.t.wg.Wait()
	}
}

func (s *server) schedule() {
	if s.stopTmr != nil {
		return
	}
	root, self := s.t.root, s.self
	s.stopTmr = time.AfterFunc(s.t.cfg.Window, func() { root.Send(self, flush{}) }).Stop
}
