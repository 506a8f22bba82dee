package channel

import (
	"github.com/asynkron/protoactor-go/actor"

	"github.com/pyrehq/pyre/actors/pubsub"
	"github.com/pyrehq/pyre/supervisor"
	"github.com/pyrehq/pyre/supervisor/chaos"
)

// Targets lists the host's live socket and channel actors, so a chaos.Monkey can kill them: Host is a
// chaos.Population. Killing a channel (Exit) is OTP's exit/2: its supervisor, the socket actor, restarts it
// in place under the route's policy, without running Terminate. A panic injected into a channel behaves as a
// panic in the user's callback (Terminate runs). Killing a socket closes its connection with 1011 and ends
// its channels with the reason; the client reconnects.
func (h *Host) Targets() []chaos.Target {
	h.mu.Lock()
	conns := make([]*connState, 0, len(h.sessions))
	for _, cs := range h.sessions {
		conns = append(conns, cs)
	}
	h.mu.Unlock()

	out := make([]chaos.Target, 0, len(conns))
	for _, cs := range conns {
		out = append(out, chaos.Target{
			Kind:   chaos.Socket,
			ID:     cs.pid.Id,
			Labels: map[string]string{chaos.LabelSocketID: cs.id},
			Exit:   func(reason error) bool { return h.killSocket(cs, reason) },
			Panic:  func(v any) bool { return h.inject(cs.pid, injectedPanic{value: v}) },
		})
	}
	h.ps.Each(func(topic string, subs []pubsub.Subscriber) {
		for _, sub := range subs {
			f, ok := sub.(*fastlane)
			if !ok || f.ch.conn.host != h || !f.ch.joined.Load() {
				continue
			}
			st := f.ch
			out = append(out, chaos.Target{
				Kind:   chaos.Channel,
				ID:     st.pid.Id,
				Labels: map[string]string{chaos.LabelTopic: topic, chaos.LabelSocketID: st.conn.id},
				Exit:   func(reason error) bool { return h.killChannel(st, reason) },
				Panic:  func(v any) bool { return h.inject(st.pid, injectedPanic{value: v}) },
			})
		}
	})
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

func (h *Host) killSocket(cs *connState, reason error) bool {
	if reason == nil {
		reason = supervisor.ErrKilled
	}
	select {
	case <-cs.stopped:
		return false
	default:
	}
	cs.setExit(reason)
	cs.out.Close(CloseInternalError)
	h.root.Stop(cs.pid)
	return true
}

// killChannel makes a channel actor exit with reason as if it had failed: its mailbox is suspended (kept
// for a restart) and its supervisor, the socket actor, decides.
func (h *Host) killChannel(st *chanState, reason error) bool {
	if reason == nil {
		reason = supervisor.ErrKilled
	}
	if st.ended.Load() || !st.joined.Load() {
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
