package host

import (
	"context"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/pyrehq/pyre/actors/pubsub"
	"github.com/pyrehq/pyre/supervisor"
)

// ActorKind is the kind of a live actor a Host lists.
type ActorKind string

// Kinds of actors a Host lists. They are named as package supervisor/chaos names its target kinds.
const (
	SocketActor         ActorKind = "socket"
	ChannelActor        ActorKind = "channel"
	InfrastructureActor ActorKind = "infrastructure" // a worker of the endpoint supervisor (pubsub, presence, …)
)

// Actor is one live actor of a Host and the means to kill it: the seam through which fault injection
// (package supervisor/chaos, adapted by supervisor/chaos/pyrechaos) reaches the runtime without the runtime
// depending on it. Exit and Panic are asynchronous: they ask the actor to die and return false if it was
// already gone.
type Actor struct {
	Kind     ActorKind // SocketActor, ChannelActor or InfrastructureActor
	ID       string    // the actor's PID id; a channel's is its channel.Socket.ChannelID()
	Topic    string    // a channel's topic; empty for other kinds
	SocketID string    // a socket's id, or a channel's socket's (channel.Identifier); empty if anonymous
	Child    string    // an infrastructure worker's child id under the endpoint supervisor; empty for other kinds
	// Transport is a socket's transport ("websocket", "longpoll"); empty for other kinds.
	Transport string
	// Queued is how many frames wait in a socket's outbound queue (0 when its Conn does not say, see
	// Queuer); 0 for other kinds.
	Queued int
	// Restart is a channel's restart type: its route's, or supervisor.Temporary when its join params were
	// too large to keep (see channel.WithRestart); meaningless for other kinds.
	Restart supervisor.Restart
	// Incarnation is how many times a channel's actor has started (1 until its first restart in place);
	// 0 for other kinds.
	Incarnation int
	// Exit makes the actor exit with reason (OTP exit/2); nil means supervisor.ErrKilled.
	Exit func(reason error) bool
	// Panic makes the actor panic with value inside its own Receive.
	Panic func(value any) bool
}

// Queuer is implemented by a Conn that can tell how many frames wait in its outbound queue (Actor.Queued).
// Queued must not block.
type Queuer interface {
	Queued() int
}

// Actors lists the host's live socket, channel and infrastructure actors, so that they can be killed on
// purpose. Killing a channel (Exit) is OTP's exit/2: its supervisor, the socket actor, restarts it
// in place under the route's policy, without running Terminate. A panic injected into a channel behaves as a
// panic in the user's callback (Terminate runs). Killing a socket closes its connection with 1011 and ends
// its channels with the reason; the client reconnects.
func (h *Host) Actors() []Actor {
	h.mu.Lock()
	conns := make([]*connState, 0, len(h.sessions))
	for _, cs := range h.sessions {
		conns = append(conns, cs)
	}
	h.mu.Unlock()

	out := make([]Actor, 0, len(conns))
	out = append(out, h.infrastructure()...)
	for _, cs := range conns {
		queued := 0
		if q, ok := cs.out.(Queuer); ok {
			queued = q.Queued()
		}
		out = append(out, Actor{
			Kind:      SocketActor,
			ID:        cs.pid.Id,
			SocketID:  cs.id,
			Transport: cs.transport,
			Queued:    queued,
			Exit:      func(reason error) bool { return h.killSocket(cs, reason) },
			Panic:     func(v any) bool { return h.inject(cs.pid, &supervisor.InjectedPanic{Value: v}) },
		})
	}
	h.ps.Each(func(topic string, subs []pubsub.Subscriber) {
		for _, sub := range subs {
			f, ok := sub.(*fastlane)
			// Subscribed means Started has run Join: the join reply may still be on its way, but a kill
			// or panic now is handled after it, like any message.
			if !ok || f.ch.conn.host != h || f.ch.ended.Load() {
				continue
			}
			st := f.ch
			out = append(out, Actor{
				Kind:        ChannelActor,
				ID:          st.pid.Id,
				Topic:       topic,
				SocketID:    st.conn.id,
				Restart:     st.restartType(),
				Incarnation: int(st.started.Load()),
				Exit:        func(reason error) bool { return h.killChannel(st, reason) },
				Panic:       func(v any) bool { return h.inject(st.pid, injectedPanic{value: v}) },
			})
		}
	})
	return out
}

// infrastructure lists the endpoint supervisor's running workers. The socket supervisor is left out:
// killing it is killing every connection at once, which is Shutdown's job.
func (h *Host) infrastructure() []Actor {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	tree, _ := h.current()
	children, err := tree.WhichChildren(ctx)
	if err != nil {
		return nil
	}
	var out []Actor
	for _, c := range children {
		if c.PID == nil || c.Kind != supervisor.Worker {
			continue
		}
		pid := c.PID
		out = append(out, Actor{
			Kind:  InfrastructureActor,
			ID:    pid.Id,
			Child: c.ID,
			Exit: func(reason error) bool {
				if reason == nil {
					reason = supervisor.ErrKilled
				}
				if !h.alive(pid) {
					return false
				}
				tree.Exit(pid, reason)
				return true
			},
			Panic: func(v any) bool { return h.inject(pid, &supervisor.InjectedPanic{Value: v}) },
		})
	}
	return out
}

func (h *Host) alive(pid *actor.PID) bool {
	_, ok := h.system.ProcessRegistry.Get(pid)
	return ok
}

func (h *Host) inject(pid *actor.PID, msg any) bool {
	if !h.alive(pid) {
		return false
	}
	h.root.Send(pid, msg)
	return true
}

// killSocket makes a socket actor exit with reason through its supervisor, which closes the connection
// with 1011 (Host.socketEvent).
func (h *Host) killSocket(cs *connState, reason error) bool {
	if reason == nil {
		reason = supervisor.ErrKilled
	}
	if cs.stopped.Load() {
		return false
	}
	_, sockSup := h.current()
	sockSup.Exit(cs.pid, reason)
	return true
}

// killChannel makes a channel actor exit with reason as if it had failed: its mailbox is suspended (kept
// for a restart) and its supervisor, the socket actor, decides.
func (h *Host) killChannel(st *chanState, reason error) bool {
	if reason == nil {
		reason = supervisor.ErrKilled
	}
	if st.ended.Load() {
		return false
	}
	child, ok := h.system.ProcessRegistry.Get(st.pid)
	if !ok {
		return false
	}
	parent, ok := h.system.ProcessRegistry.Get(st.conn.pid)
	if !ok {
		return false
	}
	child.SendSystemMessage(st.pid, &actor.SuspendMailbox{})
	parent.SendSystemMessage(st.conn.pid, &actor.Failure{Who: st.pid, Reason: killSignal{reason: reason}, RestartStats: actor.NewRestartStatistics()})
	return true
}
