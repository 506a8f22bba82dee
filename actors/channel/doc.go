// Package channel is what Pyre users write against: Phoenix channels as Go values, each driven by its own
// actor under its connection's socket actor.
//
// A Router is a socket definition (Phoenix's UserSocket): a SocketHandler authenticates connections and
// Channel routes map topics to channel types. A Channel value handles one client's membership of one topic:
//
//	type Room struct{}
//
//	func (*Room) Join(s *channel.Socket, topic string, params channel.Payload) (any, error) {
//		return map[string]string{"welcome": topic}, nil // the join's ok reply; channel.Deny(reply) refuses
//	}
//
//	func (*Room) HandleIn(s *channel.Socket, event string, p channel.Payload) (channel.Reply, error) {
//		return channel.ReplyOK(nil), s.Broadcast(event, p) // to every subscriber of the topic
//	}
//
//	router := channel.NewRouter(nil) // nil: anyone connects; or a SocketHandler, or a ConnectFunc
//	router.Channel("room:*", func() channel.Channel { return &Room{} })
//	ep.Socket("/socket", router) // ep is a *transport.Endpoint
//
// The transport (package transport) accepts connections, runs the SocketHandler before upgrading, and
// hands each accepted connection to the runtime (package actors/host), which starts a socket actor for it.
// The socket actor routes inbound messages by topic; each joined topic gets a channel actor, a child of the
// socket actor, running one Channel value.
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
//	state kept outside the process (ETS)    Socket.Keep (survives in-place restarts)
//	Endpoint.subscribe in a channel         Socket.Subscribe (broadcasts arrive in HandleInfo)
//	(Pyre) restart type per route           WithRestart, WithIntensity; Router WithConnIntensity
//	send(channel_pid, msg) from a process   actor Send to Socket.PID() → HandleInfo
//	GenServer.call(channel_pid, msg)        actor Request to Socket.PID(); Socket.Respond in HandleInfo
//	a channel module with its own handle_*  FromActor: a custom channel actor (JoinMsg, InMsg, OutMsg, TerminateMsg)
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
// # Channels are actors
//
// Socket.PID is the channel's protoactor PID. Whatever another actor sends to it reaches HandleInfo as
// itself; a Request is answered with Socket.Respond (Socket.Sender to answer later). The PID names the
// channel for its whole life: an in-place restart keeps it (an Erlang pid would be new), so a message sent
// to it after a crash reaches the restarted channel. The Request a crash or a stop interrupts unanswered,
// and every Request to a channel that has ended, is answered *actor.DeadLetterResponse (a Future returns
// actor.ErrDeadLetter at once), as for a dead pid; a Send to an ended channel is a dead letter.
//
// Their order, with the rules above: a channel handles its mailbox one message at a time, in arrival order:
//   - the client's frames in the order it sent them;
//   - what Join sends itself right after the join reply, before anything in the mailbox;
//   - messages from other actors in the order each sender sent them, interleaved with the client's by
//     arrival (no order between different senders); one sent while Join runs waits behind Join's own;
//   - a restart loses the message being handled (a push is answered channel_crash, a Request as a dead
//     pid); the messages queued behind it stay in the mailbox and are handled by the new incarnation,
//     after its re-run Join and what that Join sent itself. What the crashed incarnation sent through its
//     own Socket (Send, SendAfter, its Subscribe) is dropped; what was sent to the PID is not. Put
//     Socket.Incarnation in a message if it must not outlive a restart.
//
// # Custom channel actors
//
// A route can be served by an actor of your own instead of the callback interface:
// Router.Channel(pattern, FromActor(producer)). Its Receive gets a small contract — JoinMsg, InMsg, OutMsg,
// TerminateMsg, and every other message as info — answers through ctx.Respond, pushes through
// SocketOf(ctx), and stops with Stop(ctx, reason). It runs on the same machinery as a Channel value, with
// the same guarantees and the route's supervision. WithReceiverMiddleware adds protoactor receive
// middleware to a route's channel actors, either kind.
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
// What an in-place restart keeps and what it does not:
//
//	kept     the join params (as the client sent them) and the assigns as at the join (connection's and
//	         route's), the subscription to the topic, the join_ref, the PID and ChannelID, the mailbox
//	         (messages queued behind the crash), Monitors, and values kept with Socket.Keep
//	not kept the Channel value (a fresh one from the route's factory), assigns set after the join by
//	         Assign (in Join, HandleIn, HandleInfo: a token refreshed by an access_token push, say), topics
//	         of Socket.Subscribe (the re-run Join subscribes again), timers of SendAfter (they are
//	         dropped, as messages to a dead pid)
//
// The client is told nothing of a restart whose Join succeeds. A value that must outlive a crash is put
// where Erlang would put it, outside the crashing process: Socket.Keep stores it beside the channel's actor,
// in the state its supervisor (the socket actor) holds for the channel, and the re-run Join finds it in
// Assigns. Kept values are bounded (MaxKept keys) and erased when the channel ends. For state shared
// beyond one channel, use an actor or store of your own, as Erlang uses ETS.
//
//	func (c *Room) HandleIn(s *channel.Socket, event string, p channel.Payload) (channel.Reply, error) {
//		if event == "access_token" {
//			var t struct{ AccessToken string `json:"access_token"` }
//			_ = p.Decode(&t)
//			_ = s.Keep("token", t.AccessToken) // the re-run Join sees Assigns()["token"]
//		}
//		...
//	}
//
// Presence across a restart (package actors/presence): the re-run Join tracks what the first one tracked,
// under the same key, and takes the presence back unchanged (no leave, no join for the other clients).
// The key must therefore be the same in every incarnation: derive it (from the socket's assigns, a user
// id) or draw it once and Keep it:
//
//	func (c *Room) Join(s *channel.Socket, topic string, p channel.Payload) (any, error) {
//		key, ok := s.Assigns()["presence_key"].(string)
//		if !ok {
//			key = rand.Text() // crypto/rand
//			_ = s.Keep("presence_key", key) // the same key after a crash: no leave, no join
//		}
//		return nil, c.tracker.Track(s, key, map[string]any{"online_at": time.Now().Unix()})
//	}
//
// A restart in place needs the join params, so a channel keeps a copy of them, up to
// host.Config.MaxRejoinParams (default 64 KiB); nothing else of a message stays reachable once it is handled
// (ReplyRef keeps only the push's ref). A channel joined with larger params cannot restart in place: a
// crash ends it with phx_error, as in Phoenix, and the client rejoins with its params.
//
// More restarts than WithIntensity allows (default 3 per 5 s) end the channel with phx_error; more than
// WithConnIntensity (default 10 per 5 s, all channels of a connection) close the connection with 1011.
// These windows, like SendAfter, read host.Config.Clock (real time by default; a fake one in tests). A
// re-run Join that refuses or panics ends the channel with phx_error. A panic in Connect refuses the
// connection (403).
//
// # Testing
//
// Package channeltest runs a Router on the real runtime with in-memory connections and a fake clock
// (Phoenix.ChannelTest). Its Server.Sync returns once the actors are idle, so that a test can check that
// nothing (more) arrives without sleeping.
//
// # Message size
//
// A payload larger than host.Config.MaxPayloadSize (transport.Config.MaxOutboundPayload, by default the
// largest frame a client may send) is refused where it is made, so that no receiver is cut for it: Push,
// Broadcast, BroadcastFrom, the endpoint's broadcasts and ReplyRef.Reply return ErrMessageTooLarge; a reply
// from HandleIn (or a join reply) too large is answered {"reason":"reply too large"} with status error,
// and logged.
//
// # Context and tracing
//
// Socket.Context is a context.Context for work a channel starts (a request to another service, a
// goroutine): cancelled when the channel incarnation ends (after Terminate; an in-place restart's new
// incarnation has a context of its own), and carrying the connection's trace context
// (telemetry.TraceContextFrom: the traceparent and tracestate headers of the request that opened the
// connection, Phoenix's connect_info[:trace_context_headers]). Package actors/telemetry/oteltrace starts
// OpenTelemetry spans under it; Pyre itself does not import OpenTelemetry.
//
// # Concurrency
//
// A Channel value is only ever called from its actor, one callback at a time: its fields need no locks.
// Callbacks must not block for long — they hold up that channel's mailbox (not anyone else's): to ask
// another actor, Request it and handle the answer in HandleInfo, never wait on a Future. Socket.Push,
// Broadcast, BroadcastFrom, Send, SendAfter, PID and ReplyRef.Reply are safe from any goroutine; Assigns,
// Assign, Keep, Subscribe, Unsubscribe, Sender and Respond belong to the callbacks. Router is configured
// before serving and read-only afterwards.
package channel
