package cluster

import (
	"context"
	"fmt"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/pyrehq/pyre/actors/cluster/clusterpb"
)

// StopAll stops several nodes of one process (tests, examples) quietly: every node quiesces first (sends
// nothing more), then each sends every other a barrier on the same stream as all it sent before, twice (a request read by a
// stopped actor's node is answered with a DeadLetterResponse, maybe after that node's first barrier);
// once every barrier arrived, nothing is in flight and the nodes stop one by one. Stopping them one by
// one instead lets a peer's message reach a node whose remote shuts down, which races inside protoactor.
func StopAll(ctx context.Context, nodes ...*Node) error {
	var err error
	for _, n := range nodes {
		if e := n.quiesce(); e != nil && err == nil {
			err = e
		}
	}
	const barrier = "stop-barrier"
	got := make(chan struct{}, len(nodes)*len(nodes))
	for _, n := range nodes {
		sub := n.sys.EventStream.Subscribe(func(e any) {
			if d, ok := e.(*actor.DeadLetterEvent); ok {
				if p, ok := d.Message.(*clusterpb.Ping); ok && p.Node == barrier {
					got <- struct{}{}
				}
			}
		})
		defer n.sys.EventStream.Unsubscribe(sub)
	}
	for range 2 {
		for _, from := range nodes {
			for _, to := range nodes {
				if from != to {
					from.sys.Root.Send(actor.NewPID(to.cfg.Address, "pyre-stop-barrier"), &clusterpb.Ping{Node: barrier})
				}
			}
		}
		for range len(nodes) * (len(nodes) - 1) {
			select {
			case <-got:
			case <-ctx.Done():
				return fmt.Errorf("stop barrier: %w", ctx.Err())
			}
		}
	}
	for _, n := range nodes {
		if e := n.Stop(ctx); e != nil && err == nil {
			err = e
		}
	}
	return err
}
