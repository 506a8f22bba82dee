// Package pyrechaos adapts a Pyre runtime (a *transport.Endpoint or a *host.Host) to a chaos.Population,
// so that package chaos can kill its actors while the runtime does not depend on fault injection:
//
//	m, err := chaos.New(pyrechaos.Population(endpoint), chaos.Config{...})
//
// A channel target's ID is its channel.Socket.ChannelID and stays the same across in-place restarts; a
// socket's is its actor's. Population and Target are safe for concurrent use; a target's Exit and Panic send
// its actor a message and return at once (false if the actor has ended).
package pyrechaos

import (
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
