package supervisor

import (
	"errors"
	"fmt"
)

// Exit reasons, as in OTP.
var (
	ErrNormal   = errors.New("normal")
	ErrShutdown = errors.New("shutdown")
	ErrKilled   = errors.New("killed")
)

type shutdownError struct{ cause error }

func (e *shutdownError) Error() string   { return fmt.Sprintf("shutdown: %v", e.cause) }
func (e *shutdownError) Unwrap() []error { return []error{ErrShutdown, e.cause} }

// Shutdown returns OTP's {shutdown, Cause}: a normal exit that says why.
func Shutdown(cause error) error {
	if cause == nil {
		return ErrShutdown
	}
	return &shutdownError{cause: cause}
}

// IsNormal reports whether reason is a normal exit: nil, ErrNormal, ErrShutdown or Shutdown(cause).
// Transient children are not restarted after a normal exit.
func IsNormal(reason error) bool {
	return reason == nil || errors.Is(reason, ErrNormal) || errors.Is(reason, ErrShutdown)
}

// Restart is a child's restart type.
type Restart uint8

const (
	// Transient children are restarted only after an abnormal exit.
	Transient Restart = iota
	// Permanent children are always restarted.
	Permanent
	// Temporary children are never restarted.
	Temporary
)

func (r Restart) String() string {
	switch r {
	case Transient:
		return "transient"
	case Permanent:
		return "permanent"
	case Temporary:
		return "temporary"
	}
	return fmt.Sprintf("Restart(%d)", uint8(r))
}
