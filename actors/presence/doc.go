// Package presence tracks who is online in each topic, compatible with Phoenix.Presence and the
// phoenix.js Presence class (PROTOCOL.md §8).
//
// A Tracker is started once per endpoint (Start) as an infrastructure actor under the endpoint
// supervisor. Channels call Track, Update and Untrack from their callbacks; each meta gains a unique
// "phx_ref" (and "phx_ref_prev" after an update). Every change reaches the topic's subscribers as a
// "presence_diff" broadcast {"joins":{..},"leaves":{..}} through the normal fastlane; a channel pushes the
// whole list as "presence_state" after its join (the convention: Send yourself a message in Join, push
// List in HandleInfo). The wire shape of a list is {"<key>":{"metas":[{..,"phx_ref":".."}]}}, plus what
// Config.Fetch adds next to "metas".
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
// # Diff batching
//
// Changes are batched for Config.Window (50 ms by default) per topic before one presence_diff goes out: a
// reconnect storm of thousands of joins becomes a few diffs per topic, not one broadcast per change. A
// presence that joins and leaves within the same window is not sent at all. A key's joins and leaves are
// never reordered: every meta has its own phx_ref, phoenix.js applies a diff's joins then its leaves by
// phx_ref, and a batch never holds a join and a leave of the same phx_ref.
//
// # Data structure and restarts of the tracker
//
// The set is a CRDT (package crdt: an add-wins observed-remove set with per-replica clocks, as
// Phoenix.Tracker.State), so that several nodes can later replicate it by exchanging deltas; on one node
// a single replica holds everything. The tracker actor owns it; List reads it under a lock. What each
// channel tracks is also kept with the channel (its monitor record), which is the truth the tracker
// rebuilds from: when the tracker actor restarts (a crash, a chaos kill), it builds a fresh set from every
// live channel's records, broadcasts the difference from what clients were last told as presence_diff,
// and goes on. Changes made while it was down are in that difference; nothing is lost for good.
package presence
