package transport

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/pyrehq/pyre/actors/channel"
	"github.com/pyrehq/pyre/actors/host"
	"github.com/pyrehq/pyre/actors/pubsub"
	"github.com/pyrehq/pyre/actors/telemetry"
	"github.com/pyrehq/pyre/supervisor"
	"github.com/pyrehq/pyre/transport/serializer"
)

// Config configures an Endpoint. The zero value works; every field documents its zero value.
type Config struct {
	// PubSub is the topic registry shared by every socket of the endpoint. Zero value means a new
	// local-only registry limited to MaxOutboundPayload (set pubsub.Config.MaxPayloadSize on one you pass:
	// the Endpoint's and channels' broadcasts are checked either way, PubSub.Broadcast called directly is not).
	PubSub *pubsub.PubSub
	// CheckOrigin decides which browser origins may connect. Zero value means SameAsRequest().
	CheckOrigin OriginPolicy
	// MaxFrameSize is the largest inbound message accepted (one frame, or the fragments of one message in
	// all); a larger one closes the connection with 1009 as soon as its frame header arrives.
	// Zero value means 10 MB, Phoenix's default.
	MaxFrameSize int
	// MaxInboundBytes bounds the memory of inbound WebSocket messages in progress across the endpoint: a
	// frame's length is claimed when its header arrives (gws allocates the whole frame then) and held until
	// its message is handed to the socket actor (a fragmented message counts three times its size: gws
	// reassembles it in a buffer grown by doubling). A claim that does not fit closes its connection (the
	// newest claimant) with 1013 (Try Again Later), logged; messages up to 4 KiB always fit, so heartbeats
	// and ordinary pushes keep flowing while large messages hold the budget.
	// Zero value means 256 MiB; a value below 3 × MaxFrameSize is raised to it (room for one fragmented
	// message of MaxFrameSize).
	MaxInboundBytes int
	// MaxOutboundPayload is the largest payload (bytes of JSON or binary) of a push, reply or broadcast
	// sent to clients. A larger one is refused where it is made, never cut at the receivers: Socket.Push,
	// Socket.Broadcast/BroadcastFrom and the Endpoint's broadcasts return channel.ErrMessageTooLarge; a
	// reply too large is answered {"reason":"reply too large"} with status error, and logged. Zero value
	// means MaxFrameSize, so that whatever a client may send can be echoed or broadcast.
	MaxOutboundPayload int
	// IdleTimeout closes a connection that sent nothing (not even a heartbeat) for this long, or whose
	// message in progress has been unfinished for this long (pings between its fragments notwithstanding),
	// with 1001. Zero value means 60 s.
	IdleTimeout time.Duration
	// WriteTimeout bounds each write to a client; a client that does not read for this long is dropped.
	// Zero value means 10 s.
	WriteTimeout time.Duration
	// MaxQueueMessages and MaxQueueBytes bound the frames waiting to be written to one connection. A frame
	// that finds the queue full (that many frames, or that many bytes already queued) makes the client a
	// slow consumer: it is disconnected with 1013 (Try Again Later) and its queued frames are dropped, so it
	// can neither grow memory (at most MaxQueueBytes plus one message) nor stall anyone else. A queue below
	// its byte bound takes a frame of any size, so one big message never cuts a client that reads. While
	// the queue holds a quarter of a bound or more, the connection's reader pauses until it is down to an
	// eighth: a client that pipelines pushes faster than it reads their replies is slowed, not cut.
	// Zero values mean 1024 messages and MaxOutboundPayload + 4 MiB.
	MaxQueueMessages int
	MaxQueueBytes    int
	// WriteDelay holds a connection's first pending frame this long before writing, so that more frames
	// leave in the same write. Frames pending while the shared writers are busy are always coalesced into
	// one write; a delay also coalesces at low load, trading latency for fewer syscalls. With a delay,
	// each busy connection gets a writer goroutine of its own instead of the shared ones.
	// Zero value means no delay.
	WriteDelay time.Duration
	// ReadBufferSize is the per-connection read buffer, held for the connection's life. Phoenix frames are
	// mostly small (a heartbeat is 40 bytes, a typical push a few hundred): several fit in one read. A
	// frame larger than the buffer is read straight into its message, at the cost of one more read call.
	// Raise it for clients that push large frames in quick succession. Zero value means 512 bytes (gws's
	// 4 KiB default costs 3.5 KB more per connection).
	ReadBufferSize int
	// MaxInflight bounds inbound messages of one connection not yet handled; past it, reading from that
	// client pauses. Zero value means 256, or MaxQueueMessages/4 if smaller: the replies to the messages
	// in flight when the reader pauses for its queue (see MaxQueueMessages) must still fit in it.
	MaxInflight int
	// MaxRejoinParams bounds the join params each channel keeps to re-run Join after an in-place restart
	// (channel.WithRestart); a channel joined with larger params ends with phx_error on a crash, as in
	// Phoenix. Zero value means host.DefaultMaxRejoinParams (64 KiB); negative keeps none.
	MaxRejoinParams int
	// Logger receives connection and crash reports. Zero value means slog.Default(). Each line's message and
	// attribute values are cut to 1 KB ("…(N bytes)" marks a cut): clients and panics control much of what
	// is logged (topics, event names, panic values).
	Logger *slog.Logger
	// DrainBatchSize and DrainInterval pace Shutdown: connections end this many at a time, this far apart,
	// so that clients do not all reconnect at once. Zero values mean 10,000 and 2 s (Phoenix's drainer).
	DrainBatchSize int
	DrainInterval  time.Duration
	// DisableLongPoll turns the long-poll transport off. Zero value means every socket also answers
	// long-poll at path+"/longpoll" (transport/PROTOCOL.md §7), with the same router, channels and serializers.
	DisableLongPoll bool
	// LongPollWindow is how long a long-poll GET waits for frames before answering 204 and how long a POST
	// may take to send its body and have its frames accepted (else 408: every read of a long-poll request
	// body has this deadline); a long-poll connection that no GET polled for 1.5 windows ends.
	// Zero value means 10 s, Phoenix's window_ms.
	LongPollWindow time.Duration
	// System is the actor system the endpoint's actors run on (yours, possibly clustered). Zero value means a
	// system of the endpoint's own, whose protoactor log goes to Logger (its lines below Warn one level
	// lower, so dead letters show at Debug) and which Shutdown shuts down. A given system is never shut down
	// by the endpoint.
	System *actor.ActorSystem
	// Parent is a supervisor of yours under which the endpoint's tree runs, as a Permanent child named
	// ChildID: when the endpoint gives up (host.EndpointIntensity), Parent sees it exit with
	// supervisor.Shutdown(supervisor.ErrMaxIntensity) and applies its rules. A restart by Parent closes
	// every open connection with 1011 (clients reconnect) and the new tree serves new ones. Zero value means
	// the endpoint's tree runs at the root of System. See host.Config.Parent.
	Parent *supervisor.Supervisor
	// ChildID names the endpoint's tree among Parent's children. Zero value means "pyre".
	ChildID string
	// SecretKeyBase signs long-poll connection tokens (package transport/token: at least token.MinSecretLen
	// bytes, else NewEndpoint panics). Zero value means a random secret per Endpoint, which is enough for
	// one node. With LongPollPeers, give every node the same one.
	SecretKeyBase string
	// Events observes the endpoint: its connections, channels, supervisors and writes (package
	// actors/telemetry: where each event runs, what it carries; package transport/metrics makes
	// Prometheus metrics of them). Its funcs are guarded: a panic in one is logged on Logger. Zero value
	// means none, at the cost of a nil check per emission point.
	Events telemetry.Events
	// LongPollPeers makes a long-poll connection reachable from every node of a cluster: a request whose
	// token names another live node is forwarded to it and answered with its answer (package
	// actors/cluster: Node.LongPoll), so no sticky sessions are needed. Zero value means a connection
	// lives on the endpoint that issued its token (across nodes, route a client to the same node).
	LongPollPeers LongPollPeers
}

func (c *Config) setDefaults() {
	if c.CheckOrigin == nil {
		c.CheckOrigin = SameAsRequest()
	}
	if c.MaxFrameSize <= 0 {
		c.MaxFrameSize = 10 << 20
	}
	if c.MaxInboundBytes <= 0 {
		c.MaxInboundBytes = 256 << 20
	}
	c.MaxInboundBytes = max(c.MaxInboundBytes, 3*c.MaxFrameSize)
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 60 * time.Second
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 10 * time.Second
	}
	if c.MaxQueueMessages <= 0 {
		c.MaxQueueMessages = 1024
	}
	if c.MaxInflight <= 0 {
		c.MaxInflight = max(min(256, c.MaxQueueMessages/4), 1)
	}
	if c.MaxOutboundPayload <= 0 {
		c.MaxOutboundPayload = c.MaxFrameSize
	}
	if c.MaxQueueBytes <= 0 {
		c.MaxQueueBytes = c.MaxOutboundPayload + 4<<20 // room for a max-size message behind other traffic
	}
	if c.PubSub == nil {
		c.PubSub = pubsub.New(pubsub.Config{MaxPayloadSize: c.MaxOutboundPayload})
	}
	if c.ReadBufferSize <= 0 {
		c.ReadBufferSize = 512
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	c.Logger = capLogger(c.Logger)
	if c.DrainBatchSize <= 0 {
		c.DrainBatchSize = 10_000
	}
	if c.DrainInterval <= 0 {
		c.DrainInterval = 2 * time.Second
	}
	if c.LongPollWindow <= 0 {
		c.LongPollWindow = 10 * time.Second
	}
}

// Endpoint serves Phoenix sockets over HTTP: it is an http.Handler to mount in a server, and owns every
// connection it accepted (Shutdown closes them).
type Endpoint struct {
	cfg  Config
	host *host.Host
	ev   telemetry.Events // cfg.Events, guarded

	mu      sync.Mutex
	sockets map[string]*socketDef // by mount path, e.g. "/socket"
	conns   map[*wsConn]struct{}
	polls   map[string]*pollConn // long-poll connections by id
	closing bool
	readers sync.WaitGroup // one per connection read loop, and one per long-poll connection
	writers sync.WaitGroup // one per WebSocket writer goroutine of a connection's own (wsConn.goWrite)
	flush   *flushPool     // writers shared by all connections
	ended   chan struct{}  // closed once every reader and writer has ended; nil until Shutdown gets there
	lp      *longPoll      // nil when long-poll is disabled

	// The WebSocket read side (readguard.go).
	inbound      inboundBudget // Config.MaxInboundBytes
	refusals     atomic.Int64  // connections closed for a refused frame
	panics       atomic.Int64  // read loops that panicked
	malformed    atomic.Int64  // connections closed for a frame their serializer could not decode
	refusalLog   logLimiter
	panicLog     logLimiter
	malformedLog logLimiter
	readHook     func([]byte)  // tests: sees every chunk read from a client
	lingerTime   time.Duration // tests: how long a closing connection lingers (0: lingerTime)

	slots [broadcastSlots]serializer.Serializer // broadcast cache slots taken by the sockets' serializers (mu)
}

// NewEndpoint returns an Endpoint with no sockets mounted yet.
func NewEndpoint(cfg Config) *Endpoint {
	cfg.setDefaults()
	e := &Endpoint{
		cfg:     cfg,
		flush:   newFlushPool(),
		sockets: make(map[string]*socketDef),
		conns:   make(map[*wsConn]struct{}),
		polls:   make(map[string]*pollConn),
		slots:   [broadcastSlots]serializer.Serializer{serializer.V1, serializer.V2},
		ev:      cfg.Events.Guarded(cfg.Logger),
	}
	e.inbound.max = int64(cfg.MaxInboundBytes)
	if !cfg.DisableLongPoll {
		e.lp = newLongPoll(cfg.SecretKeyBase, cfg.LongPollWindow, cfg.LongPollPeers)
	}
	e.host = host.New(host.Config{
		PubSub: cfg.PubSub, MaxInflight: cfg.MaxInflight, MaxPayloadSize: cfg.MaxOutboundPayload,
		MaxRejoinParams: cfg.MaxRejoinParams, Logger: cfg.Logger,
		System: cfg.System, Parent: cfg.Parent, ChildID: cfg.ChildID, Events: cfg.Events,
		Infrastructure: []supervisor.ChildSpec{{
			ID:      "janitor",
			Restart: supervisor.Permanent,
			Start:   func() (actor.Actor, error) { return &janitor{e: e}, nil },
		}},
	})
	return e
}

// Socket mounts router at path: the WebSocket transport answers at path+"/websocket", long-poll at
// path+"/longpoll" (unless Config.DisableLongPoll). Options: WithSerializers. A bad path (not starting with
// "/"), one mounted twice or a bad option is a programmer error and panics.
func (e *Endpoint) Socket(path string, router *channel.Router, opts ...SocketOption) {
	path = strings.TrimSuffix(path, "/")
	if !strings.HasPrefix(path, "/") {
		panic("transport: socket path must start with /: " + path)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, dup := e.sockets[path]; dup {
		panic("transport: socket mounted twice at " + path)
	}
	var o socketOptions
	for _, opt := range opts {
		opt(&o)
	}
	d := newSocketDef(e, router)
	d.serializers, d.codecs = e.codecs(o.serializers)
	e.sockets[path] = d
}

// ServeHTTP answers the transports of the mounted sockets and 404 for anything else.
func (e *Endpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Every read of a request body, net/http's discarding of what a handler left unread included, ends
	// within one long-poll window (net/http clears the deadline once a body was read whole, gws on upgrade):
	// a client that stalls mid-body holds a goroutine and a descriptor no longer. A long-poll POST then
	// answers 408, as Phoenix under Bandit; any other answer is sent and the connection closed.
	deadline := time.Now().Add(e.cfg.LongPollWindow)
	if r.ContentLength != 0 {
		_ = http.NewResponseController(w).SetReadDeadline(deadline) // unsupported: http.Server.ReadTimeout bounds it
	}
	p := r.URL.Path
	if base, ok := strings.CutSuffix(p, "/websocket"); ok {
		e.mu.Lock()
		def := e.sockets[base]
		e.mu.Unlock()
		if def != nil {
			def.serveWebSocket(w, r)
			return
		}
	}
	if base, ok := strings.CutSuffix(p, "/longpoll"); ok && e.lp != nil {
		e.mu.Lock()
		def := e.sockets[base]
		e.mu.Unlock()
		if def != nil {
			def.serveLongPoll(w, r, deadline)
			return
		}
	}
	http.NotFound(w, r)
}

// PubSub is the endpoint's topic registry.
func (e *Endpoint) PubSub() *pubsub.PubSub { return e.cfg.PubSub }

// Logger is Config.Logger as the endpoint uses it (each line's values capped at 1 KB), for the endpoint's
// companions such as a presence tracker.
func (e *Endpoint) Logger() *slog.Logger { return e.cfg.Logger }

// Broadcast sends event with payload (a JSON object) to every subscriber of topic, from anywhere.
func (e *Endpoint) Broadcast(topic, event string, payload any) error {
	return e.host.Broadcast(topic, event, payload)
}

// BroadcastFrom is Broadcast skipping the channel of from.
func (e *Endpoint) BroadcastFrom(from *channel.Socket, topic, event string, payload any) error {
	return e.host.BroadcastFrom(from, topic, event, payload)
}

// LocalBroadcast is Broadcast to this node's subscribers only.
func (e *Endpoint) LocalBroadcast(topic, event string, payload any) error {
	return e.host.LocalBroadcast(topic, event, payload)
}

// Disconnect closes every connection whose socket id is id, with 1001 (phoenix.js reconnects).
func (e *Endpoint) Disconnect(id string) error { return e.host.Disconnect(id) }

// Stats counts an endpoint's connections, channels and actors (host.Stats), and the connections it
// closed for bad input since it started.
type Stats struct {
	host.Stats
	// MalformedFrames counts connections closed for a frame their serializer could not decode (1011 on a
	// WebSocket, 400 on long-poll).
	MalformedFrames int64 `json:"malformed_frames"`
	// RefusedFrames counts WebSocket connections closed for a frame refused by its header: too large
	// (1009), or over the inbound memory budget (1013).
	RefusedFrames int64 `json:"refused_frames"`
	// ReadPanics counts WebSocket read loops that panicked (1011).
	ReadPanics int64 `json:"read_panics"`
}

// Stats returns current counts.
func (e *Endpoint) Stats() Stats {
	return Stats{Stats: e.host.Stats(), MalformedFrames: e.malformed.Load(), RefusedFrames: e.refusals.Load(), ReadPanics: e.panics.Load()}
}

// Err is nil while the endpoint serves. It reports why the endpoint stopped on its own: its supervisor
// gave up after infrastructure crashes past host.EndpointIntensity (every connection was closed with
// 1011; new ones get 503). Use it in health checks.
func (e *Endpoint) Err() error { return e.host.Err() }

// Supervise starts spec as an infrastructure child of the endpoint supervisor (see host.Host.Supervise):
// package actors/presence starts its tracker this way.
func (e *Endpoint) Supervise(ctx context.Context, spec supervisor.ChildSpec) (*actor.PID, error) {
	return e.host.Supervise(ctx, spec)
}

// Events is Config.Events, for the endpoint's companions: a presence tracker started on the endpoint
// reports its presences to them.
func (e *Endpoint) Events() telemetry.Events { return e.cfg.Events }

// Root is the root context of the endpoint's actor system (Config.System when given).
func (e *Endpoint) Root() *actor.RootContext { return e.host.Root() }

// Actors lists the endpoint's live actors so that they can be killed on purpose (see host.Host.Actors):
// pyrechaos.Population(endpoint) is a chaos.Population.
func (e *Endpoint) Actors() []host.Actor { return e.host.Actors() }

// ErrShuttingDown answers connections attempted during Shutdown.
var ErrShuttingDown = errors.New("transport: endpoint shutting down")

// Shutdown drains the endpoint, as Phoenix's socket drainer does on a deploy. It refuses new connections
// (503), then ends the open ones Config.DrainBatchSize at a time, Config.DrainInterval apart: each one's
// channels answer the messages they already received, terminate with channel.ErrShutdown, and the
// WebSocket closes with 1012 (Service Restart) after its queued frames, so clients reconnect, elsewhere if
// they can; a long-poll connection ends (a waiting GET answers with what is queued, or 410). The batches are
// spread over at most 80 % of ctx's deadline when they would not fit. Whatever is still open when the
// batches are done and ctx ends is closed at once with 1012. Shutdown returns when every socket and
// channel actor and every connection goroutine (readers and writers) has ended, or ctx.Err() if ctx ends
// first; what is left goes on ending, and a later Shutdown waits for it. A writer blocked on a client that
// does not read ends at its write deadline (Config.WriteTimeout). It does not stop an http.Server: call the server's Shutdown first so no new requests arrive (long-poll
// GETs waiting then answer at once, so that it need not wait a window for them).
func (e *Endpoint) Shutdown(ctx context.Context) error {
	e.mu.Lock()
	e.closing = true
	e.mu.Unlock()
	// Drain fails only when ctx ends first: then the host closes what is left at once.
	_ = e.host.Drain(ctx, e.cfg.DrainBatchSize, e.cfg.DrainInterval)
	if err := e.host.Shutdown(ctx, host.CloseServiceRestart); err != nil {
		return err
	}
	// One waiter for the endpoint's life, which every Shutdown waits for: one whose ctx ended leaves it to
	// the next (a goroutine per call would have no owner).
	e.mu.Lock()
	if e.ended == nil {
		e.ended = make(chan struct{})
		ended := e.ended
		go func() {
			// Once every read loop has ended, every connection is closing and takes no frame, so only a pool
			// worker, mid-turn, could still start a writer: after the pool, the writers can be waited for.
			e.readers.Wait()
			e.flush.close()
			e.writers.Wait()
			close(ended)
		}()
	}
	done := e.ended
	e.mu.Unlock()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (e *Endpoint) isClosing() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.closing
}

// track registers a live connection; false when shutting down.
func (e *Endpoint) track(c *wsConn) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closing {
		return false
	}
	e.conns[c] = struct{}{}
	e.readers.Add(1)
	e.flush.start()
	return true
}

func (e *Endpoint) untrack(c *wsConn) {
	e.mu.Lock()
	delete(e.conns, c)
	if len(e.conns) == 0 {
		e.flush.idle()
	}
	e.mu.Unlock()
	e.readers.Done()
}

// trackPoll registers a new long-poll session; false when shutting down.
func (e *Endpoint) trackPoll(c *pollConn) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closing {
		return false
	}
	e.polls[c.id] = c
	e.readers.Add(1)
	return true
}

// untrackPoll counts a session that ended (pollConn.end calls it once) and forgets it, unless keep: its
// last frames wait for one more GET.
func (e *Endpoint) untrackPoll(c *pollConn, keep bool) {
	if !keep {
		e.forgetPoll(c)
	}
	e.readers.Done()
}

func (e *Endpoint) forgetPoll(c *pollConn) {
	e.mu.Lock()
	if e.polls[c.id] == c {
		delete(e.polls, c.id)
	}
	e.mu.Unlock()
}

// janitor closes connections silent for longer than IdleTimeout, or with a message unfinished for that
// long (1001), and ends long-poll sessions nobody polled (expirePolls). It is an infrastructure worker
// under the endpoint supervisor: one timer for all connections costs far less than a deadline reset per
// frame, and a janitor that crashes is restarted with nothing to recover.
type janitor struct {
	e     *Endpoint
	stop  func() bool
	idle  []*wsConn
	polls []*pollConn
}

type sweep struct{}

func (j *janitor) Receive(ctx actor.Context) {
	switch ctx.Message().(type) {
	case *actor.Started:
		j.schedule(ctx)
	case sweep:
		j.sweep(time.Now())
		j.schedule(ctx)
	case *actor.Stopping, *actor.Restarting:
		if j.stop != nil {
			j.stop()
		}
	}
}

func (j *janitor) schedule(ctx actor.Context) {
	every := j.e.cfg.IdleTimeout / 4
	if j.e.lp != nil {
		every = min(every, j.e.cfg.LongPollWindow/2)
	}
	if every < 10*time.Millisecond {
		every = 10 * time.Millisecond
	}
	root, self := ctx.ActorSystem().Root, ctx.Self()
	j.stop = time.AfterFunc(every, func() { root.Send(self, sweep{}) }).Stop
}

func (j *janitor) sweep(now time.Time) {
	e := j.e
	limit := now.Add(-e.cfg.IdleTimeout).UnixNano()
	j.idle = j.idle[:0]
	e.mu.Lock()
	for c := range e.conns {
		// A paused reader is silent because of us (its replies wait to be written).
		if !c.paused.Load() && (c.lastRead.Load() < limit || c.in.unfinishedBefore(limit)) {
			j.idle = append(j.idle, c)
		}
	}
	e.mu.Unlock()
	for _, c := range j.idle {
		c.Close(host.CloseGoingAway) // never blocks: the connection's writer sends the close frame
	}
	clear(j.idle)
	if e.lp != nil {
		j.polls = e.expirePolls(now, j.polls)
	}
}
