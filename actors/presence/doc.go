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
// Phoenix.Tracker.State), so that several nodes can later replicate it by exchanging deltas; on one node
// a single replica holds everything. It and the pending diffs live in the Tracker, like Phoenix's ETS
// table, and outlive the tracker actor, which times the batches. What each channel tracks is also kept
// with the channel (its monitor record): the truth the tracker rebuilds from. When the tracker actor
// restarts (a crash, a chaos kill), it builds a fresh set from every live channel's records, makes the
// set equal to it, and at once broadcasts the diffs that waited while it was down and the difference the
// check found. Nothing is lost for good.
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
