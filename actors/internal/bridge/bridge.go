// Package bridge is what actors/channel (the user API) and actors/host (the runtime) share without either
// growing public API for the other, as grpc-go's internal package: the runtime state a channel.Socket
// reads (Chan, implemented by actors/host), a route's configuration (Route), and function hooks that
// actors/channel sets in its init for what the runtime must construct or read of its unexported state.
package bridge

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/pyrehq/pyre/actors/message"
	"github.com/pyrehq/pyre/actors/pubsub"
	"github.com/pyrehq/pyre/actors/telemetry"
	"github.com/pyrehq/pyre/supervisor"
)

// Chan is one joined channel's runtime state as its channel.Socket uses it (actors/host's chanState).
type Chan interface {
	Joined() bool
	Topic() string
	PushRef() message.Ref
	ConnID() string
	Transport() string
	PID() *actor.PID
	// Sender is the requester of the foreign message being handled, until answered; SetSender(nil) forgets it.
	Sender() *actor.PID
	SetSender(p *actor.PID)
	// Send sends msg to pid from outside any actor.
	Send(pid *actor.PID, msg any)
	// Monitor is the monitor registered under key, or nil; AddMonitor registers m under key.
	Monitor(key any) Monitor
	AddMonitor(key any, m Monitor)
	// Kept is the map of Socket.Keep (nil until SetKept).
	Kept() map[string]any
	SetKept(kept map[string]any)
	PubSub() *pubsub.PubSub
	// MaxSize is the outbound payload limit (0: none).
	MaxSize() int
	// Write queues m on the connection.
	Write(m *message.Message) error
	// Replier is the connection, to answer a push later (ReplyRef); it keeps nothing of the channel.
	Replier() Replier
	// Crash makes the channel crash with err, if incarnation is still the running one.
	Crash(err error, incarnation int)
	// Sub is the channel's subscription to its topic (BroadcastFrom skips it).
	Sub() pubsub.Subscriber
	// SendInfo delivers msg to HandleInfo, if incarnation is still the running one.
	SendInfo(msg any, incarnation int)
	AfterFunc(d time.Duration, f func()) (cancel func() bool)
	// Subscribe makes broadcasts on topic arrive in HandleInfo of incarnation; Unsubscribe undoes it.
	Subscribe(topic string, incarnation int)
	Unsubscribe(topic string)
	// Trace is the connection's trace context, nil when none (Socket.Context).
	Trace() *telemetry.TraceContext
}

// Monitor is channel.Monitor's method set.
type Monitor interface {
	ChannelRestarting()
	ChannelRestarted()
	ChannelDown()
}

// Replier answers a push: a reply over the outbound limit is answered {"reason":"reply too large"}.
type Replier interface {
	SendReply(r *message.Message) error
}

// Route is one route of a channel.Router; C is channel.Channel.
type Route[C any] struct {
	Pattern    string
	Prefix     string // for "room:*"
	Exact      bool
	Factory    func() C
	Assigns    map[string]any
	Intercepts map[string]struct{}
	Restart    supervisor.Restart
	Intensity  supervisor.Intensity
	Middleware []actor.ReceiverMiddleware
}

// Hooks set by actors/channel's init, read by actors/host. Each is declared any, with its real type in
// its comment, because this package cannot name channel's types; actors/host asserts them once.
var (
	// NewSocket: func(ch Chan, assigns channel.Assigns, current *message.Message, incarnation int) *channel.Socket
	NewSocket any
	// SetCurrent: func(s *channel.Socket, current *message.Message), the push being handled (for ReplyRef).
	SetCurrent any
	// Match: func(r *channel.Router, topic string) *Route[channel.Channel], nil when no route matches.
	Match any
	// RouterLimits: func(r *channel.Router) (maxChannels int, connIntensity supervisor.Intensity)
	RouterLimits any
	// Handler: func(r *channel.Router) channel.SocketHandler
	Handler any
	// ChanOf: func(s *channel.Socket) Chan
	ChanOf any
	// BindActor: func(c channel.Channel, ctx actor.Context), gives a FromActor channel its actor's context.
	BindActor any
	// EndContext: func(s *channel.Socket), cancels s's Context (its incarnation ended); nil s is a no-op.
	EndContext any
)
