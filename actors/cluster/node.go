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

// Member is one live node: its member id (the actor system id, new on every start) and cluster address.
type Member struct {
	ID      string
	Address string
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

	started atomic.Bool // Start was called
	running atomic.Bool // Start succeeded: Stop has something to stop
	mgr     *actor.PID
	relay   *actor.PID
	stop    chan struct{}
	wg      sync.WaitGroup

	links   atomic.Pointer[[]*link]
	members atomic.Pointer[[]Member]

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
	n.members.Store(&[]Member{{ID: n.id, Address: n.cfg.Address}})
	relay, err := n.sys.Root.SpawnNamed(actor.PropsFromProducer(func() actor.Actor { return newRelay(n) }), relayName)
	if err != nil {
		n.rem.Shutdown(true)
		return fmt.Errorf("cluster: relay: %w", err)
	}
	n.relay = relay
	mgr, err := n.sys.Root.SpawnNamed(actor.PropsFromProducer(func() actor.Actor { return newManager(n) }), membershipName)
	if err != nil {
		n.sys.Root.PoisonFuture(relay).Wait()
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
		n.shutdown(context.Background(), false)
		return fmt.Errorf("cluster: provider: %w", err)
	}
	return nil
}

// startRemote starts protoactor's remote bound to exactly the given address, with gRPC limits raised for
// MaxPayload and keepalive on, so a silent (half-open) connection errors and protoactor reconnects.
func (n *Node) startRemote(host string, port int) (err error) {
	maxMsg := n.cfg.maxMessage()
	rcfg := remote.Configure(host, port,
		remote.WithEndpointWriterQueueSize(1024), // an initial size (it grows): the window bounds what we queue
		remote.WithEndpointManagerQueueSize(1024),
		remote.WithServerOptions(
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
	n.rem.Start()
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

// Stop leaves the cluster: it stops the provider, the heartbeat and the node's actors, then shuts remote
// down gracefully (peers are told at once; protoactor waits at most 10 s for them). Queued broadcasts are
// dropped. Stop does not shut the actor system down.
func (n *Node) Stop(ctx context.Context) error {
	return n.shutdown(ctx, true)
}

func (n *Node) shutdown(ctx context.Context, graceful bool) error {
	if !n.running.Load() {
		return nil
	}
	select {
	case <-n.stop:
		return nil
	default:
	}
	n.cfg.Provider.Stop()
	var err error
	for _, pid := range []*actor.PID{n.mgr, n.relay} { // the manager first: it starts probes
		if e := n.sys.Root.PoisonFuture(pid).Wait(); e != nil && err == nil {
			err = e
		}
	}
	close(n.stop)
	n.wg.Wait()
	for _, l := range *n.links.Load() {
		l.close()
	}
	n.links.Store(&[]*link{})
	n.members.Store(&[]Member{})
	done := make(chan struct{})
	go func() { n.rem.Shutdown(graceful); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		<-done // remote gives up after 10 s by itself; its goroutines must end before we return
		if err == nil {
			err = ctx.Err()
		}
	}
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
