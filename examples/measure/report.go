package main

import (
	"fmt"
	"sort"
	"strings"
)

// summarize returns one row per kind: the result itself after one round, else the median of each figure
// over the rounds that measured it (counts of missing deliveries, errors and disconnects are summed).
func summarize(cfg *runConfig, rs []result) []result {
	if cfg.Rounds <= 1 {
		return rs
	}
	var out []result
	for _, kind := range cfg.Kinds {
		var rounds []result
		for _, r := range rs {
			if r.Kind == kind {
				rounds = append(rounds, r)
			}
		}
		if len(rounds) == 0 {
			continue
		}
		s := result{Kind: kind, Msgs: cfg.Msgs, Size: cfg.Size, Conns: rounds[0].Conns}
		var measured []result
		for _, r := range rounds {
			s.Conns = min(s.Conns, r.Conns)
			s.ConnectErrors += r.ConnectErrors
			s.Expected += r.Expected
			s.Delivered += r.Delivered
			s.Missing += r.Missing
			s.OutOfOrder += r.OutOfOrder
			s.OtherFrames += r.OtherFrames
			s.ClientDisconnects += r.ClientDisconnects
			if s.FirstConnectError == "" {
				s.FirstConnectError = r.FirstConnectError
			}
			if r.Error != "" && s.Error == "" {
				s.Error = fmt.Sprintf("round %d: %s", r.Round, r.Error)
			}
			if r.MemJoined.RSSBytes > 0 {
				measured = append(measured, r)
			}
		}
		med := func(get func(r *result) float64) float64 {
			var v []float64
			for i := range measured {
				v = append(v, get(&measured[i]))
			}
			return median(v)
		}
		s.RSSPerConnKB = med(func(r *result) float64 { return r.RSSPerConnKB })
		s.HeapPerConnKB = med(func(r *result) float64 { return r.HeapPerConnKB })
		s.StackPerConnKB = med(func(r *result) float64 { return r.StackPerConnKB })
		s.GoroutinesPerConn = med(func(r *result) float64 { return r.GoroutinesPerConn })
		s.DeliveriesPerSec = med(func(r *result) float64 { return r.DeliveriesPerSec })
		s.PublishToLastSeconds = med(func(r *result) float64 { return r.PublishToLastSeconds })
		s.FirstToLastSeconds = med(func(r *result) float64 { return r.FirstToLastSeconds })
		s.PublishCallSeconds = med(func(r *result) float64 { return r.PublishCallSeconds })
		s.ConnectSeconds = med(func(r *result) float64 { return r.ConnectSeconds })
		s.ServerCPUSeconds = med(func(r *result) float64 { return r.ServerCPUSeconds })
		s.ServerCPUPerDeliveryUS = med(func(r *result) float64 { return r.ServerCPUPerDeliveryUS })
		s.DriverCPUSeconds = med(func(r *result) float64 { return r.DriverCPUSeconds })
		if len(measured) > 0 {
			s.MemJoined.RSSBytes = 1 // marks the row as measured
		}
		out = append(out, s)
	}
	return out
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	sort.Float64s(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// ratioSet is pyre/gws for each figure of the table (0 when a side is missing or zero).
type ratioSet struct {
	RSSPerConn        float64 `json:"rss_per_conn"`
	HeapPerConn       float64 `json:"heap_per_conn"`
	GoroutinesPerConn float64 `json:"goroutines_per_conn"`
	DeliveriesPerSec  float64 `json:"deliveries_per_sec"`
	PublishToLast     float64 `json:"publish_to_last"`
	CPUPerDelivery    float64 `json:"server_cpu_per_delivery"`
}

func findResult(rs []result, kind string) *result {
	for i := range rs {
		if rs[i].Kind == kind && rs[i].MemJoined.RSSBytes > 0 {
			return &rs[i]
		}
	}
	return nil
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// ratios compares pyre with gws; nil unless both were measured without error.
func ratios(rs []result) *ratioSet {
	p, g := findResult(rs, "pyre"), findResult(rs, "gws")
	if p == nil || g == nil {
		return nil
	}
	return &ratioSet{
		RSSPerConn:        ratio(p.RSSPerConnKB, g.RSSPerConnKB),
		HeapPerConn:       ratio(p.HeapPerConnKB, g.HeapPerConnKB),
		GoroutinesPerConn: ratio(p.GoroutinesPerConn, g.GoroutinesPerConn),
		DeliveriesPerSec:  ratio(p.DeliveriesPerSec, g.DeliveriesPerSec),
		PublishToLast:     ratio(p.PublishToLastSeconds, g.PublishToLastSeconds),
		CPUPerDelivery:    ratio(p.ServerCPUPerDeliveryUS, g.ServerCPUPerDeliveryUS),
	}
}

// formatReport renders the results as Markdown: the main table (medians when there are several rounds),
// the ratio row, then the details of every round.
func formatReport(cfg *runConfig, rs []result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "### measure: %d connections joined to %s, %d broadcasts of %d-byte bodies", cfg.Conns, benchTopic, cfg.Msgs, cfg.Size)
	if cfg.Rounds > 1 {
		fmt.Fprintf(&b, ", median of %d rounds", cfg.Rounds)
	}
	b.WriteString("\n\n")
	b.WriteString("| kind | conns | RSS/conn (KB) | heap/conn (KB) | goroutines/conn | deliveries/s | publish→last delivery | missing deliveries | server CPU/delivery (µs) |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	summary := summarize(cfg, rs)
	for _, r := range summary {
		if r.MemJoined.RSSBytes == 0 {
			fmt.Fprintf(&b, "| %s | %d | — | — | — | — | — | failed: %s | — |\n", r.Kind, r.Conns, mdEscape(r.Error))
			continue
		}
		missing := fmt.Sprintf("%d", r.Missing)
		if r.Missing != 0 && r.Expected > 0 {
			missing = fmt.Sprintf("**%d** of %d", r.Missing, r.Expected)
		}
		fmt.Fprintf(&b, "| %s | %d | %.2f | %.2f | %.2f | %s | %s | %s | %s |\n",
			r.Kind, r.Conns, r.RSSPerConnKB, r.HeapPerConnKB, r.GoroutinesPerConn,
			thousands(r.DeliveriesPerSec), seconds(r.PublishToLastSeconds), missing, fixed(r.ServerCPUPerDeliveryUS))
	}
	if q := ratios(summary); q != nil {
		fmt.Fprintf(&b, "| pyre/gws | — | %s | %s | %s | %s | %s | — | %s |\n",
			times(q.RSSPerConn), times(q.HeapPerConn), times(q.GoroutinesPerConn), times(q.DeliveriesPerSec),
			times(q.PublishToLast), times(q.CPUPerDelivery))
	}

	b.WriteString("\n| details | ")
	for _, r := range rs {
		if cfg.Rounds > 1 {
			fmt.Fprintf(&b, "%s #%d | ", r.Kind, r.Round)
		} else {
			b.WriteString(r.Kind + " | ")
		}
	}
	b.WriteString("\n|---|")
	for range rs {
		b.WriteString("---:|")
	}
	b.WriteString("\n")
	row := func(name string, f func(r *result) string) {
		fmt.Fprintf(&b, "| %s |", name)
		for i := range rs {
			fmt.Fprintf(&b, " %s |", f(&rs[i]))
		}
		b.WriteString("\n")
	}
	row("connect + join time", func(r *result) string { return seconds(r.ConnectSeconds) })
	row("connect errors", func(r *result) string {
		if r.ConnectErrors == 0 {
			return "0"
		}
		return fmt.Sprintf("%d (%s)", r.ConnectErrors, mdEscape(r.FirstConnectError))
	})
	row("server RSS idle → joined (MB)", func(r *result) string {
		return fmt.Sprintf("%.1f → %.1f", mb(r.MemBefore.RSSBytes), mb(r.MemJoined.RSSBytes))
	})
	row("server heap in use idle → joined (MB)", func(r *result) string {
		return fmt.Sprintf("%.1f → %.1f", mb(r.MemBefore.HeapInuse), mb(r.MemJoined.HeapInuse))
	})
	row("stack/conn (KB)", func(r *result) string { return fmt.Sprintf("%.2f", r.StackPerConnKB) })
	row("server goroutines idle → joined", func(r *result) string {
		return fmt.Sprintf("%d → %d", r.MemBefore.Goroutines, r.MemJoined.Goroutines)
	})
	row("server conns joined → after fan-out", func(r *result) string {
		return fmt.Sprintf("%d → %d", r.MemJoined.Conns, r.MemAfterPublish.Conns)
	})
	row("server RSS after fan-out (MB)", func(r *result) string { return fmt.Sprintf("%.1f", mb(r.MemAfterPublish.RSSBytes)) })
	row("publish call (server, s)", func(r *result) string { return seconds(r.PublishCallSeconds) })
	row("first → last delivery", func(r *result) string { return seconds(r.FirstToLastSeconds) })
	row("deliveries/s", func(r *result) string { return thousands(r.DeliveriesPerSec) })
	row("server CPU during fan-out (s)", func(r *result) string { return fixed(r.ServerCPUSeconds) })
	row("driver (clients) CPU during fan-out (s)", func(r *result) string { return fixed(r.DriverCPUSeconds) })
	row("load average before → after fan-out", func(r *result) string { return r.LoadAvg })
	row("delivered / expected", func(r *result) string { return fmt.Sprintf("%d / %d", r.Delivered, r.Expected) })
	row("out-of-order deliveries", func(r *result) string { return fmt.Sprintf("%d", r.OutOfOrder) })
	row("other frames", func(r *result) string { return fmt.Sprintf("%d", r.OtherFrames) })
	row("client disconnects", func(r *result) string {
		if r.ClientDisconnects == 0 {
			return "0"
		}
		keys := make([]string, 0, len(r.DisconnectReasons))
		for k := range r.DisconnectReasons {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, 0, len(keys))
		for _, k := range keys {
			parts = append(parts, fmt.Sprintf("%d× %s", r.DisconnectReasons[k], k))
		}
		return fmt.Sprintf("%d (%s)", r.ClientDisconnects, mdEscape(strings.Join(parts, "; ")))
	})
	row("error", func(r *result) string {
		e := r.Error
		if r.ServerExitedEarly {
			e = strings.TrimSpace(e + " server exited early: " + r.ServerExit)
		}
		if e == "" {
			return "—"
		}
		return mdEscape(e)
	})
	return b.String()
}

func times(v float64) string {
	if v == 0 {
		return "—"
	}
	return fmt.Sprintf("%.2f×", v)
}

func fixed(v float64) string {
	if v == 0 {
		return "—"
	}
	return fmt.Sprintf("%.2f", v)
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
