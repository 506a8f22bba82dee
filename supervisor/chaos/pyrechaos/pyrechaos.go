// Package pyrechaos adapts a Pyre runtime (a *transport.Endpoint or a *host.Host) to a chaos.Population,
// so that package chaos can kill its actors while the runtime does not depend on fault injection:
//
//	m, err := chaos.New(pyrechaos.Population(endpoint), chaos.Config{...})
//
// A channel target's ID is its channel.Socket.ChannelID and stays the same across in-place restarts; a
// socket's is its actor's. Population and Target are safe for concurrent use; a target's Exit and Panic send
// its actor a message and return at once (false if the actor has ended).
//
// A cluster node's actors (its relay, membership and long-poll actors, see cluster.Node.Actors) are
// targets too, of kind Infrastructure: Merge them with the endpoint's to kill across a node, e.g.
//
//	chaos.New(pyrechaos.Merge(pyrechaos.Population(endpoint), pyrechaos.Cluster(node)), chaos.Config{...})
package pyrechaos

import (
	"github.com/pyrehq/pyre/actors/cluster"
	"github.com/pyrehq/pyre/actors/host"
	"github.com/pyrehq/pyre/supervisor/chaos"
)

// Runtime lists its live actors: *transport.Endpoint and *host.Host are Runtimes.
type Runtime interface {
	// Actors lists the runtime's live socket, channel and infrastructure actors.
	Actors() []host.Actor
}

// Population is r's actors as chaos targets, listed afresh on each call of Targets.
func Population(r Runtime) chaos.Population {
	return chaos.PopulationFunc(func() []chaos.Target {
		actors := r.Actors()
		out := make([]chaos.Target, len(actors))
		for i, a := range actors {
			out[i] = Target(a)
		}
		return out
	})
}

// Target is a as a chaos target, of the kind of the same name. A socket carries chaos.LabelSocketID; a
// channel chaos.LabelTopic and its socket's chaos.LabelSocketID; an infrastructure worker chaos.LabelChild.
func Target(a host.Actor) chaos.Target {
	labels := make(map[string]string, 2)
	switch a.Kind {
	case host.SocketActor:
		labels[chaos.LabelSocketID] = a.SocketID
	case host.ChannelActor:
		labels[chaos.LabelTopic] = a.Topic
		labels[chaos.LabelSocketID] = a.SocketID
	case host.InfrastructureActor:
		labels[chaos.LabelChild] = a.Child
	}
	return chaos.Target{Kind: chaos.Kind(a.Kind), ID: a.ID, Labels: labels, Exit: a.Exit, Panic: a.Panic}
}

// Node lists a cluster node's actors: *cluster.Node is a Node.
type Node interface {
	// Actors lists the node's actors while it runs.
	Actors() []cluster.Actor
}

// Cluster is n's actors as Infrastructure targets, labelled chaos.LabelChild with the actor's name,
// listed afresh on each call of Targets. Each restarts in place when killed (see cluster.Actor).
func Cluster(n Node) chaos.Population {
	return chaos.PopulationFunc(func() []chaos.Target {
		actors := n.Actors()
		out := make([]chaos.Target, len(actors))
		for i, a := range actors {
			out[i] = chaos.Target{Kind: chaos.Infrastructure, ID: a.ID,
				Labels: map[string]string{chaos.LabelChild: a.Name}, Exit: a.Exit, Panic: a.Panic}
		}
		return out
	})
}

// Merge is the targets of every population in ps, in that order: several nodes, or a node's endpoint
// and its cluster actors, for one monkey.
func Merge(ps ...chaos.Population) chaos.Population {
	return chaos.PopulationFunc(func() []chaos.Target {
		var out []chaos.Target
		for _, p := range ps {
			out = append(out, p.Targets()...)
		}
		return out
	})
}
