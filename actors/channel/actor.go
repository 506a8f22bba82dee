package channel

import "github.com/asynkron/protoactor-go/actor"

// Messages of the custom channel actor contract (FromActor). Each arrives as ctx.Message() in the actor's
// Receive, in the order and with the guarantees the callback interface has.
type (
	// JoinMsg is the actor's first message, in each incarnation (Channel.Join). ctx.Respond(reply) accepts
	// with reply; ctx.Respond(err) refuses: Deny(reply) sends reply as the error response, any other error
	// {"reason": err.Error()}. Not answering accepts with {}. Push and broadcast are not allowed yet.
	JoinMsg struct {
		Topic  string  // the topic joined, matching the route's pattern
		Params Payload // the join's params, as the client sent them
	}
	// InMsg is an event pushed by the client (Channel.HandleIn). ctx.Respond(r) answers the push with the
	// Reply r (any other value v is ReplyOK(v)); not answering is NoReply.
	InMsg struct {
		Event   string  // the client's event
		Payload Payload // its payload, undecoded
	}
	// OutMsg is an intercepted broadcast (Interceptor.HandleOut): the actor pushes it, changed or not, or
	// drops it. The route intercepts the events the actor value's Intercepts() []string lists, if it has
	// that method.
	OutMsg struct {
		Event   string  // the broadcast's event
		Payload Payload // its payload: push it as it is, or changed, with SocketOf(ctx).Push
	}
	// TerminateMsg is the actor's last message in an incarnation that ends on its own or with the
	// channel (Terminator.Terminate); not sent after a kill.
	TerminateMsg struct {
		Reason error // why the channel ends, as Terminator.Terminate's reason
	}
)

// FromActor serves a route with a custom channel actor: producer returns a fresh actor value for each
// incarnation of each channel (and one more, at route set up, that is asked for Intercepts only). Pass the
// result to Router.Channel:
//
//	router.Channel("feed:*", channel.FromActor(func() actor.Actor { return &feedChannel{} }))
//
// The actor's Receive gets the contract messages JoinMsg, InMsg, OutMsg and TerminateMsg, and as info,
// everything else the channel receives as itself: what Socket.Send sent, *Broadcast on topics it
// subscribed to, and what other actors sent to its PID (ctx.Sender and ctx.Respond work for a Request,
// as Socket.Sender and Socket.Respond). SocketOf(ctx) is the channel's Socket, for Push, Broadcast,
// Assign, Subscribe and the rest; Stop(ctx, reason) stops the channel after the current message, as a
// callback returning reason. A panic is a crash. Supervision is the route's, as for any channel: a crash
// restarts the channel in place with a fresh actor value from producer, whose first message is JoinMsg
// again. The actor receives no protoactor lifecycle messages (*actor.Started ...); ctx is the channel
// actor's context otherwise (Self is the channel's PID, Spawn makes children that a restart stops). Do
// not stop ctx.Self() directly: use Stop.
func FromActor(producer func() actor.Actor) func() Channel {
	if producer == nil {
		panic("channel: FromActor(nil)")
	}
	return func() Channel { return &actorChannel{inner: producer()} }
}

// SocketOf returns the Socket of the channel whose custom actor's Receive is running with ctx; nil for
// any other context.
func SocketOf(ctx actor.Context) *Socket {
	if c, ok := ctx.(*actorCtx); ok {
		return c.sock
	}
	return nil
}

// Stop makes the channel stop with reason after the current message of its custom actor, as a callback
// returning reason would: nil or StopNormal closes it with phx_close (or restarts it, under
// supervisor.Permanent), another error ends it with phx_error or restarts it in place, per the route's
// restart type. Calling it with another context than the Receive's is a programmer error and panics.
func Stop(ctx actor.Context, reason error) {
	c, ok := ctx.(*actorCtx)
	if !ok {
		panic("channel: Stop outside a channel actor's Receive")
	}
	if reason == nil {
		reason = StopNormal
	}
	c.stop = reason
}

// actorChannel adapts a custom channel actor to the callback interface, so that it runs on the same
// channel actor machinery (join order, fastlane, restarts, replies to crashes, leave and close frames).
type actorChannel struct {
	inner actor.Actor
	ctx   actor.Context // the channel actor's; set before Join (channelActor.join)
}

// actorCtx is the context the custom actor's Receive gets: the channel actor's, with the message and
// Respond of the contract.
type actorCtx struct {
	actor.Context
	sock     *Socket
	msg      any
	contract bool // msg is a contract message: Respond answers it
	reply    any
	replied  bool
	stop     error
}

func (c *actorCtx) Message() any { return c.msg }

func (c *actorCtx) Sender() *actor.PID {
	if c.contract {
		return nil
	}
	return c.sock.Sender()
}

func (c *actorCtx) Respond(v any) {
	if c.contract {
		c.reply, c.replied = v, true
		return
	}
	_ = c.sock.Respond(v)
}

func (a *actorChannel) deliver(s *Socket, msg any, contract bool) *actorCtx {
	c := &actorCtx{Context: a.ctx, sock: s, msg: msg, contract: contract}
	a.inner.Receive(c)
	return c
}

func (a *actorChannel) Join(s *Socket, topic string, params Payload) (any, error) {
	c := a.deliver(s, &JoinMsg{Topic: topic, Params: params}, true)
	if err, ok := c.reply.(error); ok {
		return nil, err
	}
	return c.reply, nil
}

func (a *actorChannel) HandleIn(s *Socket, event string, payload Payload) (Reply, error) {
	c := a.deliver(s, &InMsg{Event: event, Payload: payload}, true)
	rep := NoReply
	if c.replied {
		var ok bool
		if rep, ok = c.reply.(Reply); !ok {
			rep = ReplyOK(c.reply)
		}
	}
	return rep, c.stop
}

func (a *actorChannel) Intercepts() []string {
	if ic, ok := a.inner.(interface{ Intercepts() []string }); ok {
		return ic.Intercepts()
	}
	return nil
}

func (a *actorChannel) HandleOut(s *Socket, event string, payload Payload) error {
	return a.deliver(s, &OutMsg{Event: event, Payload: payload}, true).stop
}

func (a *actorChannel) HandleInfo(s *Socket, msg any) error {
	return a.deliver(s, msg, false).stop
}

func (a *actorChannel) Terminate(s *Socket, reason error) {
	a.deliver(s, &TerminateMsg{Reason: reason}, true)
}
