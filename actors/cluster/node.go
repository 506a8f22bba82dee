package cluster

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/eventstream"
	"github.com/asynkron/protoactor-go/remote"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"

	"github.com/pyrehq/pyre/actors/cluster/clusterpb"
	"github.com/pyrehq/pyre/actors/message"
)

// Well-known names a peer addresses as NewPID(address, name): the relay takes broadcasts, the membership
// actor heartbeats (apart, so a relay busy fanning out large payloads does not delay Pongs).
const (
	relayName      = "pyre-cluster-relay"
	membershipName = "pyre-cluster-membership"
)

// Local is the node's own pubsub (a *pubsub.PubSub): the relay fans broadcasts from other nodes out through it.
type Local interface {
	LocalBroadcast(b *message.Broadcast) int
}

// Member is one live node: its member id (the actor system id, new on every start), cluster address and
// name (Config.Name).
type Member struct {
	ID      string
	Address string
	Name    string
}

// Stats are the node's counters since Start.
type Stats struct {
	// Queued counts broadcasts queued for a peer (one per peer per broadcast).
	Queued uint64
	// Dropped counts broadcasts that did not go to a peer: its queue was full, or the payload too large.
	Dropped uint64
	// LostBatches counts batches a peer did not acknowledge within DeadAfter (dead peer, cut stream).
	LostBatches uint64
	// Received counts broadcasts received from other nodes and fanned out here.
	Received uint64
	// Gaps counts batches missing from a sender's sequence, seen by this node's relay.
	Gaps uint64
}

// Node is one member of a Pyre cluster, and the pubsub.Adapter that carries broadcasts to the others.
type Node struct {
	cfg   Config
	sys   *actor.ActorSystem
	rem   *remote.Remote
	local Local
	id    string

	started  atomic.Bool // Start was called
	running  atomic.Bool // Start succeeded: Stop has something to stop
	stopping atomic.Bool // Stop was called
	quiesced sync.Once
	mgr      *actor.PID
	relay    *actor.PID
	poll     *actor.PID     // serves long-poll requests forwarded by other nodes
	pollWG   sync.WaitGroup // its requests in progress
	lp       *LongPoll
	stop     chan struct{}
	wg       sync.WaitGroup

	remoteMu  sync.Mutex
	remoteSub *eventstream.Subscription

	links   atomic.Pointer[[]*link]
	members atomic.Pointer[[]Member]

	// Kept across restarts of the actor that owns each (actors.go): the manager's candidates, the
	// relay's last sequence per sender.
	candidates []string
	relayLast  map[string]uint64

	watchMu  sync.Mutex
	watchers map[*func()]struct{}

	queued, dropped, lostBatches, received, gaps atomic.Uint64
	dropLog                                      rateLog
}

// New returns a node that is not started yet: give it to pubsub.New as the Adapter, then Start it with the
// PubSub. Broadcasts before Start reach no other node.
func New(cfg Config) *Node {
	cfg = cfg.withDefaults()
	n := &Node{cfg: cfg, sys: cfg.System, stop: make(chan struct{})}
	n.lp = &LongPoll{n: n}
	n.relayLast = make(map[string]uint64)
	n.links.Store(&[]*link{})
	n.members.Store(&[]Member{})
	return n
}

// Start opens the cluster listener on Config.Address, spawns the relay and membership actors in
// Config.System and starts the provider. Start it before anything whose PID travels between nodes.
func (n *Node) Start(local Local) error {
	if n.sys == nil {
		return ErrNoSystem
	}
	if local == nil {
		return ErrNoPubSub
	}
	host, portStr, err := net.SplitHostPort(n.cfg.Address)
	port, perr := strconv.Atoi(portStr)
	if err != nil || perr != nil || host == "" {
		return fmt.Errorf("%w: %q", ErrAddress, n.cfg.Address)
	}
	if !n.started.CompareAndSwap(false, true) {
		return ErrStarted
	}
	n.local = local
	n.id = n.sys.ID
	if err := n.startRemote(host, port); err != nil {
		return err
	}
	n.members.Store(&[]Member{n.self()})
	relay, err := n.sys.Root.SpawnNamed(restartingProps(func() actor.Actor { return newRelay(n) }), relayName)
	if err != nil {
		n.rem.Shutdown(true)
		return fmt.Errorf("cluster: relay: %w", err)
	}
	n.relay = relay
	pollCtx, cancelPolls := context.WithCancel(context.Background())
	poll, err := n.sys.Root.SpawnNamed(restartingProps(func() actor.Actor {
		return &longPollServer{l: n.lp, ctx: pollCtx, cancel: cancelPolls, wg: &n.pollWG}
	}), longPollName)
	if err != nil {
		cancelPolls()
		n.sys.Root.PoisonFuture(relay).Wait()
		n.rem.Shutdown(true)
		return fmt.Errorf("cluster: long-poll: %w", err)
	}
	n.poll = poll
	mgr, err := n.sys.Root.SpawnNamed(restartingProps(func() actor.Actor { return newManager(n) }), membershipName)
	if err != nil {
		n.sys.Root.PoisonFuture(relay).Wait()
		n.sys.Root.PoisonFuture(poll).Wait()
		n.rem.Shutdown(true)
		return fmt.Errorf("cluster: membership: %w", err)
	}
	n.mgr = mgr
	n.running.Store(true)
	n.wg.Add(1)
	go n.heartbeat()
	if err := n.cfg.Provider.Start(n.cfg.Address, func(addrs []string) {
		n.sys.Root.Send(n.mgr, candidates(addrs))
	}); err != nil {
		n.shutdown(context.Background())
		return fmt.Errorf("cluster: provider: %w", err)
	}
	return nil
}

// startRemote starts protoactor's remote bound to exactly the given address, with gRPC limits raised for
// MaxPayload and keepalive on, so a silent (half-open) connection errors and protoactor reconnects.
func (n *Node) startRemote(host string, port int) (err error) {
	maxMsg := n.cfg.maxMessage()
	probed := make(chan struct{})
	var probedOnce sync.Once
	creds := newSyncCreds(func() { probedOnce.Do(func() { close(probed) }) })
	rcfg := remote.Configure(host, port,
		remote.WithEndpointWriterQueueSize(1024), // an initial size (it grows): the window bounds what we queue
		remote.WithEndpointManagerQueueSize(1024),
		remote.WithServerOptions(
			grpc.Creds(creds),          // insecure, ordered with other nodes' starts (grpcsync.go)
			grpc.WaitForHandlers(true), // Stop waits for the stream handlers (stopRemote)
			grpc.MaxRecvMsgSize(maxMsg),
			grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 5 * time.Second, PermitWithoutStream: true}),
			grpc.KeepaliveParams(keepalive.ServerParameters{Time: 10 * time.Second, Timeout: 5 * time.Second}),
		),
		// WithDialOptions replaces protoactor's defaults, insecure credentials included.
		remote.WithDialOptions(
			grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxMsg), grpc.MaxCallSendMsgSize(maxMsg)),
			grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 10 * time.Second, Timeout: 5 * time.Second, PermitWithoutStream: true}),
		),
	)
	// One connection attempt per endpoint writer: protoactor leaks the client connection of every failed
	// retry, and the manager pings again within a heartbeat anyway.
	rcfg.MaxRetryCount = 1
	n.rem = remote.NewRemote(n.sys, rcfg)
	defer func() { // remote.Start panics when it cannot listen
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v", ErrListen, r)
		}
	}()
	startRemoteOrdered(n.rem, n.cfg.Address, probed)
	// protoactor's endpoint manager reads its fields in these events' publishers (stream goroutines) and
	// writes them, unsynchronized, when remote shuts down: this handler, after protoactor's, and shutdown
	// take remoteMu, which orders the two. A message read by a stream goroutine for a stopped actor (a
	// peer's ping after Stop began) is a dead letter, published there too: ordered the same way.
	n.remoteSub = n.sys.EventStream.SubscribeWithPredicate(func(any) {
		n.remoteMu.Lock()
		n.remoteMu.Unlock() //nolint:staticcheck // only the ordering matters
	}, func(m any) bool {
		switch m.(type) {
		case *remote.EndpointTerminatedEvent, *remote.EndpointConnectedEvent, *actor.DeadLetterEvent:
			return true
		}
		return false
	})
	return nil
}

// heartbeat drives the membership actor's clock.
func (n *Node) heartbeat() {
	defer n.wg.Done()
	t := time.NewTicker(n.cfg.HeartbeatInterval)
	defer t.Stop()
	for {
		select {
		case <-n.stop:
			return
		case now := <-t.C:
			n.sys.Root.Send(n.mgr, tick(now))
		}
	}
}

// probe dials addr once (bounded by HeartbeatInterval) and tells the manager whether it answered.
func (n *Node) probe(addr string) {
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		c, err := net.DialTimeout("tcp", addr, n.cfg.HeartbeatInterval)
		if err == nil {
			c.Close()
		}
		n.sys.Root.Send(n.mgr, probed{addr: addr, ok: err == nil})
	}()
}

// Stop leaves the cluster: it stops the provider, the heartbeat and the node's actors, then remote (its
// streams close; peers see this node leave after DeadAfter). Queued broadcasts are dropped. Stop does not
// shut the actor system down. It waits for remote's goroutines, which end by themselves within about
// 2 s: a connection attempt to a peer that has just died holds protoactor's endpoint writer in a 2 s
// sleep (endpoint_writer.go), which nothing interrupts. When ctx ends first, Stop still waits for them
// (no goroutine outlives it) and returns ctx.Err().
func (n *Node) Stop(ctx context.Context) error {
	return n.shutdown(ctx)
}

func (n *Node) shutdown(ctx context.Context) error {
	if !n.running.Load() || !n.stopping.CompareAndSwap(false, true) {
		return nil
	}
	err := n.quiesce()
	done := make(chan struct{})
	go func() {
		n.stopRemote()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		<-done // its goroutines must end before we return
		if err == nil {
			err = ctx.Err()
		}
	}
	return err
}

// stopRemote stops protoactor's remote without its graceful Shutdown, which races with the stream
// goroutines it ends: it clears fields they read, unsynchronized (endpoint_manager.go stop vs
// removeEndpoint; endpoint_reader.go suspend vs Receive). Instead, the endpoint supervisor stops (every
// endpoint writer closes its stream; their goroutines only run protoactor's event handling, whose state
// nobody clears), then the activator, then the gRPC server, which waits for its stream handlers
// (grpc.WaitForHandlers). Peers see the streams end, as when a node dies, and our heartbeats are over.
func (n *Node) stopRemote() {
	for _, name := range []string{"EndpointSupervisor", "activator"} { // protoactor's names (endpoint_manager.go)
		_ = n.sys.Root.StopFuture(actor.NewPID(n.sys.Address(), name)).Wait()
	}
	n.rem.Shutdown(false)
	n.remoteMu.Lock()
	n.remoteMu.Unlock() //nolint:staticcheck // after every endpoint event so far (startRemote)
	n.sys.EventStream.Unsubscribe(n.remoteSub)
}

// self is this node as a Member.
func (n *Node) self() Member { return Member{ID: n.id, Address: n.cfg.Address, Name: n.cfg.Name} }

// Name is Config.Name (its Address when not given).
func (n *Node) Name() string { return n.cfg.Name }

// quiesce stops the provider, the node's actors and its heartbeat, so that the node sends nothing more
// to its peers, and forgets them. It runs once; Stop calls it (tests quiesce every node first, so that no
// peer still sends to a node whose remote shuts down: see StopAll).
func (n *Node) quiesce() error {
	var err error
	n.quiesced.Do(func() {
		n.cfg.Provider.Stop()
		for _, pid := range []*actor.PID{n.mgr, n.relay, n.poll} { // the manager first: it starts probes
			if e := n.sys.Root.PoisonFuture(pid).Wait(); e != nil && err == nil {
				err = e
			}
		}
		close(n.stop)
		n.wg.Wait()
		n.pollWG.Wait() // cancelled when the long-poll actor stopped
		for _, l := range *n.links.Load() {
			l.close()
		}
		n.links.Store(&[]*link{})
		n.members.Store(&[]Member{})
	})
	return err
}

// ID is this node's member id.
func (n *Node) ID() string { return n.id }

// Members returns the live members, this node included, sorted by address.
func (n *Node) Members() []Member { return slices.Clone(*n.members.Load()) }

// Watch has f called each time Members changes, from the membership actor: f must not block (send to an
// actor; read Members there). It returns a function that ends the calls; after it returns, f is not called.
// Presence replication (package presence) uses it to see a member leave at once.
func (n *Node) Watch(f func()) (stop func()) {
	n.watchMu.Lock()
	defer n.watchMu.Unlock()
	if n.watchers == nil {
		n.watchers = make(map[*func()]struct{})
	}
	key := &f
	n.watchers[key] = struct{}{}
	return func() {
		n.watchMu.Lock()
		delete(n.watchers, key)
		n.watchMu.Unlock()
	}
}

// notify calls the Watch functions (the membership actor, after Members changed).
func (n *Node) notify() {
	n.watchMu.Lock()
	defer n.watchMu.Unlock()
	for f := range n.watchers {
		(*f)()
	}
}

// Stats returns the node's counters.
func (n *Node) Stats() Stats {
	return Stats{
		Queued:      n.queued.Load(),
		Dropped:     n.dropped.Load(),
		LostBatches: n.lostBatches.Load(),
		Received:    n.received.Load(),
		Gaps:        n.gaps.Load(),
	}
}

// Broadcast implements pubsub.Adapter: it queues b once for every live peer and returns at once. The
// payload is shared, not copied, until protoactor serializes a batch.
func (n *Node) Broadcast(b *message.Broadcast) error {
	links := *n.links.Load()
	if len(links) == 0 {
		return nil
	}
	if b.Payload.Len() > n.cfg.MaxPayload {
		n.dropped.Add(uint64(len(links)))
		n.reportDrop("payload too large", "", len(links))
		return fmt.Errorf("%w: %d bytes", ErrTooLarge, b.Payload.Len())
	}
	pb := &clusterpb.Broadcast{Topic: b.Topic, Event: b.Event, Payload: b.Payload.Bytes()}
	if b.Payload.IsBinary() {
		pb.Kind = clusterpb.PayloadKind_PAYLOAD_KIND_BINARY
	}
	size := b.Size()
	var err error
	for _, l := range links {
		if l.enqueue(pb, size) {
			n.queued.Add(1)
			continue
		}
		n.dropped.Add(1)
		n.reportDrop("peer queue full", l.peer.Address, 1)
		err = ErrQueueFull
	}
	return err
}

// reportDrop logs overflow at most once per dropLogEvery, with the count since the last line.
func (n *Node) reportDrop(why, peer string, count int) {
	if total, ok := n.dropLog.add(time.Now(), dropLogEvery, count); ok {
		n.cfg.Logger.Warn("cluster: broadcasts dropped", slog.String("why", why), slog.String("peer", peer),
			slog.Int("dropped", total), slog.Uint64("dropped_total", n.dropped.Load()))
	}
}

// rateLog lets one log line through per period and counts what it held back.
type rateLog struct {
	mu    sync.Mutex
	last  time.Time
	count int
}

func (r *rateLog) add(now time.Time, every time.Duration, count int) (int, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.count += count
	if !r.last.IsZero() && now.Sub(r.last) < every {
		return 0, false
	}
	r.last = now
	total := r.count
	r.count = 0
	return total, true
}

// toMessage rebuilds a broadcast received from another node.
func toMessage(b *clusterpb.Broadcast) *message.Broadcast {
	p := message.JSON(b.Payload)
	if b.Kind == clusterpb.PayloadKind_PAYLOAD_KIND_BINARY {
		p = message.Binary(b.Payload)
	}
	return message.NewBroadcast(b.Topic, b.Event, p)
}
