package client

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Sentinel errors. Compare with errors.Is.
var (
	// ErrClosed is returned by operations on a connection that has closed. The error returned after the
	// read goroutine has ended is a *CloseError, which matches ErrClosed under errors.Is.
	ErrClosed = errors.New("client: connection closed")
	// ErrChannelClosed is returned by operations on a channel that has ended (phx_close or phx_error
	// received), and by pending pushes of a channel when it ends.
	ErrChannelClosed = errors.New("client: channel closed")
	// ErrRawFrames is returned by Join, Request and the Channel methods on a connection dialed with
	// Options.RawFrames: in that mode nothing is routed, so no reply could ever be matched.
	ErrRawFrames = errors.New("client: connection is in raw frame mode")
	// ErrMalformed wraps every decoding error of an inbound frame or reply payload.
	ErrMalformed = errors.New("client: malformed frame")
	// ErrFieldTooLong is returned when encoding a binary push whose join_ref, ref, topic or event is longer
	// than 255 bytes (each header length is a single byte on the wire).
	ErrFieldTooLong = errors.New("client: binary frame field longer than 255 bytes")
	// ErrSubprotocol is returned by Dial when the client offered subprotocols (Options.AuthToken) and the
	// server selected none of them; browsers and phoenix.js abort the handshake in that case too.
	ErrSubprotocol = errors.New("client: server did not select a subprotocol")
	// ErrDuplicateRef is returned by Request when a call with the same ref is already waiting.
	ErrDuplicateRef = errors.New("client: a call with this ref is already pending")
)

// HandshakeError is returned by Dial when the server answered the upgrade request with an HTTP status
// other than 101 Switching Protocols (Phoenix answers 403 for a refused connect, a bad vsn or a rejected
// origin).
type HandshakeError struct {
	StatusCode int         // the HTTP status (403 for a refused connect)
	Header     http.Header // the response's headers
	// Body is the start of the response body (at most 64 KiB).
	Body []byte
}

func (e *HandshakeError) Error() string {
	return fmt.Sprintf("client: handshake refused: HTTP %d", e.StatusCode)
}

// ReplyError is returned by Join, Push, PushBinary, Leave and Request when the server replied with a
// status other than "ok". The embedded Reply is also returned as the call's first result.
type ReplyError struct {
	// Event is the event of the push that was answered (e.g. "phx_join").
	Event string
	Reply
}

func (e *ReplyError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "client: %s %s replied %q", e.Topic, e.Event, e.Status)
	if len(e.Response) > 0 {
		b.WriteString(": ")
		b.Write(e.Response)
	}
	return b.String()
}

// CloseError describes how a connection ended; Conn.Err returns it once the read goroutine has finished.
// It matches ErrClosed under errors.Is.
type CloseError struct {
	// Code is the WebSocket close code: the server's when Remote is true (1005 if its close frame carried
	// no code); the one this client sent when it closed the connection itself (1000 for Close and for a
	// heartbeat timeout, 1002/1009/... for a protocol violation it detected); 1006 when the connection ended
	// without a close frame (network error, server vanished).
	Code int
	// Reason is the close frame's reason text, if any.
	Reason string
	// Remote reports whether the server sent the close frame.
	Remote bool
	// Err is the underlying I/O error, if the connection ended because of one.
	Err error
}

func (e *CloseError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "client: connection closed with code %d", e.Code)
	if e.Remote {
		b.WriteString(" by the server")
	}
	if e.Reason != "" {
		fmt.Fprintf(&b, " (%s)", e.Reason)
	}
	if e.Err != nil && e.Err.Error() != "" {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	return b.String()
}

// Unwrap returns the underlying I/O error, if any.
func (e *CloseError) Unwrap() error { return e.Err }

// Is reports whether target is ErrClosed.
func (e *CloseError) Is(target error) bool { return target == ErrClosed }

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
}
