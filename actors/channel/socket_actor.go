package channel

import (
	"github.com/asynkron/protoactor-go/actor"

	"github.com/pyrehq/pyre/actors/message"
)

// socketActor is one client connection: it routes inbound messages by topic to its channel actors (its
// children), answers heartbeats, enforces the channel cap and join_ref rules, and closes the connection
// when kicked.
type socketActor struct {
	cs       *connState
	channels map[string]*chanEntry // by topic
	kick     *kickSub
}

type chanEntry struct {
	pid *actor.PID
	st  *chanState
}

// Messages a socket actor receives besides inbound *message.Message.
type (
	channelDone struct { // a channel ended on its own (left, stopped, crashed, refused)
		topic string
		pid   *actor.PID
	}
	kicked struct{} // "disconnect" broadcast to the socket id
)

func (a *socketActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *message.Message:
		a.route(ctx, m)
	case channelDone:
		if e := a.channels[m.topic]; e != nil && e.pid.Equal(m.pid) {
			delete(a.channels, m.topic)
		}
		// Poison, not Stop: messages already forwarded are still answered (as not joined).
		ctx.Poison(m.pid)
	case kicked:
		a.cs.setExit(ErrClosed)
		a.cs.out.Close(CloseGoingAway)
		ctx.Stop(ctx.Self())
	case *actor.Started:
		a.channels = make(map[string]*chanEntry)
		a.cs.host.sockets.Add(1)
		if a.cs.id != "" {
			a.kick = &kickSub{root: a.cs.host.root, pid: ctx.Self()}
			a.cs.host.ps.Subscribe(a.cs.id, a.kick)
		}
	case *actor.Stopping:
		if a.kick != nil {
			a.cs.host.ps.Unsubscribe(a.cs.id, a.kick)
		}
		// Fastlane subscriptions go first, so no broadcast is written while channels terminate.
		for _, e := range a.channels {
			e.st.sub.close()
		}
	case *actor.Stopped:
		a.cs.host.sockets.Add(-1)
		a.cs.host.forget(a.cs)
		close(a.cs.stopped)
		a.cs.host.wg.Done()
	}
}

// route dispatches one inbound message (PROTOCOL.md §3).
func (a *socketActor) route(ctx actor.Context, m *message.Message) {
	cs := a.cs
	if m.Topic == message.TopicPhoenix && m.Event == message.EventHeartbeat {
		_ = cs.out.Write(message.NewReply(m, message.StatusOK, message.EmptyObject))
		cs.release()
		return
	}
	if m.Event == message.EventJoin {
		a.join(ctx, m)
		return
	}
	e := a.channels[m.Topic]
	if e == nil {
		cs.replyNotJoined(m)
		cs.release()
		return
	}
	if !m.JoinRef.IsNull() && m.JoinRef != e.st.joinRef && m.JoinRef != e.st.pushRef {
		cs.release() // stale join_ref: dropped silently, as Phoenix 1.8
		return
	}
	ctx.Send(e.pid, m) // the channel releases it
}

func (a *socketActor) join(ctx actor.Context, m *message.Message) {
	cs := a.cs
	var oldClose *message.Message
	if old := a.channels[m.Topic]; old != nil {
		// Duplicate join: the old channel ends now; its phx_close goes out after the new join reply.
		old.st.sub.close()
		delete(a.channels, m.Topic)
		ctx.Send(old.pid, duplicateJoin{})
		oldClose = &message.Message{JoinRef: old.st.joinRef, Ref: old.st.joinRef, Topic: m.Topic, Event: message.EventClose, Payload: message.EmptyObject}
	}
	rt := cs.router.match(m.Topic)
	if rt == nil {
		cs.replyNotJoined(m)
		cs.release()
		return
	}
	if len(a.channels) >= cs.router.maxChannels {
		_ = cs.out.Write(message.NewReply(m, message.StatusError, reasonPayload("too many channels joined")))
		cs.release()
		return
	}
	st := newChanState(cs, rt, m)
	st.oldClose = oldClose
	props := actor.PropsFromProducer(func() actor.Actor { return &channelActor{st: st} })
	pid := ctx.Spawn(props)
	a.channels[m.Topic] = &chanEntry{pid: pid, st: st}
}

// HandleFailure supervises channel actors. User panics are caught inside the channel actor (it knows which
// push crashed and runs Terminate); a failure reaching here is a fault in the runtime itself, so the
// channel is ended with phx_error, Phoenix's outcome for a crash.
func (a *socketActor) HandleFailure(_ *actor.ActorSystem, sup actor.Supervisor, child *actor.PID, _ *actor.RestartStatistics, reason any, _ any) {
	a.cs.host.log.Error("pyre: channel actor failed", "reason", reason)
	for topic, e := range a.channels {
		if e.pid.Equal(child) {
			e.st.sub.close()
			e.st.unsubscribeAll()
			_ = a.cs.out.Write(e.st.frame(message.EventError, crashPayload))
			delete(a.channels, topic)
			break
		}
	}
	sup.StopChildren(child)
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
