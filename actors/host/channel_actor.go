package host

import (
	"bytes"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/pyrehq/pyre/actors/channel"
	"github.com/pyrehq/pyre/actors/message"
	"github.com/pyrehq/pyre/actors/telemetry"
	"github.com/pyrehq/pyre/supervisor"
)

// chanState is what a channel keeps across incarnations of its actor: the join, the subscription and the
// connection. Fields are set before the actor starts and then read-only, except ext and join (actor-owned)
// and the atomics. Its size stays within a 176-byte allocation: there is one per joined channel.
type chanState struct {
	conn    *connState
	route   *route
	topic   string
	joinRef message.Ref // J as the client sent it with phx_join (may be null)
	pushRef message.Ref // J on this channel's pushes and replies: the join's J, else the join's ref
	// Nothing of a handled message stays reachable (issue 11): the phx_join until its first Join has run,
	// then only a compact copy of its params, for Join re-run by an in-place restart; params is nil when
	// the channel cannot restart in place (a Temporary route, or params above MaxRejoinParams).
	join   *message.Message
	params *message.Payload
	pid    *actor.PID
	sub    *fastlane
	ext    *chanExt // nil until channel.Socket.Subscribe, channel.Monitor or Keep: most channels use none

	oldClose *message.Message // phx_close of the channel this one replaced (duplicate join), until written

	incarnation int          // how many times the actor has started; written by the actor itself only
	started     atomic.Int32 // incarnation, for Host.Actors (read from other goroutines)
	everJoined  bool         // its first Join succeeded, so its end is reported (telemetry ChannelLeft); the actor's only

	// Owned by the socket actor (the channel's supervisor).
	restarts supervisor.Window

	joined     atomic.Bool
	ended      atomic.Bool // the supervisor gave up on the channel: what is still queued is answered as not joined
	endSent    atomic.Bool // its phx_close or phx_error is queued (or left to the channel that replaced it): once
	pendingOut atomic.Int32

	// Set while Join runs: what is sent to the channel for HandleInfo waits there instead of the mailbox
	// and is handled right after the join, in the same turn, so no later message overtakes it: Phoenix's
	// socket waits for join/3 before it forwards the client's next frame (issue 12).
	hold atomic.Pointer[joinHold]
}

// chanExt is the actor-owned state of channels that subscribe to extra topics, are monitored, keep values
// or are sent Requests.
type chanExt struct {
	extra    map[string]*infoSub // channel.Socket.Subscribe
	monitors []monitorEntry      // channel.Socket.Monitor
	kept     map[string]any      // channel.Socket.Keep: assigns for the next incarnations
	sender   *actor.PID          // the requester of the foreign message being handled, until answered

	endReason error // why the channel ends, for telemetry's ChannelLeft (setEndReason)
}

// joinHold collects the messages sent to a channel during one Join call. Not bounded apart from the
// mailbox it stands in for: it holds what one Join call (or a goroutine meanwhile) sends.
type joinHold struct {
	mu   sync.Mutex
	msgs []infoMsg
	done bool
}

func (h *joinHold) add(m infoMsg) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.done {
		return false
	}
	h.msgs = append(h.msgs, m)
	return true
}

// close ends the hold and returns what it collected.
func (h *joinHold) close() []infoMsg {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.done = true
	return h.msgs
}

// holding marks a Join that is running and has been sent nothing yet: most send nothing, and then hold
// allocates nothing.
var holding = &joinHold{done: true}

// sendInfo delivers m to HandleInfo: after the running Join, or through the mailbox.
func (st *chanState) sendInfo(m infoMsg) {
	for {
		h := st.hold.Load()
		if h == nil {
			break
		}
		if h == holding {
			if st.hold.CompareAndSwap(holding, &joinHold{msgs: []infoMsg{m}}) {
				return
			}
			continue // Join ended, or another sender installed the hold
		}
		if h.add(m) {
			return
		}
		break
	}
	st.conn.host.root.Send(st.pid, m)
}

// startHold makes what is sent to the channel wait until endHold.
func (st *chanState) startHold() { st.hold.Store(holding) }

// endHold returns what was sent since startHold; later messages go through the mailbox.
func (st *chanState) endHold() []infoMsg {
	if h := st.hold.Swap(nil); h != holding && h != nil {
		return h.close()
	}
	return nil
}

// emptyParams are the usual join params, shared.
var emptyParams = message.EmptyObject

func newChanState(cs *connState, rt *route, join *message.Message) *chanState {
	st := &chanState{conn: cs, route: rt, topic: join.Topic, joinRef: join.JoinRef, pushRef: join.JoinRef, join: join}
	if st.pushRef.IsNull() {
		st.pushRef = join.Ref
	}
	if p := join.Payload; rt.Restart != supervisor.Temporary && p.Len() <= cs.host.maxRejoinParams {
		// A copy: the inbound payload may share a larger buffer.
		switch {
		case !p.IsBinary() && string(p.Bytes()) == "{}":
			st.params = &emptyParams
		case p.IsBinary():
			p = message.Binary(bytes.Clone(p.Bytes()))
			st.params = &p
		default:
			p = message.JSON(bytes.Clone(p.Bytes()))
			st.params = &p
		}
	}
	st.sub = &fastlane{ch: st}
	return st
}

// restartType is the route's restart type, or Temporary when the join params were not kept: such a
// channel ends on a crash as in Phoenix (phx_error; the client rejoins with its params).
func (st *chanState) restartType() supervisor.Restart {
	if st.params == nil {
		return supervisor.Temporary
	}
	return st.route.Restart
}

func (st *chanState) extra() map[string]*infoSub {
	if st.ext == nil {
		return nil
	}
	return st.ext.extra
}

func (st *chanState) sender() *actor.PID {
	if st.ext == nil {
		return nil
	}
	return st.ext.sender
}

func (st *chanState) setSender(p *actor.PID) {
	if p != nil || st.ext != nil {
		st.extension().sender = p
	}
}

func (st *chanState) monitors() []monitorEntry {
	if st.ext == nil {
		return nil
	}
	return st.ext.monitors
}

func (st *chanState) extension() *chanExt {
	if st.ext == nil {
		st.ext = &chanExt{}
	}
	return st.ext
}

type monitorEntry struct {
	key any
	m   channel.Monitor
}

// monitorsDown tells every monitor the channel ended, once.
func (st *chanState) monitorsDown() {
	ms := st.monitors()
	if st.ext != nil {
		st.ext.monitors = nil
	}
	for _, e := range ms {
		e.m.ChannelDown()
	}
}

// claimEnd reports whether the caller is the one to send this channel's phx_close or phx_error: the
// channel itself, its supervisor, and a duplicate join may each want to.
func (st *chanState) claimEnd() bool { return st.endSent.CompareAndSwap(false, true) }

// frame builds a phx_close / phx_error frame: the ref slot carries the join_ref, as Phoenix.
func (st *chanState) frame(event string, p message.Payload) *message.Message {
	return &message.Message{JoinRef: st.joinRef, Ref: st.joinRef, Topic: st.topic, Event: event, Payload: p}
}

func (st *chanState) reply(to *message.Message, status string, p message.Payload) {
	_ = st.conn.sendReply(&message.Message{JoinRef: st.pushRef, Ref: to.Ref, Topic: st.topic, Event: message.EventReply, Status: status, Payload: p})
}

func (st *chanState) unsubscribeAll() {
	st.conn.host.ps.Unsubscribe(st.topic, st.sub)
	st.unsubscribeExtra()
}

// unsubscribeExtra ends the subscriptions the user's code made with channel.Socket.Subscribe.
func (st *chanState) unsubscribeExtra() {
	extra := st.extra()
	for topic, sub := range extra {
		st.conn.host.ps.Unsubscribe(topic, sub)
		delete(extra, topic)
	}
}

var crashPayload = reasonPayload("channel_crash")

// Messages a channel actor receives besides inbound *message.Message.
type (
	infoMsg struct { // to HandleInfo
		msg         any
		incarnation int // of the channel.Socket it was sent through
	}
	outMsg   struct{ b *message.Broadcast } // an intercepted broadcast, to HandleOut
	crashMsg struct {                       // a bad push from another goroutine crashes the channel
		err         error
		incarnation int
	}
	duplicateJoin struct{}            // the client joined the same topic again
	injectedPanic struct{ value any } // chaos: crash as if the user's code had panicked
)

// Exit reasons a channel actor hands to its supervisor (the socket actor) through protoactor's Failure.
type (
	channelExit struct{ reason error } // the channel ended on its own; Terminate has run
	killSignal  struct{ reason error } // it was killed from outside (chaos); Terminate does not run, as OTP's kill
)

// channelActor runs one user channel.Channel value.
type channelActor struct {
	host *Host
	st   *chanState // set by Host.adoptChannel at spawn, found by orphan after a restart in place
	user channel.Channel
	sock *channel.Socket
	done bool // ended: what is still in the mailbox is answered as not joined

	handled uint32 // messages this incarnation handled, for Session.Sync
}

func (a *channelActor) Receive(ctx actor.Context) {
	if r, ok := ctx.Message().(*syncRound); ok {
		var inc uint64
		if a.st != nil {
			inc = uint64(a.st.incarnation)
		}
		r.through(ctx.Self().Id, inc<<32|uint64(a.handled))
		return
	}
	a.handled++
	if a.st == nil {
		a.st = a.orphan(ctx)
		if a.st == nil {
			return
		}
	}
	switch m := ctx.Message().(type) {
	case *message.Message:
		a.handleIn(ctx, m)
		a.st.conn.release()
	case outMsg:
		a.st.pendingOut.Add(-1)
		if !a.over() {
			a.handleOut(ctx, m.b)
		}
	case infoMsg:
		if !a.over() && m.incarnation == a.st.incarnation {
			a.handleInfo(ctx, m.msg)
		}
	case crashMsg:
		if !a.over() && m.incarnation == a.st.incarnation {
			a.exit(ctx, crash(m.err), nil)
		}
	case injectedPanic:
		if !a.over() {
			a.exit(ctx, a.guard(func() { panic(m.value) }), nil)
		}
	case duplicateJoin:
		a.terminate(ctx, channel.ErrDuplicateJoin)
	case *actor.Started:
		a.st.incarnation++
		a.st.started.Store(int32(a.st.incarnation))
		if a.st.incarnation == 1 {
			a.st.pid = ctx.Self()
			a.st.conn.host.channels.Add(1)
			a.start(ctx)
			a.st.conn.release()
		} else {
			a.restart(ctx)
		}
	case *actor.Stopping:
		// Every way out ends here, including a crashed incarnation whose supervisor stopped before deciding:
		// the subscriptions go with the actor.
		a.st.sub.close()
		a.st.unsubscribeAll()
		defer a.st.monitorsDown() // after Terminate, which may still use them
		if !a.done && !a.st.ended.Load() {
			// The connection closed or the server is shutting down. (A given-up channel has run Terminate
			// already or, after a kill, must not.)
			a.done = true
			a.callTerminate(a.st.conn.exitReason())
		}
	case *actor.Stopped:
		endContext(a.sock)
		a.st.emitLeft()
		a.st.conn.host.channels.Add(-1)
		// Nothing of this channel stays reachable through its dead actor (issue 11); later messages find
		// no state and are dropped (orphan).
		a.st, a.user, a.sock = nil, nil, nil
	case actor.AutoReceiveMessage: // *actor.Restarting: protoactor's, not the user's
	default:
		a.foreign(ctx, m)
	}
}

// foreign handles a message another actor sent to the channel's PID: HandleInfo, with channel.Socket.Respond
// answering a Request. A channel that has ended answers a Request as a dead pid would.
func (a *channelActor) foreign(ctx actor.Context, m any) {
	if a.over() {
		if to := ctx.Sender(); to != nil {
			ctx.Send(to, &actor.DeadLetterResponse{Target: ctx.Self()})
		}
		return
	}
	a.st.setSender(ctx.Sender())
	a.handleInfo(ctx, m)
	if a.st != nil {
		a.st.setSender(nil)
	}
}

// abandon answers the Request being handled, if still unanswered, as a dead pid would: the channel is
// stopping or crashed while handling it.
func (a *channelActor) abandon(ctx actor.Context) {
	to := a.st.sender()
	if to == nil {
		return
	}
	a.st.setSender(nil)
	ctx.Send(to, &actor.DeadLetterResponse{Target: ctx.Self()})
}

// orphan finds the state of an actor restarted in place (protoactor made it bare), on its first message,
// Started. A restart whose socket is already gone stops at once.
func (a *channelActor) orphan(ctx actor.Context) *chanState {
	if _, ok := ctx.Message().(*actor.Started); ok {
		if st := a.host.reincarnated(ctx); st != nil {
			return st
		}
		ctx.Stop(ctx.Self())
	}
	return nil
}

// over reports whether this incarnation no longer serves the channel.
func (a *channelActor) over() bool { return a.done || a.st.ended.Load() }

// join makes a fresh user value and runs its Join with the original params and assigns: from the
// phx_join the first time, from the copy kept for an in-place restart afterwards. held is what was sent to
// the channel while Join ran; afterJoin handles it once the join succeeded.
func (a *channelActor) join(ctx actor.Context) (reply any, err error, crashed *channel.CrashError, held []infoMsg) {
	st := a.st
	endContext(a.sock) // the previous incarnation's, if any
	a.user = st.route.Factory()
	bindActor(a.user, ctx)
	// Most channels have no assigns: theirs are made on first use (Socket.Assigns, Assign), not per channel.
	var assigns channel.Assigns
	if len(st.conn.assigns) > 0 || len(st.route.Assigns) > 0 || (st.ext != nil && len(st.ext.kept) > 0) {
		assigns = cloneAssigns(st.conn.assigns)
		for k, v := range st.route.Assigns {
			assigns[k] = v
		}
		if st.ext != nil {
			for k, v := range st.ext.kept {
				assigns[k] = v
			}
		}
	}
	a.sock = newSocket(st, assigns, st.join, st.incarnation)
	params := message.EmptyObject
	switch {
	case st.join != nil:
		params = st.join.Payload
	case st.params != nil:
		params = *st.params
	}
	st.startHold()
	crashed = a.guard(func() { reply, err = a.user.Join(a.sock, st.topic, params) })
	held = st.endHold()
	setCurrent(a.sock, nil)
	return reply, err, crashed, held
}

// afterJoin handles, in order, what was sent to the channel while its Join ran, before any message queued
// behind the join (the client's next pushes, a leave).
func (a *channelActor) afterJoin(ctx actor.Context, held []infoMsg) {
	for i, m := range held {
		held[i] = infoMsg{}
		if a.over() {
			return
		}
		if m.incarnation == a.st.incarnation {
			a.handleInfo(ctx, m.msg)
		}
	}
}

// restart is an in-place restart decided by the supervisor: same subscription, join_ref and mailbox, a
// fresh user value whose Join runs again. The client hears nothing unless that Join fails.
func (a *channelActor) restart(ctx actor.Context) {
	st := a.st
	a.abandon(ctx)         // a request the old incarnation was handling (a fault outside user code)
	st.unsubscribeExtra()  // the old incarnation's own subscriptions go with it
	st.joined.Store(false) // Push inside Join fails, as on the first join
	for _, e := range st.monitors() {
		e.m.ChannelRestarting()
	}
	st.setEndReason(nil)
	t0 := startTimer(st.conn.host.ev.ChannelRestarted != nil)
	_, err, crashed, held := a.join(ctx)
	if crashed == nil && err == nil {
		st.joined.Store(true)
		for _, e := range st.monitors() {
			e.m.ChannelRestarted()
		}
		st.conn.host.log.Info("pyre: channel restarted", "topic", st.topic, "incarnation", st.incarnation)
		if f := st.conn.host.ev.ChannelRestarted; f != nil {
			f(telemetry.ChannelRestarted{Channel: st.teleChannel(), Incarnation: st.incarnation, Duration: time.Since(t0)})
		}
		a.afterJoin(ctx, held)
		return
	}
	if crashed != nil {
		st.conn.host.log.Error("pyre: join crashed on restart", "topic", st.topic, "reason", crashed.Value)
		st.setEndReason(crashed)
	} else {
		st.setEndReason(err)
	}
	// A rejoin that fails ends the channel as Phoenix would end a crashed one.
	st.sub.close()
	st.unsubscribeAll()
	if st.claimEnd() {
		_ = st.conn.out.Write(st.frame(message.EventError, crashPayload))
	}
	a.finish(ctx)
}

// start runs Join for a new channel.
func (a *channelActor) start(ctx actor.Context) {
	st := a.st
	t0 := startTimer(st.conn.host.ev.ChannelJoined != nil)
	reply, err, crashed, held := a.join(ctx)
	ref := st.join.Ref
	st.join = nil
	status, resp := message.StatusOK, message.EmptyObject
	switch {
	case crashed != nil:
		st.conn.host.log.Error("pyre: join crashed", "topic", st.topic, "reason", crashed.Value)
		status, resp = message.StatusError, reasonPayload("join crashed")
	case err != nil:
		status = message.StatusError
		var deny *channel.DenyError
		if errors.As(err, &deny) {
			resp, err = message.PayloadOf(deny.Reply)
		} else {
			resp, err = reasonPayload(err.Error()), nil
		}
		if err != nil {
			resp = reasonPayload("join crashed")
		}
	default:
		if resp, err = message.PayloadOf(reply); err != nil {
			status, resp = message.StatusError, reasonPayload("join crashed")
		}
	}
	r := &message.Message{JoinRef: st.joinRef, Ref: ref, Topic: st.topic, Event: message.EventReply, Status: status, Payload: resp}
	if status == message.StatusOK && message.CheckSize(r.Payload.Len(), st.conn.host.maxSize) != nil {
		status = message.StatusError // a join whose reply cannot be sent is refused (sendReply logs it)
	}
	if status == message.StatusOK {
		st.conn.host.ps.Subscribe(st.topic, st.sub)
	}
	_ = st.conn.sendReply(r)
	if st.oldClose != nil {
		_ = st.conn.out.Write(st.oldClose)
		st.oldClose = nil
	}
	st.everJoined = status == message.StatusOK
	if f := st.conn.host.ev.ChannelJoined; f != nil {
		f(telemetry.ChannelJoined{Channel: st.teleChannel(), Duration: time.Since(t0), Result: joinResult(crashed, st.everJoined)})
	}
	if status != message.StatusOK {
		a.finish(ctx)
		return
	}
	st.joined.Store(true)
	st.sub.open()
	a.afterJoin(ctx, held)
}

func (a *channelActor) handleIn(ctx actor.Context, m *message.Message) {
	st := a.st
	if a.over() {
		st.conn.replyNotJoined(m)
		return
	}
	if m.Event == message.EventLeave {
		st.reply(m, message.StatusOK, message.EmptyObject)
		_ = st.conn.out.Write(st.frame(message.EventClose, message.EmptyObject))
		a.terminate(ctx, channel.ErrLeft)
		return
	}
	setCurrent(a.sock, m)
	var rep channel.Reply
	var err error
	t0 := startTimer(st.conn.host.ev.ChannelHandledIn != nil)
	c := a.guard(func() { rep, err = a.user.HandleIn(a.sock, m.Event, m.Payload) })
	setCurrent(a.sock, nil) // the push is handled: nothing of it stays (channel.ReplyRef copied its ref)
	if f := st.conn.host.ev.ChannelHandledIn; f != nil {
		f(telemetry.ChannelHandledIn{Channel: st.teleChannel(), Event: m.Event, Duration: time.Since(t0), Result: handledResult(c, rep)})
	}
	if c != nil {
		a.exit(ctx, c, m)
		return
	}
	if !rep.IsNoReply() {
		p, perr := message.PayloadOf(rep.Payload())
		if perr != nil {
			a.exit(ctx, crash(perr), m)
			return
		}
		st.reply(m, rep.Status(), p)
	}
	if err != nil {
		a.exit(ctx, err, m)
	}
}

func (a *channelActor) handleOut(ctx actor.Context, b *message.Broadcast) {
	ic := a.user.(channel.Interceptor) // only intercepted events are sent here
	var err error
	if c := a.guard(func() { err = ic.HandleOut(a.sock, b.Event, b.Payload) }); c != nil {
		err = c
	}
	if err != nil {
		a.exit(ctx, err, nil)
	}
}

func (a *channelActor) handleInfo(ctx actor.Context, msg any) {
	ih, ok := a.user.(channel.InfoHandler)
	if !ok {
		return
	}
	var err error
	if c := a.guard(func() { err = ih.HandleInfo(a.sock, msg) }); c != nil {
		err = c
	}
	if err != nil {
		a.exit(ctx, err, nil)
	}
}

// exit ends this incarnation on its own initiative (an error or channel.StopNormal returned, a crash) and leaves
// the outcome to the socket actor, its supervisor: an in-place restart, phx_close or phx_error
// (socketActor.HandleFailure). As in Phoenix, a normal stop that will not be restarted sends phx_close
// before Terminate runs (handle_result's socket_close), while Terminate's pushes precede a phx_error (sent
// on the socket's :DOWN). failed is the push being handled, if any: under a restart policy it is answered
// now, so the client never waits for a reply that cannot come.
func (a *channelActor) exit(ctx actor.Context, reason error, failed *message.Message) {
	if a.done {
		return
	}
	a.done = true
	a.abandon(ctx)
	st := a.st
	st.setEndReason(reason)
	if c, ok := reason.(*channel.CrashError); ok {
		st.conn.host.log.Error("pyre: channel crashed", "topic", st.topic, "reason", c.Value)
	}
	if failed != nil && !supervisor.IsNormal(reason) && st.restartType() != supervisor.Temporary {
		st.reply(failed, message.StatusError, crashPayload)
	}
	if supervisor.IsNormal(reason) && !supervisor.ShouldRestart(st.route.Restart, reason) && st.claimEnd() {
		_ = st.conn.out.Write(st.frame(message.EventClose, message.EmptyObject))
	}
	a.callTerminate(reason)
	endContext(a.sock) // after Terminate, which may still use it
	ctx.(actor.Supervisor).EscalateFailure(channelExit{reason: reason}, nil)
}

// terminate ends the channel for a reason that sends no frame of its own (leave, duplicate join).
func (a *channelActor) terminate(ctx actor.Context, reason error) {
	if a.done {
		return
	}
	a.st.sub.close()
	a.st.unsubscribeAll()
	a.st.setEndReason(reason)
	a.callTerminate(reason)
	a.finish(ctx)
}

// finish tells the socket actor this channel is over; it poisons us, so queued messages are still answered.
func (a *channelActor) finish(ctx actor.Context) {
	a.done = true
	endContext(a.sock)
	a.st.joined.Store(false)
	ctx.Send(a.st.conn.pid, channelDone{topic: a.st.topic, pid: ctx.Self()})
}

func (a *channelActor) callTerminate(reason error) {
	t, ok := a.user.(channel.Terminator)
	if !ok {
		return
	}
	if c := a.guard(func() { t.Terminate(a.sock, reason) }); c != nil {
		a.st.conn.host.log.Error("pyre: terminate crashed", "topic", a.st.topic, "reason", c.Value)
	}
}

// guard runs user code, turning a panic into a *channel.CrashError.
func (a *channelActor) guard(f func()) (c *channel.CrashError) {
	defer func() {
		if v := recover(); v != nil {
			c = crash(v)
		}
	}()
	f()
	return nil
}

// fastlane is a joined channel's pubsub subscription. Broadcasts of events the channel does not intercept
// are written straight to the connection, encoded once per serializer, with no actor hop. Until the join
// reply is queued, broadcasts wait here, so the reply always precedes them.
type fastlane struct {
	ch      *chanState
	ready   atomic.Bool
	mu      sync.Mutex
	pending []*message.Broadcast
	closed  bool
}

// maxPendingJoin bounds the broadcasts held while a join reply is being sent.
const maxPendingJoin = 1024

func (f *fastlane) Deliver(b *message.Broadcast) {
	st := f.ch
	if _, ok := st.route.Intercepts[b.Event]; ok {
		if st.pendingOut.Add(1) > st.conn.host.maxPendingOut {
			st.pendingOut.Add(-1)
			st.emitSlow(telemetry.SlowHandleOut)
			st.conn.out.Close(CloseTryAgainLater)
			return
		}
		st.conn.host.root.Send(st.pid, outMsg{b: b})
		return
	}
	if f.ready.Load() {
		_ = st.conn.out.WriteBroadcast(b)
		return
	}
	f.mu.Lock()
	if f.ready.Load() {
		f.mu.Unlock()
		_ = st.conn.out.WriteBroadcast(b)
		return
	}
	if !f.closed {
		if len(f.pending) >= maxPendingJoin {
			f.closed = true
			f.pending = nil
			st.emitSlow(telemetry.SlowJoin)
			st.conn.out.Close(CloseTryAgainLater)
		} else {
			f.pending = append(f.pending, b)
		}
	}
	f.mu.Unlock()
}

// open flushes held broadcasts and lets the next ones through directly.
func (f *fastlane) open() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return
	}
	for _, b := range f.pending {
		_ = f.ch.conn.out.WriteBroadcast(b)
	}
	f.pending = nil
	f.ready.Store(true)
}

// close stops writes through this subscription (the channel is ending).
func (f *fastlane) close() {
	f.mu.Lock()
	f.closed = true
	f.pending = nil
	f.ready.Store(false)
	f.mu.Unlock()
}

// infoSub delivers broadcasts on an extra topic to HandleInfo.
type infoSub struct {
	ch          *chanState
	incarnation int
}

func (s *infoSub) Deliver(b *message.Broadcast) {
	s.ch.sendInfo(infoMsg{msg: b, incarnation: s.incarnation})
}
