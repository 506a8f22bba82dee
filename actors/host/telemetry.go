package host

import (
	"cmp"
	"errors"
	"time"

	"github.com/pyrehq/pyre/actors/channel"
	"github.com/pyrehq/pyre/actors/telemetry"
	"github.com/pyrehq/pyre/supervisor"
)

// Telemetry (Config.Events). Each emission point is one statement guarded by a nil check of its
// func, so an event nobody observes costs nothing more; what an observed event needs is built here.

// startTimer returns the time now when on (the event is observed), else the zero time (no clock read).
func startTimer(on bool) time.Time {
	if on {
		return time.Now()
	}
	return time.Time{}
}

// teleConn names the connection in events.
func (cs *connState) teleConn() telemetry.Conn {
	c := telemetry.Conn{ID: cs.id, Transport: cs.transport}
	if cs.pid != nil {
		c.Socket = cs.pid.Id
	}
	return c
}

// teleChannel names the channel in events.
func (st *chanState) teleChannel() telemetry.Channel {
	c := telemetry.Channel{Conn: st.conn.teleConn(), Topic: st.topic, Restart: st.restartType().String(), Trace: st.conn.trace}
	if st.pid != nil {
		c.Channel = st.pid.Id
	}
	return c
}

// setEndReason records why the channel ends, for ChannelLeft; only when it is observed (it costs the
// channel its extension). The last one set before the actor stops is reported.
func (st *chanState) setEndReason(reason error) {
	if st.conn.host.ev.ChannelLeft != nil {
		st.extension().endReason = reason
	}
}

// emitLeft reports the end of a channel that joined, as its actor stops.
func (st *chanState) emitLeft() {
	f := st.conn.host.ev.ChannelLeft
	if f == nil || !st.everJoined {
		return
	}
	var reason error
	if st.ext != nil {
		reason = st.ext.endReason
	}
	if reason == nil {
		reason = st.conn.exitReason()
	}
	f(telemetry.ChannelLeft{Channel: st.teleChannel(), Reason: reason, Incarnation: st.incarnation})
}

// emitCrashed reports a failed incarnation (not a normal exit), in the supervisor's turn.
func (st *chanState) emitCrashed(reason error) {
	f := st.conn.host.ev.ChannelCrashed
	if f == nil || supervisor.IsNormal(reason) {
		return
	}
	ev := telemetry.ChannelCrashed{Channel: st.teleChannel(), Incarnation: st.incarnation, Reason: reason}
	var c *channel.CrashError
	if errors.As(reason, &c) && c.Stack != nil {
		ev.Stack = telemetry.StackSummary(c.Stack)
	}
	f(ev)
}

func (st *chanState) emitEscalated(scope string, reason error) {
	if f := st.conn.host.ev.ChannelEscalated; f != nil {
		f(telemetry.ChannelEscalated{Channel: st.teleChannel(), Scope: scope, Incarnation: st.incarnation, Reason: reason})
	}
}

func (st *chanState) emitSlow(cause string) {
	if f := st.conn.host.ev.SlowConsumer; f != nil {
		f(telemetry.SlowConsumer{Conn: st.conn.teleConn(), Cause: cause, Topic: st.topic})
	}
}

// joinResult is ChannelJoined's Result.
func joinResult(crashed *channel.CrashError, ok bool) string {
	switch {
	case crashed != nil:
		return telemetry.ResultCrash
	case ok:
		return telemetry.ResultOK
	}
	return telemetry.ResultError
}

// treeTelemetry reports the endpoint supervisor's decisions about its infrastructure. It runs in the
// supervisor's turn, which alone uses infraFailed.
func (h *Host) treeTelemetry(ev supervisor.Event) {
	if h.ev.InfrastructureRestarted == nil && h.ev.EndpointGaveUp == nil {
		return
	}
	switch ev.Type {
	case supervisor.ChildExiting:
		if !supervisor.IsNormal(ev.Reason) {
			if h.infraFailed == nil {
				h.infraFailed = make(map[string]error)
			}
			h.infraFailed[ev.ID] = ev.Reason
			h.infraLast = ev.Reason
		}
	case supervisor.ChildRestarted:
		if f := h.ev.InfrastructureRestarted; f != nil {
			reason := h.infraFailed[ev.ID]
			delete(h.infraFailed, ev.ID)
			f(telemetry.InfrastructureRestarted{Child: ev.ID, Reason: reason})
		}
	case supervisor.IntensityExceeded:
		if f := h.ev.EndpointGaveUp; f != nil {
			f(telemetry.EndpointGaveUp{Reason: cmp.Or(h.infraLast, ev.Reason)})
		}
	}
}

// handledResult is ChannelHandledIn's Result.
func handledResult(c *channel.CrashError, rep channel.Reply) string {
	switch {
	case c != nil:
		return telemetry.ResultCrash
	case rep.IsNoReply():
		return telemetry.ResultNone
	}
	return rep.Status()
}
