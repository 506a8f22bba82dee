package main

import (
	"cmp"
	"math"
	"slices"
	"sort"
	"time"

	"github.com/pyrehq/pyre/supervisor"
	"github.com/pyrehq/pyre/supervisor/chaos"
)

// What a run recorded, and the pure accounting that turns it into the report's figures. Everything here
// works on copies taken after the clients stopped, so it needs no locks and tests can build inputs by hand.

// forever ends windows and instances that never ended.
var forever = time.Unix(1<<40, 0)

// span is a closed interval of time.
type span struct{ From, To time.Time }

func (s span) covers(o span) bool   { return !o.From.Before(s.From) && !o.To.After(s.To) }
func (s span) overlaps(o span) bool { return !o.From.After(s.To) && !o.To.Before(s.From) }

// okEvent is a push answered ok: when it was sent and when its reply arrived.
type okEvent struct{ Sent, Replied time.Time }

// seqSet is a set of tick sequence numbers (>= 1).
type seqSet []uint64

// add inserts seq and reports whether it was already there.
func (s *seqSet) add(seq int) (dup bool) {
	i, bit := seq/64, uint64(1)<<(seq%64)
	for len(*s) <= i {
		*s = append(*s, 0)
	}
	dup = (*s)[i]&bit != 0
	(*s)[i] |= bit
	return dup
}

func (s seqSet) has(seq int) bool {
	i := seq / 64
	return i < len(s) && s[i]&(uint64(1)<<(seq%64)) != 0
}

// subRecord is what one client recorded about one of its topics, across every join of it.
type subRecord struct {
	Client    int
	Topic     string
	Instances []span      // from each join's ok reply to the end of that channel as the client saw it
	OKs       []okEvent   // in the order the pushes were sent
	Crashes   []time.Time // crash pushes sent: user-code crashes, disruptions of their own
	PhxErrors []time.Time
	Received  seqSet
}

// connRecord is one connection of a client.
type connRecord struct {
	Client    int
	DialStart time.Time
	ClosedAt  time.Time // when the client saw it end; zero while open
	Code      int       // close code
	Local     bool      // closed by the client itself, at the end of the run
	Lost      int       // pushes whose reply never came because this connection ended
}

// observation is everything a run recorded.
type observation struct {
	SocketIDs     []string          // by client index
	Ticks         map[string][]span // publication of each topic's ticks: seq n was published during [n-1]
	Subs          []subRecord
	Conns         []connRecord
	Kills         []chaos.Kill
	ConnIntensity supervisor.Intensity
	// Hop widens every disruption window backwards: with several nodes a tick published just before a kill
	// may still be crossing to another node when the kill hits there (and is lost with the restart).
	Hop time.Duration
}

// hopSlack is Hop with several nodes: well above a cross-node delivery's p99 under the race detector.
const hopSlack = 500 * time.Millisecond

// intensitySlack widens the window in which kills are counted to explain a connection-intensity close: the
// server counts a restart when it handles the failure, a little after the kill.
const intensitySlack = time.Second

// connClass says why a connection ended.
type connClass int

const (
	connOpen       connClass = iota
	connLocal                // the client closed it at the end
	connKilled               // its socket actor was killed
	connIntensity            // 1011 after more channel kills than the connection's restart intensity
	connUnexpected           // anything else: a violation
)

// window is a disruption of one subscription: from Start until the first push sent after After is
// answered ok (and, when Tick is set, a tick published after After is received).
type window struct {
	Start, After time.Time
	Tick         bool
}

// analysis holds the figures computed from an observation.
type analysis struct {
	Recovery     map[chaos.Kind][]time.Duration // kill → serving again, per kind
	Unrecovered  map[chaos.Kind]int             // kills never followed by serving again
	Unattributed int                            // kills whose labels name no client or topic of this run
	Ticks        tickCounts
	Closed       map[connClass]int
	Unexpected   map[int]int // close codes of unexpected closes
	LostKilled   int         // pushes lost with a killed socket (excused)
	LostIntense  int         // pushes lost with an intensity close (excused)
	LostOther    int         // pushes lost with any other close (a violation)
}

// tickCounts accounts for the ticks published while a subscription was joined.
type tickCounts struct {
	Required      int // published while joined and outside every disruption window
	Missed        int // required but not received: must be 0
	Excused       int // published while joined but inside a disruption window
	ExcusedMissed int // excused and indeed not received
	Gap           int // between an end and the rejoin, outside every window (after an unexpected close)
}

func analyze(o observation) analysis {
	a := analysis{
		Recovery:    make(map[chaos.Kind][]time.Duration),
		Unrecovered: make(map[chaos.Kind]int),
		Closed:      make(map[connClass]int),
		Unexpected:  make(map[int]int),
	}
	client := make(map[string]int, len(o.SocketIDs))
	for i, id := range o.SocketIDs {
		client[id] = i
	}
	subsOf := make([][]int, len(o.SocketIDs))
	for i, s := range o.Subs {
		subsOf[s.Client] = append(subsOf[s.Client], i)
	}
	connsOf := make([][]connRecord, len(o.SocketIDs))
	for _, c := range o.Conns {
		connsOf[c.Client] = append(connsOf[c.Client], c)
	}
	socketKills := make([][]time.Time, len(o.SocketIDs))
	channelHits := make([][]time.Time, len(o.SocketIDs)) // channel kills and crash pushes, per client
	for _, k := range o.Kills {
		c, ok := client[k.Labels[chaos.LabelSocketID]]
		if !ok || !k.Done {
			continue
		}
		switch k.Kind {
		case chaos.Socket:
			socketKills[c] = append(socketKills[c], k.At)
		case chaos.Channel:
			channelHits[c] = append(channelHits[c], k.At)
		}
	}
	for _, s := range o.Subs {
		channelHits[s.Client] = append(channelHits[s.Client], s.Crashes...)
	}

	windows := make([][]window, len(o.Subs))
	for c, conns := range connsOf {
		for _, cr := range conns {
			class, since := classify(cr, socketKills[c], channelHits[c], o.ConnIntensity)
			a.Closed[class]++
			switch class {
			case connKilled:
				a.LostKilled += cr.Lost
			case connIntensity:
				a.LostIntense += cr.Lost
				for _, si := range subsOf[c] { // every channel of the connection went down with it
					windows[si] = append(windows[si], window{Start: since, After: cr.ClosedAt})
				}
			default:
				a.LostOther += cr.Lost
				if class == connUnexpected {
					a.Unexpected[cr.Code]++
				}
			}
		}
	}
	for i, s := range o.Subs {
		for _, t := range s.Crashes {
			windows[i] = append(windows[i], window{Start: t, After: t})
		}
		for _, t := range s.PhxErrors {
			windows[i] = append(windows[i], window{Start: t, After: t})
		}
	}

	for _, k := range o.Kills {
		if !k.Done {
			continue
		}
		scope := killScope(k, client, o.Subs, subsOf)
		if len(scope) == 0 {
			a.Unattributed++
			continue
		}
		var served []time.Duration
		for _, si := range scope {
			w := window{Start: k.At, After: k.At, Tick: k.Kind != chaos.Socket && k.Kind != chaos.Channel}
			if k.Kind == chaos.Socket {
				w.After = closedAfter(connsOf[o.Subs[si].Client], k.At)
			}
			windows[si] = append(windows[si], w)
			if end, ok := windowEnd(o.Subs[si], o.Ticks[o.Subs[si].Topic], w); ok {
				served = append(served, end.Sub(k.At))
			}
		}
		switch {
		case k.Kind == chaos.Socket && len(served) > 0:
			// The reconnected client serves again with its first ok reply, on whichever topic.
			a.Recovery[k.Kind] = append(a.Recovery[k.Kind], slices.Min(served))
		case len(served) == len(scope):
			// A channel kill has one subscription; anything wider recovers when all of it has.
			a.Recovery[k.Kind] = append(a.Recovery[k.Kind], slices.Max(served))
		default:
			a.Unrecovered[k.Kind]++
		}
	}

	for i, s := range o.Subs {
		spans := make([]span, 0, len(windows[i]))
		for _, w := range windows[i] {
			end, ok := windowEnd(s, o.Ticks[s.Topic], w)
			if !ok {
				end = forever
			}
			spans = append(spans, span{w.Start.Add(-o.Hop), end})
		}
		a.Ticks.add(countTicks(s, o.Ticks[s.Topic], spans, o.Hop))
	}
	return a
}

// classify says why a connection ended. For an intensity close it also returns the earliest channel
// disruption counted, where the connection's disruption window starts.
func classify(c connRecord, socketKills, channelHits []time.Time, in supervisor.Intensity) (connClass, time.Time) {
	switch {
	case c.ClosedAt.IsZero():
		return connOpen, time.Time{}
	case c.Local:
		return connLocal, time.Time{}
	}
	life := span{c.DialStart, c.ClosedAt}
	for _, t := range socketKills {
		if life.covers(span{t, t}) {
			return connKilled, time.Time{}
		}
	}
	if c.Code == 1011 {
		recent := span{c.ClosedAt.Add(-in.Period - intensitySlack), c.ClosedAt}
		var hits []time.Time
		for _, t := range channelHits {
			if recent.covers(span{t, t}) && !t.Before(c.DialStart) {
				hits = append(hits, t)
			}
		}
		if len(hits) > in.Max {
			return connIntensity, slices.MinFunc(hits, time.Time.Compare)
		}
	}
	return connUnexpected, time.Time{}
}

// closedAfter returns when the connection that was open at t ended, if it ended after t: a client whose
// socket was killed serves again only on a new connection. Otherwise (the kill hit a socket already
// closing) it returns t.
func closedAfter(conns []connRecord, t time.Time) time.Time {
	for _, c := range conns {
		if !c.DialStart.After(t) && !c.Local && !c.ClosedAt.IsZero() && c.ClosedAt.After(t) {
			return c.ClosedAt
		}
	}
	return t
}

// killScope lists the subscriptions a kill disrupts, as its labels say: a channel's own, a socket's
// client's, or for other kinds (infrastructure) those of its topic label, else every one.
func killScope(k chaos.Kill, client map[string]int, subs []subRecord, subsOf [][]int) []int {
	topic, hasTopic := k.Labels[chaos.LabelTopic]
	id, hasID := k.Labels[chaos.LabelSocketID]
	c, known := client[id]
	switch k.Kind {
	case chaos.Channel:
		if known {
			for _, si := range subsOf[c] {
				if subs[si].Topic == topic {
					return []int{si}
				}
			}
		}
		return nil
	case chaos.Socket:
		if known {
			return subsOf[c]
		}
		return nil
	}
	var scope []int
	for i, s := range subs {
		if (!hasTopic || s.Topic == topic) && (!hasID || (known && s.Client == c)) {
			scope = append(scope, i)
		}
	}
	return scope
}

// windowEnd returns when a disruption of s ended: the reply to the first push sent after w.After that
// was answered ok, and with w.Tick also the first received tick published after w.After.
func windowEnd(s subRecord, ticks []span, w window) (time.Time, bool) {
	i := sort.Search(len(s.OKs), func(i int) bool { return s.OKs[i].Sent.After(w.After) })
	if i == len(s.OKs) {
		return time.Time{}, false
	}
	end := s.OKs[i].Replied
	if w.Tick {
		j := sort.Search(len(ticks), func(j int) bool { return ticks[j].From.After(w.After) })
		for ; j < len(ticks) && !s.Received.has(j+1); j++ {
		}
		if j == len(ticks) {
			return time.Time{}, false
		}
		if ticks[j].To.After(end) {
			end = ticks[j].To
		}
	}
	return end, true
}

// countTicks checks every tick of s's topic published between its first join and its last end: one
// inside a disruption window is excused; one published entirely inside a joined instance, at least hop
// before its end (a tick crossing nodes when the client leaves is neither owed nor lost), is owed.
func countTicks(s subRecord, ticks []span, windows []span, hop time.Duration) tickCounts {
	var n tickCounts
	if len(s.Instances) == 0 {
		return n
	}
	life := span{s.Instances[0].From, s.Instances[len(s.Instances)-1].To}
	for i, t := range ticks {
		if !life.covers(t) {
			continue
		}
		got := s.Received.has(i + 1)
		switch {
		case slices.ContainsFunc(windows, func(w span) bool { return w.overlaps(t) }):
			n.Excused++
			if !got {
				n.ExcusedMissed++
			}
		case slices.ContainsFunc(s.Instances, func(in span) bool { return span{in.From, in.To.Add(-hop)}.covers(t) }):
			n.Required++
			if !got {
				n.Missed++
			}
		default:
			n.Gap++
		}
	}
	return n
}

func (n *tickCounts) add(o tickCounts) {
	n.Required += o.Required
	n.Missed += o.Missed
	n.Excused += o.Excused
	n.ExcusedMissed += o.ExcusedMissed
	n.Gap += o.Gap
}

// percentile returns the nearest-rank p-th percentile (0 < p <= 100) of ascending durations, 0 if none.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}

// summarize sorts ds and returns its latency figures.
func summarize(ds []time.Duration, unrecovered int) Latency {
	ds = slices.Clone(ds)
	slices.SortFunc(ds, cmp.Compare)
	l := Latency{Count: len(ds), Unrecovered: unrecovered}
	if len(ds) > 0 {
		l.P50, l.P99, l.Max = percentile(ds, 50), percentile(ds, 99), ds[len(ds)-1]
	}
	return l
}
