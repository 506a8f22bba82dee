// Package transport serves Phoenix sockets over HTTP: an Endpoint is an http.Handler that answers the
// WebSocket transport (gws, at path+"/websocket") and the long-poll transport (path+"/longpoll") of every
// socket mounted on it, with the serializers of package transport/serializer (Phoenix's V1 and V2 by
// default, a socket's own table with WithSerializers, chosen by the client's vsn), and hands each
// connection, WebSocket or long-poll, to the channel runtime (package actors/host): a socket actor per
// connection, a channel actor per joined topic (package actors/channel is the API channels are written
// against). The wire protocol and the server behaviour it reproduces are transport/PROTOCOL.md.
//
//	router := channel.NewRouter(nil) // or a SocketHandler that authenticates connections
//	router.Channel("room:*", func() channel.Channel { return &Room{} })
//
//	ep := transport.NewEndpoint(transport.Config{}) // the zero value works
//	ep.Socket("/socket", router)                    // ws://host/socket/websocket, /socket/longpoll
//	srv := &http.Server{Addr: addr, Handler: ep, ReadHeaderTimeout: 5 * time.Second}
//	go srv.ListenAndServe()
//	// on SIGTERM:
//	_ = srv.Shutdown(ctx) // no new requests
//	_ = ep.Shutdown(ctx)  // drain: in-flight replies, then close 1012 in batches (clients reconnect)
//
// An Endpoint answers the full paths of its sockets and 404 for anything else, so in a ServeMux mount it
// under the socket's path, without http.StripPrefix: mux.Handle("/socket/", ep). Leave the http.Server's
// ReadTimeout and WriteTimeout unset (bound headers with ReadHeaderTimeout and MaxHeaderBytes): the
// endpoint bounds body reads and WebSocket writes itself, and a WriteTimeout shorter than
// Config.LongPollWindow would cut long-poll GETs, which wait that long before answering.
//
// From outside any channel, Endpoint.Broadcast, BroadcastFrom and LocalBroadcast publish to a topic's
// subscribers, and Endpoint.Disconnect closes every connection of a socket id (channel.Identifier) with
// 1001, as Phoenix's "disconnect" broadcast.
//
// # Guarantees
//
// What a client observes is what Phoenix 1.8 sends, frame for frame (transport/PROTOCOL.md §11 lists each
// rule with its Phoenix source and its test). In short: a join reply precedes every push and broadcast of
// its channel; replies come in the order of the pushes they answer; broadcasts from one sender arrive in
// the order sent; a leave is answered, then phx_close, then what Terminate pushes; a crash sends
// phx_error after Terminate (or, on a route that restarts, only the crashed push's error reply); long-poll
// carries the same frames in the same order. A connection's bad input or slowness ends that connection
// only, with a defined close code; nothing a client sends can block another client or grow memory past
// the limits below.
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
// # Long-poll
//
// Every socket also serves phoenix.js's LongPoll transport (transport/PROTOCOL.md §7) with the same router:
// a session is a socket actor like a WebSocket connection's, with the same channels, pubsub and
// supervision. phoenix.js 1.8 falls back to it when WebSockets fail (its longPollFallbackMs option), or
// uses it from the start (transport: LongPoll). Every answer is HTTP 200 with the status in its JSON body:
// a GET without a valid session token opens a session (410 and a token; 403 if Connect refuses); a GET
// with one answers the queued frames (200) or, after Config.LongPollWindow (10 s), 204; a POST hands its
// frames (ndjson, at most 100 lines; a line not starting with "[" is a base64 binary push) to the socket
// actor: 200, or 408 when not accepted within the window, 410 for an unknown session. CORS and preflight
// are answered as Phoenix does.
//
// Session tokens are signed and expire (package transport/token, two weeks as Phoenix), keyed with
// Config.SecretKeyBase or a random key per endpoint; a forged, expired or foreign token is no session.
// Sessions live on the endpoint that opened them: across several nodes, route a client to one node (sticky
// sessions). A session no GET polled for 1.5 windows ends (its channels terminate with
// ErrLongPollInactive); its outbound queue is bounded as a WebSocket's, and a POST waits while it is a
// quarter full. Server frames travel as JSON strings, so binary pushes to a long-poll client are refused
// (ErrLongPollBinary). Config.DisableLongPoll turns the transport off.
//
// # Drain
//
// Endpoint.Shutdown is Phoenix's socket drainer, for deploys: new connections get 503; open ones end
// Config.DrainBatchSize at a time, Config.DrainInterval apart (squeezed into 80 % of the context's
// deadline), each after its channels answered what they had received and terminated with
// channel.ErrShutdown, with close code 1012, so that phoenix.js reconnects, through the load balancer, to
// another node, and rejoins. Stop the http.Server first.
//
// # Supervision
//
// Every actor runs under a supervisor with Erlang/OTP semantics (package supervisor):
//
//	endpoint supervisor   one_for_one, host.EndpointIntensity; past it every child is terminated and
//	 │                    Endpoint.Err reports why (connections close with 1011, new ones get 503)
//	 ├─ janitor           permanent worker: closes idle connections (1001)
//	 ├─ (presence, …)     infrastructure actors started with Endpoint.Supervise
//	 └─ sockets           simple_one_for_one, one dynamic child per connection
//	     └─ socket actor  temporary: if it dies, its connection closes with 1011 and the client reconnects;
//	         │            it supervises its channels (channel.WithConnIntensity, per connection)
//	         └─ channel   one per joined topic: restart type and intensity per route (channel.WithRestart,
//	                      channel.WithIntensity); a Transient or Permanent channel restarts in place
//
// Config.System runs the endpoint on an actor system of yours, and Config.Parent starts this tree as a
// permanent child of your supervisor. Endpoint.Actors lists the live actors, so that package
// supervisor/chaos (through supervisor/chaos/pyrechaos) can kill them on purpose.
//
// # Serializers of your own
//
// A socket picks its serializer by the client's vsn, first match of its table: by default V1 for
// "~> 1.0.0" and V2 for "~> 2.0.0" (serializer.Defaults). WithSerializers serves others, for clients that
// extend the protocol (Phoenix's serializer: socket option):
//
//	ep.Socket("/socket", router, transport.WithSerializers(
//		serializer.Versioned{Requirement: "~> 1.0.0", Serializer: serializer.V1},
//		serializer.Versioned{Requirement: "~> 2.0.0", Serializer: Realtime{}}, // yours
//	))
//
// A serializer.Serializer decodes inbound frames (an error wrapping serializer.ErrMalformed closes the
// connection with 1011) and encodes pushes, replies and broadcasts. Broadcasts stay encoded once per
// serializer for every subscriber: Phoenix's serializers take cache slots 0 and 1, yours returns 2 or 3
// from Slot (two different serializers on one slot are refused when the socket is mounted), or -1 to
// encode per connection. examples/realtime serves @supabase/realtime-js's binary broadcasts this way.
//
// # Observing
//
// Config.Events (package actors/telemetry) reports what happens: connections with their close codes,
// messages in and out, joins, pushes, crashes, restarts, slow consumers, drains, long-poll sessions, as
// Phoenix's telemetry does and more. Package transport/metrics makes Prometheus metrics of them, on a
// registry you give:
//
//	reg := prometheus.NewRegistry()
//	m, _ := metrics.New(reg, metrics.Config{})
//	ep := transport.NewEndpoint(transport.Config{Events: m.Events()})
//	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
//
// Package transport/dashboard is a live page of them and of the supervision tree, to mount beside the
// socket (telemetry.Combine gives both their events). A channel's callbacks reach the connection's trace
// context (the upgrade request's traceparent and tracestate) through channel.Socket.Context.
//
// # Concurrency
//
// Endpoint is safe for concurrent use. Mount sockets (Endpoint.Socket) before serving.
package transport
