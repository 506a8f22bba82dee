package metrics

import (
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// sentCounters keep pyre_messages_sent_total and pyre_sent_bytes_total. Every connection's writer adds to
// them once per write, from every core at once: adding to one counter would bounce its cache line between
// the cores, so each P adds to a shard of its own (got through a sync.Pool, whose fast path is P-local)
// and Collect sums the shards, exact at scrape time.
type sentCounters struct {
	frames, bytes *prometheus.Desc
	pool          sync.Pool // *sentShard
	mu            sync.Mutex
	shards        []*sentShard
	// Transports other than websocket and longpoll (none today) go to plain counters.
	otherFrames, otherBytes *prometheus.CounterVec
}

// Transports with a slot in each shard.
const (
	slotWS = iota
	slotLP
	slots
)

var slotNames = [slots]string{slotWS: "websocket", slotLP: "longpoll"}

// maxSentShards bounds the shards: the pool drops those of Ps idle across two GCs, so without a bound they
// would pile up over time; past it, a new P shares an existing shard (its adds are atomic all the same).
const maxSentShards = 256

// sentShard is one P's counts, alone on its cache lines.
type sentShard struct {
	_      [64]byte
	counts [slots]struct{ frames, bytes atomic.Uint64 }
	_      [64]byte
}

func newSentCounters(frames, bytes prometheus.CounterOpts) *sentCounters {
	s := &sentCounters{
		frames:      prometheus.NewDesc(prometheus.BuildFQName(frames.Namespace, frames.Subsystem, frames.Name), frames.Help, []string{"transport"}, frames.ConstLabels),
		bytes:       prometheus.NewDesc(prometheus.BuildFQName(bytes.Namespace, bytes.Subsystem, bytes.Name), bytes.Help, []string{"transport"}, bytes.ConstLabels),
		otherFrames: prometheus.NewCounterVec(frames, []string{"transport"}),
		otherBytes:  prometheus.NewCounterVec(bytes, []string{"transport"}),
	}
	s.pool.New = s.newShard
	return s
}

func (s *sentCounters) newShard() any {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.shards) >= maxSentShards {
		return s.shards[len(s.shards)%maxSentShards]
	}
	sh := &sentShard{}
	s.shards = append(s.shards, sh)
	return sh
}

// add counts one write of frames frames and bytes bytes on transport.
func (s *sentCounters) add(transport string, frames, bytes int) {
	slot := slotWS
	switch transport {
	case "websocket":
	case "longpoll":
		slot = slotLP
	default:
		s.otherFrames.WithLabelValues(transport).Add(float64(frames))
		s.otherBytes.WithLabelValues(transport).Add(float64(bytes))
		return
	}
	sh := s.pool.Get().(*sentShard)
	c := &sh.counts[slot]
	c.frames.Add(uint64(frames))
	c.bytes.Add(uint64(bytes))
	s.pool.Put(sh)
}

// Describe implements prometheus.Collector.
func (s *sentCounters) Describe(ch chan<- *prometheus.Desc) {
	ch <- s.frames
	ch <- s.bytes
}

// Collect implements prometheus.Collector: each transport's sum over the shards.
func (s *sentCounters) Collect(ch chan<- prometheus.Metric) {
	var frames, bytes [slots]uint64
	s.mu.Lock()
	for _, sh := range s.shards {
		for i := range sh.counts {
			frames[i] += sh.counts[i].frames.Load()
			bytes[i] += sh.counts[i].bytes.Load()
		}
	}
	s.mu.Unlock()
	for i, name := range slotNames {
		ch <- prometheus.MustNewConstMetric(s.frames, prometheus.CounterValue, float64(frames[i]), name)
		ch <- prometheus.MustNewConstMetric(s.bytes, prometheus.CounterValue, float64(bytes[i]), name)
	}
	s.otherFrames.Collect(ch)
	s.otherBytes.Collect(ch)
}
