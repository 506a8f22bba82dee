package presence

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/pyrehq/pyre/actors/channel"
	"github.com/pyrehq/pyre/actors/message"
	"github.com/pyrehq/pyre/actors/presence/crdt"
	"github.com/pyrehq/pyre/actors/pubsub"
	"github.com/pyrehq/pyre/actors/telemetry"
	"github.com/pyrehq/pyre/supervisor"
)

// Errors of Track, Update and Untrack.
var (
	ErrAlreadyTracked = errors.New("presence: key already tracked by this channel")
	ErrNotTracked     = errors.New("presence: key not tracked by this channel")
	ErrBadMeta        = errors.New("presence: meta must be a JSON object")
	// ErrNameTaken: with Config.Cluster, another Tracker of the same Name runs in the actor system.
	ErrNameTaken = errors.New("presence: a tracker of this name already runs in the actor system")
)

// Config configures a Tracker. The zero value works.
type Config struct {
	// Name is the tracker's child id under the endpoint supervisor. Zero value means "presence".
	Name string
	// Window, when positive, batches a topic's changes for that long into one presence_diff, and the
	// presence_states asked for meanwhile into one encoding: for reconnect storms of thousands of
	// clients per topic. Clients then see Phoenix's changes merged (a join and a leave of one meta in one
	// diff, a user's join with another's); phoenix.js copes, other clients may not. Zero value means one
	// presence_diff per change as it happens, exactly as Phoenix sends them.
	Window time.Duration
	// Fetch enriches presences before they are listed or sent (Phoenix's fetch/2), e.g. to add each
	// key's user record next to its "metas". It gets the topic and the presences by key, and returns
	// them (it may change them in place). It runs in List's and PushState's callers and in the tracker
	// actor: it must not block for long nor call the Tracker. Zero value means none.
	Fetch func(topic string, presences map[string]Presence) map[string]Presence
	// Logger receives the tracker's reports. Zero value means the host's Logger() when it has one (a
	// transport.Endpoint's, with its lines capped), else slog.Default().
	Logger *slog.Logger
	// Events receives PresenceJoined and PresenceLeft (package actors/telemetry) for the presences of this
	// node: a key's first meta on a topic, its last one gone (Update is neither). They run on the
	// goroutine of the change: the channel actor that called Track or Untrack, or that ended. A heal after
	// a crash of the tracker (rebuild) is not reported. Zero value means the host's Events when it has
	// them (a transport.Endpoint's: Config.Events), else none.
	Events telemetry.Events

	// Cluster, when set, makes the tracker one replica of a set every member's tracker of the same Name
	// shares (see "Several nodes" in the package doc); the host must run on the cluster node's actor
	// system. Zero value means this node alone.
	Cluster Cluster
	// Period is how often, with Cluster, the tracker sends its changes (its delta) to the other nodes.
	// Zero value means 500 ms.
	Period time.Duration
	// PermdownAfter is how long, with Cluster, the presences of a member that left (a netsplit) are kept
	// hidden, to come back if it returns with the same member id. Zero value means 20 minutes.
	PermdownAfter time.Duration
}

// Host is what a Tracker needs of an endpoint; *transport.Endpoint has it.
type Host interface {
	// PubSub is the registry the tracker broadcasts presence_diff on.
	PubSub() *pubsub.PubSub
	// Root is the actor system's root context, from which the tracker sends its actor messages.
	Root() *actor.RootContext
	// Supervise starts the tracker's actor as an infrastructure child of the endpoint's supervisor.
	Supervise(ctx context.Context, spec supervisor.ChildSpec) (*actor.PID, error)
}

// Tracker tracks presences for one endpoint. Its methods are safe for concurrent use; Track, Update and
// Untrack belong in a channel's callbacks (they use its Socket).
type Tracker struct {
	cfg  Config
	ps   *pubsub.PubSub
	root *actor.RootContext
	pid  atomic.Pointer[actor.PID] // the tracker actor now running; a dead one until its restart

	// mu guards the set, the batches and the topics' queues. Changes are applied at once by the channel
	// that makes them; each topic's worker sends its queue; the actor times the batches (Config.Window)
	// and checks the set when it restarts.
	mu    sync.RWMutex
	state *crdt.State
	batch map[string]*topicBatch // Config.Window only
	pubs  map[string]*topicPub   // topics with a worker
	wg    workers                // the workers: each ends once its topic's queue is empty

	stateBytes atomic.Int64 // presence_state bytes encoded, for tests and benchmarks

	ev telemetry.Events // cfg.Events, guarded

	ownersMu sync.Mutex
	owners   map[string]*owned // channels with presences, by channel id: what a restart rebuilds from

	onStopWait func() // tests: runs when the stopping tracker actor starts waiting for the workers

	node        string // random, in replica names and phx_refs
	refs        atomic.Uint64
	incarnation atomic.Uint64

	rep *replication // with Config.Cluster; guarded by mu
}

// Start starts a Tracker for h under its endpoint supervisor.
func Start(ctx context.Context, h Host, cfg Config) (*Tracker, error) {
	if cfg.Name == "" {
		cfg.Name = "presence"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
		if l, ok := h.(interface{ Logger() *slog.Logger }); ok && l.Logger() != nil {
			cfg.Logger = l.Logger()
		}
	}
	if cfg.Events.IsZero() {
		if e, ok := h.(interface{ Events() telemetry.Events }); ok {
			cfg.Events = e.Events()
		}
	}
	if cfg.Period <= 0 {
		cfg.Period = defaultPeriod
	}
	if cfg.PermdownAfter <= 0 {
		cfg.PermdownAfter = defaultPermdown
	}
	t := &Tracker{cfg: cfg, ps: h.PubSub(), root: h.Root(), owners: map[string]*owned{}, node: rand.Text()[:8]}
	t.ev = cfg.Events.Guarded(cfg.Logger)
	t.state = crdt.New(t.replica())
	if cfg.Cluster != nil {
		// The replica is this node's tracker: a new name on every start (the member id is new, and so is
		// t.node), kept across restarts of the tracker actor, which rebuild in place.
		t.state = crdt.New(crdt.Replica(cfg.Cluster.ID() + "/" + t.node))
		t.rep = newReplication(t, cfg.Cluster)
		if _, taken := t.root.ActorSystem().ProcessRegistry.GetLocal(t.rep.name); taken {
			return nil, fmt.Errorf("%w: %q", ErrNameTaken, cfg.Name)
		}
	}
	pid, err := h.Supervise(ctx, supervisor.ChildSpec{
		ID:      cfg.Name,
		Restart: supervisor.Permanent,
		Start:   func() (actor.Actor, error) { return &server{t: t}, nil },
	})
	if err != nil {
		return nil, fmt.Errorf("presence: %w", err)
	}
	t.pid.Store(pid) // before any Track can run; a restart stores its own
	return t, nil
}

// Presence is one key's presences in a topic: on the wire {"metas":[..]} plus the fields Fetch set in
// Extra. Each meta is a JSON object with its "phx_ref" (and "phx_ref_prev" after an update).
type Presence struct {
	// Metas are the key's metas, one per Track of the key in the topic (a user on two devices has two).
	Metas []json.RawMessage
	// Extra holds the fields Fetch adds next to "metas"; nil when none.
	Extra map[string]any
}

// MarshalJSON writes {"metas":[..],<Extra..>}.
func (p Presence) MarshalJSON() ([]byte, error) {
	metas := p.Metas
	if metas == nil {
		metas = []json.RawMessage{}
	}
	if len(p.Extra) == 0 {
		return json.Marshal(struct {
			Metas []json.RawMessage `json:"metas"`
		}{metas})
	}
	m := make(map[string]any, len(p.Extra)+1)
	for k, v := range p.Extra {
		m[k] = v
	}
	m["metas"] = metas
	return json.Marshal(m)
}

// Track adds the presence of key with meta (a JSON object, or nil for {}) in the channel's topic, for as
// long as the channel lives. The meta gains a unique "phx_ref". Tracking a key this channel tracks
// already is ErrAlreadyTracked — except in the Join of a channel restarted in place, which takes back
// the presence it had, meta and phx_ref unchanged (see the package doc).
func (t *Tracker) Track(s *channel.Socket, key string, meta any) error {
	raw, err := objectJSON(meta)
	if err != nil {
		return err
	}
	if err := t.diffFits(key, len(raw)); err != nil {
		return err
	}
	o := t.ownedBy(s)
	o.mu.Lock()
	if o.find(o.list, key) >= 0 {
		o.mu.Unlock()
		return ErrAlreadyTracked
	}
	if i := o.find(o.prev, key); i >= 0 {
		// The Join of a channel restarted in place takes its presence back as it was: a restart is not
		// a change (Update is).
		o.list = append(o.list, o.prev[i])
		o.prev = append(o.prev[:i], o.prev[i+1:]...)
		o.mu.Unlock()
		return nil
	}
	n := t.newTracked(key, raw, "")
	o.list = append(o.list, n)
	o.mu.Unlock()
	t.apply(op{kind: opTrack, owner: o.id, topic: o.topic, key: key, meta: n.meta})
	return nil
}

// Update replaces the meta of key, tracked by this channel: the presence gets a new "phx_ref", with the
// old one as "phx_ref_prev", and clients see a leave of the old meta and a join of the new.
func (t *Tracker) Update(s *channel.Socket, key string, meta any) error {
	raw, err := objectJSON(meta)
	if err != nil {
		return err
	}
	o := t.ownedBy(s)
	o.mu.Lock()
	i := o.find(o.list, key)
	if i < 0 {
		o.mu.Unlock()
		return ErrNotTracked
	}
	old := o.list[i]
	if err := t.diffFits(key, len(raw)+len(old.meta)); err != nil { // the diff carries both metas
		o.mu.Unlock()
		return err
	}
	o.list[i] = t.newTracked(key, raw, old.ref)
	n := o.list[i]
	o.mu.Unlock()
	t.apply(op{kind: opUpdate, owner: o.id, topic: o.topic, key: key, meta: n.meta, prev: old.meta})
	return nil
}

// Untrack removes the presence of key tracked by this channel; untracking a key not tracked does
// nothing, as in Phoenix.
func (t *Tracker) Untrack(s *channel.Socket, key string) {
	o := t.ownedBy(s)
	o.mu.Lock()
	i := o.find(o.list, key)
	if i < 0 {
		o.mu.Unlock()
		return
	}
	old := o.list[i]
	o.list = append(o.list[:i], o.list[i+1:]...)
	o.mu.Unlock()
	t.apply(op{kind: opUntrack, owner: o.id, topic: o.topic, key: key, prev: old.meta})
}

// PushState has "presence_state" (List of the channel's topic) pushed to the channel's client, in one
// order with the presence_diff broadcasts: the state holds every diff the client got before it, and the
// client gets every later diff after it. Call it after a join (from HandleInfo, as Phoenix's after_join;
// not in Join), and again after an in-place restart if you like. The push is queued: the topic's worker
// sends it, with the same encoded bytes for every channel asking at the same point (a join storm costs one
// encoding per turn of the worker, not one per joiner). Pushing List yourself works too, but a diff could
// then overtake the state and be undone by it until that key changes again; nor are its bytes shared.
// Inside Join it is channel.ErrPushInJoin, as Push; otherwise nil: a state that cannot be pushed (the
// connection is going) is dropped.
func (t *Tracker) PushState(s *channel.Socket) error {
	if !s.Joined() {
		return channel.ErrPushInJoin
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.cfg.Window > 0 {
		b := t.batchOf(s.Topic())
		b.waiters = append(b.waiters, s)
		return nil
	}
	t.queueState(s.Topic(), s)
	return nil
}

// Tracked is the meta this channel tracks under key, as clients have it (with "phx_ref"): a channel
// restarted in place calls it in Join to take back the state its previous incarnation had put there.
func (t *Tracker) Tracked(s *channel.Socket, key string) (json.RawMessage, bool) {
	o := t.ownedBy(s)
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, l := range [2][]tracked{o.list, o.prev} {
		if i := o.find(l, key); i >= 0 {
			return l[i].meta, true
		}
	}
	return nil, false
}

// List is the presences of topic by key (Phoenix's list/1), with Fetch applied.
func (t *Tracker) List(topic string) map[string]Presence {
	t.mu.RLock()
	es := t.state.Get(topic)
	t.mu.RUnlock()
	return t.fetch(topic, group(es))
}

// GetByKey is the presences of key in topic (Phoenix's get_by_key/2), with Fetch applied.
func (t *Tracker) GetByKey(topic, key string) (Presence, bool) {
	t.mu.RLock()
	es := t.state.GetByKey(topic, key)
	t.mu.RUnlock()
	if len(es) == 0 {
		return Presence{}, false
	}
	p, ok := t.fetch(topic, group(es))[key]
	return p, ok
}

func (t *Tracker) fetch(topic string, ps map[string]Presence) map[string]Presence {
	if t.cfg.Fetch == nil || len(ps) == 0 {
		return ps
	}
	return t.cfg.Fetch(topic, ps)
}

// group puts entries (in crdt order: key, then dot) by key.
func group(es []crdt.Entry) map[string]Presence {
	ps := make(map[string]Presence)
	for _, e := range es {
		p := ps[e.Key]
		p.Metas = append(p.Metas, e.Meta)
		ps[e.Key] = p
	}
	return ps
}

func (t *Tracker) replica() crdt.Replica {
	return crdt.Replica(t.node + "." + strconv.FormatUint(t.incarnation.Add(1), 10))
}

func (t *Tracker) newTracked(key string, raw json.RawMessage, prevRef string) tracked {
	ref := t.node + strconv.FormatUint(t.refs.Add(1), 36)
	return tracked{key: key, ref: ref, prevRef: prevRef, meta: withRefs(raw, ref, prevRef)}
}

// objectJSON marshals meta, which must be a JSON object; nil is {}.
func objectJSON(meta any) (json.RawMessage, error) {
	if meta == nil {
		return json.RawMessage(`{}`), nil
	}
	raw, err := json.Marshal(meta)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadMeta, err)
	}
	raw = bytes.TrimSpace(raw)
	if len(raw) < 2 || raw[0] != '{' {
		return nil, ErrBadMeta
	}
	return raw, nil
}

// withRefs adds "phx_ref" (and "phx_ref_prev") to the JSON object raw. The tracker's keys come last, so
// they win over the same keys in raw (JSON decoders keep the last).
func withRefs(raw json.RawMessage, ref, prevRef string) json.RawMessage {
	out := make([]byte, 0, len(raw)+len(ref)+len(prevRef)+32)
	out = append(out, raw[:len(raw)-1]...) // without its closing brace
	if len(bytes.TrimSpace(raw[1:len(raw)-1])) > 0 {
		out = append(out, ',')
	}
	out = append(out, `"phx_ref":`...)
	out = strconv.AppendQuote(out, ref)
	if prevRef != "" {
		out = append(out, `,"phx_ref_prev":`...)
		out = strconv.AppendQuote(out, prevRef)
	}
	return append(out, '}')
}

// diffOverhead bounds what a presence_diff adds to its metas: braces, keys, phx_ref and phx_ref_prev.
const diffOverhead = 256

// diffFits refuses a change whose presence_diff could not be sent (channel.ErrMessageTooLarge): refused
// at its source, it never reaches the topic's clients, whose lists would otherwise go stale.
func (t *Tracker) diffFits(key string, metas int) error {
	return message.CheckSize(metas+2*len(key)+diffOverhead, t.ps.MaxPayloadSize())
}
