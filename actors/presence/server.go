package presence

import (
	"bytes"
	"encoding/json"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/pyrehq/pyre/actors/message"
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
// it; the diff waits in the batch for the tracker actor's next flush.
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
		for _, e := range st.LeaveOwner(o.owner) {
			t.diff(e.Topic).leave(e.Key, e.Meta)
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

// diff is topic's pending diff (t.mu held); the batch's first change asks the actor for a flush.
func (t *Tracker) diff(topic string) *topicDiff {
	if t.batch == nil {
		t.batch = make(map[string]*topicDiff)
		if pid := t.pid.Load(); pid != nil {
			t.root.Send(pid, flushSoon{})
		} // else the restarted actor flushes what it finds
	}
	d := t.batch[topic]
	if d == nil {
		d = &topicDiff{joins: map[string][]json.RawMessage{}, leaves: map[string][]json.RawMessage{}}
		t.batch[topic] = d
	}
	return d
}

// topicDiff is one topic's pending presence_diff.
type topicDiff struct {
	joins, leaves map[string][]json.RawMessage
}

func (d *topicDiff) join(key string, meta json.RawMessage) {
	d.joins[key] = append(d.joins[key], meta)
}

// leave records a leave. A leave of a meta that joined in the same batch still goes out with it: a
// state pushed meanwhile may hold that meta (changes apply at once), and phoenix.js applies a diff's joins
// before its leaves, so the pair leaves every client without it.
func (d *topicDiff) leave(key string, meta json.RawMessage) {
	d.leaves[key] = append(d.leaves[key], meta)
}

// flush broadcasts each topic's pending diff to this node's subscribers. A diff always leaves after the
// changes in it were applied, so a state pushed by PushState and a diff that overlaps it are idempotent
// for phoenix.js (joins and leaves go by phx_ref).
func (t *Tracker) flush() {
	t.mu.Lock()
	batch := t.batch
	t.batch = nil
	_ = t.state.TakeDelta() // no peers yet: the delta only frees the removals it keeps
	t.mu.Unlock()
	for topic, d := range batch {
		if len(d.joins) == 0 && len(d.leaves) == 0 {
			continue
		}
		payload, err := json.Marshal(struct {
			Joins  map[string]Presence `json:"joins"`
			Leaves map[string]Presence `json:"leaves"`
		}{t.fetch(topic, asPresences(d.joins)), t.fetch(topic, asPresences(d.leaves))})
		if err != nil {
			t.cfg.Logger.Error("pyre: presence_diff not encoded", "topic", topic, "err", err)
			continue
		}
		t.ps.LocalBroadcast(message.NewBroadcast(topic, "presence_diff", message.JSON(payload)))
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
	for k, meta := range was {
		if now, ok := is[k]; !ok || !bytes.Equal(now, meta) {
			t.diff(k.topic).leave(k.key, meta)
		}
	}
	for k, meta := range is {
		if then, ok := was[k]; !ok || !bytes.Equal(then, meta) {
			t.diff(k.topic).join(k.key, meta)
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
// and, when (re)started, checks the set against the live channels.
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
	}
}

func (s *server) schedule() {
	if s.stopTmr != nil {
		return
	}
	root, self := s.t.root, s.self
	s.stopTmr = time.AfterFunc(s.t.cfg.Window, func() { root.Send(self, flush{}) }).Stop
}
