// Package transport serves Phoenix sockets over HTTP: an Endpoint is an http.Handler that answers the
// WebSocket transport (gws) of every socket mounted on it, with the serializers of package
// transport/serializer, and hands each connection to the channel runtime (package actors/channel).
//
// # Connection lifecycle
//
// Everything that can refuse a connection happens before the upgrade, so refusals are HTTP statuses:
// non-GET → 400; bad vsn → 403; origin refused → 403; Connect refused → 403 (or RefuseError.Status);
// shutting down → 503. After the upgrade, the connection closes with:
//
//	1001  kicked (a "disconnect" broadcast to the socket id) or idle for Config.IdleTimeout
//	1009  an inbound frame larger than Config.MaxFrameSize
//	1011  a malformed frame, or the socket actor crashed
//	1012  Endpoint.Shutdown
//	1013  slow consumer: the outbound queue overflowed (when a write is stuck, the TCP connection is
//	      dropped instead, since no close frame can get through)
//
// Never 1000, after which phoenix.js before 1.8.16 does not reconnect.
//
// # Writes
//
// Each connection has a bounded outbound queue (Config.MaxQueueMessages, Config.MaxQueueBytes) drained by a
// writer goroutine that exists only while frames are pending, so an idle connection costs no writer
// goroutine. Every write has a deadline (Config.WriteTimeout). Broadcast frames are encoded once per
// serializer and shared by every connection.
//
// # Concurrency
//
// Endpoint is safe for concurrent use. Mount sockets (Endpoint.Socket) before serving.
package transport
