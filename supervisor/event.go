package supervisor

import (
	"fmt"

	"github.com/asynkron/protoactor-go/actor"
)

// EventType is the kind of an Event.
type EventType uint8

const (
	// ChildStarted: a child was started by Start, StartChild or RestartChild.
	ChildStarted EventType = iota
	// ChildExiting: a child's exit reason is known (it panicked, called Exit, or Supervisor.Exit was
	// called); the supervisor is stopping it.
	ChildExiting
	// ChildExited: a child that exited on its own is gone; Reason is final (ErrKilled if nobody said why).
	ChildExited
	// ChildRestarted: a child was started again by the restart strategy.
	ChildRestarted
	// StartFailed: a child's Start returned an error or panicked; Reason is that error.
	StartFailed
	// ChildTerminated: a child terminated by the supervisor is gone; Reason is ErrShutdown, ErrKilled
	// (brutal kill or grace period exceeded), or the child's own reason if it exited meanwhile.
	ChildTerminated
	// IntensityExceeded: too many restarts; the supervisor terminates its children and exits with
	// Shutdown(ErrMaxIntensity). ID is the child whose exit was one too many.
	IntensityExceeded
)

func (t EventType) String() string {
	switch t {
	case ChildStarted:
		return "child_started"
	case ChildExiting:
		return "child_exiting"
	case ChildExited:
		return "child_exited"
	case ChildRestarted:
		return "child_restarted"
	case StartFailed:
		return "start_failed"
	case ChildTerminated:
		return "child_terminated"
	case IntensityExceeded:
		return "intensity_exceeded"
	}
	return fmt.Sprintf("EventType(%d)", uint8(t))
}

// Event is one of OTP's supervisor reports.
type Event struct {
	Type       EventType  // what happened
	Supervisor string     // Config.Name
	ID         string     // the child's ID
	PID        *actor.PID // the child's pid, nil when it has none (StartFailed, IntensityExceeded)
	Reason     error      // the exit reason or the start error, as its EventType says
}

func (e Event) String() string {
	s := fmt.Sprintf("%s %s/%s", e.Type, e.Supervisor, e.ID)
	if e.PID != nil {
		s += " " + e.PID.Id
	}
	if e.Reason != nil {
		s += ": " + e.Reason.Error()
	}
	return s
}
