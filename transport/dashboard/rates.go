package dashboard

import (
	"sync"
	"sync/atomic"
)

// Point is what happened during one interval, for the charts.
type Point struct {
	At       int64 `json:"at"` // unix milliseconds at the end of the interval
	Connects int64 `json:"connects"`
	Joins    int64 `json:"joins"`
	In       int64 `json:"in"`  // messages received from clients
	Out      int64 `json:"out"` // messages sent to clients
	Crashes  int64 `json:"crashes"`
}

// counters are bumped by the endpoint's events (one atomic add each, whatever goroutine they come from)
// and read by the sampler once per interval.
type counters struct {
	connects, joins, in, out, crashes atomic.Int64
	slowCuts                          atomic.Int64 // since the dashboard started
	presences                         atomic.Int64 // joins minus leaves
}

// take returns the counts since the last take.
func (c *counters) take(at int64, last *Point) Point {
	p := Point{At: at, Connects: c.connects.Load(), Joins: c.joins.Load(), In: c.in.Load(), Out: c.out.Load(), Crashes: c.crashes.Load()}
	d := Point{At: at, Connects: p.Connects - last.Connects, Joins: p.Joins - last.Joins, In: p.In - last.In,
		Out: p.Out - last.Out, Crashes: p.Crashes - last.Crashes}
	*last = p
	return d
}

// history is a ring of the last points.
type history struct {
	mu   sync.Mutex
	ring []Point
	next int
	full bool
}

func newHistory(n int) *history { return &history{ring: make([]Point, n)} }

func (h *history) add(p Point) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ring[h.next] = p
	h.next++
	if h.next == len(h.ring) {
		h.next, h.full = 0, true
	}
}

// points returns the history, oldest first.
func (h *history) points() []Point {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.full {
		return append([]Point{}, h.ring[:h.next]...)
	}
	return append(append(make([]Point, 0, len(h.ring)), h.ring[h.next:]...), h.ring[:h.next]...)
}

// crashLog is a bounded ring of the newest crashes.
type crashLog struct {
	mu   sync.Mutex
	list []Crash // oldest first, at most maxCrashes
}

const (
	maxCrashes = 20
	maxReason  = 300  // bytes of a crash reason kept
	maxStack   = 1200 // bytes of a stack summary kept
)

func (l *crashLog) add(c Crash) {
	c.Reason = cut(c.Reason, maxReason)
	c.Stack = cut(c.Stack, maxStack)
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.list) == maxCrashes {
		copy(l.list, l.list[1:])
		l.list = l.list[:maxCrashes-1]
	}
	l.list = append(l.list, c)
}

// newest returns the crashes, newest first.
func (l *crashLog) newest() []Crash {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]Crash, 0, len(l.list))
	for i := len(l.list) - 1; i >= 0; i-- {
		out = append(out, l.list[i])
	}
	return out
}

// cut shortens s to at most n bytes, on a rune boundary, marking the cut.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n] + "…"
}
