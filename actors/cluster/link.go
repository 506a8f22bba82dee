package cluster

import (
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/pyrehq/pyre/actors/cluster/clusterpb"
)

// link is the outbound path to one live peer: a bounded FIFO that publishers fill without blocking, and
// the membership actor sends in batches, at most window of them unacknowledged at a time.
type link struct {
	n      *Node
	peer   Member
	target *actor.PID // the peer's relay

	mu        sync.Mutex
	q         []*clusterpb.Broadcast
	qBytes    int
	sizes     []int
	scheduled bool // a flush is pending or the window is full: the manager will send without a signal
	closed    bool

	// Owned by the manager actor.
	sent, acked uint64
	since       time.Time // last progress: the first send after idle, or the latest ack
}

func newLink(n *Node, peer Member) *link {
	return &link{n: n, peer: peer, target: actor.NewPID(peer.Address, relayName)}
}

// enqueue queues b for the peer, or reports false when the queue is full. It never blocks on the network.
func (l *link) enqueue(b *clusterpb.Broadcast, size int) bool {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return true // the peer left between the snapshot and now: nothing to deliver to
	}
	if len(l.q) >= l.n.cfg.QueueLength || l.qBytes+size > l.n.cfg.QueueBytes {
		l.mu.Unlock()
		return false
	}
	l.q = append(l.q, b)
	l.sizes = append(l.sizes, size)
	l.qBytes += size
	signal := !l.scheduled
	l.scheduled = true
	l.mu.Unlock()
	if signal {
		l.n.sys.Root.Send(l.n.mgr, flush{l})
	}
	return true
}

// take removes the next batch (at least one broadcast, then up to batchItems and batchBytes). An empty
// queue clears scheduled, so the next enqueue signals the manager again.
func (l *link) take() []*clusterpb.Broadcast {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.q) == 0 {
		l.scheduled = false
		return nil
	}
	k, bytes := 0, 0
	for k < len(l.q) && k < batchItems && (k == 0 || bytes+l.sizes[k] <= batchBytes) {
		bytes += l.sizes[k]
		k++
	}
	out := make([]*clusterpb.Broadcast, k)
	copy(out, l.q)
	clear(l.q[:k]) // let the payloads go once sent
	l.q, l.sizes = l.q[k:], l.sizes[k:]
	l.qBytes -= bytes
	if len(l.q) == 0 {
		l.q, l.sizes = nil, nil // drop the backing arrays
	}
	return out
}

// close empties the queue for good: the peer left.
func (l *link) close() {
	l.mu.Lock()
	l.closed = true
	l.q, l.sizes, l.qBytes = nil, nil, 0
	l.mu.Unlock()
}

// queued is the queue's length, for tests.
func (l *link) queued() (int, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.q), l.qBytes
}
