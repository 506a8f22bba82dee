package presence

import (
	"encoding/json"
	"errors"
	"sync"

	"github.com/pyrehq/pyre/actors/channel"
	"github.com/pyrehq/pyre/actors/message"
	"github.com/pyrehq/pyre/actors/presence/crdt"
)

// topicPub is what waits to go out in one topic, in the order clients must see it: presence_diffs, and
// presence_states for the channels that asked. It exists while its worker runs: a goroutine of the
// Tracker that sends the queue in order and ends when it is empty, so a busy topic never holds up another
// (nor the tracker's lock: it encodes outside it).
//
// A state goes out after every diff it contains and before every diff it does not, so a client that got
// state V sees exactly the diffs after V after it. Joiners waiting at the same point share one state,
// encoded once: in a storm the worker is busy while joiners arrive, and each of its turns serves all of
// them with the same bytes.
type topicPub struct {
	queue   []pubItem
	version uint64 // changes queued so far, in this worker's life: a state's version
	cache   encodedState
}

// pubItem is one presence_diff, or one presence_state and the channels that wait for it.
type pubItem struct {
	diff    *topicDiff
	waiters []*channel.Socket
	// snap is the state to send, of version version, when hasSnap; waiters queued without one (the
	// default mode) get the state as of the end of the worker's turn.
	snap    []crdt.Entry
	hasSnap bool
	version uint64
}

type encodedState struct {
	version uint64
	payload message.Payload
	ok      bool
}

// workers counts the running publish workers. Unlike a sync.WaitGroup it may be waited for while new
// workers start (a channel can track while the tracker actor stops): Wait returns once none runs.
type workers struct {
	mu   sync.Mutex
	n    int
	idle chan struct{} // closed when n drops to 0; a new one when it leaves 0
}

// Go runs f in a new worker.
func (w *workers) Go(f func()) {
	w.mu.Lock()
	if w.n == 0 {
		w.idle = make(chan struct{})
	}
	w.n++
	w.mu.Unlock()
	go func() {
		defer w.done()
		f()
	}()
}

func (w *workers) done() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.n--; w.n == 0 {
		close(w.idle)
	}
}

// Wait returns once no worker runs.
func (w *workers) Wait() {
	w.mu.Lock()
	n, idle := w.n, w.idle
	w.mu.Unlock()
	if n > 0 {
		<-idle
	}
}

// pub is topic's queue, and a worker for it if none runs (t.mu held).
func (t *Tracker) pub(topic string) *topicPub {
	p := t.pubs[topic]
	if p == nil {
		p = &topicPub{}
		if t.pubs == nil {
			t.pubs = make(map[string]*topicPub)
		}
		t.pubs[topic] = p
		t.wg.Go(func() { t.publish(topic, p) })
	}
	return p
}

// queueDiff queues a new, empty presence_diff for topic, for the caller to fill (t.mu held).
func (t *Tracker) queueDiff(topic string) *topicDiff {
	p := t.pub(topic)
	d := newTopicDiff()
	p.version++
	p.queue = append(p.queue, pubItem{diff: d})
	return d
}

// queueState queues s for topic's presence_state as of the end of the queue (t.mu held, default mode).
func (t *Tracker) queueState(topic string, s *channel.Socket) {
	p := t.pub(topic)
	if n := len(p.queue); n > 0 && p.queue[n-1].diff == nil && !p.queue[n-1].hasSnap {
		p.queue[n-1].waiters = append(p.queue[n-1].waiters, s)
		return
	}
	p.queue = append(p.queue, pubItem{waiters: []*channel.Socket{s}})
}

// queueSnapshot queues the state as it is now for waiters (t.mu held). For the batching mode, where the
// set runs ahead of the queue between flushes: a flush, which has just queued the batch, calls it.
func (t *Tracker) queueSnapshot(topic string, waiters []*channel.Socket) {
	p := t.pub(topic)
	p.queue = append(p.queue, pubItem{waiters: waiters, snap: t.state.Get(topic), hasSnap: true, version: p.version})
}

// publish is topic's worker: it sends the queue in order until it is empty.
func (t *Tracker) publish(topic string, p *topicPub) {
	for {
		t.mu.Lock()
		items := p.queue
		p.queue = nil
		if len(items) == 0 {
			delete(t.pubs, topic)
			t.mu.Unlock()
			return
		}
		// Waiters without a state of their own get the state as it is now, which is the end of the
		// queue taken: every change queues its diff as it applies. They go last, after every diff.
		var late []*channel.Socket
		kept := items[:0]
		for _, it := range items {
			if it.diff == nil && !it.hasSnap {
				late = append(late, it.waiters...)
				continue
			}
			kept = append(kept, it)
		}
		items = kept
		if len(late) > 0 {
			items = append(items, pubItem{waiters: late, snap: t.state.Get(topic), hasSnap: true, version: p.version})
		}
		t.mu.Unlock()

		for _, it := range items {
			if it.diff != nil {
				t.broadcastDiff(topic, it.diff)
				continue
			}
			payload, ok := p.state(t, topic, it)
			if !ok {
				continue
			}
			for _, s := range it.waiters {
				if err := s.Push("presence_state", payload); errors.Is(err, message.ErrTooLarge) {
					t.cfg.Logger.Error("pyre: presence_state over the outbound limit, not sent", "topic", s.Topic(), "err", err)
				} // another error: the connection is going
			}
		}
	}
}

// state is the encoded presence_state of it, shared by all its waiters and, while nothing changes, by
// later ones.
func (p *topicPub) state(t *Tracker, topic string, it pubItem) (message.Payload, bool) {
	if p.cache.ok && p.cache.version == it.version {
		return p.cache.payload, true
	}
	raw, err := t.encodeState(topic, it.snap)
	if err != nil {
		t.cfg.Logger.Error("pyre: presence_state not encoded", "topic", topic, "err", err)
		return message.Payload{}, false
	}
	t.stateBytes.Add(int64(len(raw)))
	p.cache = encodedState{version: it.version, payload: message.JSON(raw), ok: true}
	return p.cache.payload, true
}

// encodeState renders {"<key>":{"metas":[..]},..} from entries in crdt order (key, then dot): the same
// bytes json.Marshal gives for the grouped presences, without building them, unless Fetch must see them.
func (t *Tracker) encodeState(topic string, es []crdt.Entry) ([]byte, error) {
	if t.cfg.Fetch != nil {
		return json.Marshal(t.fetch(topic, group(es)))
	}
	n := 2
	for _, e := range es {
		n += len(e.Key) + len(e.Meta) + 16
	}
	out := make([]byte, 0, n)
	out = append(out, '{')
	for i, e := range es {
		if i > 0 && es[i-1].Key == e.Key {
			out = append(out, ',')
			out = append(out, e.Meta...)
			continue
		}
		if i > 0 {
			out = append(out, `]},`...)
		}
		k, err := json.Marshal(e.Key)
		if err != nil {
			return nil, err
		}
		out = append(out, k...)
		out = append(out, `:{"metas":[`...)
		out = append(out, e.Meta...)
	}
	if len(es) > 0 {
		out = append(out, `]}`...)
	}
	return append(out, '}'), nil
}

// broadcastDiff sends one presence_diff to this node's subscribers of topic.
func (t *Tracker) broadcastDiff(topic string, d *topicDiff) {
	if len(d.joins) == 0 && len(d.leaves) == 0 {
		return
	}
	payload, err := json.Marshal(struct {
		Joins  map[string]Presence `json:"joins"`
		Leaves map[string]Presence `json:"leaves"`
	}{t.fetch(topic, asPresences(d.joins)), t.fetch(topic, asPresences(d.leaves))})
	if err != nil {
		t.cfg.Logger.Error("pyre: presence_diff not encoded", "topic", topic, "err", err)
		return
	}
	b := message.NewBroadcast(topic, "presence_diff", message.JSON(payload))
	if err := t.ps.CheckSize(b); err != nil { // a batched diff (Config.Window) or Fetch's extras made it too big
		t.cfg.Logger.Error("pyre: presence_diff over the outbound limit, not sent: clients' lists are stale until they rejoin", "topic", topic, "err", err)
		return
	}
	t.ps.LocalBroadcast(b)
}
