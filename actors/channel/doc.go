// Package channel is what Pyre users write against: Phoenix channels as Go values, each driven by its own
// actor under its connection's socket actor.
//
// A Router is a socket definition (Phoenix's UserSocket): a SocketHandler authenticates connections and
// Channel routes map topics to channel types. The transport (package transport) accepts connections, runs
// Router.Connect before upgrading, and hands each accepted connection to a Host, which starts a socket actor
// for it. The socket actor routes inbound messages by topic; each joined topic gets a channel actor, a child
// of the socket actor, running one Channel value.
//
//	transport read goroutine ──▶ socket actor ──▶ channel actor (Join, HandleIn, HandleOut, HandleInfo, Terminate)
//	                                                   │ push / reply
//	publisher ──▶ pubsub ──▶ fastlane ─────────────────┴──▶ Conn (bounded writer) ──▶ client
//
// Broadcasts of events a channel does not intercept never enter its actor: its subscription writes them to
// the connection directly, encoded once per serializer (the fastlane). Intercepted events go through
// HandleOut.
//
// # Mapping from Phoenix
//
//	use Phoenix.Socket; connect/3; id/1     Router, SocketHandler.Connect, Identifier.ID
//	channel "room:*", RoomChannel           Router.Channel("room:*", newRoom)
//	join/3 → {:ok, reply, socket}           Join returns (reply, nil)
//	join/3 → {:error, reply}                Join returns (nil, Deny(reply))
//	handle_in/3 → {:reply, {status, p}, s}  HandleIn returns ReplyOK(p) / ReplyError(p) / ReplyStatus
//	handle_in/3 → {:noreply, s}             NoReply
//	{:stop, :normal, reply, s}              (ReplyOK(p), StopNormal)
//	{:stop, reason, s}                      (NoReply, err): phx_error
//	intercept [...] + handle_out/3          Interceptor
//	handle_info/2, send(self(), msg)        InfoHandler, Socket.Send / SendAfter
//	terminate/2                             Terminator; reasons ErrLeft, ErrClosed, ErrDuplicateJoin, ErrShutdown, *CrashError
//	push/3, broadcast!/3, broadcast_from!/3 Socket.Push, Broadcast, BroadcastFrom
//	socket_ref/1 + reply/2                  Socket.ReplyRef, ReplyRef.Reply
//	socket.assigns, assign/3                Socket.Assigns, Socket.Assign
//	Endpoint.subscribe in a channel         Socket.Subscribe (broadcasts arrive in HandleInfo)
//	(Pyre) restart type per route           WithRestart, WithIntensity; Router WithConnIntensity
//
// # Order
//
// A channel handles its messages one at a time, in the order they reach it. As in Phoenix, whose socket
// waits for join/3 to return before it reads the client's next frame, what Join sends itself
// (Socket.Send, and broadcasts on topics it subscribed to, while it runs) is handled right after the join
// reply, before the client's next push, leave or duplicate join; the same holds for a Join re-run by an
// in-place restart, before the messages queued behind the crash. Only what arrives while Join runs is
// covered: a SendAfter, or a goroutine that sends after Join returned, is queued behind what the client
// sent meanwhile.
//
// # Crashes and restarts
//
// A panic in any callback is caught in the channel's actor and Terminate runs with a *CrashError; the
// socket and its other channels carry on. What happens next is the route's restart type (WithRestart,
// transport/PROTOCOL.md §6), decided by the socket actor, which supervises its channels:
//
//	supervisor.Transient (default)  crash → in-place restart: a fresh Channel value, Join re-run with the
//	                                original params and assigns (Socket.Incarnation() > 1), same join_ref,
//	                                subscription and mailbox; the crashing push gets {"reason":"channel_crash"}
//	supervisor.Permanent            also restarted after StopNormal (not after a leave or a closed connection)
//	supervisor.Temporary            never restarted: phx_error, the client rejoins (Phoenix)
//
// A restart in place needs the join params, so a channel keeps a copy of them, up to
// HostConfig.MaxRejoinParams (default 64 KiB); nothing else of a message stays reachable once it is handled
// (ReplyRef keeps only the push's ref). A channel joined with larger params cannot restart in place: a
// crash ends it with phx_error, as in Phoenix, and the client rejoins with its params.
//
// More restarts than WithIntensity allows (default 3 per 5 s) end the channel with phx_error; more than
// WithConnIntensity (default 10 per 5 s, all channels of a connection) close the connection with 1011.
// These windows, like SendAfter, read HostConfig.Clock (real time by default; a fake one in tests). A
// re-run Join that refuses or panics ends the channel with phx_error. A panic in Connect refuses the
// connection (403).
//
// Host is a chaos.Population: its socket and channel actors can be killed on purpose (see
// supervisor/chaos). A killed channel is restarted as after a crash, without Terminate (OTP's kill).
//
// # Testing
//
// Package channeltest runs a Router on a real Host with in-memory connections and a fake clock
// (Phoenix.ChannelTest). Session.Sync and Host.Sync return once the actors are idle, so that a test can
// check that nothing (more) arrives without sleeping.
//
// # Message size
//
// A payload larger than HostConfig.MaxPayloadSize (transport.Config.MaxOutboundPayload, by default the
// largest frame a client may send) is refused where it is made, so that no receiver is cut for it: Push,
// Broadcast, BroadcastFrom, the Host's broadcasts and ReplyRef.Reply return ErrMessageTooLarge; a reply
// from HandleIn (or a join reply) too large is answered {"reason":"reply too large"} with status error,
// and logged.
//
// # Concurrency
//
// A Channel value is only ever called from its actor, one callback at a time: its fields need no locks.
// Callbacks must not block for long — they hold up that channel's mailbox (not anyone else's). Socket.Push,
// Broadcast, BroadcastFrom, Send, SendAfter and ReplyRef.Reply are safe from any goroutine; Assigns,
// Assign, Subscribe and Unsubscribe belong to the callbacks. Router is configured before serving and
// read-only afterwards. Host and Session are safe for concurrent use, except Session.Receive, which belongs
// to the connection's read goroutine.
package channel
