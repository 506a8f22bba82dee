package channel

import (
	"github.com/asynkron/protoactor-go/actor"

	"github.com/pyrehq/pyre/actors/internal/bridge"
	"github.com/pyrehq/pyre/actors/message"
	"github.com/pyrehq/pyre/supervisor"
)

// The runtime (actors/host) constructs and reads this package's unexported state through these hooks, so
// that neither package grows public API for the other (the pattern of grpc-go's internal package).
func init() {
	bridge.NewSocket = func(ch bridge.Chan, assigns Assigns, current *message.Message, incarnation int) *Socket {
		return &Socket{ch: ch, assigns: assigns, current: current, incarnation: incarnation}
	}
	bridge.SetCurrent = func(s *Socket, current *message.Message) { s.current = current }
	bridge.Match = func(r *Router, topic string) *route { return r.match(topic) }
	bridge.RouterLimits = func(r *Router) (int, supervisor.Intensity) { return r.maxChannels, r.connIntensity }
	bridge.Handler = func(r *Router) SocketHandler { return r.handler }
	bridge.ChanOf = func(s *Socket) bridge.Chan { return s.ch }
	bridge.EndContext = func(s *Socket) { s.endContext() }
	bridge.BindActor = func(c Channel, ctx actor.Context) {
		if ac, ok := c.(*actorChannel); ok {
			ac.ctx = ctx
		}
	}
}
