package host

import (
	"github.com/asynkron/protoactor-go/actor"

	"github.com/pyrehq/pyre/actors/channel"
	"github.com/pyrehq/pyre/actors/message"
	"github.com/pyrehq/pyre/actors/telemetry"
	"github.com/pyrehq/pyre/supervisor"
)

// socketActor is one client connection: it routes inbound messages by topic to its channel actors (its
// children), answers heartbeats, enforces the channel cap and join_ref rules, and closes the connection
// when kicked.
type socketActor struct {
	cs       *connState
	channels channelTable
	kick     *kickSub
	restarts supervisor.Window // channel restarts of the whole connection
	stopping bool
	draining bool   // Host.Drain: in-flight messages are answered, new ones dropped, then 1012
	handled  uint32 // messages handled, for Session.Sync
}

type chanEntry struct {
	pid     *actor.PID
	st      *chanState
	leaving bool // a phx_leave was forwarded: the channel sends its own phx_close
}

// Messages a socket actor receives besides inbound *message.Message.
type (
	channelDone struct { // a channel ended on its own (left, stopped, crashed, refused)
		topic string
		pid   *actor.PID
	}
	kicked struct{} // "disconnect" broadcast to the socket id
	drain  struct{} // Host.Drain: finish what is in flight, then close with 1012
)

func (a *socketActor) Receive(ctx actor.Context) {
	if r, ok := ctx.Message().(*syncRound); ok {
		a.sync(ctx, r)
		return
	}
	a.handled++
	switch m := ctx.Message().(type) {
	case *message.Message:
		a.route(ctx, m)
	case channelDone:
		if e := a.channels.get(m.topic); e != nil && e.pid.Equal(m.pid) {
			a.channels.delete(m.topic)
		}
		// Poison, not Stop: messages already forwarded are still answered (as not joined).
		ctx.Poison(m.pid)
	case kicked:
		a.cs.setExit(channel.ErrClosed)
		a.cs.out.Close(CloseGoingAway)
		supervisor.Exit(ctx, channel.ErrClosed)
	case drain:
		a.drain(ctx)
	case *actor.Terminated:
		supervisor.ReleaseChild(ctx, m.Who)
		a.syncGone(m.Who)
		if a.draining && len(ctx.Children()) == 0 {
			a.drained(ctx)
		}
	case *actor.Started:
		a.cs.host.sockets.Add(1)
		if a.cs.id != "" {
			a.kick = &kickSub{root: a.cs.host.root, pid: ctx.Self()}
			a.cs.host.ps.Subscribe(a.cs.id, a.kick)
		}
	case *actor.Stopping:
		a.stopping = true
		// Stopped by its supervisor with no reason given (the endpoint's tree shutting down): the channels
		// end with channel.ErrShutdown and the client hears 1011. Both are no-ops when a reason and a close came first.
		a.cs.setExit(channel.ErrShutdown)
		a.cs.out.Close(CloseInternalError)
		if a.kick != nil {
			a.cs.host.ps.Unsubscribe(a.cs.id, a.kick)
		}
		// Fastlane subscriptions go first, so no broadcast is written while channels terminate.
		for _, e := range a.channels.list {
			e.st.sub.close()
		}
	case *actor.Stopped:
		a.cs.host.sockets.Add(-1)
		a.cs.host.forget(a.cs)
		a.cs.markStopped()
		a.cs.host.socketDone()
		a.channels, a.kick = channelTable{}, nil // nothing of its channels stays reachable through it
		a.cs.syncs = nil
	}
}

// sync passes a Session.Sync barrier on to the channel actors. A round not over yet is kept until they
// are all through or gone.
func (a *socketActor) sync(ctx actor.Context, r *syncRound) {
	r.start(ctx, uint64(a.handled))
	a.syncGone(nil) // forget the rounds that are over
	if !r.through("", 0) {
		r.next, a.cs.syncs = a.cs.syncs, r
	}
}

// syncGone tells the pending Sync rounds that the channel actor pid stopped (it will not answer), and
// forgets the rounds that are over.
func (a *socketActor) syncGone(pid *actor.PID) {
	link := &a.cs.syncs
	for r := *link; r != nil; r = *link {
		if (pid != nil && r.gone(pid.Id)) || (pid == nil && r.through("", 0)) {
			*link = r.next
			continue
		}
		link = &r.next
	}
}

// drain ends the connection gracefully: every channel answers what it already received (its mailbox),
// terminates with channel.ErrShutdown, and once all have stopped the connection closes with 1012 after its
// queued frames, so the client reconnects, elsewhere if it can.
func (a *socketActor) drain(ctx actor.Context) {
	if a.draining || a.stopping {
		return
	}
	a.draining = true
	a.cs.setExit(channel.ErrShutdown)
	for _, e := range a.channels.list {
		e.st.sub.close() // no broadcast after the replies
		ctx.Poison(e.pid)
	}
	a.channels = channelTable{}
	if len(ctx.Children()) == 0 {
		a.drained(ctx)
	}
}

func (a *socketActor) drained(ctx actor.Context) {
	a.cs.out.Close(CloseServiceRestart)
	supervisor.Exit(ctx, channel.ErrShutdown)
}

// route dispatches one inbound message (transport/PROTOCOL.md §3).
func (a *socketActor) route(ctx actor.Context, m *message.Message) {
	cs := a.cs
	if a.draining {
		cs.release() // closing: the client resends it after reconnecting
		return
	}
	if m.Topic == message.TopicPhoenix && m.Event == message.EventHeartbeat {
		_ = cs.out.Write(&message.Message{Ref: m.Ref, Topic: m.Topic, Event: message.EventReply, Status: message.StatusOK, Payload: message.EmptyObject}) // join_ref null, as Phoenix
		cs.release()
		return
	}
	if m.Event == message.EventJoin {
		a.join(ctx, m)
		return
	}
	e := a.channels.get(m.Topic)
	if e == nil {
		cs.replyNotJoined(m)
		cs.release()
		return
	}
	if !m.JoinRef.IsNull() && m.JoinRef != e.st.joinRef {
		// Stale join_ref: dropped silently, as Phoenix 1.8, which compares with the J the join carried
		// (after a join with a null J, even the join's own ref is stale).
		cs.release()
		return
	}
	if m.Event == message.EventLeave {
		e.leaving = true
	}
	ctx.Send(e.pid, m) // the channel releases it
}

func (a *socketActor) join(ctx actor.Context, m *message.Message) {
	cs := a.cs
	var oldClose *message.Message
	if old := a.channels.get(m.Topic); old != nil {
		old.st.sub.close()
		a.channels.delete(m.Topic)
		// A rejoin right after a leave: the old channel is already closing itself (its phx_close is on its
		// way). Otherwise it is a duplicate join: the old channel ends now and its phx_close goes out
		// after the new join reply.
		if !old.leaving {
			ctx.Send(old.pid, duplicateJoin{})
			if old.st.claimEnd() { // unless it stopped and sent its own phx_close already
				oldClose = &message.Message{JoinRef: old.st.joinRef, Ref: old.st.joinRef, Topic: m.Topic, Event: message.EventClose, Payload: message.EmptyObject}
			}
		}
	}
	rt := matchRoute(cs.router, m.Topic)
	if rt == nil {
		cs.replyNotJoined(m)
		cs.release()
		return
	}
	if maxChannels, _ := routerLimits(cs.router); a.channels.len() >= maxChannels {
		_ = cs.out.Write(message.NewReply(m, message.StatusError, reasonPayload("too many channels joined")))
		cs.release()
		return
	}
	st := newChanState(cs, rt, m)
	st.oldClose = oldClose
	cs.spawning = st // taken by Host.adoptChannel during Spawn, in this turn
	pid := ctx.Spawn(cs.host.propsFor(rt))
	cs.spawning = nil
	a.channels.put(&chanEntry{pid: pid, st: st})
}

// HandleFailure is the channel supervisor (transport/PROTOCOL.md §6), run in the socket actor's turn while the failed
// channel's mailbox is suspended. reason is a channelExit (the channel ended on its own, Terminate done),
// a killSignal (killed from outside) or a panic value (a fault outside user code). The route's restart type
// and two intensity windows, the channel's and the connection's, decide: restart in place, end the channel
// (phx_close after a normal exit, phx_error otherwise), or close the connection with 1011.
func (a *socketActor) HandleFailure(_ *actor.ActorSystem, sup actor.Supervisor, child *actor.PID, _ *actor.RestartStatistics, reason any, failed any) {
	cs := a.cs
	e := a.entry(child)
	if e == nil || a.stopping {
		// Already replaced (duplicate join) or going away: let it answer what is queued, then stop.
		if e != nil {
			e.st.ended.Store(true)
		}
		sup.ResumeChildren(child)
		a.retire(sup, child)
		return
	}
	st := e.st
	var why error
	switch r := reason.(type) {
	case channelExit:
		why = r.reason // its phx_close, if any, is out already (channelActor.exit)
	case killSignal:
		why = r.reason
	default:
		c := asCrash(r)
		why = c
		cs.host.log.Error("pyre: channel actor failed", "topic", st.topic, "reason", c.Value)
		if m, ok := failed.(*message.Message); ok {
			cs.release()
			if st.restartType() != supervisor.Temporary && m.Event != message.EventJoin {
				st.reply(m, message.StatusError, crashPayload)
			}
		}
	}
	st.setEndReason(why) // unless it restarts
	st.emitCrashed(why)
	if !supervisor.ShouldRestart(st.restartType(), why) {
		a.giveUp(sup, e, supervisor.IsNormal(why))
		return
	}
	now := cs.host.clock.Now()
	if st.restarts.Add(st.route.Intensity, now) {
		cs.host.log.Warn("pyre: channel restart intensity reached", "topic", st.topic, "reason", why)
		st.emitEscalated(telemetry.ScopeChannel, why)
		a.giveUp(sup, e, false)
		return
	}
	if _, connIntensity := routerLimits(cs.router); a.restarts.Add(connIntensity, now) {
		cs.host.log.Warn("pyre: connection restart intensity reached", "id", cs.id, "reason", why)
		st.emitEscalated(telemetry.ScopeConnection, why)
		a.giveUp(sup, e, false)
		cs.setExit(supervisor.Shutdown(channel.ErrTooManyRestarts))
		cs.out.Close(CloseInternalError)
		supervisor.Exit(sup.(actor.Context), supervisor.Shutdown(channel.ErrTooManyRestarts))
		return
	}
	cs.host.restarts.Add(1)
	cs.handOver(child, st)
	sup.RestartChildren(child)
}

// giveUp ends a failed channel: the client gets phx_close or phx_error, and the actor answers whatever is
// still queued as not joined before it stops.
func (a *socketActor) giveUp(sup actor.Supervisor, e *chanEntry, normal bool) {
	st := e.st
	st.ended.Store(true)
	st.joined.Store(false)
	st.sub.close()
	a.channels.delete(st.topic)
	switch {
	case !st.claimEnd(): // the channel sent its phx_close before Terminate (channelActor.exit)
	case normal:
		_ = a.cs.out.Write(st.frame(message.EventClose, message.EmptyObject))
	default:
		_ = a.cs.out.Write(st.frame(message.EventError, crashPayload))
	}
	sup.ResumeChildren(e.pid)
	a.retire(sup, e.pid)
}

// retire stops a channel actor after the messages already in its mailbox.
func (a *socketActor) retire(sup actor.Supervisor, pid *actor.PID) {
	sup.(actor.Context).Poison(pid)
}

func (a *socketActor) entry(pid *actor.PID) *chanEntry {
	for _, e := range a.channels.list {
		if e.pid.Equal(pid) {
			return e
		}
	}
	return nil
}

// kickSub closes its connection on a "disconnect" broadcast to the socket id; other events are ignored.
type kickSub struct {
	root *actor.RootContext
	pid  *actor.PID
}

func (k *kickSub) Deliver(b *message.Broadcast) {
	if b.Event == "disconnect" {
		k.root.Send(k.pid, kicked{})
	}
}
