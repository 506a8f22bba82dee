package cluster_test

import (
	"context"
	"log"
	"net/http"
	"os"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/pyrehq/pyre/actors/channel"
	"github.com/pyrehq/pyre/actors/cluster"
	"github.com/pyrehq/pyre/actors/pubsub"
	"github.com/pyrehq/pyre/transport"
)

// A node of a three-node cluster: the endpoint's pubsub has the node as its adapter, and both run in one
// actor system. Broadcasts and disconnects then reach every node.
func Example_node() {
	router := channel.NewRouter(nil) // your socket handler and channels
	sys := actor.NewActorSystem()
	node := cluster.New(cluster.Config{System: sys, Address: "10.0.0.1:7000", Name: "web-1",
		Provider: cluster.Static{"10.0.0.1:7000", "10.0.0.2:7000", "10.0.0.3:7000"}})
	ps := pubsub.New(pubsub.Config{Adapter: node, MaxPayloadSize: 10 << 20}) // the endpoint's MaxOutboundPayload
	if err := node.Start(ps); err != nil {
		log.Fatal(err)
	}
	ep := transport.NewEndpoint(transport.Config{System: sys, PubSub: ps,
		// Long-poll requests reach their session's node; every node signs tokens with the same secret.
		LongPollPeers: node.LongPoll(), SecretKeyBase: os.Getenv("SECRET_KEY_BASE")})
	ep.Socket("/socket", router)
	node.LongPoll().Handle(ep)
	srv := &http.Server{Addr: "10.0.0.1:4000", Handler: ep}
	go srv.ListenAndServe()

	// ... on SIGTERM:
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = srv.Shutdown(ctx)
	_ = ep.Shutdown(ctx) // drains: clients reconnect to the other nodes
	_ = node.Stop(ctx)
	sys.Shutdown()
}
