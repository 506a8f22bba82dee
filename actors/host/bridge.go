package host

import (
	"net/url"
	"runtime/debug"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/pyrehq/pyre/actors/channel"
	"github.com/pyrehq/pyre/actors/internal/bridge"
	"github.com/pyrehq/pyre/actors/message"
	"github.com/pyrehq/pyre/actors/pubsub"
	"github.com/pyrehq/pyre/actors/telemetry"
	"github.com/pyrehq/pyre/supervisor"
)

// What the runtime constructs and reads of package channel's unexported state: hooks channel's init sets
// (package bridge), so that neither package has public API for the other.
var (
	newSocket    = bridge.NewSocket.(func(bridge.Chan, channel.Assigns, *message.Message, int) *channel.Socket)
	setCurrent   = bridge.SetCurrent.(func(*channel.Socket, *message.Message))
	matchRoute   = bridge.Match.(func(*channel.Router, string) *route)
	routerLimits = bridge.RouterLimits.(func(*channel.Router) (int, supervisor.Intensity))
	handlerOf    = bridge.Handler.(func(*channel.Router) channel.SocketHandler)
	chanOf       = bridge.ChanOf.(func(*channel.Socket) bridge.Chan)
	bindActor    = bridge.BindActor.(func(channel.Channel, actor.Context))
	endContext   = bridge.EndContext.(func(*channel.Socket))
)

// route is one route of a channel.Router.
type route = bridge.Route[channel.Channel]

// Connect runs the socket handler of r for a connecting client. The transport calls it before upgrading,
// so a refusal becomes an HTTP status; then it passes the result to Host.Open.
func Connect(r *channel.Router, params url.Values, info channel.ConnectInfo) (c *Connected, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = crash(v)
		}
	}()
	h := handlerOf(r)
	assigns, err := h.Connect(params, info)
	if err != nil {
		return nil, err
	}
	c = &Connected{router: r, assigns: assigns, transport: info.Transport}
	if tc := telemetry.TraceContextFromHeader(info.TraceContext); !tc.IsZero() {
		c.trace = &tc // kept for Socket.Context, unlike the rest of the connect info
	}
	if idf, ok := h.(channel.Identifier); ok {
		c.id = idf.ID(assigns)
	}
	return c, nil
}

// Connected is an accepted connection not yet running: the result of Connect.
type Connected struct {
	router    *channel.Router
	assigns   channel.Assigns
	id        string
	transport string
	trace     *telemetry.TraceContext // nil when the request had none
}

// ID is the connection's id topic ("" when anonymous).
func (c *Connected) ID() string { return c.id }

func crash(v any) *channel.CrashError { return &channel.CrashError{Value: v, Stack: debug.Stack()} }

func cloneAssigns(a channel.Assigns) channel.Assigns {
	c := make(channel.Assigns, len(a))
	for k, v := range a {
		c[k] = v
	}
	return c
}

// chanState is the bridge.Chan of its channel's Sockets.
var _ bridge.Chan = (*chanState)(nil)

func (st *chanState) Joined() bool                   { return st.joined.Load() }
func (st *chanState) Topic() string                  { return st.topic }
func (st *chanState) PushRef() message.Ref           { return st.pushRef }
func (st *chanState) ConnID() string                 { return st.conn.id }
func (st *chanState) Transport() string              { return st.conn.transport }
func (st *chanState) PID() *actor.PID                { return st.pid }
func (st *chanState) Sender() *actor.PID             { return st.sender() }
func (st *chanState) SetSender(p *actor.PID)         { st.setSender(p) }
func (st *chanState) Send(pid *actor.PID, msg any)   { st.conn.host.root.Send(pid, msg) }
func (st *chanState) Kept() map[string]any           { return st.extension().kept }
func (st *chanState) SetKept(kept map[string]any)    { st.extension().kept = kept }
func (st *chanState) PubSub() *pubsub.PubSub         { return st.conn.host.ps }
func (st *chanState) MaxSize() int                   { return st.conn.host.maxSize }
func (st *chanState) Write(m *message.Message) error { return st.conn.out.Write(m) }
func (st *chanState) Replier() bridge.Replier        { return st.conn }
func (st *chanState) Sub() pubsub.Subscriber         { return st.sub }
func (st *chanState) Trace() *telemetry.TraceContext { return st.conn.trace }

func (st *chanState) Monitor(key any) bridge.Monitor {
	for _, m := range st.monitors() {
		if m.key == key {
			return m.m
		}
	}
	return nil
}

func (st *chanState) AddMonitor(key any, m bridge.Monitor) {
	ext := st.extension()
	ext.monitors = append(ext.monitors, monitorEntry{key: key, m: m})
}

func (st *chanState) Crash(err error, incarnation int) {
	st.conn.host.root.Send(st.pid, crashMsg{err: err, incarnation: incarnation})
}

func (st *chanState) SendInfo(msg any, incarnation int) {
	st.sendInfo(infoMsg{msg: msg, incarnation: incarnation})
}

func (st *chanState) AfterFunc(d time.Duration, f func()) func() bool {
	return st.conn.host.clock.AfterFunc(d, f)
}

func (st *chanState) Subscribe(topic string, incarnation int) {
	a := st
	if _, ok := a.extra()[topic]; ok {
		return
	}
	sub := &infoSub{ch: a, incarnation: incarnation}
	ext := a.extension()
	if ext.extra == nil {
		ext.extra = make(map[string]*infoSub, 1)
	}
	ext.extra[topic] = sub
	a.conn.host.ps.Subscribe(topic, sub)
}

func (st *chanState) Unsubscribe(topic string) {
	a := st
	if sub, ok := a.extra()[topic]; ok {
		delete(a.ext.extra, topic)
		a.conn.host.ps.Unsubscribe(topic, sub)
	}
}

// SendReply is connState's bridge.Replier.
func (cs *connState) SendReply(r *message.Message) error { return cs.sendReply(r) }
