// Package host is Pyre's channel runtime: the socket and channel actors, their supervision, and the
// endpoint's supervision tree, on a protoactor actor system. Channel authors do not use it (they write
// against package actors/channel); its exported API is the seam package transport drives, kept small:
//
//	transport ── Connect(router, params, info) ──▶ Connected
//	          ── Host.Open(connected, Conn) ──────▶ Session ─ Receive / Close ─▶ socket actor ─▶ channel actors
//	          ◀── Conn.Write / WriteBroadcast / Close ──────────────────────────────┘        (package channel's
//	                                                                                           Channel values)
//
// A transport (WebSocket, long-poll, or an in-memory one as package actors/channeltest) implements Conn
// for each accepted connection, gives it to Host.Open, feeds the frames it reads to Session.Receive and
// calls Session.Close when the connection ends. The socket actor routes inbound messages by topic; each
// joined topic gets a channel actor, a child of the socket actor and supervised by it, running one
// channel.Channel value. Broadcasts of events a channel does not intercept never enter its actor: its
// subscription writes them to the Conn directly (the fastlane).
//
// A transport's life cycle of one connection, in short:
//
//	h := host.New(host.Config{Logger: logger})          // once; h.Shutdown(ctx, host.CloseServiceRestart) at the end
//	connected, err := host.Connect(router, params, info) // before the upgrade: refused → HTTP status
//	sess, err := h.Open(connected, conn)                 // conn: your Conn; starts the socket actor
//	sess.Receive(msg)                                    // for each decoded inbound frame, from the read goroutine
//	sess.Close()                                         // when the connection ends
//
// The supervision tree New starts:
//
//	endpoint supervisor (one_for_one, EndpointIntensity)
//	 ├─ Config.Infrastructure...        (their own restart types)
//	 └─ "sockets" (simple_one_for_one) → socket actors (temporary) → channel actors (route's restart type)
//
// # Your actor system, your supervisor
//
// Config.System (transport.Config.System) runs the host on your actor system, which Pyre then never
// shuts down. Config.Parent starts Pyre's tree as a Permanent child of your supervisor: when Pyre gives
// up (EndpointIntensity), your supervisor sees it exit with Shutdown(ErrMaxIntensity); if it restarts it,
// every open connection closes with 1011 (their socket actors stop with the old tree; clients reconnect
// and rejoin) and the new tree serves new connections. Shutdown removes Pyre's tree from yours.
//
// Host.Actors lists its socket, channel and infrastructure actors so that they can be killed on purpose
// (supervisor/chaos through supervisor/chaos/pyrechaos; the runtime does not import them). A killed
// channel is restarted as after a crash, without Terminate (OTP's kill).
//
// # Telemetry
//
// Config.Events (package actors/telemetry) receives the channels' and supervisors' events: joins, pushes
// handled, ends with their reasons, crashes, restarts, escalations, slow consumers of intercepted
// broadcasts, drains, the endpoint supervisor's restarts and its giving up; the host also sets its PubSub's
// observer (PubSub.Observe) for the broadcasts' fan-out. Each is emitted in the turn of the actor concerned
// (doc of each event), after a nil check only when nobody observes it. Connection events are the
// transport's.
//
// # Testing
//
// Session.Sync and Host.Sync return once the actors are idle (socket actors and every channel actor under
// them), so that a test can check that nothing (more) arrives without sleeping.
//
// # Concurrency
//
// Host and Session are safe for concurrent use, except Session.Receive, which belongs to the connection's
// read goroutine. Conn's methods are called from actors and publishers' goroutines and must never block.
package host
