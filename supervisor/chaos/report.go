package chaos

import (
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// String returns a short summary: kills per kind, the total, targets found already gone, idle ticks and
// the run's duration.
//
//	chaos: 7 strikes in 1.2s, 3 idle ticks
//	kind            killed
//	socket          2
//	channel         3
//	infrastructure  1
//	total           6
//	already gone    1
func (r Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "chaos: %d strikes in %v, %d idle ticks\n", len(r.Kills), r.Ended.Sub(r.Started).Round(time.Millisecond), r.Idle)
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "kind\tkilled")
	kinds := []Kind{Socket, Channel, Infrastructure}
	var others []Kind
	for k := range r.ByKind {
		if !slices.Contains(kinds, k) {
			others = append(others, k)
		}
	}
	slices.Sort(others)
	total := 0
	for _, k := range append(kinds, others...) {
		fmt.Fprintf(w, "%s\t%d\n", k, r.ByKind[k])
		total += r.ByKind[k]
	}
	fmt.Fprintf(w, "total\t%d\n", total)
	gone := 0
	for _, k := range r.Kills {
		if !k.Done {
			gone++
		}
	}
	if gone > 0 {
		fmt.Fprintf(w, "already gone\t%d\n", gone)
	}
	w.Flush()
	return b.String()
}
