package channel

import (
	"github.com/pyrehq/pyre/actors/message"
)

// Payload is an inbound or outbound body: raw JSON or binary, decoded only on demand.
type Payload = message.Payload

// Broadcast is what HandleInfo receives for topics a channel subscribed to with Socket.Subscribe.
type Broadcast = message.Broadcast

// Channel is what a user writes: one value per joined topic per connection, driven by its own actor, so its
// fields need no locking. Optional capabilities are separate interfaces found by type assertion:
// Interceptor, InfoHandler and Terminator.
type Channel interface {
	// Join authorizes the client. Return a reply (nil for {}) to accept, or an error to refuse: Deny(reply)
	// sends reply as the error response; any other error is refused with {"reason": err.Error()}.
	// Push and broadcast are not allowed here; send yourself a message (Socket.Send) to push after the join
	// reply.
	Join(s *Socket, topic string, params Payload) (reply any, err error)

	// HandleIn handles an event pushed by the client. Return NoReply, or a Reply sent to the push's ref.
	// A non-nil error stops the channel after the reply: StopNormal (or any normal reason) closes it with
	// phx_close, any other error ends it with phx_error.
	HandleIn(s *Socket, event string, payload Payload) (Reply, error)
}

// Interceptor is implemented by channels that filter or customize broadcasts per subscriber (Phoenix's
// intercept + handle_out). Events not listed take the fastlane and never reach the channel.
type Interceptor interface {
	// Intercepts lists the events that go through HandleOut. It is asked once, when the route is set up.
	Intercepts() []string
	// HandleOut gets an intercepted broadcast for this subscriber: push it (s.Push), changed or not, or
	// drop it by returning nil. An error stops the channel, as from HandleIn.
	HandleOut(s *Socket, event string, payload Payload) error
}

// InfoHandler is implemented by channels that receive messages: what Socket.Send and SendAfter send (from
// the channel's callbacks or any goroutine), what other actors send to Socket.PID, and broadcasts on
// topics the channel subscribed to with Socket.Subscribe (as *Broadcast).
type InfoHandler interface {
	// HandleInfo handles one message. An error stops the channel, as from HandleIn.
	HandleInfo(s *Socket, msg any) error
}

// Terminator is implemented by channels that clean up when they end. reason is one of ErrLeft, ErrClosed,
// ErrDuplicateJoin, ErrShutdown, a *CrashError, or the error HandleIn/HandleOut/HandleInfo returned.
// Pushes are still possible from Terminate when the connection is open. As in Phoenix, they follow the
// phx_close of a leave or a normal stop, and precede the phx_error of a crash.
type Terminator interface {
	// Terminate runs once per incarnation that ends, in the channel's actor; a panic in it is logged.
	Terminate(s *Socket, reason error)
}

// Reply is HandleIn's answer to a push.
type Reply struct {
	status  string
	payload any
}

// NoReply sends nothing back (Phoenix's {:noreply, socket}).
var NoReply = Reply{}

// ReplyOK answers {"status":"ok","response":payload}; a nil payload is {}.
func ReplyOK(payload any) Reply { return Reply{status: message.StatusOK, payload: payload} }

// ReplyError answers {"status":"error","response":payload}; a nil payload is {}.
func ReplyError(payload any) Reply { return Reply{status: message.StatusError, payload: payload} }

// ReplyStatus answers with any status word.
func ReplyStatus(status string, payload any) Reply { return Reply{status: status, payload: payload} }

// IsNoReply reports whether r sends nothing.
func (r Reply) IsNoReply() bool { return r.status == "" }

// Status is the reply's status word ("" for NoReply).
func (r Reply) Status() string { return r.status }

// Payload is the reply's response value as given.
func (r Reply) Payload() any { return r.payload }
