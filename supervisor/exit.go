package supervisor

import (
	"fmt"

	"github.com/asynkron/protoactor-go/actor"
)

// Exit makes the calling child exit with reason (nil means ErrNormal), as OTP's exit/1. Call it from the
// child's own Receive and return: the child's mailbox is suspended and its supervisor stops it, then applies
// its restart rules to reason. Under another parent, protoactor's supervision strategy sees the reason.
func Exit(ctx actor.Context, reason error) {
	if reason == nil {
		reason = ErrNormal
	}
	escalate(ctx, &exitSignal{reason: reason})
}

// escalate sends sig to ctx's parent as a Failure, with ctx's mailbox suspended.
func escalate(ctx actor.Context, sig *exitSignal) {
	if s, ok := ctx.(actor.Supervisor); ok {
		s.EscalateFailure(sig, ctx.Message())
		return
	}
	// A decorated context hides EscalateFailure; the mailbox escalates a panic the same way.
	panic(sig)
}

// exitSignal carries an exit reason through protoactor's Failure, which otherwise only knows panics.
type exitSignal struct {
	reason error
	init   bool // a nested supervisor failed to start its children: a failed start, not an exit
}

func (e *exitSignal) Error() string { return "exit: " + e.reason.Error() }

// exitReason converts the Reason of a protoactor Failure into an exit reason.
func exitReason(failure any) (reason error, init bool) {
	if sig, ok := failure.(*exitSignal); ok {
		if sig.reason == nil {
			return ErrNormal, sig.init
		}
		return sig.reason, sig.init
	}
	return &PanicError{Value: failure}, false
}

// PanicError is the exit reason of a child that panicked, or whose Start panicked.
type PanicError struct {
	Value any // what was passed to panic
}

func (e *PanicError) Error() string { return fmt.Sprintf("panic: %v", e.Value) }

// Unwrap returns Value if it is an error.
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}

// InjectedPanic, sent as a message (value or pointer) to any child started by a supervisor, makes the child
// panic with Value inside its own Receive: for chaos testing.
type InjectedPanic struct {
	Value any // the value the child panics with
}

// callStart calls start, turning a panic or a nil actor into an error.
func callStart(start func() (actor.Actor, error)) (a actor.Actor, err error) {
	defer func() {
		if v := recover(); v != nil {
			a, err = nil, &PanicError{Value: v}
		}
	}()
	a, err = start()
	if err == nil && a == nil {
		err = fmt.Errorf("%w: Start returned a nil actor", ErrBadSpec)
	}
	return a, err
}
