package load

import (
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Histogram range: 1 µs … 1 h at 3 significant digits (~190 KB each).
const (
	histUnit = time.Microsecond
	histMax  = int64(time.Hour / histUnit)
)

// hist is an HdrHistogram of durations, safe for concurrent use.
type hist struct {
	mu sync.Mutex
	h  *hdrhistogram.Histogram
}

func newHist() *hist { return &hist{h: hdrhistogram.New(1, histMax, 3)} }

// record adds d, clamped to the histogram's range (a negative delivery latency, from clocks of different
// machines, counts as zero).
func (h *hist) record(d time.Duration) {
	v := min(max(int64(d/histUnit), 0), histMax)
	h.mu.Lock()
	_ = h.h.RecordValue(v) // in range: never fails
	h.mu.Unlock()
}

// Summary is a latency histogram summarised. Percentiles are HdrHistogram's (3 significant digits, 1 µs
// resolution); all zero when Count is zero.
type Summary struct {
	Count int64         `json:"count"`
	P50   time.Duration `json:"p50_ns"`
	P90   time.Duration `json:"p90_ns"`
	P99   time.Duration `json:"p99_ns"`
	P999  time.Duration `json:"p999_ns"`
	Max   time.Duration `json:"max_ns"`
}

func (h *hist) summary() Summary {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := h.h.TotalCount()
	if n == 0 {
		return Summary{}
	}
	at := func(q float64) time.Duration { return time.Duration(h.h.ValueAtQuantile(q)) * histUnit }
	return Summary{
		Count: n, P50: at(50), P90: at(90), P99: at(99), P999: at(99.9),
		Max: time.Duration(h.h.Max()) * histUnit,
	}
}
