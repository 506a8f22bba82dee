package telemetry

import (
	"time"
)

// Events is Pyre's observer: one optional func per event, as Phoenix's :telemetry handlers. A nil func
// costs its emission point one nil check and nothing else (the event value is not even built); set only
// what you need. Give it in transport.Config.Events (or host.Config.Events, presence.Config.Events);
// Combine runs several observers (metrics, a dashboard, your own) side by side.
//
// Every func runs synchronously on the goroutine named in its doc, usually an actor's turn: a slow func
// slows that actor (that connection, that channel) and nobody else, and never blocks the runtime as a
// whole — but it adds to the latency of what that actor does next, so keep it short (count, record,
// hand off to a bounded queue). A panic in a func is recovered and logged (at most one line per second
// per event) and the event is lost; Pyre carries on.
//
// Funcs may be called concurrently from many goroutines (one per connection or channel): they must be
// safe for concurrent use. Event values are copies: keep them if you like.
type Events struct {
	// Phoenix's four events.

	// SocketConnected reports the outcome of a connection attempt that reached the socket handler
	// (Phoenix's [:phoenix, :socket_connected]): Duration is the handler's Connect. Refusals before it
	// (origin, vsn) are not reported. With Result ResultOK it is sent once the connection runs (its
	// socket actor started), so every ResultOK is followed by exactly one SocketDisconnected.
	// Runs on the HTTP handler's goroutine of the upgrade or long-poll request.
	SocketConnected func(SocketConnected)
	// ChannelJoined reports a join, accepted or refused (Phoenix's [:phoenix, :channel_joined]): Duration
	// is the channel's Join. Every join with Result ResultOK is followed by exactly one ChannelLeft.
	// A Join re-run by an in-place restart is reported by ChannelRestarted, not here.
	// Runs in the channel actor's turn.
	ChannelJoined func(ChannelJoined)
	// ChannelHandledIn reports a client push handled by HandleIn (Phoenix's
	// [:phoenix, :channel_handled_in]): Duration is HandleIn's. Runs in the channel actor's turn.
	ChannelHandledIn func(ChannelHandledIn)
	// SocketDrain reports each batch of a drain (Endpoint.Shutdown, Host.Drain), as Phoenix's
	// [:phoenix, :socket_drain]. Runs on the goroutine that called Shutdown or Drain.
	SocketDrain func(SocketDrain)

	// What Phoenix does not report.

	// SocketDisconnected reports the end of a connection that SocketConnected reported with ResultOK,
	// once, with its close code. Runs on the connection's read goroutine (WebSocket) or on whatever
	// ends a long-poll session (a request's goroutine, the endpoint's janitor actor, Shutdown).
	SocketDisconnected func(SocketDisconnected)
	// ChannelLeft reports the end of a channel that ChannelJoined reported with ResultOK, once, with the
	// reason it ended (channel.ErrLeft, ErrClosed, ErrDuplicateJoin, ErrShutdown, channel.StopNormal, an
	// error a callback returned, a *channel.CrashError when a crash was not restarted...). In-place
	// restarts do not end a channel. Runs in the channel actor's turn as it stops.
	ChannelLeft func(ChannelLeft)
	// ChannelCrashed reports a channel incarnation that failed: a panic in a callback, an error returned,
	// a kill. Whether it restarts follows (ChannelRestarted, or ChannelEscalated/ChannelLeft).
	// Runs in the socket actor's turn (the channel's supervisor), as it decides.
	ChannelCrashed func(ChannelCrashed)
	// ChannelRestarted reports an in-place restart whose re-run Join succeeded. Runs in the channel
	// actor's turn, after that Join.
	ChannelRestarted func(ChannelRestarted)
	// ChannelEscalated reports a supervisor giving up on restarts: a channel over its route's intensity
	// (it ends with phx_error) or a connection over its WithConnIntensity (it closes with 1011).
	// Runs in the socket actor's turn.
	ChannelEscalated func(ChannelEscalated)
	// SlowConsumer reports a connection cut because it did not read fast enough (its outbound queue
	// overflowed, or its intercepted broadcasts piled up): it closes with 1013. Runs on the goroutine
	// whose write found the queue full: a channel actor, a publisher's goroutine (a broadcast), a writer.
	SlowConsumer func(SlowConsumer)
	// EndpointGaveUp reports the endpoint supervisor giving up after its infrastructure crashed past
	// host.EndpointIntensity: every connection closes with 1011. Runs in the supervisor's turn.
	EndpointGaveUp func(EndpointGaveUp)
	// InfrastructureRestarted reports a restart of an infrastructure actor (the janitor, a presence
	// tracker...) by the endpoint supervisor. Runs in the supervisor's turn.
	InfrastructureRestarted func(InfrastructureRestarted)
	// MessageReceived reports each message decoded from a client (heartbeats, joins, pushes, leaves).
	// Runs on the connection's read goroutine (WebSocket) or the long-poll POST's.
	MessageReceived func(MessageReceived)
	// MessagesSent reports frames written to a client, once per write (a write carries every frame the
	// connection had queued). Runs on the connection's writer (a shared flush worker or a goroutine of
	// the connection's own) or the long-poll GET's goroutine.
	MessagesSent func(MessagesSent)
	// Broadcast reports a broadcast delivered on this node with how many subscribers it reached (its
	// local fan-out; other nodes report their own). Runs on the broadcaster's goroutine: a channel actor,
	// your code calling Endpoint.Broadcast, the cluster's relay.
	Broadcast func(Broadcast)
	// PresenceJoined and PresenceLeft report this node's presences (package actors/presence): a key's
	// first meta on a topic, its last one gone. Runs on the goroutine of the change: the channel actor
	// that called Track or Untrack, or that ended.
	PresenceJoined func(Presence)
	PresenceLeft   func(Presence)
	// LongPollOpened and LongPollClosed report long-poll sessions. Closed comes once per Opened. Opened
	// runs on the opening GET's goroutine; Closed where SocketDisconnected runs.
	LongPollOpened func(LongPoll)
	LongPollClosed func(LongPoll)
	// MemberJoined and MemberLeft report cluster nodes joining and leaving, for package actors/cluster's
	// membership to emit from its manager actor's turn. It does not yet: until it does, set the metrics'
	// gauge with metrics.Metrics.SetClusterMembers.
	MemberJoined func(Member)
	MemberLeft   func(Member)
}

// Results of SocketConnected, ChannelJoined and ChannelHandledIn.
const (
	ResultOK    = "ok"    // accepted; replied ok
	ResultError = "error" // refused (Connect's error, Join's Deny or error); replied error
	ResultCrash = "crash" // the callback panicked
	ResultNone  = "noreply"
)

// Conn names a connection in events.
type Conn struct {
	// Socket is the socket actor's PID id: unique among this node's connections while it runs, and the
	// key that ties channel events to their connection. "" in a SocketConnected that was refused.
	Socket string
	// ID is the socket id (channel.Identifier, e.g. "users_socket:42"), "" when anonymous.
	ID string
	// Transport is "websocket" or "longpoll" (channeltest: "test").
	Transport string
}

// Channel names a channel in events.
type Channel struct {
	Conn
	// Topic is the channel's topic ("room:42"): unbounded, do not use it as a metric label as is
	// (TopicPrefix).
	Topic string
	// Channel is the channel actor's PID id: the same across its in-place restarts.
	Channel string
	// Restart is the route's restart type: "permanent", "transient" or "temporary".
	Restart string
	// Trace is the connection's trace context (see channel.Socket.Context), nil when its request had none.
	Trace *TraceContext
}

// SocketConnected is a connection accepted or refused by the socket handler.
type SocketConnected struct {
	Conn
	Duration   time.Duration // the socket handler's Connect
	Result     string        // ResultOK, ResultError (refused: Connect's error, or the endpoint closing), ResultCrash (Connect panicked)
	Serializer string        // the vsn asked for: "1.0.0", "2.0.0"
}

// SocketDisconnected is the end of a connection.
type SocketDisconnected struct {
	Conn
	// Code is the WebSocket close code: the one the server sent when it closed the connection (1001
	// kicked or idle, 1011 crash, 1012 shutdown, 1013 slow consumer...), else the client's; 1005 when the
	// client's close frame had no code, 1006 when the connection ended with no close frame. A long-poll
	// session has no close frame: 1001 when it expired unpolled, else the code the server closed it with.
	Code uint16
	// Duration is how long the connection ran.
	Duration time.Duration
}

// SocketDrain is one batch of a drain.
type SocketDrain struct {
	Count  int // connections in this batch
	Total  int // connections the drain ends in all
	Index  int // 0-based batch index
	Rounds int // batches in all
}

// ChannelJoined is a join handled by a channel's Join.
type ChannelJoined struct {
	Channel
	Duration time.Duration
	Result   string // ResultOK, ResultError (refused), ResultCrash
}

// ChannelHandledIn is a client push handled by HandleIn.
type ChannelHandledIn struct {
	Channel
	Event    string // the push's event: bounded only by what your channels accept
	Duration time.Duration
	// Result is the reply's status ("ok", "error", or another given to ReplyStatus), ResultNone for
	// NoReply, ResultCrash when HandleIn panicked.
	Result string
}

// ChannelLeft is the end of a joined channel.
type ChannelLeft struct {
	Channel
	Reason      error
	Incarnation int // the incarnation that ended (1 if never restarted)
}

// ChannelCrashed is a failed channel incarnation.
type ChannelCrashed struct {
	Channel
	Incarnation int   // the incarnation that failed
	Reason      error // a *channel.CrashError (its Stack is the full stack) or the error returned
	// Stack is a short summary of where it panicked: up to 5 frames nearest the panic, one
	// "function file:line" per line (StackSummary); "" when it did not panic.
	Stack string
}

// ChannelRestarted is an in-place restart that succeeded.
type ChannelRestarted struct {
	Channel
	Incarnation int           // the new incarnation (2 after the first restart)
	Duration    time.Duration // the re-run Join
}

// Escalation scopes.
const (
	ScopeChannel    = "channel"    // the channel's own intensity (WithIntensity): it ends with phx_error
	ScopeConnection = "connection" // the connection's (WithConnIntensity): it closes with 1011
)

// ChannelEscalated is a supervisor giving up on restarts.
type ChannelEscalated struct {
	Channel
	Scope       string // ScopeChannel or ScopeConnection
	Incarnation int
	Reason      error // the failure that tipped it over
}

// Slow-consumer causes.
const (
	SlowQueue     = "queue"      // the outbound queue overflowed (transport.Config.MaxQueueMessages/MaxQueueBytes)
	SlowHandleOut = "handle_out" // intercepted broadcasts piled up (host.Config.MaxPendingOut)
	SlowJoin      = "join"       // broadcasts piled up while a join reply was being sent
)

// SlowConsumer is a connection cut as a slow consumer.
type SlowConsumer struct {
	Conn
	Cause string // SlowQueue, SlowHandleOut, SlowJoin
	Topic string // the channel's topic for SlowHandleOut and SlowJoin, else ""
}

// EndpointGaveUp is the endpoint supervisor giving up.
type EndpointGaveUp struct {
	Reason error // the last infrastructure failure
}

// InfrastructureRestarted is an infrastructure actor restarted by the endpoint supervisor.
type InfrastructureRestarted struct {
	Child  string // its child id ("janitor", "presence"...)
	Reason error  // why it failed
}

// MessageReceived is one message from a client.
type MessageReceived struct {
	Conn
	Topic string // unbounded: TopicPrefix for labels
	Event string // "heartbeat", "phx_join", "phx_leave" or the push's event
	Bytes int    // the frame's size (long-poll: the message's size in the request body)
}

// MessagesSent is one write to a client.
type MessagesSent struct {
	Conn
	Frames int // messages written (close frames not counted)
	Bytes  int
}

// Broadcast is one broadcast's local fan-out.
type Broadcast struct {
	Topic       string // unbounded: TopicPrefix for labels
	Event       string
	Subscribers int // local subscribers it was delivered to (channels, presence trackers, ...)
}

// Presence is a presence joining or leaving a topic.
type Presence struct {
	Topic string
	Key   string
	// Metas is how many metas the key has on the topic on this node after the change (0 for a leave).
	Metas int
}

// LongPoll is a long-poll session.
type LongPoll struct {
	Conn
	// Duration is how long the session ran (0 in LongPollOpened).
	Duration time.Duration
	// Expired is true when it ended because no GET polled it for 1.5 windows (LongPollClosed only).
	Expired bool
}

// Member is a cluster node joining or leaving.
type Member struct {
	ID      string // the node's id
	Name    string // its name as peers show it (a host name), "" when unnamed
	Address string // its cluster address, "host:port"
	Members int    // nodes in the cluster after the change, this one included
}
