package presence

import (
	"bytes"
	"encoding/json"
	"slices"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/pyrehq/pyre/actors/message"
	"github.com/pyrehq/pyre/actors/presence/crdt"
)

// op is a change a channel made to what it tracks, applied by the tracker actor. Each op says what it
// expects (the meta it replaces or removes), so applying one that a rebuild already covered does nothing.
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

type flush struct{}

// server is the tracker actor: it owns the crdt.State (Tracker.state, under Tracker.mu for List's
// readers), batches the changes per topic and broadcasts them as presence_diff.
type server struct {
	t       *Tracker
	self    *actor.PID
	batch   map[string]*topicDiff
	stopTmr func() bool
}

// topicDiff is one topic's pending presence_diff.
type topicDiff struct {
	joins, leaves map[string][]json.RawMessage
}

func (s *server) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case op:
		s.apply(m)
	case flush:
		s.stopTmr = nil
		s.flush()
	case *actor.Started:
		s.self = ctx.Self()
		s.t.pid.Store(s.self) // first, so that no change made after the rebuild's snapshot is lost
		s.rebuild()
	case *actor.Stopping:
		if s.stopTmr != nil {
			s.stopTmr()
		}
		s.flush()
		s.t.pid.CompareAndSwap(s.self, nil)
	}
}

func (s *server) apply(o op) {
	t := s.t
	t.mu.Lock()
	defer t.mu.Unlock()
	st := t.state
	cur, have := current(st, o)
	switch o.kind {
	case opTrack:
		if have {
			return // the rebuild has it
		}
		if e, err := st.Join(o.owner, o.topic, o.key, o.meta); err == nil {
			s.diff(o.topic).join(e.Key, e.Meta)
		}
	case opUpdate:
		switch {
		case have && bytes.Equal(cur.Meta, o.meta):
			return // the rebuild has it
		case have:
			if left, joined, ok := st.Update(o.owner, o.topic, o.key, o.meta); ok {
				d := s.diff(o.topic)
				d.leave(left.Key, left.Meta)
				d.join(joined.Key, joined.Meta)
			}
		default:
			if e, err := st.Join(o.owner, o.topic, o.key, o.meta); err == nil {
				s.diff(o.topic).join(e.Key, e.Meta)
			}
		}
	case opUntrack:
		if have && bytes.Equal(cur.Meta, o.prev) {
			if e, ok := st.Leave(o.owner, o.topic, o.key); ok {
				s.diff(o.topic).leave(e.Key, e.Meta)
			}
		}
	case opDown:
		for _, e := range st.LeaveOwner(o.owner) {
			s.diff(e.Topic).leave(e.Key, e.Meta)
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

// diff is topic's pending diff; the first change of a batch starts the window.
func (s *server) diff(topic string) *topicDiff {
	if s.batch == nil {
		s.batch = make(map[string]*topicDiff)
	}
	d := s.batch[topic]
	if d == nil {
		d = &topicDiff{joins: map[string][]json.RawMessage{}, leaves: map[string][]json.RawMessage{}}
		s.batch[topic] = d
	}
	if s.stopTmr == nil {
		root, self := s.t.root, s.self
		s.stopTmr = time.AfterFunc(s.t.cfg.Window, func() { root.Send(self, flush{}) }).Stop
	}
	return d
}

func (d *topicDiff) join(key string, meta json.RawMessage) {
	d.joins[key] = append(d.joins[key], meta)
}

// leave records a leave, unless the same meta (same phx_ref) joined in this batch: then neither goes out.
func (d *topicDiff) leave(key string, meta json.RawMessage) {
	js := d.joins[key]
	for i, m := range js {
		if bytes.Equal(m, meta) {
			if js = slices.Delete(js, i, i+1); len(js) == 0 {
				delete(d.joins, key)
			} else {
				d.joins[key] = js
			}
			return
		}
	}
	d.leaves[key] = append(d.leaves[key], meta)
}

// flush broadcasts each topic's pending diff to this node's subscribers.
func (s *server) flush() {
	t := s.t
	batch := s.batch
	s.batch = nil
	t.mu.Lock()
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

// rebuild makes a fresh set from every live channel's presences (a restarted tracker lost what its
// previous incarnation knew, and the changes sent to it while it was down) and sends clients the
// difference from what they were told last.
func (s *server) rebuild() {
	t := s.t
	fresh := crdt.New(t.replica())
	for _, e := range t.snapshot() {
		_, _ = fresh.Join(e.owner, e.topic, e.key, e.meta)
	}
	t.mu.Lock()
	old := t.state
	t.state = fresh
	t.mu.Unlock()
	before, after := entries(old), entries(fresh)
	type id struct{ owner, topic, key string }
	index := func(es []crdt.Entry) map[id]json.RawMessage {
		m := make(map[id]json.RawMessage, len(es))
		for _, e := range es {
			m[id{e.Owner, e.Topic, e.Key}] = e.Meta
		}
		return m
	}
	was, is := index(before), index(after)
	for k, meta := range was {
		if now, ok := is[k]; !ok || !bytes.Equal(now, meta) {
			s.diff(k.topic).leave(k.key, meta)
		}
	}
	for k, meta := range is {
		if then, ok := was[k]; !ok || !bytes.Equal(then, meta) {
			s.diff(k.topic).join(k.key, meta)
		}
	}
	if len(s.batch) > 0 {
		s.flush()
	}
}

// entries lists every presence of st; a state left broken by a crash lists what it can.
func entries(st *crdt.State) (es []crdt.Entry) {
	if st == nil {
		return nil
	}
	defer func() { _ = recover() }()
	all := st.Context() // every replica it knows, from the start
	for i := range all.Clocks {
		all.Clocks[i].Clock = 0
	}
	return st.Extract(all).Entries
}
