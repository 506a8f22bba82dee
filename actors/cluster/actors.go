package cluster

import (
	"github.com/asynkron/protoactor-go/actor"

	"github.com/pyrehq/pyre/supervisor"
)

// Actor is one of the node's actors (the relay, the membership actor, the long-poll server), listed so
// that it can be killed on purpose (package supervisor/chaos/pyrechaos). Each restarts in place however
// often it fails, and takes back what it needs from the node: the membership actor its candidates, members
// and links (a member's missed Pong only counts from the restart), the relay the senders' sequences.
type Actor struct {
	Name string // its well-known name, which peers address
	ID   string // its PID id
	// Exit makes the actor fail with reason; nil means supervisor.ErrKilled. False once the node stopped.
	Exit func(reason error) bool
	// Panic makes the actor panic with value inside its own Receive. False once the node stopped.
	Panic func(value any) bool
}

// injected makes the actor that receives it fail with value (restartingProps' middleware).
type injected struct{ value any }

// restartingProps are the props of the node's actors: the root's default strategy stops an actor after
// 10 failures in 10 s, which would leave the node a member that relays nothing; these restart each time
// (the message that failed is dropped, so a failing message cannot loop).
func restartingProps(producer actor.Producer) *actor.Props {
	return actor.PropsFromProducer(producer,
		actor.WithGuardian(actor.NewRestartingStrategy()),
		actor.WithReceiverMiddleware(func(next actor.ReceiverFunc) actor.ReceiverFunc {
			return func(ctx actor.ReceiverContext, env *actor.MessageEnvelope) {
				if m, ok := env.Message.(*injected); ok {
					panic(m.value)
				}
				next(ctx, env)
			}
		}))
}

// Actors lists the node's actors while it runs; nil before Start and after Stop.
func (n *Node) Actors() []Actor {
	if !n.running.Load() || n.stopping.Load() {
		return nil
	}
	out := make([]Actor, 0, 3)
	for _, a := range []struct {
		name string
		pid  *actor.PID
	}{{membershipName, n.mgr}, {relayName, n.relay}, {longPollName, n.poll}} {
		pid := a.pid
		inject := func(v any) bool {
			if n.stopping.Load() {
				return false
			}
			if _, ok := n.sys.ProcessRegistry.Get(pid); !ok {
				return false
			}
			n.sys.Root.Send(pid, &injected{value: v})
			return true
		}
		out = append(out, Actor{Name: a.name, ID: pid.Id,
			Exit: func(reason error) bool {
				if reason == nil {
					reason = supervisor.ErrKilled
				}
				return inject(reason)
			},
			Panic: inject,
		})
	}
	return out
}
