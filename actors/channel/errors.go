package channel

import (
	"errors"
	"fmt"

	"github.com/pyrehq/pyre/actors/message"
	"github.com/pyrehq/pyre/supervisor"
)

// Terminate reasons. Each is a normal exit in OTP terms ({shutdown, Cause}), so errors.Is(reason,
// supervisor.ErrShutdown) holds for all of them.
var (
	ErrLeft          = supervisor.Shutdown(errors.New("left"))           // the client left the channel
	ErrClosed        = supervisor.Shutdown(errors.New("closed"))         // the connection closed
	ErrDuplicateJoin = supervisor.Shutdown(errors.New("duplicate_join")) // the client joined the topic again
	ErrShutdown      = supervisor.Shutdown(errors.New("server_shutdown"))
)

// StopNormal, returned from HandleIn, HandleOut or HandleInfo, stops the channel normally: the client gets
// phx_close. Any other non-nil error stops it abnormally: the client gets phx_error.
var StopNormal = supervisor.ErrNormal

// Errors returned by the channel API.
var (
	ErrNotJoined = errors.New("channel: not joined")
	// ErrNoRequest is returned by Socket.Respond outside the handling of a Request, or after its answer.
	ErrNoRequest       = errors.New("channel: no request to answer")
	ErrConnClosed      = errors.New("channel: connection closed")
	ErrPushInJoin      = errors.New("channel: push and broadcast are not allowed inside Join; send yourself a message and push from HandleInfo")
	ErrUnmatchedTopic  = errors.New("channel: unmatched topic")
	ErrTooManyChannels = errors.New("channel: too many channels joined")
	ErrSlowConsumer    = errors.New("channel: slow consumer")
	// ErrMessageTooLarge (message.ErrTooLarge) is returned by Push, the broadcasts and ReplyRef.Reply for a
	// message over the outbound limit (host.Config.MaxPayloadSize, transport.Config.MaxOutboundPayload); it is
	// sent to nobody (a reply is answered {"reason":"reply too large"} instead).
	ErrMessageTooLarge = message.ErrTooLarge
	// ErrTooManyRestarts ends a connection whose channels were restarted past its intensity
	// (WithConnIntensity): its channels terminate with supervisor.Shutdown(ErrTooManyRestarts).
	ErrTooManyRestarts = errors.New("channel: too many channel restarts")
	// ErrTooManyKept refuses a Socket.Keep of a new key past MaxKept.
	ErrTooManyKept = errors.New("channel: too many kept values")
)

// CrashError is the reason a channel or socket ended when user code panicked.
type CrashError struct {
	Value any    // what was passed to panic
	Stack []byte // the goroutine's stack at the panic
}

func (e *CrashError) Error() string { return fmt.Sprintf("channel: crash: %v", e.Value) }

// Unwrap exposes a panicked error value.
func (e *CrashError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}

// DenyError refuses a join; Reply is sent to the client as the error response.
type DenyError struct {
	Reply any // the join's error response
}

func (e *DenyError) Error() string { return fmt.Sprintf("channel: join denied: %v", e.Reply) }

// Deny refuses a join with reply as the error response, as Phoenix's {:error, reply}.
func Deny(reply any) error { return &DenyError{Reply: reply} }

// RefuseError refuses a connection. Status is the HTTP status to answer (403 when zero).
type RefuseError struct {
	Status int    // the HTTP status; 403 when zero
	Reason string // why, for the server's side (Error); the client sees only the status
}

func (e *RefuseError) Error() string { return "channel: connection refused: " + e.Reason }

// Refuse refuses a connection with HTTP 403, as Phoenix's connect returning :error.
func Refuse(reason string) error { return &RefuseError{Reason: reason} }
