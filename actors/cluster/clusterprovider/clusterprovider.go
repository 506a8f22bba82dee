// Package clusterprovider lets a Pyre node find its peers through one of protoactor-go's cluster providers
// (cluster/clusterproviders: k8s, etcd, consul, zk) instead of a static list:
//
//	node := cluster.New(cluster.Config{System: sys, Address: addr,
//		Provider: &clusterprovider.Adapter{System: sys, Provider: k8sProvider}})
//
// The provider only lists addresses: the node heartbeats every candidate and decides liveness itself, as
// with cluster.Static. The adapter runs a bare cluster.Cluster on the node's own remote (no gossip, no
// identity lookup, no cluster pubsub: Cluster.StartMember is not called, since it starts a second remote
// and sleeps 1 s) and turns each ClusterTopology the provider publishes into the candidate list. It is a
// package of its own so that nodes on a static list do not link protoactor's cluster package.
//
// protoactor's member list blocks a member id that left, for good; the node itself is unaffected, as it
// identifies members by the id each Pong carries.
package clusterprovider

import (
	"errors"
	"sync"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"
	"github.com/asynkron/protoactor-go/eventstream"
	"github.com/asynkron/protoactor-go/remote"
)

// ErrNoSystem: Adapter.System or Adapter.Provider is nil.
var ErrNoSystem = errors.New("clusterprovider: no actor system or provider")

// Adapter is a cluster.Provider backed by a protoactor ClusterProvider. Use one per node.
type Adapter struct {
	// System is the node's actor system (the one in cluster.Config). Required.
	System *actor.ActorSystem
	// Provider is the protoactor cluster provider. Required.
	Provider cluster.ClusterProvider
	// Name is the cluster's name as the provider knows it. Zero value means "pyre".
	Name string

	mu      sync.Mutex
	sub     *eventstream.Subscription
	running bool
}

// Start runs the provider as a member and reports every topology it publishes. The node has started its
// remote before it calls Start.
func (a *Adapter) Start(_ string, update func([]string)) error {
	if a.System == nil || a.Provider == nil {
		return ErrNoSystem
	}
	name := a.Name
	if name == "" {
		name = "pyre"
	}
	c := cluster.New(a.System, cluster.Configure(name, a.Provider, nil, nil))
	c.Remote = remote.GetRemote(a.System)
	a.mu.Lock()
	a.sub = a.System.EventStream.Subscribe(func(evt any) {
		t, ok := evt.(*cluster.ClusterTopology)
		if !ok {
			return
		}
		addrs := make([]string, 0, len(t.Members))
		for _, m := range t.Members {
			addrs = append(addrs, m.Address())
		}
		update(addrs) // a Send to the node's membership actor: never blocks
	})
	a.running = true
	a.mu.Unlock()
	if err := a.Provider.StartMember(c); err != nil {
		a.Stop()
		return err
	}
	return nil
}

// Stop shuts the provider down (deregistering this member) and stops reporting.
func (a *Adapter) Stop() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.running {
		return
	}
	a.running = false
	a.Provider.Shutdown(true)
	a.System.EventStream.Unsubscribe(a.sub)
}
