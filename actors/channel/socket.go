package channel

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/pyrehq/pyre/actors/internal/bridge"
	"github.com/pyrehq/pyre/actors/message"
	"github.com/pyrehq/pyre/actors/pubsub"
	"github.com/pyrehq/pyre/actors/telemetry"
)

// Socket is a channel's view of its connection and topic, given to every callback (Phoenix's socket
// struct inside a channel).
//
// Push, Broadcast, BroadcastFrom, Send, SendAfter, PID and ReplyRef values are safe to use from any
// goroutine. Assigns, Assign, Keep, Subscribe, Unsubscribe, Sender and Respond belong to the channel's own
// callbacks.
type Socket struct {
	ch          bridge.Chan
	assigns     Assigns
	current     *message.Message // the push being handled (the phx_join inside the first Join), for ReplyRef
	incarnation int
	ctx         atomic.Pointer[sockCtx] // Context's, made on first call; endedCtx once the incarnation ended
}

type sockCtx struct {
	ctx    context.Context
	cancel context.CancelFunc
}

// endedCtx stands for the context of an incarnation that ended: cancelled.
var endedCtx = func() *sockCtx {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return &sockCtx{ctx: ctx, cancel: cancel}
}()

// Context is this channel incarnation's context: cancelled when the incarnation ends (the channel ends, or
// crashes and is restarted in place — the restarted channel's Socket has a context of its own, as it has
// its own Send and SendAfter), so that work it started stops with it. It carries the connection's trace
// context (telemetry.TraceContextFrom), from the traceparent and tracestate headers of the request that
// opened the connection (Phoenix's connect_info[:trace_context_headers]), when there were any. Safe from
// any goroutine; made on first use (a channel that never asks costs nothing).
func (s *Socket) Context() context.Context {
	for {
		if c := s.ctx.Load(); c != nil {
			return c.ctx
		}
		base := context.Background()
		if tc := s.ch.Trace(); tc != nil {
			base = telemetry.WithTraceContext(base, *tc)
		}
		ctx, cancel := context.WithCancel(base)
		if s.ctx.CompareAndSwap(nil, &sockCtx{ctx: ctx, cancel: cancel}) {
			return ctx
		}
		cancel()
	}
}

// endContext cancels the incarnation's context, and any made later. A nil Socket has none.
func (s *Socket) endContext() {
	if s == nil {
		return
	}
	if c := s.ctx.Swap(endedCtx); c != nil {
		c.cancel()
	}
}

// Incarnation is 1 for a channel's first start and grows by one with each in-place restart (WithRestart),
// so Join can tell a rejoin after a crash from the client's own join.
func (s *Socket) Incarnation() int { return s.incarnation }

// Joined reports whether the join reply went out (Phoenix's socket.joined): false inside Join, where
// pushes are refused with ErrPushInJoin.
func (s *Socket) Joined() bool { return s.ch.Joined() }

// Topic is the joined topic.
func (s *Socket) Topic() string { return s.ch.Topic() }

// JoinRef is the join's reference, as the client's pushes and this channel's frames carry it.
func (s *Socket) JoinRef() string { return s.ch.PushRef().String() }

// ID is the connection's id topic ("" when anonymous).
func (s *Socket) ID() string { return s.ch.ConnID() }

// Transport is "websocket" or "longpoll".
func (s *Socket) Transport() string { return s.ch.Transport() }

// Assigns are the connection's assigns merged with the route's, plus what the channel assigned.
func (s *Socket) Assigns() Assigns {
	if s.assigns == nil {
		s.assigns = Assigns{} // the caller may write to it
	}
	return s.assigns
}

// ChannelID names this channel among the node's running channels; it stays the same across in-place
// restarts.
func (s *Socket) ChannelID() string { return s.ch.PID().Id }

// PID is the channel's actor. Any message another actor sends to it reaches HandleInfo (a custom channel
// actor's Receive), and a Request can be answered with Respond. The PID names the channel, not one
// incarnation: it stays the same across in-place restarts, so a message sent to it after a crash reaches
// the restarted channel (an Erlang pid would be new). The request a crash interrupts, and any request to
// a channel that has ended, is answered *actor.DeadLetterResponse (a Future returns actor.ErrDeadLetter),
// as for a dead pid. Call it from the channel's callbacks (or keep the value: it is immutable).
func (s *Socket) PID() *actor.PID { return s.ch.PID() }

// Sender is the actor that sent the message HandleInfo is handling with a Request, until it is answered;
// nil for other messages. Keep it to answer later, from any goroutine, with an actor.RootContext's Send.
// Call it from HandleInfo.
func (s *Socket) Sender() *actor.PID { return s.ch.Sender() }

// Respond answers the Request HandleInfo is handling (protoactor's Context.Respond): its Future gets v.
// There is one answer per request: ErrNoRequest when the message was not a Request or was answered
// already. A request left unanswered when the channel stops or crashes is answered
// *actor.DeadLetterResponse. Call it from HandleInfo.
func (s *Socket) Respond(v any) error {
	to := s.ch.Sender()
	if to == nil {
		return ErrNoRequest
	}
	s.ch.SetSender(nil)
	s.ch.Send(to, v)
	return nil
}

// Monitor is told how a channel's life goes, as an Erlang process that monitors the channel's pid
// (Phoenix.Tracker does, to untrack a channel's presences when it ends). Its methods run in the channel
// actor's turn and must not block. Over a channel's life: for each in-place restart ChannelRestarting,
// then ChannelRestarted if its Join succeeds again; last, ChannelDown.
type Monitor interface {
	// ChannelRestarting: the channel crashed or was killed and restarts in place; its Join runs again
	// right after.
	ChannelRestarting()
	// ChannelRestarted: the re-run Join succeeded; the channel serves again.
	ChannelRestarted()
	// ChannelDown: the channel ended, whatever the way (left, closed, crashed for good, rejoin refused,
	// shut down). The last call.
	ChannelDown()
}

// Monitor returns the monitor of this channel registered under key, registering newMonitor() first if
// there is none. A monitor outlives in-place restarts. Call it from the channel's callbacks.
func (s *Socket) Monitor(key any, newMonitor func() Monitor) Monitor {
	if m := s.ch.Monitor(key); m != nil {
		return m
	}
	m := newMonitor()
	s.ch.AddMonitor(key, m)
	return m
}

// Assign sets an assign for this channel. It lasts for this incarnation only: the Join re-run by an
// in-place restart starts again from the assigns as they were at the join (see Keep).
func (s *Socket) Assign(key string, value any) { s.Assigns()[key] = value }

// MaxKept bounds the values one channel keeps with Keep.
const MaxKept = 16

// Keep assigns key like Assign and also carries it into the channel's next incarnations: the Join re-run
// by an in-place restart sees it in Assigns, over the join-time value. It is Pyre's counterpart of the
// state an Erlang channel keeps outside its process (an ETS table, or the args of its child spec): it lives
// beside the channel's actor, in the state its supervisor holds for the channel, and is erased when the
// channel ends (leave, close, crash for good). Keep(key, nil) forgets key (the assign stays until the next
// restart). A new key beyond MaxKept is refused with ErrTooManyKept; values are kept by reference, so keep
// small immutable ones (a token, an id, a cursor). Call it from the channel's callbacks.
func (s *Socket) Keep(key string, value any) error {
	kept := s.ch.Kept()
	if value == nil {
		delete(kept, key)
		return nil
	}
	if _, ok := kept[key]; !ok && len(kept) >= MaxKept {
		return ErrTooManyKept
	}
	if kept == nil {
		kept = make(map[string]any, 1)
		s.ch.SetKept(kept)
	}
	kept[key] = value
	s.Assigns()[key] = value
	return nil
}

// PubSub is the endpoint's registry, for broadcasting to other topics.
func (s *Socket) PubSub() *pubsub.PubSub { return s.ch.PubSub() }

// Push sends event to this client (Phoenix's push/3). On a V2 connection a JSON payload must be an
// object: a non-object payload crashes the channel, as Phoenix's V2 serializer raises; V1 carries any JSON
// value. One over the outbound limit is not sent: ErrMessageTooLarge. Not allowed inside Join.
func (s *Socket) Push(event string, payload any) error {
	if !s.ch.Joined() {
		return ErrPushInJoin
	}
	p, err := message.PayloadOf(payload)
	if err == nil {
		if err := message.CheckSize(p.Len(), s.ch.MaxSize()); err != nil {
			return err
		}
		// The connection's serializer decides, as Phoenix's encode! runs in the channel process.
		err = s.ch.Write(&message.Message{JoinRef: s.ch.PushRef(), Topic: s.ch.Topic(), Event: event, Payload: p})
		if !errors.Is(err, message.ErrNotObject) {
			return err
		}
	}
	s.ch.Crash(err, s.incarnation)
	return err
}

// Broadcast sends event to every subscriber of this topic, this client included. One over the outbound
// limit reaches nobody: ErrMessageTooLarge.
func (s *Socket) Broadcast(event string, payload any) error {
	return s.broadcast(nil, event, payload)
}

// BroadcastFrom sends event to every subscriber of this topic but this client.
func (s *Socket) BroadcastFrom(event string, payload any) error {
	return s.broadcast(s.ch.Sub(), event, payload)
}

func (s *Socket) broadcast(from pubsub.Subscriber, event string, payload any) error {
	if !s.ch.Joined() {
		return ErrPushInJoin
	}
	p, err := message.ObjectPayloadOf(payload)
	if err != nil {
		return err
	}
	b := message.NewBroadcast(s.ch.Topic(), event, p)
	if err := message.CheckSize(b.Payload.Len(), s.ch.MaxSize()); err != nil {
		return err
	}
	return s.ch.PubSub().BroadcastFrom(from, b)
}

// Send delivers msg to this channel's HandleInfo, after the current callback. What Join sends is handled
// right after the join reply, before the client's next message, as in Phoenix. Messages sent through the
// Socket of an incarnation that has since crashed are dropped, as they would be for a dead Erlang pid.
func (s *Socket) Send(msg any) {
	s.ch.SendInfo(msg, s.incarnation)
}

// SendAfter delivers msg to HandleInfo after d (of the host's clock, host.Config.Clock). The returned function cancels it if
// not yet delivered.
func (s *Socket) SendAfter(d time.Duration, msg any) (cancel func() bool) {
	return s.ch.AfterFunc(d, func() { s.Send(msg) })
}

// ReplyRef captures the push being handled so that it can be answered later, from any goroutine
// (Phoenix's socket_ref/1 + reply/2). Return NoReply from HandleIn, then call Reply on the ref. It keeps the
// push's ref only, not the push. Outside HandleIn (and the first Join, where it is the phx_join) there
// is no push: the ref is null.
func (s *Socket) ReplyRef() ReplyRef {
	r := ReplyRef{conn: s.ch.Replier(), joinRef: s.ch.PushRef(), topic: s.ch.Topic()}
	if s.current != nil {
		r.ref = s.current.Ref
	}
	return r
}

// Subscribe makes broadcasts on topic arrive in HandleInfo as *Broadcast (not on the wire). Call it from the
// channel's callbacks; subscriptions end with the channel.
func (s *Socket) Subscribe(topic string) {
	s.ch.Subscribe(topic, s.incarnation)
}

// Unsubscribe undoes Subscribe.
func (s *Socket) Unsubscribe(topic string) {
	s.ch.Unsubscribe(topic)
}

// ReplyRef answers a push later. The zero value is not usable.
type ReplyRef struct {
	conn    bridge.Replier
	joinRef message.Ref
	ref     message.Ref
	topic   string
}

// Reply sends r to the captured push. NoReply does nothing. A reply over the outbound limit is answered
// {"reason":"reply too large"} with status error instead, and Reply returns ErrMessageTooLarge.
func (r ReplyRef) Reply(rep Reply) error {
	if r.conn == nil {
		return ErrNotJoined
	}
	if rep.IsNoReply() {
		return nil
	}
	p, err := message.PayloadOf(rep.payload)
	if err != nil {
		return err
	}
	return r.conn.SendReply(&message.Message{JoinRef: r.joinRef, Ref: r.ref, Topic: r.topic, Event: message.EventReply, Status: rep.status, Payload: p})
}
