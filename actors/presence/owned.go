package presence

import (
	"encoding/json"
	"sync"

	"github.com/pyrehq/pyre/actors/channel"
)

// owned is what one channel tracks: the channel's side of the truth, kept with the channel (it is the
// channel's Monitor) so that a restarted tracker rebuilds from it. The channel's turn changes it; a
// rebuilding tracker reads it.
type owned struct {
	t     *Tracker
	id    string // the channel's id: the presences' owner
	topic string

	mu   sync.Mutex
	list []tracked
	prev []tracked // while the channel restarts in place: what its previous incarnation tracked
}

type tracked struct {
	key     string
	ref     string          // its phx_ref
	prevRef string          // its phx_ref_prev, after an update
	meta    json.RawMessage // as sent: with phx_ref (and phx_ref_prev)
}

// ownedBy is the channel's record, made and monitored on its first Track.
func (t *Tracker) ownedBy(s *channel.Socket) *owned {
	return s.Monitor(t, func() channel.Monitor {
		o := &owned{t: t, id: s.ChannelID(), topic: s.Topic()}
		t.ownersMu.Lock()
		t.owners[o.id] = o
		t.ownersMu.Unlock()
		return o
	}).(*owned)
}

func (o *owned) find(in []tracked, key string) int {
	for i := range in {
		if in[i].key == key {
			return i
		}
	}
	return -1
}

// ChannelRestarting keeps the presences while the channel restarts; its re-run Join takes them back.
func (o *owned) ChannelRestarting() {
	o.mu.Lock()
	o.prev = append(o.prev, o.list...)
	o.list = nil
	o.mu.Unlock()
}

// ChannelRestarted untracks what the re-run Join did not track again.
func (o *owned) ChannelRestarted() {
	o.mu.Lock()
	left := o.prev
	o.prev = nil
	o.mu.Unlock()
	for _, p := range left {
		o.t.apply(op{kind: opUntrack, owner: o.id, topic: o.topic, key: p.key, prev: p.meta})
	}
}

// ChannelDown untracks everything the channel tracked.
func (o *owned) ChannelDown() {
	o.t.ownersMu.Lock()
	delete(o.t.owners, o.id)
	o.t.ownersMu.Unlock()
	o.mu.Lock()
	o.list, o.prev = nil, nil
	o.mu.Unlock()
	o.t.apply(op{kind: opDown, owner: o.id})
}

// snapshot is every live channel's presences, as (owner, topic, key, meta) entries.
func (t *Tracker) snapshot() []snapEntry {
	t.ownersMu.Lock()
	os := make([]*owned, 0, len(t.owners))
	for _, o := range t.owners {
		os = append(os, o)
	}
	t.ownersMu.Unlock()
	var out []snapEntry
	for _, o := range os {
		o.mu.Lock()
		for _, l := range [2][]tracked{o.list, o.prev} { // a restarting channel's presences are kept
			for _, p := range l {
				out = append(out, snapEntry{owner: o.id, topic: o.topic, key: p.key, meta: p.meta})
			}
		}
		o.mu.Unlock()
	}
	return out
}

type snapEntry struct {
	owner, topic, key string
	meta              json.RawMessage
}
