package cluster

import (
	"github.com/asynkron/protoactor-go/actor"

	"github.com/pyrehq/pyre/actors/cluster/clusterpb"
)

// relay is the node's well-known receiver of broadcasts: it fans every batch from another node
// out through the local pubsub (never re-forwarding, as Phoenix.PubSub), then acknowledges it.
type relay struct {
	n    *Node
	last map[string]uint64 // last batch seq per sender member id (the node's: kept across restarts)
}

func newRelay(n *Node) *relay { return &relay{n: n, last: n.relayLast} }

func (r *relay) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *clusterpb.Batch:
		// seq 1 starts a new link (the sender restarted, or we left its membership and came back).
		if last := r.last[m.Node]; m.Seq > last+1 && m.Seq != 1 {
			r.n.gaps.Add(m.Seq - last - 1)
		}
		r.last[m.Node] = m.Seq
		for _, b := range m.Broadcasts {
			r.n.local.LocalBroadcast(toMessage(b)) // Deliver never blocks
		}
		r.n.received.Add(uint64(len(m.Broadcasts)))
		ctx.Respond(&clusterpb.Ack{Node: r.n.id, Seq: m.Seq})
	case forget:
		delete(r.last, string(m))
	}
}

// forget drops a departed sender's sequence.
type forget string
