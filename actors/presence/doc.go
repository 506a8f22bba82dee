// Package presence tracks who is online in each topic, compatible with Phoenix.Presence and the
// phoenix.js Presence class (transport/PROTOCOL.md §8).
//
//	tracker, err := presence.Start(ctx, ep, presence.Config{}) // once, after transport.NewEndpoint, before serving
//	router.Channel("room:*", func() channel.Channel { return &Room{tracker: tracker} })
//
//	func (r *Room) Join(s *channel.Socket, topic string, p channel.Payload) (any, error) {
//		user, _ := channel.Get[string](s.Assigns(), "user_id")
//		if err := r.tracker.Track(s, user, map[string]any{"online_at": time.Now().Unix()}); err != nil {
//			return nil, err
//		}
//		s.Send(afterJoin{}) // in HandleInfo: return r.tracker.PushState(s)
//		return nil, nil
//	}
//
// On the client, phoenix.js's Presence class (new Presence(channel)) keeps the list from presence_state and
// presence_diff. Tracking the same key twice from one channel is ErrAlreadyTracked; Update changes a
// presence's meta; Untrack ends it; List and GetByKey read a topic (Config.Fetch enriches what they and
// PushState return, as Phoenix's fetch/2); Tracked tells what a channel tracks under a key.
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
// So the key must be the same in every incarnation of a channel: derive it (a user id from the socket's
// assigns) or, for anonymous clients, draw it once and keep it with channel.Socket.Keep:
//
//	key, ok := s.Assigns()["presence_key"].(string)
//	if !ok {
//		key = rand.Text() // crypto/rand
//		_ = s.Keep("presence_key", key) // the next incarnation's Join sees the same key
//	}
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
// Phoenix.Tracker.State); on one node a single replica holds everything. It and the pending diffs live in
// the Tracker, like Phoenix's ETS table, and outlive the tracker actor, which times the batches (and, on
// several nodes, the replication). What each channel tracks is also kept with the channel (its monitor
// record): the truth the tracker rebuilds from. When the tracker actor restarts (a crash, a chaos kill),
// it checks this node's presences against every live channel's records, makes them equal in place (as
// the replica's own changes: the replica stays the same, other nodes' presences are untouched), and at
// once broadcasts the diffs that waited while it was down and the difference the check found. Nothing is
// lost for good.
//
// # Several nodes
//
// With Config.Cluster (a started *cluster.Node, whose actor system the endpoint runs on) the trackers of
// the same Name on every member share one set, as Phoenix.Tracker's shards do. Each node's tracker is one
// replica, named after the node's member id and a random part, so a restarted node is a new replica.
//
//	node A                                              node B (and C, alike)
//	Track ─► set (replica A) ─► presence_diff to A's clients
//	            │ every Period: A's delta (its changes since the last one) + A's clocks
//	            └──── Heartbeat ──gRPC──► "pyre-presence-<Name>" ─► merge ─► presence_diff to B's clients
//	                   ◄── Ack ─────────── (≤ 4 unacknowledged per peer)
//	            a gap, or clocks ahead of B's: B asks TransferReq ─► A answers Transfer (A's state)
//
// List, GetByKey and presence_state show every node's presences, and each node's tracker sends its own
// clients the presence_diffs of every node's changes (diffs never cross nodes: each node makes its own from
// the merged changes, as Phoenix.Presence does with its local broadcast). The messages are protobuf
// (package presencepb), addressed to "pyre-presence-<Name>" at each member's cluster address: a name in
// protoactor's registry that hands what arrives to the tracker actor now running.
//
// Guarantees and bounds (membership defaults of package cluster: heartbeats every 500 ms, dead after 2 s):
//
//   - A change reaches the other nodes' clients within Period (500 ms by default) plus the hop.
//   - A node that dies (SIGKILL, power loss) leaves the cluster's membership within DeadAfter +
//     HeartbeatInterval (2.5 s); its presences then leave on every other node at once, as one
//     presence_diff per topic. Measured on loopback: 2.44–2.50 s from SIGKILL to the diff at a client of
//     another node. The same holds for a netsplit, seen from each side.
//   - A netsplit that heals (the member comes back with the same id): its presences come back as joins,
//     with the same phx_ref (no duplicate), as soon as its tracker answers (measured 1–8 ms after the
//     membership sees it again); what changed during the split follows as a transfer. A member that
//     stays away longer than PermdownAfter (20 min) is forgotten; a member id at the address of a left one
//     (the node restarted) makes the old one forgotten at once.
//   - A node that drains (transport.Endpoint.Shutdown before cluster.Node.Stop): its channels end, their
//     leaves go out with the next period, and the tracker, stopping last, sends what remains at once:
//     the others see them leave within Period, the last ones at once (measured 1–11 ms from the start of
//     Shutdown with one connection, at a client of a node in another process).
//   - A killed or crashed tracker actor loses nothing: the set lives in the Tracker, the actor rebuilds in
//     place, and other nodes see no change. What arrives from other nodes while it restarts is dropped,
//     and comes again (a gap asks for a transfer).
//   - Outbound is bounded: at most 4 heartbeats unacknowledged per peer, and one transfer; a slow peer misses
//     deltas instead and catches up by transfer. Nothing blocks an actor. A transfer goes in parts of
//     1 MiB, merged in order, so a state of any size crosses within the cluster's gRPC limit; a delta over
//     4 MiB (a storm within one period) is not sent in a heartbeat: the peers get it by transfer.
//   - Delivery between nodes is at most once, like everything between nodes; the set converges anyway
//     (contexts are compared on every heartbeat, and at least every 10 periods when nothing changes).
//
// Period is 500 ms rather than Phoenix's 1.5 s because here it carries changes only: liveness is the
// cluster's membership, and an idle tracker sends nothing but its clocks every 10 periods. A shorter
// period makes a change reach other nodes sooner and costs a message per peer per period only while
// changes happen (a storm still costs one).
//
// Cost: a heartbeat carries ~10 bytes per change plus its topic, key and meta (73 bytes per join with
// {"online_at":".."} metas: 7 KB for 100 joins, 0.7 MB for 10,000) and the sender's clocks (about 40 bytes
// per node); nothing is sent while nothing changes, except the clocks every 10 periods. A node meeting one
// that holds 30,000 presences lists them all 0.75–1.4 s after they became members (2.2 MB in 3 parts, on
// 2 shared cores).
//
// # Mapping from Phoenix.Tracker
//
//	shard                                  a Tracker (per Name) on every node
//	replica {name, vsn}                    member id + random part; new per start of the node
//	broadcast_period 1500 ms               Config.Period (500 ms)
//	heartbeat + delta, max_silent_periods  Heartbeat (delta or clocks), every 10 periods when silent
//	transfer_req / transfer_ack            TransferReq / Transfer
//	down_period (30 s, heartbeat timing)   the cluster's membership (2.5 s)
//	permdown_period (20 min)               Config.PermdownAfter (20 min); at once for a restarted node
//	graceful_permdown (opt-in)             the last delta, sent as the tracker stops
//
// # Telemetry
//
// Config.Events receives PresenceJoined (a key's first meta on a topic) and PresenceLeft (its last one
// gone), on the goroutine of the change, after the tracker's lock is released; a tracker started on a
// transport.Endpoint takes the endpoint's Events (transport/metrics keeps pyre_presences from them).
//
// # Concurrency
//
// A Tracker's methods are safe for concurrent use. Track, Update, Untrack, Tracked and PushState take the
// channel's Socket and belong in that channel's callbacks; PushState is refused inside Join
// (channel.ErrPushInJoin: send yourself a message and call it in HandleInfo). List and GetByKey may be
// called from anywhere. Config.Fetch runs in the callers of List and PushState and in the tracker actor: it
// must not block for long nor call the Tracker.
package presence
