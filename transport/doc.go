// Package transport serves Phoenix sockets over HTTP: an Endpoint is an http.Handler that answers the
// WebSocket transport (gws, at path+"/websocket") and the long-poll transport (path+"/longpoll", see
// longpoll.go) of every socket mounted on it, with the serializers of package transport/serializer (Phoenix's
// V1 and V2 by default, a socket's own table with WithSerializers, chosen by the client's vsn), and hands
// each connection, WebSocket or long-poll, to the channel runtime (package actors/host).
//
// # Connection lifecycle
//
// Everything that can refuse a connection happens before the upgrade, so refusals are HTTP statuses:
// non-GET → 400; bad vsn → 403; origin refused → 403; Connect refused → 403 (or RefuseError.Status);
// shutting down → 503. Connect-time values Phoenix reads as one string (vsn, the long-poll token) are read
// as Plug decodes a query: of repeated keys the last counts, and vsn[]=… is a list (403; a token list finds
// no session); the auth token is the single bearer entry of the first Sec-WebSocket-Protocol header.
// After the upgrade, the connection closes with:
//
//	1001  kicked (a "disconnect" broadcast to the socket id), idle for Config.IdleTimeout, or with a
//	      message unfinished for that long
//	1002  a frame RFC 6455 forbids (e.g. a 64-bit length with the top bit set, an unmasked frame)
//	1009  an inbound message larger than Config.MaxFrameSize (refused at its frame header)
//	1011  a malformed frame, the socket actor crashed, or the connection's read goroutine panicked
//	1012  Endpoint.Shutdown (the drain: after the connection's in-flight replies, in batches)
//	1013  slow consumer: the outbound queue overflowed because the client does not read (when a write has
//	      been stuck for 50 ms or more, the TCP connection is dropped instead, since no close frame can get
//	      through); or the endpoint's inbound budget (Config.MaxInboundBytes) cannot take the frame the
//	      connection started
//
// Connections closed for bad input (a malformed frame, a refused frame header, a panic on the read
// goroutine) are counted in Endpoint.Stats and logged at WARN or ERROR, one line a second per kind at most
// with the number suppressed meanwhile.
//
// Never 1000, after which phoenix.js before 1.8.16 does not reconnect.
//
// # Reads
//
// A read guard under gws's reader (readguard.go) sees every byte a client sends and checks each frame
// header before gws parses it: gws trusts header lengths and allocates a whole frame when its header
// arrives. The claimed bytes of messages in progress are held in an endpoint-wide budget until the
// message is handed to its socket actor. Refusals are logged (rate-limited); a panic on a read goroutine
// ends its connection only.
//
// # Limits
//
// The defaults are consistent: whatever a client may send can be echoed, replied or broadcast to clients
// that read, and only a client that does not read is cut.
//
//	limit                      default                   past it
//	inbound frame              MaxFrameSize 10 MB        close 1009
//	inbound frames in progress MaxInboundBytes 256 MiB   close 1013 (the newest claimant), logged
//	(whole endpoint)           (≥ 3 × MaxFrameSize)
//	outbound payload           MaxOutboundPayload        refused at its source: Push / Broadcast / the Endpoint's
//	(push, reply, broadcast)   = MaxFrameSize            broadcasts return channel.ErrMessageTooLarge; a reply becomes
//	                                                     {"reason":"reply too large"} (status error, logged)
//	outbound queue             MaxQueueMessages 1024,    a quarter of either: the reader pauses until an eighth;
//	                           MaxQueueBytes             full (that many frames, or that many bytes already
//	                           = MaxOutboundPayload+4 MiB queued): slow consumer, 1013. At most MaxQueueBytes
//	                                                     plus one message per connection
//	inbound in flight          MaxInflight 256           the reader pauses (TCP backpressure on that client)
//	(unhandled messages)       (≤ MaxQueueMessages/4)
//	a write                    WriteTimeout 10 s         the connection is dropped
//
// A queue below its byte bound takes a frame of any size, so one big message never cuts a client. A client
// that pipelines pushes faster than it reads their replies is slowed by its paused reader, not cut; one
// that stops reading is cut by the queue bound or WriteTimeout, which also wake its reader.
//
// # Writes
//
// Each connection has a bounded outbound queue (Config.MaxQueueMessages, Config.MaxQueueBytes). A
// connection with frames pending is queued for the endpoint's shared writers (one per CPU), which write
// everything pending for it in one write (up to 64 KB per turn); a connection whose write does not finish
// within 50 ms gets writer goroutines of its own, so an idle connection costs no writer goroutine and a
// stuck client holds a shared writer once at most. Every write has a deadline (Config.WriteTimeout).
// Broadcast frames are encoded once per serializer and shared by every connection.
//
// # Concurrency
//
// Endpoint is safe for concurrent use. Mount sockets (Endpoint.Socket) before serving.
package transport
