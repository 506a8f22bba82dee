package dashboard

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/pyrehq/pyre/actors/host"
	"github.com/pyrehq/pyre/transport"
)

// Bounds of one snapshot: whatever the number of actors, an update stays a few kilobytes.
const (
	maxGroups     = 40 // topic prefixes listed; the rest are folded into one group, otherGroup
	maxTransports = 8  // socket transports listed (there are two; a custom Conn may name more)
	maxInfra      = 32 // infrastructure workers listed
	maxRows       = 50 // actors listed when a group is expanded
	maxRestarts   = 20 // recent restarts listed
	maxPrefix     = 40 // bytes of a prefix kept
	restartWindow = 5 * time.Minute
)

// otherGroup is the group of the prefixes past maxGroups.
const otherGroup = "(other prefixes)"

// Snapshot is what the page is sent each interval: the supervision tree aggregated, the counts and the
// newest rates. Its size is bounded whatever the number of sockets and channels.
type Snapshot struct {
	At       int64       `json:"at"` // unix milliseconds
	Node     string      `json:"node,omitempty"`
	Endpoint EndpointRow `json:"endpoint"`
	Infra    []InfraRow  `json:"infrastructure"`
	// Sockets are the socket actors (children of the socket supervisor) by transport.
	Sockets []SocketGroup `json:"sockets"`
	// Channels are the channel actors (children of their socket actor) by topic prefix, largest first.
	Channels []ChannelGroup `json:"channels"`
	Queues   Queues         `json:"queues"`
	// Restarts are the newest in-place channel restarts, newest first.
	Restarts  []RestartRow `json:"restarts"`
	Crashes   []Crash      `json:"crashes"`
	Presences int64        `json:"presences"`
	SlowCuts  int64        `json:"slow_consumer_cuts"`
	Nodes     []Node       `json:"nodes,omitempty"`
	Rates     []Point      `json:"rates"` // the newest points; the join reply carries the whole history
}

// EndpointRow is the endpoint supervisor.
type EndpointRow struct {
	Status   string `json:"status"` // "running", or why it stopped (Endpoint.Err)
	Sockets  int64  `json:"sockets"`
	Channels int64  `json:"channels"`
	Topics   int    `json:"topics"`
	Restarts int64  `json:"restarts"` // in-place channel restarts since the endpoint started
	Bad      int64  `json:"bad_frames"`
}

// InfraRow is one worker of the endpoint supervisor (pubsub, presence, …).
type InfraRow struct {
	Child string `json:"child"`
	PID   string `json:"pid"`
}

// SocketGroup is the sockets of one transport.
type SocketGroup struct {
	Transport string `json:"transport"`
	Sockets   int    `json:"sockets"`
	Queued    int    `json:"queued"`     // frames waiting in their outbound queues, together
	MaxQueued int    `json:"max_queued"` // in the longest queue
}

// ChannelGroup is the channels whose topics share a prefix ("room:" of "room:42").
type ChannelGroup struct {
	Prefix         string         `json:"prefix"`
	Channels       int            `json:"channels"`
	Topics         int            `json:"topics"`
	Restart        map[string]int `json:"restart"`         // channels by restart type
	Restarted      int            `json:"restarted"`       // channels past their first incarnation
	MaxIncarnation int            `json:"max_incarnation"` // of its channels
	RecentRestarts int            `json:"recent_restarts"` // within the last five minutes
}

// Queues sums the sockets' outbound queues.
type Queues struct {
	Queued int `json:"queued"` // frames, all sockets together
	Max    int `json:"max"`    // frames in the longest queue
	Busy   int `json:"busy"`   // sockets with a frame waiting
}

// RestartRow is one in-place restart of a channel.
type RestartRow struct {
	At          int64  `json:"at"`
	Topic       string `json:"topic"`
	Incarnation int    `json:"incarnation"`
}

// Crash is a channel crash: its reason and where it happened.
type Crash struct {
	At     int64  `json:"at"`
	Topic  string `json:"topic"`
	Reason string `json:"reason"`
	Stack  string `json:"stack,omitempty"` // a summary: the innermost frames of user code
}

// Node is one member of a cluster, as Config.Nodes reports it.
type Node struct {
	Name   string `json:"name"`
	Addr   string `json:"addr,omitempty"`
	Status string `json:"status"` // "up", "down", "joining", … as the cluster names it
	Self   bool   `json:"self,omitempty"`
}

// Row is one actor of an expanded group.
type Row struct {
	ID          string `json:"id"`                // PID id
	Topic       string `json:"topic,omitempty"`   // a channel's
	Socket      string `json:"socket,omitempty"`  // socket id (channel.Identifier), if any
	Restart     string `json:"restart,omitempty"` // a channel's restart type
	Incarnation int    `json:"incarnation,omitempty"`
	Queued      int    `json:"queued,omitempty"`   // a socket's
	Channels    int    `json:"channels,omitempty"` // a socket's
}

// Group is the reply to a request for an expanded group: its first rows and how many more there are.
type Group struct {
	Rows []Row `json:"rows"`
	More int   `json:"more"`
}

// prefix is the group of topic: up to its first ':' included ("room:" of "room:42"), else the topic,
// cut at maxPrefix bytes.
func prefix(topic string) string {
	if i := strings.IndexByte(topic, ':'); i >= 0 {
		topic = topic[:i+1]
	}
	if len(topic) > maxPrefix {
		topic = topic[:maxPrefix] + "…"
	}
	return topic
}

// tree is the aggregation of one sample of the actors, with the rows of each group kept for expansion.
type tree struct {
	snap     Snapshot
	channels map[string]Group // by prefix (otherGroup included)
	sockets  map[string]Group // by transport
}

// restartLog remembers the channels' incarnations between samples, to find restarts in place, and the
// recent restarts.
type restartLog struct {
	seen   map[string]int // channel PID id → incarnation at the last sample
	recent []RestartRow   // oldest first, within restartWindow, at most maxRecent
}

const maxRecent = 1000

// observe records the restarts that happened since the last sample (an incarnation that grew) and forgets
// the channels that are gone.
func (l *restartLog) observe(now time.Time, actors []host.Actor) {
	next := make(map[string]int, len(l.seen))
	for i := range actors {
		a := &actors[i]
		if a.Kind != host.ChannelActor {
			continue
		}
		next[a.ID] = a.Incarnation
		prev, ok := l.seen[a.ID]
		if !ok {
			prev = 1 // first seen: incarnations before it are restarts we did not see happen, counted once
		}
		for inc := prev + 1; inc <= a.Incarnation; inc++ {
			l.add(RestartRow{At: now.UnixMilli(), Topic: a.Topic, Incarnation: inc})
		}
	}
	l.seen = next
	l.trim(now)
}

func (l *restartLog) add(r RestartRow) {
	if len(l.recent) == maxRecent {
		l.recent = slices.Delete(l.recent, 0, maxRecent/10)
	}
	l.recent = append(l.recent, r)
}

func (l *restartLog) trim(now time.Time) {
	cut := now.Add(-restartWindow).UnixMilli()
	i := 0
	for i < len(l.recent) && l.recent[i].At < cut {
		i++
	}
	l.recent = slices.Delete(l.recent, 0, i)
}

// build aggregates one sample. It is a pure function of its inputs.
func build(now time.Time, st transport.Stats, status string, actors []host.Actor, recent []RestartRow) *tree {
	t := &tree{
		snap: Snapshot{
			At: now.UnixMilli(),
			Endpoint: EndpointRow{Status: status, Sockets: st.Sockets, Channels: st.Channels, Topics: st.Topics,
				Restarts: st.Restarts, Bad: st.MalformedFrames + st.RefusedFrames + st.ReadPanics},
			Infra: []InfraRow{}, Sockets: []SocketGroup{}, Channels: []ChannelGroup{}, Restarts: []RestartRow{},
			Crashes: []Crash{}, Rates: []Point{},
		},
		channels: map[string]Group{},
		sockets:  map[string]Group{},
	}
	perSocket := map[string]int{} // socket id → channels
	for _, a := range actors {
		switch a.Kind {
		case host.InfrastructureActor:
			if len(t.snap.Infra) < maxInfra {
				t.snap.Infra = append(t.snap.Infra, InfraRow{Child: a.Child, PID: a.ID})
			}
		case host.ChannelActor:
			if a.SocketID != "" {
				perSocket[a.SocketID]++
			}
		}
	}
	t.sockets, t.snap.Sockets, t.snap.Queues = socketGroups(actors, perSocket)
	t.channels, t.snap.Channels = channelGroups(actors, recent)
	for i := len(recent) - 1; i >= 0 && len(t.snap.Restarts) < maxRestarts; i-- {
		t.snap.Restarts = append(t.snap.Restarts, recent[i])
	}
	return t
}

func socketGroups(actors []host.Actor, perSocket map[string]int) (map[string]Group, []SocketGroup, Queues) {
	var q Queues
	by := map[string]*SocketGroup{}
	rows := map[string]*topRows{}
	for i := range actors {
		a := &actors[i]
		if a.Kind != host.SocketActor {
			continue
		}
		tr := a.Transport
		if tr == "" {
			tr = "unknown"
		}
		g := by[tr]
		if g == nil {
			if len(by) == maxTransports {
				tr = "other"
				g = by[tr]
			}
			if g == nil {
				g = &SocketGroup{Transport: tr}
				by[tr] = g
			}
		}
		g.Sockets++
		g.Queued += a.Queued
		g.MaxQueued = max(g.MaxQueued, a.Queued)
		q.Queued += a.Queued
		q.Max = max(q.Max, a.Queued)
		if a.Queued > 0 {
			q.Busy++
		}
		// Channels are counted by socket id: anonymous sockets (no id) would share one count, so none is shown.
		n := perSocket[a.SocketID]
		r := rows[tr]
		if r == nil {
			r = &topRows{sockets: true}
			rows[tr] = r
		}
		r.add(Row{ID: a.ID, Socket: a.SocketID, Queued: a.Queued, Channels: n})
	}
	groups := make(map[string]Group, len(by))
	list := make([]SocketGroup, 0, len(by))
	for tr, g := range by {
		list = append(list, *g)
		groups[tr] = rows[tr].group()
	}
	slices.SortFunc(list, func(a, b SocketGroup) int {
		return cmp.Or(cmp.Compare(b.Sockets, a.Sockets), cmp.Compare(a.Transport, b.Transport))
	})
	return groups, list, q
}

func channelGroups(actors []host.Actor, recent []RestartRow) (map[string]Group, []ChannelGroup) {
	type acc struct {
		g      ChannelGroup
		topics map[string]struct{}
		rows   topRows
	}
	by := map[string]*acc{}
	for i := range actors {
		a := &actors[i]
		if a.Kind != host.ChannelActor {
			continue
		}
		p := prefix(a.Topic)
		x := by[p]
		if x == nil {
			x = &acc{g: ChannelGroup{Prefix: p, Restart: map[string]int{}}, topics: map[string]struct{}{}}
			by[p] = x
		}
		x.g.Channels++
		x.topics[a.Topic] = struct{}{}
		x.g.Restart[a.Restart.String()]++
		if a.Incarnation > 1 {
			x.g.Restarted++
		}
		x.g.MaxIncarnation = max(x.g.MaxIncarnation, a.Incarnation)
		x.rows.add(Row{ID: a.ID, Topic: a.Topic, Socket: a.SocketID, Restart: a.Restart.String(), Incarnation: a.Incarnation})
	}
	for _, r := range recent {
		if x := by[prefix(r.Topic)]; x != nil {
			x.g.RecentRestarts++
		}
	}
	all := make([]*acc, 0, len(by))
	for _, x := range by {
		x.g.Topics = len(x.topics)
		all = append(all, x)
	}
	// The largest groups first; past maxGroups, the rest become one.
	slices.SortFunc(all, func(a, b *acc) int {
		return cmp.Or(cmp.Compare(b.g.Channels, a.g.Channels), cmp.Compare(a.g.Prefix, b.g.Prefix))
	})
	if len(all) > maxGroups {
		other := &acc{g: ChannelGroup{Prefix: otherGroup, Restart: map[string]int{}}}
		for _, x := range all[maxGroups-1:] {
			other.g.Channels += x.g.Channels
			other.g.Topics += x.g.Topics
			other.g.Restarted += x.g.Restarted
			other.g.RecentRestarts += x.g.RecentRestarts
			other.g.MaxIncarnation = max(other.g.MaxIncarnation, x.g.MaxIncarnation)
			for k, v := range x.g.Restart {
				other.g.Restart[k] += v
			}
			other.rows.merge(&x.rows)
		}
		all = append(all[:maxGroups-1], other)
	}
	groups := make(map[string]Group, len(all))
	list := make([]ChannelGroup, 0, len(all))
	for _, x := range all {
		list = append(list, x.g)
		groups[x.g.Prefix] = x.rows.group()
	}
	return groups, list
}

// The order of an expanded group's rows: the most restarted channels first, the longest queues first —
// what an operator looks for — then by name.
func moreRestarted(a, b *Row) bool {
	if a.Incarnation != b.Incarnation {
		return a.Incarnation > b.Incarnation
	}
	if a.Topic != b.Topic {
		return a.Topic < b.Topic
	}
	return a.ID < b.ID
}

func longerQueue(a, b *Row) bool {
	if a.Queued != b.Queued {
		return a.Queued > b.Queued
	}
	if a.Socket != b.Socket {
		return a.Socket < b.Socket
	}
	return a.ID < b.ID
}

// topRows keeps the first maxRows rows in less's order out of any number added, and counts the rest:
// a sample never holds more rows than it can send.
type topRows struct {
	sockets bool  // in longerQueue's order, else moreRestarted's (static calls: a row does not escape)
	rows    []Row // sorted, at most maxRows
	n       int   // rows added
}

func (t *topRows) less(a, b *Row) bool {
	if t.sockets {
		return longerQueue(a, b)
	}
	return moreRestarted(a, b)
}

func (t *topRows) add(r Row) {
	t.n++
	if len(t.rows) == maxRows && !t.less(&r, &t.rows[maxRows-1]) {
		return
	}
	if t.rows == nil {
		t.rows = make([]Row, 0, maxRows)
	}
	i, j := 0, len(t.rows) // the first row r goes before
	for i < j {
		if h := int(uint(i+j) >> 1); t.less(&t.rows[h], &r) {
			i = h + 1
		} else {
			j = h
		}
	}
	if len(t.rows) == maxRows {
		t.rows = t.rows[:maxRows-1]
	}
	t.rows = slices.Insert(t.rows, i, r)
}

// merge adds o's rows, and counts those o left out.
func (t *topRows) merge(o *topRows) {
	for _, r := range o.rows {
		t.add(r)
	}
	t.n += o.n - len(o.rows)
}

func (t *topRows) group() Group {
	rows := t.rows
	if rows == nil {
		rows = []Row{}
	}
	return Group{Rows: rows, More: t.n - len(rows)}
}
