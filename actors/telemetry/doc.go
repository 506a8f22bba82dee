// Package telemetry is how a running Pyre reports what happens in it: Phoenix's :telemetry events in Go
// form, and the trace context a connection arrived with.
//
// # Events
//
// Events is a struct of optional funcs, one per event. Give it to the endpoint and Pyre calls each func
// that is set where the event happens:
//
//	ep := transport.NewEndpoint(transport.Config{Events: telemetry.Events{
//		ChannelCrashed: func(e telemetry.ChannelCrashed) { log.Printf("%s crashed: %v\n%s", e.Topic, e.Reason, e.Stack) },
//	}})
//
// Package transport/metrics turns them into Prometheus metrics; Combine runs several observers side by
// side (metrics, a dashboard, your own).
//
// # Mapping from Phoenix
//
//	[:phoenix, :socket_connected]     SocketConnected (Duration, Result, Transport, Serializer)
//	[:phoenix, :channel_joined]       ChannelJoined (Duration, Result)
//	[:phoenix, :channel_handled_in]   ChannelHandledIn (Duration, Event)
//	[:phoenix, :socket_drain]         SocketDrain (Count, Total, Index, Rounds)
//	(none)                            SocketDisconnected (Code), ChannelLeft (Reason), ChannelCrashed (Stack),
//	                                  ChannelRestarted and ChannelEscalated (Incarnation), SlowConsumer,
//	                                  EndpointGaveUp, InfrastructureRestarted, MessageReceived, MessagesSent,
//	                                  Broadcast (fan-out), PresenceJoined/Left, LongPollOpened/Closed,
//	                                  MemberJoined/Left
//	connect_info[:trace_context_headers]  channel.ConnectInfo.TraceContext; Socket.Context carries a TraceContext
//
// Pairs balance: each SocketConnected with ResultOK is followed by one SocketDisconnected, each
// ChannelJoined with ResultOK by one ChannelLeft, each LongPollOpened by one LongPollClosed, so that
// gauges (connections, channels) can be kept from them.
//
// # Cost
//
// An event nobody observes costs one nil check where it would be emitted: its value is not built. An
// observed event costs a call on the goroutine it happens on, plus what the func does.
//
// # Concurrency
//
// Each func runs synchronously where its event happens, as documented on its field: mostly in the turn of
// the actor concerned (the channel's, the socket's), else on the connection's read or write goroutine or
// the caller's. It never blocks the runtime as a whole, but a slow func slows that actor, so keep funcs
// short and never block in them; hand heavy work to a bounded queue of your own. Funcs run concurrently
// for different connections and channels and must be safe for concurrent use. A panic in a func is
// recovered and logged (Events.Guarded, which the runtime applies), never a crash.
//
// # Trace context
//
// A connection's traceparent and tracestate headers (its upgrade or first long-poll request) are kept with
// it when present; a channel callback reaches them through channel.Socket.Context, a context.Context that
// carries a TraceContext (TraceContextFrom) and is cancelled when that channel incarnation ends.
// OpenTelemetry is optional: package actors/telemetry/oteltrace turns it into a span context; the rest of
// Pyre does not import OpenTelemetry.
package telemetry
