package supervisor

import "errors"

// Errors returned by Start, the Supervisor methods and as exit reasons. Compare with errors.Is: most are
// wrapped with detail.
var (
	// ErrMaxIntensity is why a supervisor gives up: more restarts than its Intensity allows. It exits with
	// Shutdown(ErrMaxIntensity).
	ErrMaxIntensity = errors.New("supervisor: reached max restart intensity")
	// ErrBadSpec reports an invalid Config or ChildSpec; the message says which field.
	ErrBadSpec = errors.New("supervisor: bad spec")
	// ErrStartFailed wraps the error of a child that failed to start.
	ErrStartFailed = errors.New("supervisor: child failed to start")
	// ErrNotFound: no child with that id or pid.
	ErrNotFound = errors.New("supervisor: child not found")
	// ErrRunning: the operation needs a terminated child (OTP's {error, running}, or already_started).
	ErrRunning = errors.New("supervisor: child is running")
	// ErrRestarting: the child's restart failed and is being retried (OTP's {error, restarting}).
	ErrRestarting = errors.New("supervisor: child is restarting")
	// ErrNotRunning: the operation needs a running child.
	ErrNotRunning = errors.New("supervisor: child is not running")
	// ErrNotSupervisor: Sub was asked for a child that is not a supervisor started with Spec.
	ErrNotSupervisor = errors.New("supervisor: child is not a supervisor")
	// ErrSimple: the operation is not allowed under SimpleOneForOne (OTP's {error, simple_one_for_one}).
	ErrSimple = errors.New("supervisor: not allowed for simple_one_for_one")
	// ErrStopped: the supervisor has stopped, or stopped before answering.
	ErrStopped = errors.New("supervisor: stopped")
)
