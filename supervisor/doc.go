// Package supervisor carries Erlang/OTP supervision vocabulary onto protoactor-go: restart types and exit
// reasons that travel with an exit and compare with errors.Is.
//
// # Mapping from OTP
//
//	normal                  ErrNormal (nil is normal too)
//	shutdown                ErrShutdown
//	{shutdown, Cause}       Shutdown(cause): errors.Is(err, ErrShutdown) and errors.Is(err, cause)
//	kill / killed           ErrKilled
//	permanent               Permanent
//	transient               Transient
//	temporary               Temporary
//
// # Concurrency
//
// Everything here is a value or a pure function and safe for concurrent use.
package supervisor
