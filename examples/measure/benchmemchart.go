package main

import (
	"fmt"
	"html"
	"math"
	"strings"
)

// phoenixRSSPerConnKB is the reference Phoenix 1.7 figure measured with the same harness on the same kind
// of machine (issue 16): RSS per connection with one channel at 15k connections, low and high.
var phoenixRSSPerConnKB = struct {
	conns    int
	low, top float64
}{15000, 36.6, 37.4}

// memTargetKB is issue 16's target for Pyre's RSS per idle connection with one channel.
const memTargetKB = 8.0

// benchMemoryChart draws memory.svg: server RSS per connection (one channel) against the connection count,
// one line per kind (medians over rounds), and the Phoenix reference as a range at its connection count.
func benchMemoryChart(cfg *benchConfig, res *benchResults) string {
	type point struct {
		conns int
		kb    float64
	}
	lines := map[string][]point{}
	maxConns, maxKB := phoenixRSSPerConnKB.conns, phoenixRSSPerConnKB.top
	for _, k := range cfg.Kinds {
		for _, c := range cfg.MemConns {
			v := memValues(res, k, c, func(m *memResult) (float64, bool) { return m.RSSPerConnKB, m.Conns > 0 })
			if len(v) == 0 {
				continue
			}
			p := point{c, median(v)}
			lines[k] = append(lines[k], p)
			maxConns, maxKB = max(maxConns, c), max(maxKB, p.kb)
		}
	}
	const w, h, left, right, top, bottom = 720, 420, 70, 220, 44, 52
	pw, ph := float64(w-left-right), float64(h-top-bottom)
	yStep := niceStep(maxKB / 6)
	yTop := math.Ceil(maxKB/yStep) * yStep
	xStep := niceStep(float64(maxConns) / 6)
	xTop := math.Ceil(float64(maxConns)/xStep) * xStep
	x := func(c float64) float64 { return left + c/xTop*pw }
	y := func(kb float64) float64 { return top + ph - kb/yTop*ph }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="11">`+"\n", w, h, w, h)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", w, h)
	fmt.Fprintf(&b, `<text x="12" y="22" font-size="14" font-weight="bold">%s</text>`+"\n",
		html.EscapeString(fmt.Sprintf("Server RSS per idle connection with one joined channel, KB (%s)", res.Started.Format("2006-01-02"))))
	for t := 0.0; t <= yTop+yStep/2; t += yStep {
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%.0f" y2="%.1f" stroke="#e9ecef"/><text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n",
			left, y(t), left+pw, y(t), left-5, y(t)+4, tickLabel(t))
	}
	for t := 0.0; t <= xTop+xStep/2; t += xStep {
		fmt.Fprintf(&b, `<text x="%.1f" y="%.0f" text-anchor="middle">%s</text>`+"\n", x(t), top+ph+16, tickLabel(t))
	}
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%.0f" stroke="black"/><line x1="%d" y1="%.0f" x2="%.0f" y2="%.0f" stroke="black"/>`+"\n",
		left, top, left, top+ph, left, top+ph, left+pw, top+ph)
	fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" text-anchor="middle" fill="#495057">idle connections (each joined to one channel)</text>`+"\n", left+pw/2, top+ph+36)
	legend := func(i int, color, label string, dashed bool) {
		ly := float64(top + 10 + i*20)
		dash := ""
		if dashed {
			dash = ` stroke-dasharray="4 3"`
		}
		fmt.Fprintf(&b, `<line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" stroke="%s" stroke-width="2"%s/><text x="%.0f" y="%.0f">%s</text>`+"\n",
			left+pw+16, ly, left+pw+40, ly, color, dash, left+pw+46, ly+4, html.EscapeString(label))
	}
	for i, k := range cfg.Kinds {
		ps := lines[k]
		var path strings.Builder
		for j, p := range ps {
			cmd := "L"
			if j == 0 {
				cmd = "M"
			}
			fmt.Fprintf(&path, "%s%.1f %.1f ", cmd, x(float64(p.conns)), y(p.kb))
		}
		if len(ps) > 0 {
			fmt.Fprintf(&b, `<path d="%s" fill="none" stroke="%s" stroke-width="2"/>`+"\n", strings.TrimSpace(path.String()), colorOf(k))
		}
		dy := -7.0 // the first kind's figures above its points, the others' below
		if i > 0 {
			dy = 15
		}
		for _, p := range ps {
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"><title>%s %d conns: %.2f KB</title></circle><text x="%.1f" y="%.1f" text-anchor="middle" font-size="9" fill="%s">%.1f</text>`+"\n",
				x(float64(p.conns)), y(p.kb), colorOf(k), html.EscapeString(k), p.conns, p.kb, x(float64(p.conns)), y(p.kb)+dy, colorOf(k), p.kb)
		}
		label := k
		if k == "gws" {
			label = fmt.Sprintf("raw gws (%d B read buffer)", gwsReadBufferSize)
		}
		legend(i, colorOf(k), label, false)
	}
	ph15 := phoenixRSSPerConnKB
	px := x(float64(ph15.conns))
	fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#7048e8" stroke-width="6"><title>Phoenix 1.7: %.1f–%.1f KB at %d conns</title></line>`+"\n",
		px, y(ph15.low), px, y(ph15.top), ph15.low, ph15.top, ph15.conns)
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="end" font-size="9">%.1f–%.1f</text>`+"\n", px-6, y(ph15.top)+3, ph15.low, ph15.top)
	legend(len(cfg.Kinds), "#7048e8", "Phoenix 1.7 (reference)", false)
	// Issue 16's target for Pyre.
	fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%.0f" y2="%.1f" stroke="#2b8a3e" stroke-dasharray="4 3"/>`+"\n", left, y(memTargetKB), left+pw, y(memTargetKB))
	legend(len(cfg.Kinds)+1, "#2b8a3e", fmt.Sprintf("target: %.0f KB", memTargetKB), true)
	b.WriteString("</svg>\n")
	return b.String()
}
