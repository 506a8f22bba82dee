// Package presence tracks who is online in each topic, compatible with Phoenix.Presence and the
// phoenix.js Presence class (transport/PROTOCOL.md §8).
//
// A Tracker is started once per endpoint (Start) as an infrastructure actor under the endpoint
// supervisor. Channels call Track, Update and Untrack from their callbacks; each meta gains a unique
// "phx_ref" (and "phx_ref_prev" after an update). Every change reaches the topic's subscribers as its own
// "presence_diff" broadcast {"joins":{..},"leaves":{..}} through the normal fastlane, as Phoenix sends them:
// a track is a join, an untrack a leave, an update the leave of the old meta and the join of the new in
// one diff, a channel's exit the leaves of all it tracked in the topic. A channel pushes the whole list as
// "presence_state" after its join (the convention: Send yourself a message in Join, call PushState in
// HandleInfo). The wire shape of a list is {"<key>":{"metas":[{..,"phx_ref":".."}]}}, plus what
// Config.Fetch adds next to "metas".
//
// A change is applied to the set at once, by the channel that makes it (so List right after Track
// includes it, as in Phoenix, where track waits for the tracker); its diff is queued. Each topic's queue
// — its diffs, and the presence_states channels asked for — is sent in order by a worker goroutine of the
// topic's own, outside the tracker's lock, so a busy topic holds up neither other topics nor changes. A
// state holds exactly the diffs its client got before it, and the client gets every later diff after it.
// The channels waiting for a state at the same point of the queue share one encoding of it: in a join
// storm the worker is busy while joiners arrive, so each of its turns serves all of them with the same
// bytes, instead of encoding the whole list once per joiner.
//
// # Lifecycle
//
// A channel's presences are untracked when the channel ends, whatever the way: leave, close, crash,
// kill, shutdown (the tracker monitors the channel, channel.Monitor). A channel restarted in place
// (channel.WithRestart Transient or Permanent) does not flap: its presences survive the restart. They
// stay tracked while it restarts, and its re-run Join, which tracks them again as a first Join would,
// takes each back as it was — same meta, same phx_ref, no diff, even if the Join computed a new meta (a
// restart is not a change; call Update for one). A presence the re-run Join does not track again is
// untracked once Join returns. Clients see nothing of a restart that tracks what it tracked before.
//
// # Diff batching (opt-in)
//
// Config.Window > 0 batches each topic's changes for that long into one presence_diff, and the states
// asked for meanwhile into one encoding, sent after that diff: for reconnect storms of thousands of
// clients per topic (BenchmarkReconnectStorm: 5,000 reconnecting clients cost 10,000 diffs, each to
// every subscriber, and 78 s with the default; 102 diffs and 12 s with a 50 ms window). Clients then see
// changes merged that Phoenix sends apart — two users' joins in one diff, a meta that joined and left
// within the window in both the joins and the leaves of one diff — and a presence_state up to a window
// late.
// phoenix.js copes (it applies a diff's joins, then its leaves, by phx_ref); clients written against
// Phoenix's frames may not.
//
// # Data structure and restarts of the tracker
//
// The set is a CRDT (package crdt: an add-wins observed-remove set with per-replica clocks, as
// Phoenix.Tracker.State), so that several nodes can later replicate it by exchanging deltas; on one node
// a single replica holds everything. It and the pending diffs live in the Tracker, like Phoenix's ETS
// table, and outlive the tracker actor, which times the batches. What each channel tracks is also kept
// with the channel (its monitor record): the truth the tracker rebuilds from. When the tracker actor
// restarts (a crash, a chaos kill), it builds a fresh set from every live channel's records, makes the
// set equal to it, and at once broadcasts the diffs that waited while it was down and the difference the
// check found. Nothing is lost for good.
package presence
