// Package presence tracks who is online in each topic, compatible with Phoenix.Presence and the
// phoenix.js Presence class (PROTOCOL.md §8).
//
// A Tracker is started once per endpoint (Start) as an infrastructure actor under the endpoint
// supervisor. Channels call Track, Update and Untrack from their callbacks; each meta gains a unique
// "phx_ref" (and "phx_ref_prev" after an update). Every change reaches the topic's subscribers as a
// "presence_diff" broadcast {"joins":{..},"leaves":{..}} through the normal fastlane; a channel pushes the
// whole list as "presence_state" after its join (the convention: Send yourself a message in Join, call
// PushState in HandleInfo). The wire shape of a list is {"<key>":{"metas":[{..,"phx_ref":".."}]}}, plus
// what Config.Fetch adds next to "metas".
//
// A change is applied to the set at once, by the channel that makes it (so List right after Track
// includes it, as in Phoenix, where track waits for the tracker); only its broadcast is batched.
// PushState reads and pushes the list in one order with the diffs; a diff that arrives after a state that
// already holds it is harmless (phoenix.js applies joins and leaves by phx_ref).
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
// key's joins and leaves are never reordered: every meta has its own phx_ref, and phoenix.js applies a
// diff's joins, then its leaves, by phx_ref; a meta that joined and left within one window is in both,
// which leaves every client without it.
//
// # Data structure and restarts of the tracker
//
// The set is a CRDT (package crdt: an add-wins observed-remove set with per-replica clocks, as
// Phoenix.Tracker.State), so that several nodes can later replicate it by exchanging deltas; on one node
// a single replica holds everything. It and the pending diffs live in the Tracker, like Phoenix's ETS
// table, and outlive the tracker actor, which times the flushes. What each channel tracks is also kept
// with the channel (its monitor record): the truth the tracker rebuilds from. When the tracker actor
// restarts (a crash, a chaos kill), it builds a fresh set from every live channel's records, makes the
// set equal to it, and at once broadcasts the diffs that waited while it was down and the difference the
// check found. Nothing is lost for good.
package presence
