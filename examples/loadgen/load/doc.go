// Package load is a Phoenix Channels load generator, in the spirit of the Tsung scenarios behind
// Phoenix's "2 million WebSocket connections" benchmark. It speaks only the Phoenix V2 protocol (through
// Pyre's lean client, transport/client), so it drives any Phoenix server: Pyre, a Phoenix app, or
// anything else that speaks the wire.
//
// A run has four phases:
//
//  1. Connect: Conns connections are opened at ConnectRate, at most ConnectConcurrency at a time, bound
//     round-robin to SourceAddrs (127.0.0.x) so the ephemeral ports toward one server address do not run
//     out; each joins JoinsPerConn topics, assigned round-robin so every topic gets the same number of
//     joins. The whole phase is bounded by ConnectTimeout.
//  2. Hold: for Duration, every joined channel pushes PushEvent at PushRate (one shared scheduler, random
//     phases, ±10 % jitter) and every message is counted as it arrives; broadcasts carrying a "ts"
//     timestamp give the publish→delivery latency.
//  3. Drain: the replies of the last pushes are awaited (at most PushTimeout).
//  4. Close: every connection is closed; connections the server (or the network) closed before that are
//     reported by close code.
//
// Run returns a Result with exact counts (the invariants are stated on its fields) and HdrHistogram
// latency summaries for connect, join, push→reply and publish→delivery.
//
// # Concurrency
//
// Run is safe to call from several goroutines (each run is independent) and leaves no goroutine behind.
// Per connection it keeps the client's read goroutine (plus its heartbeat timer) and, when the connection
// has joined channels, one reader goroutine that takes their messages the moment they arrive (the client
// delivers them on Go channels, not through a callback). Pushes are driven by a single scheduler
// goroutine with one timer for all channels; each push awaiting its reply holds a short-lived goroutine,
// at most MaxInFlight of them. Config.Progress is written from one goroutine only.
//
// # Mapping from Tsung
//
//	Tsung (Phoenix's 2M benchmark)          load
//	<arrivalphase> users arrivalrate        Config.Conns, Config.ConnectRate
//	<ip value="127.0.0.x"/> client IPs      Config.SourceAddrs
//	websocket connect + phx_join requests   Config.URL, Params, Topics/TopicPattern, JoinsPerConn
//	<for> loop of pushes with thinktime     Config.PushEvent, PushPayload, PushRate
//	<thinktime> holding the connections     Config.Duration
//	%%_ts%% / dynvars                       "{i}", "{n}", "{seq}" placeholders
//	tsung stats report                      Result, Result.WriteTable
package load
