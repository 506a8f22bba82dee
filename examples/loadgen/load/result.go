package load

import (
	"cmp"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
)

// Result is what a run measured. Every count is exact: the invariants stated on the fields hold once Run
// has returned.
type Result struct {
	Setup      Setup          `json:"setup"`
	Conns      ConnStats      `json:"conns"`
	Joins      JoinStats      `json:"joins"`
	Pushes     PushStats      `json:"pushes"`
	Broadcasts BroadcastStats `json:"broadcasts"`
	Latency    Latencies      `json:"latency"`
	Phases     Phases         `json:"phases"`
	// Interrupted is set when ctx ended the run early.
	Interrupted bool `json:"interrupted,omitempty"`
}

// Setup echoes the configuration the run used, defaults applied.
type Setup struct {
	URL          string        `json:"url"`
	Conns        int           `json:"conns"`
	JoinsPerConn int           `json:"joins_per_conn"`
	Topics       int           `json:"topics"`
	SourceAddrs  []string      `json:"source_addrs,omitempty"`
	ConnectRate  float64       `json:"connect_rate,omitempty"`
	PushEvent    string        `json:"push_event,omitempty"`
	PushRate     float64       `json:"push_rate,omitempty"`
	Duration     time.Duration `json:"duration_ns"`
}

// ConnStats counts connections. Attempted = Connected + Errors; Target - Attempted were never started
// (ConnectTimeout or ctx ended first).
type ConnStats struct {
	Target    int            `json:"target"`
	Attempted int64          `json:"attempted"`
	Connected int64          `json:"connected"`
	Errors    int64          `json:"errors"`
	ErrorsBy  map[string]int `json:"errors_by,omitempty"` // by reason: "connection refused", "http 403", …
	// ClosedEarly counts connections that ended before the run closed them: by the server (its close
	// code, e.g. "1001", "1012"), by the network ("1006") or by the client itself ("1000 heartbeat
	// timeout (client)").
	ClosedEarly   int64          `json:"closed_early"`
	ClosedEarlyBy map[string]int `json:"closed_early_by,omitempty"`
}

// JoinStats counts joins. Expected = Conns × JoinsPerConn; Attempted = OK + Error + Timeout (joins of
// connections that failed are not attempted).
type JoinStats struct {
	Expected  int64          `json:"expected"`
	Attempted int64          `json:"attempted"`
	OK        int64          `json:"ok"`
	Error     int64          `json:"error"`
	ErrorsBy  map[string]int `json:"errors_by,omitempty"` // "error: unmatched topic", "connection closed", …
	Timeout   int64          `json:"timeout"`
	// Ended counts joined channels the server ended during the run, by event (phx_close, phx_error).
	Ended map[string]int `json:"ended,omitempty"`
}

// PushStats counts pushes. Sent = OK + Error + Timeout. PerSecond is Sent over the hold phase.
type PushStats struct {
	Sent     int64          `json:"sent"`
	OK       int64          `json:"ok"`
	Error    int64          `json:"error"`
	ErrorsBy map[string]int `json:"errors_by,omitempty"`
	Timeout  int64          `json:"timeout"`
	// Skipped counts pushes that fell due while MaxInFlight pushes were awaiting replies (not sent).
	Skipped   int64   `json:"skipped"`
	PerSecond float64 `json:"per_second"`
}

// BroadcastStats counts broadcasts (messages of BroadcastEvent, or every non-reply message).
type BroadcastStats struct {
	// Received counts broadcasts that arrived during the hold phase; PerSecond is Received over it.
	Received  int64   `json:"received"`
	PerSecond float64 `json:"per_second"`
	// Outside counts broadcasts that arrived during the connect phase or after the hold phase.
	Outside int64 `json:"outside"`
	// Dropped counts messages the client discarded because a channel's buffer was full (should be 0).
	Dropped uint64 `json:"dropped"`
	// Other counts messages of other events when BroadcastEvent is set.
	Other int64 `json:"other"`
}

// Latencies are the latency histograms, summarised.
type Latencies struct {
	Connect  Summary `json:"connect"`  // TCP connect + WebSocket upgrade
	Join     Summary `json:"join"`     // phx_join → reply (ok or error)
	Push     Summary `json:"push"`     // push → reply (ok or error), during the hold phase
	Delivery Summary `json:"delivery"` // publish ("ts" in the payload) → delivery, during the hold phase
}

// Phases times the run.
type Phases struct {
	// Connect is the connect and join phase; ConnectsPerSec and JoinsPerSec are successes over it.
	Connect        time.Duration `json:"connect_ns"`
	ConnectsPerSec float64       `json:"connects_per_sec"`
	JoinsPerSec    float64       `json:"joins_per_sec"`
	// Hold is the time the load was held (Duration, unless ctx ended it early).
	Hold time.Duration `json:"hold_ns"`
	// Drain is the wait for the replies of the last pushes; Close the closing of every connection.
	Drain time.Duration `json:"drain_ns"`
	Close time.Duration `json:"close_ns"`
}

// Err returns nil when every connection was made and every join succeeded, else an error wrapping
// ErrIncomplete that says what is missing. Connections closed early and push failures are reported in
// the Result but do not make Err fail.
func (r *Result) Err() error {
	var miss []string
	if n := int64(r.Conns.Target) - r.Conns.Connected; n > 0 {
		miss = append(miss, fmt.Sprintf("%d of %d connections not made", n, r.Conns.Target))
	}
	if n := r.Joins.Expected - r.Joins.OK; n > 0 {
		miss = append(miss, fmt.Sprintf("%d of %d joins not ok", n, r.Joins.Expected))
	}
	if r.Interrupted {
		miss = append(miss, "interrupted")
	}
	if len(miss) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s", ErrIncomplete, strings.Join(miss, ", "))
}

// WriteTable writes the result as a human-readable table.
func (r *Result) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	p := func(format string, a ...any) { fmt.Fprintf(tw, format, a...) }
	s := r.Setup
	p("target\t%s\n", s.URL)
	pushes := "no pushes"
	if s.PushEvent != "" {
		pushes = fmt.Sprintf("push %q at %g/s per channel", s.PushEvent, s.PushRate)
	}
	p("load\t%d conns × %d joins over %d topics, %d source addrs, %s, hold %v\n",
		s.Conns, s.JoinsPerConn, s.Topics, len(s.SourceAddrs), pushes, s.Duration)
	if r.Interrupted {
		p("INTERRUPTED\tthe run was cancelled before its end\n")
	}
	p("\n")
	c := r.Conns
	p("connections\tattempted %d/%d\tconnected %d\terrors %d\tclosed early %d\n",
		c.Attempted, c.Target, c.Connected, c.Errors, c.ClosedEarly)
	j := r.Joins
	p("joins\tattempted %d/%d\tok %d\terrors %d\ttimeouts %d\tended by server %d\n",
		j.Attempted, j.Expected, j.OK, j.Error, j.Timeout, sum(j.Ended))
	u := r.Pushes
	p("pushes\tsent %d (%.0f/s)\tok %d\terrors %d\ttimeouts %d\tskipped %d\n",
		u.Sent, u.PerSecond, u.OK, u.Error, u.Timeout, u.Skipped)
	b := r.Broadcasts
	p("broadcasts\treceived %d (%.0f/s)\toutside hold %d\tother events %d\tdropped %d\n",
		b.Received, b.PerSecond, b.Outside, b.Other, b.Dropped)
	p("\n")
	p("latency\tcount\tp50\tp90\tp99\tp99.9\tmax\n")
	for _, l := range []struct {
		name string
		s    Summary
	}{{"connect", r.Latency.Connect}, {"join", r.Latency.Join}, {"push→reply", r.Latency.Push},
		{"publish→delivery", r.Latency.Delivery}} {
		if l.s.Count == 0 {
			p("%s\t0\t-\t-\t-\t-\t-\n", l.name)
			continue
		}
		p("%s\t%d\t%v\t%v\t%v\t%v\t%v\n", l.name, l.s.Count, l.s.P50, l.s.P90, l.s.P99, l.s.P999, l.s.Max)
	}
	p("\n")
	ph := r.Phases
	p("phases\tconnect %v (%.0f conns/s, %.0f joins/s)\thold %v\tdrain %v\tclose %v\n",
		ph.Connect.Round(time.Millisecond), ph.ConnectsPerSec, ph.JoinsPerSec, ph.Hold.Round(time.Millisecond),
		ph.Drain.Round(time.Millisecond), ph.Close.Round(time.Millisecond))
	for _, m := range []struct {
		name string
		m    map[string]int
	}{{"connect errors", c.ErrorsBy}, {"closed early", c.ClosedEarlyBy}, {"join errors", j.ErrorsBy},
		{"channels ended", j.Ended}, {"push errors", u.ErrorsBy}} {
		if len(m.m) > 0 {
			p("%s\t%s\n", m.name, formatCounts(m.m))
		}
	}
	return tw.Flush()
}

// formatCounts renders a reason map as "reason ×n, …", most frequent first.
func formatCounts(m map[string]int) string {
	keys := slices.Collect(maps.Keys(m))
	slices.SortFunc(keys, func(a, b string) int { return cmp.Or(cmp.Compare(m[b], m[a]), cmp.Compare(a, b)) })
	parts := make([]string, len(keys))
	for k, key := range keys {
		parts[k] = fmt.Sprintf("%s ×%d", key, m[key])
	}
	return strings.Join(parts, ", ")
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// reasons counts events by reason, keeping at most maxReasons distinct reasons. Safe for concurrent use.
type reasons struct {
	mu sync.Mutex
	m  map[string]int
}

func (r *reasons) add(reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		r.m = make(map[string]int)
	}
	if _, ok := r.m[reason]; !ok && len(r.m) >= maxReasons {
		reason = "other"
	}
	r.m[reason]++
}

// snapshot returns a copy, nil when empty.
func (r *reasons) snapshot() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.m) == 0 {
		return nil
	}
	return maps.Clone(r.m)
}
