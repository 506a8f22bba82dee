package host

import (
	"context"
	"maps"
	"sync"

	"github.com/asynkron/protoactor-go/actor"
)

// Sync returns once the connection's socket actor and channel actors are idle: every message they had
// been sent when Sync was called (inbound frames, intercepted broadcasts, channel.Socket.Send) has been handled,
// and so has every message they sent one another or themselves while handling those, however long the
// chain. What they wrote to the Conn is written by then. It does not wait for timers (SendAfter), other
// goroutines, or other connections' actors. Tests use it to check that nothing (more) arrives without
// sleeping. It returns nil once the socket actor has stopped, or ctx.Err().
func (s *Session) Sync(ctx context.Context) error {
	return syncConns(ctx, func() []*connState { return []*connState{s.cs} })
}

// Sync is Session.Sync for every open connection of the host at once: it returns once all their socket
// and channel actors are idle, including what they send one another (an intercepted broadcast from one
// connection's channel to another's).
func (h *Host) Sync(ctx context.Context) error {
	return syncConns(ctx, func() []*connState {
		h.mu.Lock()
		defer h.mu.Unlock()
		all := make([]*connState, 0, len(h.sessions))
		for _, cs := range h.sessions {
			all = append(all, cs)
		}
		return all
	})
}

// syncConns passes barriers through the actors of conns() until two passes in a row find that no actor
// handled anything but the barriers: whatever one of them sent before the first pass was handled before
// the second.
func syncConns(ctx context.Context, conns func() []*connState) error {
	var last map[string]uint64
	for {
		counts := make(map[string]uint64)
		for _, cs := range conns() {
			r := &syncRound{counts: counts, pending: make(map[string]struct{}), done: make(chan struct{})}
			cs.host.root.Send(cs.pid, r)
			select {
			case <-r.done:
			case <-cs.stoppedChan():
				// Stopped: it sends nothing more. (The round may still be running: it has its own map.)
				r.mu.Lock()
				counts = maps.Clone(counts)
				r.mu.Unlock()
				counts[cs.pid.Id] = ^uint64(0)
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if last != nil && maps.Equal(counts, last) {
			return nil
		}
		last = counts
	}
}

// syncRound is one barrier through a socket actor and its channel actors (Session.Sync): each reports
// how many messages it has handled, barriers aside. A channel actor that stops with the barrier still in
// its mailbox is through it when its socket actor learns of its end.
type syncRound struct {
	mu      sync.Mutex
	counts  map[string]uint64 // by actor id
	pending map[string]struct{}
	closed  bool
	done    chan struct{}
	next    *syncRound // the socket actor's list of rounds not over (connState.syncs)
}

// start records the socket actor's count and sends the barrier to its channel actors.
func (r *syncRound) start(ctx actor.Context, handled uint64) {
	r.mu.Lock()
	r.counts[ctx.Self().Id] = handled
	children := ctx.Children()
	for _, pid := range children {
		r.pending[pid.Id] = struct{}{}
	}
	r.mu.Unlock()
	for _, pid := range children {
		ctx.Send(pid, r)
	}
}

// through marks the actor id through the barrier ("" adds nothing) and reports whether the round is over.
func (r *syncRound) through(id string, handled uint64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.pending[id]; ok {
		delete(r.pending, id)
		r.counts[id] = handled
	}
	if len(r.pending) == 0 && !r.closed {
		r.closed = true
		close(r.done)
	}
	return r.closed
}

// gone marks a channel actor that stopped: it will not answer.
func (r *syncRound) gone(id string) bool { return r.through(id, ^uint64(0)) }
