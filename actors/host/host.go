package host

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/pyrehq/pyre/actors/channel"
	"github.com/pyrehq/pyre/actors/message"
	"github.com/pyrehq/pyre/actors/pubsub"
	"github.com/pyrehq/pyre/actors/telemetry"
	"github.com/pyrehq/pyre/supervisor"
)

// Config configures a Host. The zero value works.
type Config struct {
	// PubSub is the topic registry. Zero value means a new local-only registry.
	PubSub *pubsub.PubSub
	// MaxInflight bounds the inbound messages of one connection received but not yet handled; past it,
	// Session.Receive waits, which stops reading from that client (TCP backpressure). Zero value means 256.
	MaxInflight int
	// MaxPendingOut bounds the intercepted broadcasts queued for one channel's HandleOut; past it the
	// connection is closed as a slow consumer (1013). Zero value means 1024.
	MaxPendingOut int
	// MaxRejoinParams bounds the join params a channel keeps to re-run Join after an in-place restart
	// (channel.WithRestart). A channel joined with larger params cannot restart in place: a crash ends it with
	// phx_error, as in Phoenix, and the client rejoins with its params. Zero value means
	// DefaultMaxRejoinParams; a negative value keeps none (no channel restarts in place).
	MaxRejoinParams int
	// MaxPayloadSize bounds the payload bytes of each outbound push, reply and broadcast, checked where it
	// is made: Push and the broadcasts return channel.ErrMessageTooLarge, a reply too large is answered
	// {"reason":"reply too large"} with status error and logged, a join reply too large refuses the join
	// so. The transport sets it so that any message fits the outbound queue of a reading receiver. Zero
	// value means no limit.
	MaxPayloadSize int
	// Logger receives crash reports. Zero value means slog.Default().
	Logger *slog.Logger
	// Clock is the time the runtime reads: restart intensity windows (the channels', the connections', the
	// endpoint supervisor's) and channel.Socket.SendAfter. Zero value means real time; tests inject a fake one
	// (channeltest.Clock).
	Clock supervisor.Clock
	// Infrastructure are the endpoint's own workers (the transport's idle sweeper, ...), started in order
	// under the endpoint supervisor before the socket supervisor. Zero value means none.
	Infrastructure []supervisor.ChildSpec
	// System is the actor system the host runs on (a clustered one included). Zero value means a system of
	// the host's own, whose protoactor log goes to Logger and which Shutdown shuts down. A given system is
	// never shut down by the host, and its logger is left as configured.
	System *actor.ActorSystem
	// Parent is the supervisor of the caller's tree that Pyre's endpoint supervisor runs under, as a
	// Permanent child named ChildID: when Pyre gives up (EndpointIntensity), Parent sees the exit
	// Shutdown(ErrMaxIntensity) and applies its own rules. A restart of Pyre's tree by Parent closes every
	// open connection with 1011 (their socket actors stop with the old tree; clients reconnect); the new
	// tree serves the connections opened afterwards, with the same Infrastructure and Supervise'd children.
	// Parent must run on System (zero System means Parent's system). Zero value means Pyre's tree runs at
	// the root of System.
	Parent *supervisor.Supervisor
	// ChildID names Pyre's tree among Parent's children. Zero value means "pyre".
	ChildID string
	// Events observes the channels and supervisors of the host (package actors/telemetry: where each
	// event runs, what it carries). Its funcs are guarded: a panic in one is logged on Logger. Zero value
	// means none, at the cost of a nil check per emission point.
	Events telemetry.Events
}

// DefaultMaxRejoinParams is Config.MaxRejoinParams's default: 64 KiB of join params per channel.
const DefaultMaxRejoinParams = 64 << 10

// Host runs the socket and channel actors of one endpoint on a protoactor actor system.
type Host struct {
	system    *actor.ActorSystem
	ownSystem bool // made by New: Shutdown shuts it down
	root      *actor.RootContext
	ps        *pubsub.PubSub
	log       *slog.Logger
	clock     supervisor.Clock

	maxInflight     int32
	maxPendingOut   int32
	maxRejoinParams int
	maxSize         int

	pool *workerPool // the dispatcher of every actor of the host's tree

	// One Props for every channel actor (a Props each would cost ~230 B per channel). The producer makes a
	// bare actor; it finds its chanState through its parent socket (adoptChannel, reincarnated). Routes
	// with actor options get a Props of their own (routeProps, by *route).
	chanProps  *actor.Props
	routeProps sync.Map

	parent  *supervisor.Supervisor // Config.Parent, or nil
	childID string
	// specMu guards infra and supervised. treeConfig takes it inside the parent supervisor's turn, so it is
	// never held while waiting for a supervisor (treeMu is).
	specMu     sync.Mutex
	infra      []supervisor.ChildSpec // Config.Infrastructure, then what Supervise added (a restart starts them all)
	supervised int                    // how many of infra Supervise added

	treeMu  sync.Mutex
	tree    *supervisor.Supervisor // the endpoint supervisor (its current incarnation under a parent)
	sockSup *supervisor.Supervisor // its socket supervisor: one dynamic, temporary child per connection

	mu         sync.Mutex
	sessions   map[string]*connState // by socket actor id
	closing    bool
	stopSystem sync.Once
	live       int           // running socket actors
	idle       chan struct{} // closed once closing and no socket actor runs: what Drain and Shutdown wait for

	ev          telemetry.Events // Config.Events, guarded
	infraFailed map[string]error // the last failure of each infrastructure child (the tree's turn only)
	infraLast   error            // the last failure of any (the tree's turn only)

	sockets  atomic.Int64
	channels atomic.Int64
	restarts atomic.Int64 // in-place channel restarts

	onClose func() // tests: runs when Open starts refusing (close), so they need not poll for it
}

// EndpointIntensity is the endpoint supervisor's restart intensity: an infrastructure worker that crashes
// more often ends the endpoint (every connection closes), as an OTP application whose top supervisor gives up.
var EndpointIntensity = supervisor.Intensity{Max: 3, Period: 5 * time.Second}

// New returns a Host ready to open sessions, its supervision tree started:
//
//	endpoint supervisor (one_for_one, EndpointIntensity)
//	 ├─ cfg.Infrastructure...          (their own restart types)
//	 └─ "sockets" (simple_one_for_one) → socket actors (temporary) → channel actors (route's restart type)
//
// A bad infrastructure child spec is a programmer error and panics.
func New(cfg Config) *Host {
	h := &Host{
		ps:              cfg.PubSub,
		log:             cfg.Logger,
		clock:           cfg.Clock,
		maxInflight:     int32(cfg.MaxInflight),
		maxPendingOut:   int32(cfg.MaxPendingOut),
		maxRejoinParams: cfg.MaxRejoinParams,
		maxSize:         cfg.MaxPayloadSize,
		sessions:        make(map[string]*connState),
		pool:            newWorkerPool(max(4, 4*runtime.GOMAXPROCS(0))),
		idle:            make(chan struct{}),
	}
	if h.ps == nil {
		h.ps = pubsub.New(pubsub.Config{})
	}
	if h.log == nil {
		h.log = slog.Default()
	}
	h.ev = cfg.Events.Guarded(h.log)
	if f := h.ev.Broadcast; f != nil {
		h.ps.Observe(f)
	}
	if h.clock == nil {
		h.clock = realClock{}
	}
	if h.maxInflight <= 0 {
		h.maxInflight = 256
	}
	if h.maxPendingOut <= 0 {
		h.maxPendingOut = 1024
	}
	if h.maxRejoinParams == 0 {
		h.maxRejoinParams = DefaultMaxRejoinParams
	}
	h.system, h.ownSystem = cfg.System, cfg.System == nil && cfg.Parent == nil
	if h.system == nil && cfg.Parent != nil {
		h.system = cfg.Parent.ActorSystem()
	}
	if h.system == nil {
		// protoactor's log goes to ours, its routine lines (dead letters, which are expected when a message
		// reaches a channel that just ended) at Debug. Its dead-letter throttle runs a goroutine per
		// interval, kept short so none outlives a shutdown by much.
		plog := protoLogger(h.log)
		h.system = actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return plog }),
			actor.WithDeadLetterThrottleInterval(10*time.Millisecond))
	}
	h.root = h.system.Root
	h.chanProps = h.channelProps()
	h.infra = cfg.Infrastructure[:len(cfg.Infrastructure):len(cfg.Infrastructure)]
	h.parent, h.childID = cfg.Parent, cfg.ChildID
	if h.childID == "" {
		h.childID = "pyre"
	}
	var err error
	if h.parent == nil {
		h.tree, err = supervisor.Start(h.root, h.treeConfig())
		if err != nil {
			panic(fmt.Sprintf("host: endpoint supervisor: %v", err))
		}
	} else {
		if _, err = h.parent.StartChild(context.Background(), h.treeSpec()); err != nil {
			panic(fmt.Sprintf("host: endpoint supervisor under %q: %v", h.childID, err))
		}
		if h.tree, err = h.parent.Sub(context.Background(), h.childID); err != nil {
			panic(fmt.Sprintf("host: endpoint supervisor under %q: %v", h.childID, err))
		}
	}
	if h.sockSup, err = h.tree.Sub(context.Background(), "sockets"); err != nil {
		panic(fmt.Sprintf("host: socket supervisor: %v", err))
	}
	return h
}

// treeConfig is the endpoint supervisor's configuration, made anew for each start of Pyre's tree.
func (h *Host) treeConfig() supervisor.Config {
	h.specMu.Lock()
	infra := h.infra[:len(h.infra):len(h.infra)]
	n := len(infra) - h.supervised // Config.Infrastructure go before the socket supervisor, Supervise'd children after
	h.specMu.Unlock()
	children := make([]supervisor.ChildSpec, 0, len(infra)+1)
	children = append(children, infra[:n]...)
	children = append(children, supervisor.Spec("sockets", supervisor.Config{Name: "sockets", Strategy: supervisor.SimpleOneForOne, Clock: h.clock, OnEvent: h.socketEvent, Dispatcher: h.pool, Mailbox: newLeanMailbox}))
	children = append(children, infra[n:]...)
	return supervisor.Config{Name: "endpoint", Strategy: supervisor.OneForOne, Intensity: EndpointIntensity,
		Children: children, Clock: h.clock, OnEvent: h.treeEvent, Dispatcher: h.pool}
}

// treeSpec runs Pyre's tree as a Permanent child of Config.Parent; each (re)start takes the current
// configuration.
func (h *Host) treeSpec() supervisor.ChildSpec {
	spec := supervisor.Spec(h.childID, supervisor.Config{})
	spec.Start = func() (actor.Actor, error) { return supervisor.Spec(h.childID, h.treeConfig()).Start() }
	return spec
}

// current returns the endpoint supervisor and its socket supervisor. Under a parent that restarted Pyre's
// tree, it finds the new incarnation first. It waits for the supervisors: not from inside an actor.
func (h *Host) current() (tree, sockSup *supervisor.Supervisor) {
	h.treeMu.Lock()
	defer h.treeMu.Unlock()
	if h.parent != nil && !h.isClosing() {
		select {
		case <-h.sockSup.Done():
			if t, err := h.parent.Sub(context.Background(), h.childID); err == nil {
				if s, err := t.Sub(context.Background(), "sockets"); err == nil {
					h.tree, h.sockSup = t, s
				}
			}
		default:
		}
	}
	return h.tree, h.sockSup
}

func (h *Host) isClosing() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.closing
}

// realClock is Config.Clock's zero value.
type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) AfterFunc(d time.Duration, f func()) func() bool { return time.AfterFunc(d, f).Stop }

// treeEvent reports the endpoint supervisor's decisions about its infrastructure.
func (h *Host) treeEvent(ev supervisor.Event) {
	switch ev.Type {
	case supervisor.ChildExiting:
		if !supervisor.IsNormal(ev.Reason) {
			h.log.Error("pyre: infrastructure actor failed", "child", ev.ID, "reason", ev.Reason)
		}
	case supervisor.ChildRestarted:
		h.log.Info("pyre: infrastructure actor restarted", "child", ev.ID)
	case supervisor.IntensityExceeded:
		h.log.Error("pyre: endpoint supervisor gave up", "reason", ev.Reason)
	}
	h.treeTelemetry(ev)
}

// socketEvent runs in the socket supervisor's turn when it learns why a socket actor exits, before
// stopping it: an abnormal exit (a crash, a kill) closes the connection with 1011 and becomes the reason
// its channels terminate with.
func (h *Host) socketEvent(ev supervisor.Event) {
	if ev.Type != supervisor.ChildExiting || supervisor.IsNormal(ev.Reason) {
		return
	}
	cs := h.lookup(ev.PID)
	if cs == nil {
		return
	}
	reason := ev.Reason
	var pe *supervisor.PanicError
	if errors.As(reason, &pe) {
		reason = &channel.CrashError{Value: pe.Value}
	}
	h.log.Error("pyre: socket actor failed", "id", cs.id, "reason", reason)
	cs.setExit(reason)
	cs.out.Close(CloseInternalError)
}

// Supervise starts spec as one more infrastructure child of the endpoint supervisor (a presence tracker,
// ...), next to the socket supervisor: its restarts count toward EndpointIntensity, and chaos sees it.
// Under Config.Parent, a restart of Pyre's tree starts it again with the tree.
func (h *Host) Supervise(ctx context.Context, spec supervisor.ChildSpec) (*actor.PID, error) {
	tree, _ := h.current()
	pid, err := tree.StartChild(ctx, spec)
	if err == nil && h.parent != nil {
		h.specMu.Lock()
		h.infra = append(h.infra, spec)
		h.supervised++
		h.specMu.Unlock()
	}
	return pid, err
}

// Root is the actor system's root context, to send to actors from outside them.
func (h *Host) Root() *actor.RootContext { return h.root }

// Err is nil while the host serves, and the endpoint supervisor's exit reason once it has stopped, e.g.
// Shutdown(ErrMaxIntensity) after its infrastructure crashed past EndpointIntensity. A host that stopped
// opens no sessions.
func (h *Host) Err() error {
	tree, _ := h.current()
	select {
	case <-tree.Done():
		if err := tree.Err(); err != nil {
			return err
		}
		return ErrHostClosed
	default:
		return nil
	}
}

// PubSub is the host's topic registry.
func (h *Host) PubSub() *pubsub.PubSub { return h.ps }

// Stats counts what is running.
type Stats struct {
	Sockets  int64 `json:"sockets"`  // socket actors, one per connection or long-poll session, until stopped
	Channels int64 `json:"channels"` // channel actors, one per joined topic, until stopped
	Actors   int64 `json:"actors"`   // Sockets + Channels
	Topics   int   `json:"topics"`   // topics with at least one subscriber
	Restarts int64 `json:"restarts"` // in-place channel restarts since the host started
}

// Stats returns current counts.
func (h *Host) Stats() Stats {
	s, c := h.sockets.Load(), h.channels.Load()
	return Stats{Sockets: s, Channels: c, Actors: s + c, Topics: h.ps.Topics(), Restarts: h.restarts.Load()}
}

// Open starts the socket actor of an accepted connection. Frames read from out's client go to
// Session.Receive; when the connection ends the transport calls Session.Close.
func (h *Host) Open(c *Connected, out Conn) (*Session, error) {
	cs := &connState{
		host:      h,
		router:    c.router,
		out:       out,
		assigns:   c.assigns,
		id:        c.id,
		transport: c.transport,
		trace:     c.trace,
	}
	h.mu.Lock()
	if h.closing {
		h.mu.Unlock()
		return nil, ErrHostClosed
	}
	h.live++
	h.mu.Unlock()
	// The socket actor must not handle a frame before cs.pid is known: Session.Receive is only called
	// after Open returns, and the actor itself starts idle.
	_, sockSup := h.current()
	pid, err := sockSup.StartChild(context.Background(), supervisor.ChildSpec{
		Start:    func() (actor.Actor, error) { return &socketActor{cs: cs}, nil },
		Restart:  supervisor.Temporary, // a dead socket closes its connection; the client reconnects
		Shutdown: supervisor.BrutalKill,
	})
	if err != nil {
		h.socketDone()
		return nil, fmt.Errorf("%w: %w", ErrHostClosed, err)
	}
	h.mu.Lock()
	cs.pid = pid
	h.sessions[pid.Id] = cs
	late := h.closing // Drain or Shutdown began while it started, and did not see it
	h.mu.Unlock()
	if late {
		cs.setExit(channel.ErrShutdown)
		out.Close(CloseServiceRestart)
		sockSup.Exit(pid, channel.ErrShutdown)
		return nil, ErrHostClosed
	}
	return &Session{cs: cs}, nil
}

// Broadcast sends event to every subscriber of topic, on every node. One larger than
// Config.MaxPayloadSize reaches nobody: channel.ErrMessageTooLarge.
func (h *Host) Broadcast(topic, event string, payload any) error {
	return h.BroadcastFrom(nil, topic, event, payload)
}

// BroadcastFrom is Broadcast skipping the channel behind from (a channel's channel.Socket).
func (h *Host) BroadcastFrom(from *channel.Socket, topic, event string, payload any) error {
	p, err := message.ObjectPayloadOf(payload)
	if err != nil {
		return err
	}
	var skip pubsub.Subscriber
	if from != nil {
		skip = chanOf(from).Sub()
	}
	b := message.NewBroadcast(topic, event, p)
	if err := message.CheckSize(b.Payload.Len(), h.maxSize); err != nil {
		return err
	}
	return h.ps.BroadcastFrom(skip, b)
}

// LocalBroadcast is Broadcast to this node's subscribers only.
func (h *Host) LocalBroadcast(topic, event string, payload any) error {
	p, err := message.ObjectPayloadOf(payload)
	if err != nil {
		return err
	}
	b := message.NewBroadcast(topic, event, p)
	if err := message.CheckSize(b.Payload.Len(), h.maxSize); err != nil {
		return err
	}
	if err := h.ps.CheckSize(b); err != nil {
		return err
	}
	h.ps.LocalBroadcast(b)
	return nil
}

// Disconnect closes every connection whose id is id (code 1001), on every node.
func (h *Host) Disconnect(id string) error {
	return h.Broadcast(id, "disconnect", nil)
}

// Drain ends every connection gracefully, batch connections at a time with interval between batches
// (Phoenix's drainer: 10,000 every 2 s): each connection's channels answer the messages they already
// received and terminate with channel.ErrShutdown, then the connection closes with 1012 (Service Restart) once its
// queued frames are written, so clients reconnect, elsewhere if they can. New sessions are refused from
// the start. If ctx has a deadline and the batches would not fit in 80 % of the time left, the interval
// shrinks so they do. Drain returns when every connection has ended, or ctx.Err() when ctx ends first
// (call Shutdown then: it closes what is left).
func (h *Host) Drain(ctx context.Context, batch int, interval time.Duration) error {
	all := h.close()
	if batch <= 0 {
		batch = len(all)
	}
	batches := (len(all) + batch - 1) / batch
	if dl, ok := ctx.Deadline(); ok && batches > 1 {
		if fit := time.Until(dl) * 8 / 10 / time.Duration(batches-1); fit < interval {
			interval = max(fit, 0)
		}
	}
	for i := 0; i < len(all); i += batch {
		if i > 0 {
			t := time.NewTimer(interval)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			}
		}
		if f := h.ev.SocketDrain; f != nil {
			f(telemetry.SocketDrain{Count: min(batch, len(all)-i), Total: len(all), Index: i / batch, Rounds: batches})
		}
		for _, cs := range all[i:min(i+batch, len(all))] {
			h.root.Send(cs.pid, drain{})
		}
	}
	return h.waitSockets(ctx)
}

// Shutdown closes every connection with code (1012 for a restart), ends every channel with channel.ErrShutdown and
// waits until every socket and channel actor has stopped, or ctx ends. New sessions are refused from the
// start. Then Pyre's tree stops (under Config.Parent: Parent terminates and forgets it), and an actor
// system of the host's own is shut down; a system given in Config.System keeps running.
func (h *Host) Shutdown(ctx context.Context, code CloseCode) error {
	tree, sockSup := h.current()
	all := h.close()
	for _, cs := range all {
		cs.setExit(channel.ErrShutdown)
		cs.out.Close(code)
		sockSup.Exit(cs.pid, channel.ErrShutdown)
	}
	if err := h.waitSockets(ctx); err != nil {
		return err
	}
	if h.parent != nil {
		// Terminated by its supervisor, Pyre's tree is not restarted; an error means Parent is gone already.
		if err := h.parent.TerminateChild(ctx, h.childID); err == nil {
			_ = h.parent.DeleteChild(ctx, h.childID)
		}
		select {
		case <-tree.Done():
		case <-ctx.Done():
			return ctx.Err()
		}
	} else if err := tree.Stop(ctx); err != nil && h.Err() == nil {
		return err
	}
	if h.ownSystem {
		h.stopSystem.Do(h.system.Shutdown)
	}
	h.pool.stop()
	return nil
}

// close refuses new sessions from now on and returns the open ones.
func (h *Host) close() []*connState {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.closing && h.live == 0 {
		close(h.idle)
	}
	h.closing = true
	all := make([]*connState, 0, len(h.sessions))
	for _, cs := range h.sessions {
		all = append(all, cs)
	}
	if h.onClose != nil {
		h.onClose()
	}
	return all
}

// socketDone counts a socket actor that stopped (or never started).
func (h *Host) socketDone() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.live--; h.live == 0 && h.closing {
		close(h.idle)
	}
}

// waitSockets waits until every socket actor (and so every channel actor) has stopped, or ctx ends. It
// starts no goroutine: one left waiting after ctx ended would have no owner.
func (h *Host) waitSockets(ctx context.Context) error {
	select {
	case <-h.idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// channelProps makes the Props of channel actors; opts are a route's actor options.
func (h *Host) channelProps(opts ...actor.PropsOption) *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor { return &channelActor{host: h} },
		append([]actor.PropsOption{actor.WithMailbox(newLeanMailbox), actor.WithDispatcher(h.pool), actor.WithOnInit(h.adoptChannel)}, opts...)...)
}

// propsFor returns the Props of rt's channel actors: the shared one, unless rt has actor options.
func (h *Host) propsFor(rt *route) *actor.Props {
	if len(rt.Middleware) == 0 {
		return h.chanProps
	}
	if p, ok := h.routeProps.Load(rt); ok {
		return p.(*actor.Props)
	}
	p, _ := h.routeProps.LoadOrStore(rt, h.channelProps(actor.WithReceiverMiddleware(rt.Middleware...)))
	return p.(*actor.Props)
}

// adoptChannel gives a channel actor being spawned its state. protoactor runs it inside the parent socket
// actor's Spawn call, which set cs.spawning just before.
func (h *Host) adoptChannel(ctx actor.Context) {
	if cs := h.lookup(ctx.Parent()); cs != nil {
		ctx.Actor().(*channelActor).st = cs.spawning
	}
}

// reincarnated finds the state of a channel actor restarted in place (protoactor made a new, bare actor
// value); nil if its socket is gone.
func (h *Host) reincarnated(ctx actor.Context) *chanState {
	if cs := h.lookup(ctx.Parent()); cs != nil {
		return cs.takeOver(ctx.Self())
	}
	return nil
}

func (h *Host) forget(cs *connState) {
	h.mu.Lock()
	delete(h.sessions, cs.pid.Id)
	h.mu.Unlock()
}

func (h *Host) lookup(pid *actor.PID) *connState {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.sessions[pid.Id]
}

// Session is the transport's handle on a running socket actor.
type Session struct{ cs *connState }

// Receive hands an inbound frame to the socket actor. Call it from the connection's read goroutine only: it
// waits while MaxInflight messages are unhandled (backpressure on this client alone), and drops the
// message once the socket actor has stopped.
func (s *Session) Receive(m *message.Message) { _ = s.ReceiveContext(context.Background(), m) }

// Close tells the socket actor that the connection is gone; its channels terminate with channel.ErrClosed.
func (s *Session) Close() { s.CloseWith(channel.ErrClosed) }

// PID is the socket actor's PID; its Id names the connection in telemetry events (telemetry.Conn.Socket).
func (s *Session) PID() *actor.PID { return s.cs.pid }

// ID is the connection's id topic ("" when anonymous), as Socket.ID.
func (s *Session) ID() string { return s.cs.id }

// Done is closed when the socket actor and all its channels have stopped.
func (s *Session) Done() <-chan struct{} { return s.cs.stoppedChan() }

// ReceiveContext is Receive for a transport whose client waits for an acknowledgement (a long-poll POST):
// it gives up when ctx ends while MaxInflight messages are unhandled. It returns nil once the message is
// handed to the socket actor, channel.ErrConnClosed when the socket actor has stopped, or ctx.Err(). Like Receive,
// call it from one goroutine at a time.
func (s *Session) ReceiveContext(ctx context.Context, m *message.Message) error {
	cs := s.cs
	for atomic.LoadInt32(&cs.inflight) >= cs.host.maxInflight {
		wake := cs.wakeChan()
		if atomic.LoadInt32(&cs.inflight) < cs.host.maxInflight {
			break // released before the channel existed: release saw none to signal
		}
		select {
		case <-wake:
		case <-cs.stoppedChan():
			return channel.ErrConnClosed
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if cs.stopped.Load() {
		return channel.ErrConnClosed
	}
	atomic.AddInt32(&cs.inflight, 1)
	cs.host.root.Send(cs.pid, m)
	return nil
}

// CloseWith is Close with the reason the channels terminate with instead of channel.ErrClosed (e.g. a long-poll
// session that nobody polled). A reason that is not a normal exit (supervisor.IsNormal) reads as a crash.
func (s *Session) CloseWith(reason error) {
	if s.cs.stopped.Load() {
		return
	}
	s.cs.setExit(reason)
	s.cs.host.sockSup.Exit(s.cs.pid, reason)
}

// connState is shared by a socket actor and its channels.
type connState struct {
	host    *Host
	router  *channel.Router
	out     Conn
	assigns channel.Assigns
	id      string
	// Connect info is not kept: as in Phoenix, only Connect sees it (copy what channels need into assigns),
	// which saves ~0.8 KB per connection.
	transport string
	trace     *telemetry.TraceContext // the connection's trace context, nil when none (Socket.Context)
	pid       *actor.PID

	inflight int32
	stopped  atomic.Bool // the socket actor and its channels have stopped
	// Made on first need (~100 B each): most connections never wait for the socket actor, and nothing
	// asks for Done.
	sigMu    sync.Mutex
	wake     chan struct{} // capacity 1: release signals a reader waiting below MaxInflight
	stoppedC chan struct{} // closed once stopped

	exitOnce sync.Once
	exit     error // why the connection's channels end; set once, before the socket actor stops

	spawning *chanState // the channel being spawned; the socket actor's turn only
	syncs    *syncRound // Session.Sync rounds waiting for channel actors; the socket actor's turn only

	mu     sync.Mutex
	reborn map[string]*chanState // channels being restarted in place, by actor id; nil until the first
}

// handOver keeps st for the restart of its actor pid, which runs on the channel's goroutine.
func (cs *connState) handOver(pid *actor.PID, st *chanState) {
	cs.mu.Lock()
	if cs.reborn == nil {
		cs.reborn = make(map[string]*chanState)
	}
	cs.reborn[pid.Id] = st
	cs.mu.Unlock()
}

func (cs *connState) takeOver(pid *actor.PID) *chanState {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	st := cs.reborn[pid.Id]
	delete(cs.reborn, pid.Id)
	return st
}

// release marks one inbound message handled and wakes the reader if it was waiting.
func (cs *connState) release() {
	if atomic.AddInt32(&cs.inflight, -1) == cs.host.maxInflight-1 {
		cs.sigMu.Lock()
		wake := cs.wake
		cs.sigMu.Unlock()
		if wake != nil {
			select {
			case wake <- struct{}{}:
			default:
			}
		}
	}
}

func (cs *connState) wakeChan() chan struct{} {
	cs.sigMu.Lock()
	defer cs.sigMu.Unlock()
	if cs.wake == nil {
		cs.wake = make(chan struct{}, 1)
	}
	return cs.wake
}

func (cs *connState) stoppedChan() <-chan struct{} {
	cs.sigMu.Lock()
	defer cs.sigMu.Unlock()
	if cs.stoppedC == nil {
		cs.stoppedC = make(chan struct{})
		if cs.stopped.Load() {
			close(cs.stoppedC)
		}
	}
	return cs.stoppedC
}

// markStopped runs once, when the socket actor has stopped.
func (cs *connState) markStopped() {
	cs.sigMu.Lock()
	defer cs.sigMu.Unlock()
	cs.stopped.Store(true)
	if cs.stoppedC != nil {
		close(cs.stoppedC)
	}
}

func (cs *connState) setExit(reason error) { cs.exitOnce.Do(func() { cs.exit = reason }) }

func (cs *connState) exitReason() error {
	cs.setExit(channel.ErrClosed)
	return cs.exit
}

// replyNotJoined answers a message for a topic with no running channel: ok for a leave, as Phoenix,
// "unmatched topic" (with a null join_ref) for anything else.
func (cs *connState) replyNotJoined(m *message.Message) {
	if m.Event == message.EventLeave {
		_ = cs.out.Write(message.NewReply(m, message.StatusOK, message.EmptyObject))
		return
	}
	r := message.NewReply(m, message.StatusError, reasonPayload("unmatched topic"))
	r.JoinRef = ""
	_ = cs.out.Write(r)
}

var tooLargePayload = reasonPayload("reply too large")

// sendReply writes the reply r, or, when its payload is over MaxPayloadSize, an error reply
// {"reason":"reply too large"} in its place (logged): the client's push is answered either way, and no
// receiver is cut for it. It returns channel.ErrMessageTooLarge then.
func (cs *connState) sendReply(r *message.Message) error {
	err := message.CheckSize(r.Payload.Len(), cs.host.maxSize)
	if err != nil {
		cs.host.log.Error("pyre: reply too large, answered with an error", "topic", r.Topic, "err", err)
		r = &message.Message{JoinRef: r.JoinRef, Ref: r.Ref, Topic: r.Topic, Event: r.Event, Status: message.StatusError, Payload: tooLargePayload}
	}
	if werr := cs.out.Write(r); werr != nil {
		return werr
	}
	return err
}

func reasonPayload(reason string) message.Payload {
	p, _ := message.PayloadOf(map[string]string{"reason": reason})
	return p
}

func asCrash(v any) *channel.CrashError {
	if c, ok := v.(*channel.CrashError); ok {
		return c
	}
	return &channel.CrashError{Value: v}
}

// protoLogger is the logger of an actor system the host owns: log's handler, with protoactor's lines below
// Warn one step lower (Info → Debug), so that routine lines such as dead letters stay out of an operator's
// default view, and marked lib=protoactor.
func protoLogger(log *slog.Logger) *slog.Logger {
	return slog.New(demoted{log.Handler()}).With("lib", "protoactor")
}

type demoted struct{ h slog.Handler }

func demote(l slog.Level) slog.Level {
	if l < slog.LevelWarn {
		return l - 4
	}
	return l
}

func (d demoted) Enabled(ctx context.Context, l slog.Level) bool { return d.h.Enabled(ctx, demote(l)) }

func (d demoted) Handle(ctx context.Context, r slog.Record) error {
	r.Level = demote(r.Level)
	return d.h.Handle(ctx, r)
}

func (d demoted) WithAttrs(as []slog.Attr) slog.Handler { return demoted{d.h.WithAttrs(as)} }
func (d demoted) WithGroup(name string) slog.Handler    { return demoted{d.h.WithGroup(name)} }
