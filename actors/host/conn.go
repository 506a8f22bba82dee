package host

import "github.com/pyrehq/pyre/actors/message"

// Conn is a client connection as the channel runtime sees it. The transport implements it (WebSocket,
// long-poll); channeltest-style harnesses implement it in memory.
//
// All methods are safe for concurrent use and must never block: the runtime calls them from actors and from
// publishers' goroutines (the fastlane).
type Conn interface {
	// Write queues an outbound push or reply, in order. An error means the connection is closing (for
	// example, it was a slow consumer whose queue overflowed) and the message was dropped.
	Write(m *message.Message) error
	// WriteBroadcast queues a broadcast for the fastlane: the transport encodes it once per serializer
	// (message.Broadcast.Encoded) and shares the bytes among connections.
	WriteBroadcast(b *message.Broadcast) error
	// Close closes the connection with code once what is already queued is written (within the write
	// deadline). Closing twice is a no-op.
	Close(code CloseCode)
}

// CloseCode is a WebSocket close code; long-poll maps each to ending the session.
type CloseCode uint16

// Close codes Pyre uses. Never 1000: phoenix.js before 1.8.16 does not reconnect after it.
const (
	CloseGoingAway       CloseCode = 1001 // kicked by a "disconnect" broadcast to the socket id
	ClosePolicyViolation CloseCode = 1008 // the client broke a rule (e.g. origin, flooding)
	CloseMessageTooBig   CloseCode = 1009 // an inbound frame exceeded the maximum size
	CloseInternalError   CloseCode = 1011 // malformed frame, or the socket actor crashed
	CloseServiceRestart  CloseCode = 1012 // the server is shutting down or draining
	CloseTryAgainLater   CloseCode = 1013 // slow consumer: the outbound queue overflowed
)
