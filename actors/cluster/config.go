package cluster

import (
	"log/slog"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// Config configures a Node.
type Config struct {
	// System is the actor system the node's remote, relay and membership actors run in. Required.
	System *actor.ActorSystem
	// Address is this node's cluster listener, "host:port". The node listens there and nowhere else, and
	// peers reach it there. Required.
	Address string
	// Name is this node's name as peers and Members show it (e.g. a host name or PYRE_NODE). Zero value
	// means Address.
	Name string
	// Provider lists the candidate member addresses. Zero value means a single node (no peers).
	Provider Provider
	// HeartbeatInterval is how often the node pings every candidate. Zero value means 500 ms.
	HeartbeatInterval time.Duration
	// DeadAfter: a member whose last heartbeat answer is older leaves the cluster (and batches to a live
	// peer unacknowledged this long, and at least 5 s, are counted lost). Zero value means 4 × HeartbeatInterval.
	DeadAfter time.Duration
	// QueueLength bounds each peer's outbound queue in broadcasts. Zero value means 10,000.
	QueueLength int
	// QueueBytes bounds each peer's outbound queue in bytes (payload, topic and event). Zero value means
	// 64 MiB; it is raised to hold at least one broadcast of MaxPayload.
	QueueBytes int
	// MaxPayload is the largest payload sent to other nodes; a larger one stays local and Broadcast
	// returns ErrTooLarge. Zero value means 16 MiB.
	MaxPayload int
	// Logger receives joins, leaves and rate-limited drop reports. Zero value means slog.Default().
	Logger *slog.Logger
}

const (
	defaultHeartbeat   = 500 * time.Millisecond
	defaultQueueLength = 10_000
	defaultQueueBytes  = 64 << 20
	defaultMaxPayload  = 16 << 20

	// batchItems and batchBytes bound one Batch (one item always goes, however large); window bounds the
	// batches in flight to one peer, so protoactor's own (unbounded) writer queue never holds more.
	batchItems = 512
	batchBytes = 1 << 20
	window     = 4
	// envelope is room for a batch's framing beside its payloads.
	envelope = 64 << 10
	// minLossTimeout: a live peer's batch unacknowledged this long (and DeadAfter) is counted lost; a
	// big batch under load can take a while.
	minLossTimeout = 5 * time.Second
	// dropLogEvery rate-limits the overflow log line.
	dropLogEvery = 10 * time.Second
)

func (c Config) withDefaults() Config {
	if c.Name == "" {
		c.Name = c.Address
	}
	if c.Provider == nil {
		c.Provider = Static(nil)
	}
	if c.HeartbeatInterval <= 0 {
		c.HeartbeatInterval = defaultHeartbeat
	}
	if c.DeadAfter <= 0 {
		c.DeadAfter = 4 * c.HeartbeatInterval
	}
	if c.QueueLength <= 0 {
		c.QueueLength = defaultQueueLength
	}
	if c.MaxPayload <= 0 {
		c.MaxPayload = defaultMaxPayload
	}
	if c.QueueBytes <= 0 {
		c.QueueBytes = defaultQueueBytes
	}
	if c.QueueBytes < c.MaxPayload+envelope {
		c.QueueBytes = c.MaxPayload + envelope
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// maxMessage is the largest gRPC message a peer may send us: protoactor's writer packs up to a window of
// our batches into one gRPC message.
func (c Config) maxMessage() int {
	return window*(max(c.MaxPayload, batchBytes)+envelope) + envelope
}

// Provider discovers the addresses that may hold members. The node heartbeats every candidate and
// decides liveness itself, so a provider only lists addresses; it never reports deaths.
type Provider interface {
	// Start begins discovery. update receives the full candidate list (this node's address may be in it)
	// each time it changes; it does not block and may be called from any goroutine until Stop returns.
	Start(self string, update func(addrs []string)) error
	// Stop ends discovery; update is not called after it returns.
	Stop()
}

// Static is a fixed list of member addresses, this node's included or not.
type Static []string

// Start reports the list once.
func (s Static) Start(_ string, update func([]string)) error {
	update(append([]string(nil), s...))
	return nil
}

// Stop does nothing.
func (Static) Stop() {}
