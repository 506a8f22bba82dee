package load

import (
	"container/heap"
	"math/rand/v2"
	"time"
)

// schedule calls fire for every channel rate times per second until quit is closed. One goroutine and one
// timer serve every channel: channels sit in a heap ordered by due time; each starts at a random phase
// of its period, and each next interval is the period ±10 % (uniform), so channels drift apart instead of
// pushing in lockstep. A channel found dead when due is dropped. When the scheduler falls more than a
// period behind (CPU starved) a channel's next push is due now rather than owed as a burst.
func schedule(chans []*chanState, rate float64, quit <-chan struct{}, fire func(*chanState)) {
	period := float64(time.Second) / rate
	rng := rand.New(rand.NewPCG(uint64(len(chans)), 0x6c6f616467656e)) // reproducible phases
	h := make(dueHeap, len(chans))
	for k, c := range chans {
		h[k] = due{at: int64(rng.Float64() * period), c: c}
	}
	heap.Init(&h)
	start := time.Now()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for len(h) > 0 {
		now := int64(time.Since(start))
		// At most one pass over the heap per wake-up, so quit is seen even at absurd rates.
		for n := len(h); n > 0 && len(h) > 0 && h[0].at <= now; n-- {
			top := &h[0]
			if top.c.ended() {
				heap.Pop(&h)
				continue
			}
			fire(top.c)
			top.at += int64(period * (0.9 + 0.2*rng.Float64()))
			if top.at < now-int64(period) {
				top.at = now
			}
			heap.Fix(&h, 0)
		}
		if len(h) == 0 {
			break
		}
		timer.Reset(time.Duration(max(h[0].at-now, 0)))
		select {
		case <-quit:
			return
		case <-timer.C:
		}
	}
	<-quit // every channel has ended
}

type due struct {
	at int64 // ns since the scheduler started
	c  *chanState
}

type dueHeap []due

func (h dueHeap) Len() int           { return len(h) }
func (h dueHeap) Less(a, b int) bool { return h[a].at < h[b].at }
func (h dueHeap) Swap(a, b int)      { h[a], h[b] = h[b], h[a] }
func (h *dueHeap) Push(x any)        { *h = append(*h, x.(due)) }
func (h *dueHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
