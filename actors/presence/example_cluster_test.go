package presence_test

import (
	"context"
	"log"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/pyrehq/pyre/actors/cluster"
	"github.com/pyrehq/pyre/actors/presence"
	"github.com/pyrehq/pyre/actors/pubsub"
	"github.com/pyrehq/pyre/transport"
)

// On several nodes: the endpoint runs on the cluster node's actor system and pubsub, and the tracker
// replicates with the trackers of the same Name on the other members. Shut down in reverse: the endpoint
// first (its tracker sends its last changes as it stops), then the node.
func ExampleStart_cluster() {
	sys := actor.NewActorSystem()
	node := cluster.New(cluster.Config{
		System:   sys,
		Address:  "127.0.0.1:4100",
		Provider: cluster.Static{"127.0.0.1:4100", "127.0.0.2:4100", "127.0.0.3:4100"},
	})
	ps := pubsub.New(pubsub.Config{Adapter: node})
	if err := node.Start(ps); err != nil {
		log.Fatal(err)
	}
	ep := transport.NewEndpoint(transport.Config{System: sys, PubSub: ps})
	tracker, err := presence.Start(context.Background(), ep, presence.Config{Cluster: node})
	if err != nil {
		log.Fatal(err)
	}
	_ = tracker // Track, PushState and List in your channels, as on one node

	ctx := context.Background()
	_ = ep.Shutdown(ctx)
	_ = node.Stop(ctx)
}
