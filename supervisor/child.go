package supervisor

import "github.com/asynkron/protoactor-go/actor"

// childActor wraps every child's actor value to honour InjectedPanic.
type childActor struct {
	inner     actor.Actor
	stopPanic any // a panic recovered while stopping; read by the supervisor after Terminated
}

func (w *childActor) Receive(ctx actor.Context) {
	if w.inner == nil {
		return // stopped
	}
	switch m := ctx.Message().(type) {
	case *InjectedPanic:
		panic(m.Value)
	case InjectedPanic:
		panic(m.Value)
	case *actor.Stopping:
		w.stopping(ctx)
		return
	case *actor.Stopped:
		w.stopping(ctx)
		// Stopped is its last message: the child's value goes, whoever still reaches its dead process
		// (ReleaseChild).
		w.inner = nil
		return
	}
	w.inner.Receive(ctx)
}

// stopping recovers a panic of the Stopping or Stopped handler: protoactor would leave the actor half
// stopped, never Terminated, and no kill could end it.
func (w *childActor) stopping(ctx actor.Context) {
	defer func() {
		if v := recover(); v != nil && w.stopPanic == nil {
			w.stopPanic = v
		}
	}()
	w.inner.Receive(ctx)
}

// supervisingChild is a childActor whose inner value supervises its own children: protoactor finds
// HandleFailure on the value it runs, so the wrapper must forward it.
type supervisingChild struct {
	childActor
	strategy actor.SupervisorStrategy
}

func (w *supervisingChild) HandleFailure(system *actor.ActorSystem, sup actor.Supervisor, child *actor.PID, rs *actor.RestartStatistics, reason, message any) {
	w.strategy.HandleFailure(system, sup, child, rs, reason, message)
}

// wrap returns the value a child actor runs as, and its childActor part.
func wrap(a actor.Actor) (actor.Actor, *childActor) {
	if s, ok := a.(actor.SupervisorStrategy); ok {
		w := &supervisingChild{childActor{inner: a}, s}
		return w, &w.childActor
	}
	w := &childActor{inner: a}
	return w, w
}
