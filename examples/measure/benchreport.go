package main

import (
	"encoding/json"
	"fmt"
	"html"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pyrehq/pyre/examples/loadgen/load"
)

// benchRow is one line of the bench table: one figure of one scenario and load, for each kind.
type benchRow struct {
	Scenario string             `json:"scenario"`
	Load     string             `json:"load"`
	Metric   string             `json:"metric"`
	Values   map[string]float64 `json:"values"` // by kind; absent: not measured
	Ratio    float64            `json:"pyre_over_gws,omitempty"`
	Observed float64            `json:"metrics_over_pyre,omitempty"` // observedKind / pyre
	decimals int
	zero     bool // a count that must be 0: shown in bold otherwise
}

// pick is f of every result that match selects (where f says it applies).
func pick[T any](results []T, match func(r *T) bool, f func(r *T) (float64, bool)) []float64 {
	var v []float64
	for i := range results {
		if r := &results[i]; match(r) {
			if x, ok := f(r); ok {
				v = append(v, x)
			}
		}
	}
	return v
}

// memValues is f of every round of kind's memory step with conns connections (where f says it applies).
func memValues(res *benchResults, kind string, conns int, f func(m *memResult) (float64, bool)) []float64 {
	return pick(res.Memory, func(m *memResult) bool {
		return m.Kind == kind && m.Conns > 0 && len(m.ByChannels) > 0 && m.Conns+m.ConnectErrors == conns
	}, f)
}

// fanValues is f of every round of kind's fan-out case name (where f says it applies).
func fanValues(res *benchResults, kind, name string, f func(r *fanResult) (float64, bool)) []float64 {
	return pick(res.Fanout, func(r *fanResult) bool { return r.Kind == kind && r.Case == name }, f)
}

// rrValues is f of every round of kind's request/reply load (where f says it applies).
func rrValues(res *benchResults, kind, load string, f func(r *rrResult) (float64, bool)) []float64 {
	return pick(res.ReqRep, func(r *rrResult) bool { return r.Kind == kind && r.Load == load }, f)
}

// median of v (v is not modified); 0 for no values.
func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func sum(v []float64) float64 {
	t := 0.0
	for _, x := range v {
		t += x
	}
	return t
}

// benchRows computes the table: each figure is the median over the rounds that measured it, except
// the counts that must be 0 (missing deliveries, failures), summed.
func benchRows(cfg *benchConfig, res *benchResults) []benchRow {
	var rows []benchRow
	// add adds a row; agg nil marks a count that must be 0, summed over the rounds.
	add := func(scenario, load, metric string, decimals int, agg func([]float64) float64, values func(kind string) []float64) {
		r := benchRow{Scenario: scenario, Load: load, Metric: metric, Values: map[string]float64{}, decimals: decimals, zero: agg == nil}
		if agg == nil {
			agg = sum
		}
		for _, k := range cfg.Kinds {
			if v := values(k); len(v) > 0 {
				r.Values[k] = agg(v)
			}
		}
		if p, ok := r.Values["pyre"]; ok {
			if g, ok := r.Values["gws"]; ok && g > 0 && p > 0 {
				r.Ratio = p / g
			}
			if o, ok := r.Values[observedKind]; ok && o > 0 && p > 0 {
				r.Observed = o / p
			}
		}
		rows = append(rows, r)
	}
	for _, conns := range cfg.MemConns {
		load := count(conns) + " conns"
		mem := func(metric string, f func(m *memResult) (float64, bool)) {
			add("memory", load, metric, 2, median, func(k string) []float64 { return memValues(res, k, conns, f) })
		}
		mem("RSS/conn, 1 channel (KB)", func(m *memResult) (float64, bool) { return m.RSSPerConnKB, true })
		mem("heap/conn, 1 channel (KB)", func(m *memResult) (float64, bool) { return m.HeapPerConnKB, true })
		mem("goroutines/conn", func(m *memResult) (float64, bool) { return m.GoroutinesPerConn, true })
		for ci, k := range cfg.MemChannels {
			if k == 1 {
				continue
			}
			at := func(f func(a *memAtChans) float64) func(m *memResult) (float64, bool) {
				return func(m *memResult) (float64, bool) {
					if ci < len(m.ByChannels) {
						return f(&m.ByChannels[ci]), true
					}
					return 0, false
				}
			}
			mem(fmt.Sprintf("RSS per extra channel, %d ch/conn (KB)", k), at(func(a *memAtChans) float64 { return a.RSSPerChanKB }))
			mem(fmt.Sprintf("heap per extra channel, %d ch/conn (KB)", k), at(func(a *memAtChans) float64 { return a.HeapPerChanKB }))
			mem(fmt.Sprintf("goroutines per extra channel, %d ch/conn", k), at(func(a *memAtChans) float64 { return a.GoroutinesPerChan }))
		}
	}
	for _, name := range fanCases(res) {
		fan := func(metric string, decimals int, agg func([]float64) float64, f func(r *fanResult) (float64, bool)) {
			add("fan-out", name, metric, decimals, agg, func(k string) []float64 { return fanValues(res, k, name, f) })
		}
		lat := func(f func(r *fanResult) float64) func(r *fanResult) (float64, bool) {
			return func(r *fanResult) (float64, bool) { return f(r), len(r.LatenciesMS) > 0 }
		}
		burst := func(f func(r *fanResult) float64) func(r *fanResult) (float64, bool) {
			return func(r *fanResult) (float64, bool) { return f(r), r.BurstDelivered > 0 }
		}
		fan("publish→last subscriber p50 (ms)", 3, median, lat(func(r *fanResult) float64 { return r.LatP50MS }))
		fan("publish→last subscriber p99 (ms)", 3, median, lat(func(r *fanResult) float64 { return r.LatP99MS }))
		fan("publish→last subscriber max (ms)", 3, median, lat(func(r *fanResult) float64 { return r.LatMaxMS }))
		fan("burst deliveries/s", 0, median, burst(func(r *fanResult) float64 { return r.DeliveriesPerSec }))
		fan("burst frames per write syscall", 2, median, burst(func(r *fanResult) float64 { return r.FramesPerWrite }))
		fan("burst server CPU/delivery (µs)", 2, median, burst(func(r *fanResult) float64 { return r.ServerCPUPerDeliveryUS }))
		fan("missing deliveries", 0, nil, func(r *fanResult) (float64, bool) {
			return float64(r.LatencyMissing + r.BurstExpected - r.BurstDelivered), true
		})
	}
	for _, name := range rrLoads(res) {
		rr := func(metric string, decimals int, agg func([]float64) float64, f func(r *rrResult) (float64, bool)) {
			add("request/reply", name, metric, decimals, agg, func(k string) []float64 { return rrValues(res, k, name, f) })
		}
		for _, q := range []struct {
			name string
			of   func(s load.Summary) time.Duration
		}{
			{"p50", func(s load.Summary) time.Duration { return s.P50 }},
			{"p99", func(s load.Summary) time.Duration { return s.P99 }},
			{"p999", func(s load.Summary) time.Duration { return s.P999 }},
			{"max", func(s load.Summary) time.Duration { return s.Max }},
		} {
			rr("push→reply "+q.name+" (ms)", 3, median, func(r *rrResult) (float64, bool) { return rrPushMS(r, q.of) })
		}
		rr("pushes/s sustained", 0, median, func(r *rrResult) (float64, bool) {
			if r.Result == nil || r.Result.Pushes.Sent == 0 {
				return 0, false
			}
			return r.Result.Pushes.PerSecond, true
		})
		rr("failed conns, joins, pushes (errors, timeouts, skipped)", 0, nil, func(r *rrResult) (float64, bool) {
			return float64(r.failures()), true
		})
	}
	if len(res.Churn) > 0 {
		connLoad, stormLoad, dupLoad := cfg.churnLoads()
		ch := func(load, metric string, decimals int, agg func([]float64) float64, f func(r *churnResult) (float64, bool)) {
			add("churn", load, metric, decimals, agg, func(k string) []float64 {
				return pick(res.Churn, func(r *churnResult) bool { return r.Kind == k }, f)
			})
		}
		ch(connLoad, "connects/s (connect + join + close)", 0, median, func(r *churnResult) (float64, bool) { return r.ConnectsPerSec, r.Connects > 0 })
		ch(connLoad, "server CPU per connect + join + close (µs)", 0, median, func(r *churnResult) (float64, bool) { return r.ConnectCPUus, r.ConnectCPUus > 0 })
		ch(connLoad, "failed connects, sockets + channels left on the server", 0, nil, func(r *churnResult) (float64, bool) {
			return float64(int64(r.ConnectErrors) + r.LeftSockets + r.LeftChannels), true
		})
		ch(stormLoad, "leave+rejoin cycles/s", 0, median, func(r *churnResult) (float64, bool) { return r.RejoinsPerSec, r.Rejoins > 0 })
		ch(stormLoad, "server CPU per leave + rejoin (µs)", 0, median, func(r *churnResult) (float64, bool) { return r.RejoinCPUus, r.RejoinCPUus > 0 })
		ch(stormLoad, "phx_close received (Pyre: one per leave)", 0, median, func(r *churnResult) (float64, bool) { return float64(r.RejoinPhxCloses), true })
		ch(stormLoad, "failed clients", 0, nil, func(r *churnResult) (float64, bool) { return float64(r.ClientErrors + r.RejoinErrors), true })
		ch(dupLoad, "duplicate joins/s", 0, median, func(r *churnResult) (float64, bool) { return r.DupsPerSec, r.DupJoins > 0 })
		ch(dupLoad, "phx_close received (Pyre: one per duplicate join)", 0, median, func(r *churnResult) (float64, bool) { return float64(r.DupPhxCloses), true })
		ch(dupLoad, "phx_close repeated for an already closed join ref (both phases)", 0, median, func(r *churnResult) (float64, bool) {
			return float64(r.RepeatedPhxCloses), true
		})
		ch(dupLoad, "failed clients, then missing or extra deliveries, other frames, disconnects", 0, nil, func(r *churnResult) (float64, bool) {
			return float64(int64(r.DupErrors) + abs64(r.AfterGot-r.AfterExpected) + r.OtherFrames + r.Disconnects), true
		})
	}
	for _, name := range slowLoads(res) {
		sl := func(metric string, decimals int, agg func([]float64) float64, f func(r *slowResult) (float64, bool)) {
			add("slow consumers", name, metric, decimals, agg, func(k string) []float64 {
				return pick(res.Slow, func(r *slowResult) bool { return r.Kind == k && r.Load == name }, f)
			})
		}
		streamed := func(f func(r *slowResult) float64) func(r *slowResult) (float64, bool) {
			return func(r *slowResult) (float64, bool) { return f(r), r.Delivered > 0 }
		}
		sl("slow clients disconnected by the server", 0, median, func(r *slowResult) (float64, bool) { return float64(r.SlowDisconnected), true })
		sl("slow clients' broadcasts received (mean)", 0, median, func(r *slowResult) (float64, bool) {
			return sum(int64s(r.SlowFrames)) / float64(max(len(r.SlowFrames), 1)), len(r.SlowFrames) > 0
		})
		sl("server RSS before the stream (MB)", 1, median, func(r *slowResult) (float64, bool) { return r.RSSBeforeMB, r.RSSBeforeMB > 0 })
		sl("server RSS peak (MB)", 1, median, func(r *slowResult) (float64, bool) { return r.RSSPeakMB, r.RSSPeakMB > 0 })
		sl("server RSS after the stream, slow clients unread (MB)", 1, median, func(r *slowResult) (float64, bool) { return r.RSSEndMB, r.RSSEndMB > 0 })
		sl("healthy deliveries/s", 0, median, streamed(func(r *slowResult) float64 { return r.DeliveriesPerSec }))
		sl("healthy publish→delivery p50 (ms)", 3, median, streamed(func(r *slowResult) float64 { return r.LatP50MS }))
		sl("healthy publish→delivery p99 (ms)", 3, median, streamed(func(r *slowResult) float64 { return r.LatP99MS }))
		sl("healthy publish→delivery max (ms)", 3, median, streamed(func(r *slowResult) float64 { return r.LatMaxMS }))
		sl("healthy missing deliveries, disconnects", 0, nil, func(r *slowResult) (float64, bool) {
			return float64(r.missing() + r.HealthyDisconnects), true
		})
	}
	for _, c := range microCases {
		mc := func(metric string, decimals int, f func(r *microResult) (float64, bool)) {
			add("micro", c.Name, metric, decimals, median, func(k string) []float64 {
				return pick(res.Micro, func(r *microResult) bool { return r.Kind == k && r.Case == c.Name && r.Error == "" }, f)
			})
		}
		if !slices.ContainsFunc(res.Micro, func(r microResult) bool { return r.Case == c.Name }) {
			continue
		}
		mc("ns/op", 1, func(r *microResult) (float64, bool) { return r.NsPerOp, true })
		mc("B/op", 0, func(r *microResult) (float64, bool) { return r.BytesPerOp, true })
		mc("allocs/op", 0, func(r *microResult) (float64, bool) { return r.AllocsPerOp, true })
		if c.Metric != "" {
			mc(c.Metric, 2, func(r *microResult) (float64, bool) { v, ok := r.Extra[c.Metric]; return v, ok })
		}
	}
	return rows
}

func int64s(v []int64) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

// span formats the smallest and largest of v ("3–7", or "5" when equal).
func span(v []int64) string {
	if len(v) == 0 {
		return "—"
	}
	lo, hi := slices.Min(v), slices.Max(v)
	if lo == hi {
		return strconv.FormatInt(lo, 10)
	}
	return strconv.FormatInt(lo, 10) + "–" + strconv.FormatInt(hi, 10)
}

// slowLoads lists the slow-consumer loads in the order they ran.
func slowLoads(res *benchResults) []string {
	return inOrder(len(res.Slow), func(i int) string { return res.Slow[i].Load })
}

// rrPushMS is a push→reply figure of r in ms, when r has replies.
func rrPushMS(r *rrResult, of func(s load.Summary) time.Duration) (float64, bool) {
	if r.Result == nil || r.Result.Latency.Push.Count == 0 {
		return 0, false
	}
	return float64(of(r.Result.Latency.Push)) / 1e6, true
}

// inOrder lists the distinct names of n results in the order they ran.
func inOrder(n int, name func(i int) string) []string {
	var names []string
	seen := map[string]bool{}
	for i := range n {
		if s := name(i); !seen[s] {
			seen[s] = true
			names = append(names, s)
		}
	}
	return names
}

// fanCases lists the fan-out case names in the order they ran.
func fanCases(res *benchResults) []string {
	return inOrder(len(res.Fanout), func(i int) string { return res.Fanout[i].Case })
}

// rrLoads lists the request/reply loads in the order they ran.
func rrLoads(res *benchResults) []string {
	return inOrder(len(res.ReqRep), func(i int) string { return res.ReqRep[i].Load })
}

func formatValue(v float64, decimals int) string {
	if decimals == 0 {
		return thousands(v)
	}
	return fmt.Sprintf("%.*f", decimals, v)
}

// writeMainTable renders the rows: one line per figure, one column per kind.
func writeMainTable(b *strings.Builder, cfg *benchConfig, rows []benchRow) {
	b.WriteString("| scenario | load | figure |")
	for _, k := range cfg.Kinds {
		b.WriteString(" " + k + " |")
	}
	b.WriteString(" pyre/gws |")
	observed := slices.Contains(cfg.Kinds, observedKind)
	if observed {
		b.WriteString(" " + observedKind + "/pyre |")
	}
	b.WriteString("\n|---|---|---|")
	for range cfg.Kinds {
		b.WriteString("---:|")
	}
	b.WriteString("---:|")
	if observed {
		b.WriteString("---:|")
	}
	b.WriteString("\n")
	for _, r := range rows {
		fmt.Fprintf(b, "| %s | %s | %s |", r.Scenario, r.Load, r.Metric)
		for _, k := range cfg.Kinds {
			v, ok := r.Values[k]
			switch {
			case !ok:
				b.WriteString(" — |")
			case r.zero && v != 0:
				fmt.Fprintf(b, " **%s** |", formatValue(v, 0))
			case v == 0:
				b.WriteString(" 0 |")
			default:
				fmt.Fprintf(b, " %s |", formatValue(v, r.decimals))
			}
		}
		ratio := func(v float64) {
			if v != 0 {
				fmt.Fprintf(b, " %.2f× |", v)
			} else {
				b.WriteString(" — |")
			}
		}
		ratio(r.Ratio)
		if observed {
			ratio(r.Observed)
		}
		b.WriteString("\n")
	}
	b.WriteString("\n")
}

// writeAttackTables renders each run of the attack scenario: one row per attack.
func writeAttackTables(b *strings.Builder, res *benchResults) {
	for _, run := range res.Attack {
		cfg := res.Config
		title := "attack: Pyre under attack"
		if cfg.Rounds > 1 {
			title += fmt.Sprintf(", round %d", run.Round)
		}
		fmt.Fprintf(b, "### %s (server idle timeout and long-poll window %s, counts × %.2f, holds %s, gaps %s; a control client pushes echo every %s)\n\n",
			title, run.Idle, cfg.AttackScale, cfg.AttackHold, cfg.AttackGap, echoInterval)
		bl := run.Baseline
		fmt.Fprintf(b, "No-attack baseline (%s): control echo p50 %.2f ms, p99 %.2f ms, max %.2f ms, %d/%d lost.%s\n\n",
			cfg.AttackHold, bl.P50MS, bl.P99MS, bl.MaxMS, bl.Lost, bl.Pushes, errSuffix(run.Error))
		b.WriteString("| attack | load | server peak RSS (MB) | live heap during (MB) | live heap after (MB) | control echo p99 (ms) | × baseline p99 | echo lost | server alive | attacker saw | detail |\n")
		b.WriteString("|---|---|---:|---:|---:|---:|---:|---:|---|---|---|\n")
		for _, a := range run.Attacks {
			mbOrDash := func(v float64) string {
				if v <= 0 {
					return "—"
				}
				return fmt.Sprintf("%.1f", v)
			}
			ratio := "—"
			if bl.P99MS > 0 && a.Echo.P99MS > 0 {
				ratio = fmt.Sprintf("%.1f×", a.Echo.P99MS/bl.P99MS)
			}
			p99 := "—"
			if a.Echo.P99MS > 0 {
				p99 = fmt.Sprintf("%.2f", a.Echo.P99MS)
			}
			detail := a.Detail
			if a.Restarts > 0 {
				detail = "server restarted before this attack; " + detail
			}
			if a.SocketsAfter > 1 || a.ChannelsAfter > 1 {
				detail += fmt.Sprintf("; after: %d sockets, %d channels still on the server (the control client's 1 included)", a.SocketsAfter, a.ChannelsAfter)
			}
			fmt.Fprintf(b, "| %s | %s | %.0f | %s | %s | %s | %s | %d/%d | %s | %s | %s |\n",
				a.Name, mdEscape(a.Load), a.PeakRSSMB, mbOrDash(a.HeapDuringMB), mbOrDash(a.HeapAfterMB), p99, ratio, a.Echo.Lost, a.Echo.Pushes,
				mdEscape(a.Alive), mdEscape(sawString(a.Saw)), mdEscape(detail+errSuffix(a.Error)))
		}
		b.WriteString("\n")
	}
}

// sawString formats the attackers' outcomes, most frequent first: "close 1009 ×20, EOF ×1".
func sawString(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if m[keys[i]] != m[keys[j]] {
			return m[keys[i]] > m[keys[j]]
		}
		return keys[i] < keys[j]
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s ×%d", k, m[k])
	}
	if len(parts) == 0 {
		return "—"
	}
	return strings.Join(parts, ", ")
}

// formatBenchReport renders the one table, then the details that explain it.
func formatBenchReport(cfg *benchConfig, res *benchResults, rows []benchRow) string {
	var b strings.Builder
	mode := "full"
	if cfg.Quick {
		mode = "quick"
	}
	if cfg.Rounds > 1 {
		mode += fmt.Sprintf(", median of %d rounds", cfg.Rounds)
	}
	fmt.Fprintf(&b, "### measure bench (%s): Pyre vs raw gws, same clients and payloads (%d-byte bodies), %s, load average %s\n\n",
		mode, cfg.Size, res.Started.Format("2006-01-02 15:04"), res.LoadAvg)
	if len(rows) > 0 {
		writeMainTable(&b, cfg, rows)
	}
	writeAttackTables(&b, res)
	writeClusterTable(&b, res)
	// Details: anything that went wrong, and the sizes of the runs.
	var notes []string
	// round labels a kind with its round when there are several.
	round := func(kind string, r int) string {
		if cfg.Rounds > 1 {
			return fmt.Sprintf("%s #%d", kind, r)
		}
		return kind
	}
	for _, m := range res.Memory {
		if m.Error != "" || m.ConnectErrors != 0 || m.Disconnects != 0 {
			notes = append(notes, fmt.Sprintf("memory %s %d conns: %d connect errors (%s), %d disconnects %v, error: %s",
				round(m.Kind, m.Round), m.Conns+m.ConnectErrors, m.ConnectErrors, m.FirstError, m.Disconnects, m.DisconnectReasons, m.Error))
		}
	}
	for _, s := range res.FanSetup {
		notes = append(notes, fmt.Sprintf("fan-out %s: %d connections joined in %.1f s; %d out-of-order, %d other frames, %d client disconnects %v%s",
			round(s.Kind, s.Round), s.Conns, s.ConnectSeconds, s.OutOfOrder, s.OtherFrames, s.Disconnects, s.DisconnectReasons, errSuffix(s.Error)))
	}
	for _, f := range res.Fanout {
		notes = append(notes, fmt.Sprintf("fan-out %s %s: %d one-at-a-time messages, burst of %d messages = %d/%d deliveries in %s, %d server write syscalls%s",
			round(f.Kind, f.Round), f.Case, f.LatencyMsgs, f.BurstMsgs, f.BurstDelivered, f.BurstExpected, seconds(f.BurstSeconds), f.WriteSyscalls, errSuffix(f.Error)))
	}
	for _, q := range res.ReqRep {
		note := fmt.Sprintf("request/reply %s %s", round(q.Kind, q.Round), q.Load)
		if r := q.Result; r != nil {
			p := r.Pushes
			note += fmt.Sprintf(": %d/%d connected and joined in %.1f s; %.2f pushes/s per client for %.1f s: %d sent, %d ok, %d errors%s, %d timeouts, %d skipped; %d closed early%s",
				r.Joins.OK, q.Clients, r.Phases.Connect.Seconds(), r.Setup.PushRate, r.Phases.Hold.Seconds(),
				p.Sent, p.OK, p.Error, byReason(p.ErrorsBy), p.Timeout, p.Skipped, r.Conns.ClosedEarly, byReason(r.Conns.ClosedEarlyBy))
		}
		notes = append(notes, note+errSuffix(q.Error))
	}
	for _, q := range res.Churn {
		notes = append(notes, fmt.Sprintf("churn %s: %d/%d connects in %s%s; %d clients: %d leave+rejoin cycles in %s%s, %d phx_close; %d duplicate joins in %s%s, %d phx_close; %d phx_close repeating one already received; then %d/%d deliveries of one broadcast per topic; %d other frames, %d client disconnects%s",
			round(q.Kind, q.Round), q.Connects, cfg.ChurnConns, seconds(q.ConnectSeconds), errSuffix(q.FirstError), q.Clients, q.Rejoins, seconds(q.RejoinSeconds), errSuffix(q.RejoinFirstErr),
			q.RejoinPhxCloses, q.DupJoins, seconds(q.DupSeconds), errSuffix(q.DupFirstErr), q.DupPhxCloses, q.RepeatedPhxCloses, q.AfterGot, q.AfterExpected, q.OtherFrames, q.Disconnects, errSuffix(q.Error)))
	}
	if len(res.Churn) > 0 {
		notes = append(notes, "churn: the gws baseline does less work: a join adds the connection to a set (a duplicate join just replies ok), a leave removes it; no channel process, no phx_close")
	}
	for _, q := range res.Slow {
		limit := ""
		if q.TimedOut {
			limit = " (stopped by -slow-duration)"
		}
		notes = append(notes, fmt.Sprintf("slow consumers %s %s: %d healthy + %d slow clients (SO_RCVBUF %d); %d msgs streamed in %s%s: healthy %d/%d delivered, %d out of order, %d other frames, %d disconnected%s; slow clients, at their first read after the stream: %v, broadcasts received %s%s",
			round(q.Kind, q.Round), q.Load, q.Healthy, q.Slow, cfg.SlowRcvBuf, q.MsgsSent, seconds(q.StreamSeconds), limit, q.Delivered, q.Expected,
			q.OutOfOrder, q.OtherFrames, q.HealthyDisconnects, byReason(q.HealthyReasons), q.SlowHow, span(q.SlowFrames), errSuffix(q.Error)))
	}
	if len(res.Slow) > 0 {
		notes = append(notes, "slow consumers: \"EOF\" = the server closed the TCP connection without a close frame (none can pass a full socket), \"open\" = still connected when the slow client read after the stream (nothing more came for 2 s); the baseline has no slow-consumer protection: its per-connection queue holds the whole stream")
	}
	if n := observeNote(res); n != "" {
		notes = append(notes, n)
	}
	notes = append(notes, fmt.Sprintf("total time %.0f s", res.Seconds))
	for _, n := range notes {
		b.WriteString("- " + mdEscape(n) + "\n")
	}
	return b.String()
}

func seconds(s float64) string {
	switch {
	case s == 0:
		return "—"
	case s < 1:
		return fmt.Sprintf("%.0f ms", s*1000)
	}
	return fmt.Sprintf("%.2f s", s)
}

// thousands formats v rounded, with thin separators: 143,512.
func thousands(v float64) string {
	if v == 0 {
		return "—"
	}
	s := fmt.Sprintf("%.0f", v)
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out)
}

func mdEscape(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "|", `\|`), "\n", " ")
}

// byReason formats counts by reason, "" for none.
func byReason(m map[string]int) string {
	if len(m) == 0 {
		return ""
	}
	return fmt.Sprintf(" %v", m)
}

func errSuffix(e string) string {
	if e == "" {
		return ""
	}
	return "; error: " + e
}

// writeBenchOutputs prints the report to out and writes results.md, results.json and chart.svg.
func writeBenchOutputs(cfg *benchConfig, res *benchResults, out io.Writer) error {
	rows := benchRows(cfg, res)
	report := formatBenchReport(cfg, res, rows)
	if _, err := io.WriteString(out, report); err != nil {
		return err
	}
	if cfg.OutDir == "" {
		return nil
	}
	if err := os.MkdirAll(cfg.OutDir, 0o755); err != nil {
		return err
	}
	data, err := json.MarshalIndent(struct {
		*benchResults
		Rows []benchRow `json:"rows"`
	}{res, rows}, "", "  ")
	if err != nil {
		return err
	}
	files := map[string][]byte{
		"results.md":   []byte(report),
		"results.json": append(data, '\n'),
		"chart.svg":    []byte(benchChart(cfg, res)),
	}
	if len(res.Memory) > 0 {
		files["memory.svg"] = []byte(benchMemoryChart(cfg, res))
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(cfg.OutDir, name), content, 0o644); err != nil {
			return err
		}
	}
	cfg.logf("wrote %s/{results.md,results.json,chart.svg,memory.svg}", cfg.OutDir)
	return nil
}

// ---- SVG chart: grouped bars, one panel per figure, written by hand ----

var kindColor = map[string]string{"pyre": "#d9480f", observedKind: "#f59f00", "gws": "#1c7ed6"}

type chartPanel struct {
	title  string
	xlabel string
	cats   []string
	values map[string][]float64 // by kind, one per category (NaN: not measured)
	log    bool
}

func benchChart(cfg *benchConfig, res *benchResults) string {
	cases := fanCases(res)
	// Each bar is the median over rounds, like the table (NaN: not measured).
	med := func(v []float64) float64 {
		if len(v) == 0 {
			return math.NaN()
		}
		return median(v)
	}
	panels := []chartPanel{
		{title: "fan-out: burst deliveries/s (higher is better)", xlabel: "topics × subscribers per topic", cats: cases, values: map[string][]float64{}},
		{title: "fan-out: publish→last subscriber p99, ms (log scale; lower is better)", xlabel: "topics × subscribers per topic (one message at a time)", cats: cases, values: map[string][]float64{}, log: true},
	}
	var memCats []string
	for _, c := range cfg.MemConns {
		memCats = append(memCats, count(c)+" conns")
	}
	rrCats := rrLoads(res)
	slowCats := slowLoads(res)
	lastK := 1
	if len(cfg.MemChannels) > 0 {
		lastK = cfg.MemChannels[len(cfg.MemChannels)-1]
	}
	panels = append(panels,
		chartPanel{title: "memory: server RSS per connection, 1 channel, KB", xlabel: "idle connections", cats: memCats, values: map[string][]float64{}},
		chartPanel{title: fmt.Sprintf("memory: RSS per extra channel (%d ch/conn), KB", lastK), xlabel: "idle connections", cats: memCats, values: map[string][]float64{}},
		chartPanel{title: "request/reply: push→reply p99, ms (log scale; lower is better)", xlabel: "connected clients, each on one channel; total push rate", cats: rrCats, values: map[string][]float64{}, log: true},
		chartPanel{title: "slow consumers: server RSS peak, MB (lower is better)", xlabel: "subscribers, slow ones, broadcasts streamed", cats: slowCats, values: map[string][]float64{}},
		chartPanel{title: "slow consumers: healthy publish→delivery p99, ms", xlabel: "subscribers, slow ones, broadcasts streamed", cats: slowCats, values: map[string][]float64{}})
	for _, k := range cfg.Kinds {
		for _, name := range cases {
			panels[0].values[k] = append(panels[0].values[k], med(fanValues(res, k, name, func(r *fanResult) (float64, bool) { return r.DeliveriesPerSec, r.BurstDelivered > 0 })))
			panels[1].values[k] = append(panels[1].values[k], med(fanValues(res, k, name, func(r *fanResult) (float64, bool) { return r.LatP99MS, len(r.LatenciesMS) > 0 })))
		}
		for _, c := range cfg.MemConns {
			panels[2].values[k] = append(panels[2].values[k], med(memValues(res, k, c, func(m *memResult) (float64, bool) { return m.RSSPerConnKB, true })))
			panels[3].values[k] = append(panels[3].values[k], med(memValues(res, k, c, func(m *memResult) (float64, bool) {
				last := m.ByChannels[len(m.ByChannels)-1]
				return last.RSSPerChanKB, last.Channels > 1
			})))
		}
		for _, name := range slowCats {
			slowMed := func(f func(r *slowResult) (float64, bool)) float64 {
				return med(pick(res.Slow, func(r *slowResult) bool { return r.Kind == k && r.Load == name }, f))
			}
			panels[5].values[k] = append(panels[5].values[k], slowMed(func(r *slowResult) (float64, bool) { return r.RSSPeakMB, r.RSSPeakMB > 0 }))
			panels[6].values[k] = append(panels[6].values[k], slowMed(func(r *slowResult) (float64, bool) { return r.LatP99MS, r.Delivered > 0 }))
		}
		for _, name := range rrCats {
			panels[4].values[k] = append(panels[4].values[k], med(rrValues(res, k, name, func(r *rrResult) (float64, bool) {
				return rrPushMS(r, func(s load.Summary) time.Duration { return s.P99 })
			})))
		}
	}
	panels = slices.DeleteFunc(panels, func(p chartPanel) bool { return len(p.cats) == 0 })
	const pw, ph = 520, 320
	cols := 2
	rowsN := (len(panels) + cols - 1) / cols
	w, h := pw*cols, ph*rowsN+40
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="11">`+"\n", w, h, w, h)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", w, h)
	fmt.Fprintf(&b, `<text x="12" y="22" font-size="15" font-weight="bold">%s</text>`+"\n",
		html.EscapeString(fmt.Sprintf("measure bench: Pyre vs raw gws (%s)", res.Started.Format("2006-01-02 15:04"))))
	step := 70 // a legend entry
	if slices.Contains(cfg.Kinds, observedKind) {
		step = 100
	}
	lx := w - 20 - step*len(cfg.Kinds)
	for i, k := range cfg.Kinds {
		fmt.Fprintf(&b, `<rect x="%d" y="10" width="12" height="12" fill="%s"/><text x="%d" y="21">%s</text>`+"\n",
			lx+i*step, colorOf(k), lx+i*step+16, html.EscapeString(k))
	}
	for i, p := range panels {
		drawPanel(&b, p, cfg.Kinds, (i%cols)*pw, 40+(i/cols)*ph, pw, ph)
	}
	b.WriteString("</svg>\n")
	return b.String()
}

func colorOf(kind string) string {
	if c, ok := kindColor[kind]; ok {
		return c
	}
	return "#868e96"
}

func drawPanel(b *strings.Builder, p chartPanel, kinds []string, x0, y0, w, h int) {
	const left, right, top, bottom = 70, 15, 28, 48
	px, py := float64(x0+left), float64(y0+top)
	pw, ph := float64(w-left-right), float64(h-top-bottom)
	fmt.Fprintf(b, `<g><text x="%d" y="%d" font-size="12" font-weight="bold">%s</text>`+"\n", x0+10, y0+16, html.EscapeString(p.title))
	lo, hi := math.Inf(1), 0.0
	for _, vs := range p.values {
		for _, v := range vs {
			if !math.IsNaN(v) && v > 0 {
				lo, hi = math.Min(lo, v), math.Max(hi, v)
			}
		}
	}
	if hi == 0 || len(p.cats) == 0 {
		fmt.Fprintf(b, `<text x="%.0f" y="%.0f" fill="#868e96">no data</text></g>`+"\n", px+pw/2-20, py+ph/2)
		return
	}
	var ticks []float64
	var scale func(v float64) float64 // value → y
	if p.log {
		lmin, lmax := math.Floor(math.Log10(lo)), math.Ceil(math.Log10(hi))
		if lmax == lmin {
			lmax++
		}
		scale = func(v float64) float64 {
			if v <= 0 {
				return py + ph
			}
			return py + ph - (math.Log10(v)-lmin)/(lmax-lmin)*ph
		}
		for e := lmin; e <= lmax; e++ {
			ticks = append(ticks, math.Pow(10, e))
		}
	} else {
		step := niceStep(hi / 5)
		top := math.Ceil(hi/step) * step
		scale = func(v float64) float64 { return py + ph - v/top*ph }
		for t := 0.0; t <= top+step/2; t += step {
			ticks = append(ticks, t)
		}
	}
	for _, t := range ticks {
		y := scale(t)
		fmt.Fprintf(b, `<line x1="%.0f" y1="%.1f" x2="%.0f" y2="%.1f" stroke="#e9ecef"/>`, px, y, px+pw, y)
		fmt.Fprintf(b, `<text x="%.0f" y="%.1f" text-anchor="end">%s</text>`+"\n", px-5, y+4, html.EscapeString(tickLabel(t)))
	}
	fmt.Fprintf(b, `<line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" stroke="black"/>`, px, py, px, py+ph)
	fmt.Fprintf(b, `<line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" stroke="black"/>`+"\n", px, py+ph, px+pw, py+ph)
	groupW := pw / float64(len(p.cats))
	barW := groupW * 0.7 / float64(max(len(kinds), 1))
	for ci, cat := range p.cats {
		gx := px + float64(ci)*groupW + groupW*0.15
		for ki, k := range kinds {
			vs := p.values[k]
			if ci >= len(vs) || math.IsNaN(vs[ci]) {
				continue
			}
			v := vs[ci]
			y := scale(v)
			if p.log && v > 0 && v < ticks[0] {
				y = py + ph
			}
			x := gx + float64(ki)*barW
			fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s %s: %s</title></rect>`+"\n",
				x, y, barW-2, math.Max(py+ph-y, 0), colorOf(k), html.EscapeString(k), html.EscapeString(cat), tickLabel(v))
			fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle" font-size="9">%s</text>`+"\n", x+barW/2-1, y-3, tickLabel(v))
		}
		fmt.Fprintf(b, `<text x="%.1f" y="%.0f" text-anchor="middle">%s</text>`+"\n", px+float64(ci)*groupW+groupW/2, py+ph+16, html.EscapeString(cat))
	}
	fmt.Fprintf(b, `<text x="%.0f" y="%.0f" text-anchor="middle" fill="#495057">%s</text>`+"\n", px+pw/2, py+ph+34, html.EscapeString(p.xlabel))
	b.WriteString("</g>\n")
}

// niceStep rounds v up to 1, 2 or 5 × 10^n.
func niceStep(v float64) float64 {
	if v <= 0 {
		return 1
	}
	e := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*e >= v {
			return m * e
		}
	}
	return 10 * e
}

func tickLabel(v float64) string {
	switch a := math.Abs(v); {
	case a == 0:
		return "0"
	case a >= 1e6:
		return trimZeros(fmt.Sprintf("%.2f", v/1e6)) + "M"
	case a >= 1e3:
		return trimZeros(fmt.Sprintf("%.1f", v/1e3)) + "k"
	case a >= 10:
		return fmt.Sprintf("%.0f", v)
	case a >= 1:
		return trimZeros(fmt.Sprintf("%.1f", v))
	}
	return trimZeros(fmt.Sprintf("%.3f", v))
}

func trimZeros(s string) string {
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}
