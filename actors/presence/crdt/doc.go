// Package crdt is the replicated data structure behind presence: an add-wins observed-remove set of
// presences with delta-state replication, in the manner of Phoenix.Tracker.State.
//
// A presence (Entry) is an owner's (topic, key, meta), added under a Dot: the replica that added it and
// that replica's clock, which every local event (join, leave, update) increments. Each State is one
// replica's view; a tracker owns one, applies its local channels' joins and leaves to it, sends what
// TakeDelta returns to its peers, Merges what they send, and broadcasts the joins and leaves that
// Merge, the local operations and the replica up/down calls return as presence_diff.
//
// # Semantics
//
//   - Only the replica that added a presence removes it (Leave, LeaveOwner, Update act on local
//     presences), and its removal travels as a removal of that dot. So a remove removes only dots it has
//     observed, and a concurrent add of another dot under the same key survives: add wins.
//   - The causal context (Context) gives, per replica, the clock up to which its events have been seen.
//     A dot at or below it that a state does not hold was removed: a delta carrying the add late does not
//     bring it back.
//   - Merge is all or nothing and refuses a delta that starts above the receiver's clock for its replica
//     (ErrNotContiguous): the receiver missed events and asks for Extract. So each state's view of a
//     replica R is exactly R's own set as of the clock recorded for R; merging is commutative,
//     associative and idempotent, deltas apply in any order that keeps each replica contiguous, and
//     states with equal contexts hold equal sets.
//   - Visible means "of a replica that is up": ReplicaDown hides a silent replica's presences (reported
//     as leaves), ReplicaUp shows them again, RemoveReplica forgets them.
//   - Every list returned is in one deterministic order: topic, key, then dot.
//
// Phoenix keeps, besides the clocks, a "cloud" of dots seen out of order. Here the refusal of gaps makes
// the dots seen of each replica always a prefix 1..clock, so the clock is the whole context; what comes
// out of order in a delta — its removal of dots older than its range — is Range.Removed, which the
// receiver's clock covers by the time it is applied.
//
// A Replica name must not be reused by a restarted process (its clock restarts): include an incarnation
// in it. Merge reports a reuse it notices as ErrReplicaReused.
//
// # Representation
//
// One 96-byte record per presence, on a list per (topic, key) (topic → key map) and, when local, a list
// per owner (owner map); per replica a clock-ordered slot array (16 bytes per presence) finds dots for
// Merge. Meta is copied once into an exact-size array. No map or slice per presence.
//
// # Concurrency
//
// A State is not safe for concurrent use: one actor owns it. Entries and Deltas it returns share only
// immutable memory with it and may be passed to other goroutines; it copies the Meta it is given.
//
// # Mapping from Phoenix.Tracker.State
//
//	new/2                               New
//	join/5, leave/4, leave/2 (pid)      Join, Leave, LeaveOwner (pid → Owner)
//	leave_join/5                        Update
//	get_by_topic/2, get_by_key/3        Get, GetByKey
//	online_list/1                       Online (a count)
//	clocks/1                            Context
//	delta + reset_delta/1               TakeDelta
//	extract/3                           Extract
//	merge/2                             Merge
//	replica_up/2, replica_down/2        ReplicaUp, ReplicaDown
//	remove_down_replicas/2              RemoveReplica
//	Clock.dominates?/2 (transfer_req)   Behind
//	tag {replica, clock}                Dot
package crdt
