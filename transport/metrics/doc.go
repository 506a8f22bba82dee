// Package metrics exports Pyre's Prometheus metrics, kept from its telemetry events (package
// actors/telemetry).
//
//	reg := prometheus.NewRegistry()
//	m, err := metrics.New(reg, metrics.Config{})
//	ep := transport.NewEndpoint(transport.Config{Events: m.Events()})
//	http.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
//
// Metrics are registered on the prometheus.Registerer given to New and never on Prometheus's global
// registry (pass prometheus.DefaultRegisterer yourself if that is what you want). To observe the endpoint
// yourself as well, combine: transport.Config{Events: telemetry.Combine(m.Events(), mine)}. A presence
// tracker started on the endpoint reports its presences to the same events.
//
// # Metrics
//
// Names are as below with the default Namespace "pyre". Labels are bounded: transport ("websocket",
// "longpoll"), result, cause, scope, reason and code take a few fixed values; topic_prefix is a topic up to
// its first ':' ("room:" for "room:42"; a topic without ':' counts as "other"), at most
// Config.MaxTopicPrefixes values (then "other" too). No label ever holds a full topic, an event name or a
// user id.
//
//	pyre_connections{transport}                        gauge      open connections
//	pyre_connects_total{transport,result}              counter    connection attempts that reached Connect: ok, error, crash
//	pyre_connect_duration_seconds{transport}           histogram  Connect's duration
//	pyre_disconnects_total{code}                       counter    connections ended, by close code (1000-1015, else "other")
//	pyre_channels{topic_prefix}                        gauge      joined channels
//	pyre_channel_joins_total{topic_prefix,result}      counter    joins: ok, error (refused), crash
//	pyre_join_duration_seconds{topic_prefix}           histogram  Join's duration
//	pyre_handle_in_duration_seconds{topic_prefix}      histogram  HandleIn's duration
//	pyre_channel_leaves_total{reason}                  counter    joined channels ended: left, closed, duplicate_join, shutdown, normal, crash, error, too_many_restarts
//	pyre_channel_crashes_total{topic_prefix}           counter    failed channel incarnations
//	pyre_channel_restarts_total{topic_prefix}          counter    in-place restarts that succeeded
//	pyre_channel_escalations_total{scope}              counter    restart intensities exceeded: channel, connection
//	pyre_messages_received_total{transport}            counter    messages from clients (heartbeats included)
//	pyre_messages_sent_total{transport}                counter    messages to clients (pushes, replies, broadcasts)
//	pyre_sent_bytes_total{transport}                   counter    bytes to clients
//	pyre_slow_consumer_disconnects_total{cause}        counter    slow consumers cut (1013): queue, handle_out, join
//	pyre_broadcasts_total{topic_prefix}                counter    broadcasts delivered on this node
//	pyre_broadcast_deliveries_total{topic_prefix}      counter    their local fan-out (subscribers reached)
//	pyre_presences{topic_prefix}                       gauge      presences (keys) on this node
//	pyre_drained_connections_total                     counter    connections ended by drains
//	pyre_endpoint_give_ups_total                       counter    the endpoint supervisor giving up
//	pyre_infrastructure_restarts_total{child}          counter    infrastructure actors restarted
//	pyre_cluster_members                               gauge      cluster nodes (SetClusterMembers, or MemberJoined/Left events)
//
// Durations are in seconds, in buckets from 100 µs to 6.5 s (×4).
//
// # Cost
//
// Each event does a few atomic adds on the goroutine that emits it; the per-message ones (messages in and
// out, pushes, broadcasts) find their series without a label lookup. Messages and bytes sent, added by
// every connection's writer once per write, go to a shard per P (no cache line shared by every core) and
// are summed when scraped, so a scrape still reads exact totals. See the README for the measured cost on
// fan-out and request/reply.
//
// # Concurrency
//
// Metrics and the Events it returns are safe for concurrent use.
package metrics
