package crdt

import (
	"fmt"
	"runtime"
	"testing"
)

var benchMeta = []byte(`{"online_at":1700000000}`)

type benchNames struct{ owners, topics, keys []string }

func newBenchNames(n int) benchNames {
	var bn benchNames
	for i := range n {
		bn.owners = append(bn.owners, fmt.Sprint("chan:", i))
		bn.keys = append(bn.keys, fmt.Sprint("user:", i))
	}
	for i := range 100 {
		bn.topics = append(bn.topics, fmt.Sprint("room:", i))
	}
	return bn
}

// fill joins n presences: owner i tracks key i in one of 100 topics.
func (bn benchNames) fill(s *State, n int) {
	for i := range n {
		if _, err := s.Join(bn.owners[i], bn.topics[i%100], bn.keys[i], benchMeta); err != nil {
			panic(err)
		}
	}
}

const benchPool = 1 << 16

func BenchmarkJoin(b *testing.B) {
	bn := newBenchNames(benchPool)
	s := New("a")
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		j := i % benchPool
		if j == 0 && i > 0 {
			b.StopTimer()
			s = New("a")
			b.StartTimer()
		}
		s.Join(bn.owners[j], bn.topics[j%100], bn.keys[j], benchMeta)
	}
}

func BenchmarkLeave(b *testing.B) {
	bn := newBenchNames(benchPool)
	var s *State
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		j := i % benchPool
		if j == 0 {
			b.StopTimer()
			s = New("a")
			bn.fill(s, benchPool)
			b.StartTimer()
		}
		s.Leave(bn.owners[j], bn.topics[j%100], bn.keys[j])
	}
}

func BenchmarkUpdate(b *testing.B) {
	bn := newBenchNames(benchPool)
	s := New("a")
	bn.fill(s, benchPool)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		j := i % benchPool
		s.Update(bn.owners[j], bn.topics[j%100], bn.keys[j], benchMeta)
	}
}

// Merge of a 1000-entry delta: into a peer that lacks it (new), and again (duplicate).
func BenchmarkMerge1k(b *testing.B) {
	bn := newBenchNames(1000)
	a := New("a")
	bn.fill(a, 1000)
	d := a.TakeDelta()
	b.Run("new", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			b.StopTimer()
			r := New("b")
			r.ReplicaUp("a")
			b.StartTimer()
			if _, _, err := r.Merge(d); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("duplicate", func(b *testing.B) {
		r := New("b")
		r.ReplicaUp("a")
		r.Merge(d)
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			r.Merge(d)
		}
	})
}

// Get of a topic of 1000 presences (what presence_state sends).
func BenchmarkGet1k(b *testing.B) {
	bn := newBenchNames(100_000)
	s := New("a")
	bn.fill(s, 100_000)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		s.Get("room:7")
	}
}

// BenchmarkBytesPerPresence measures the live heap per presence over 100k joins (owner i tracks key i
// in one of 100 topics, 24-byte meta), held by the replica that tracked them (local) or by a peer that
// merged them (remote). B/presence includes the owner and key strings ("chan:N", "user:N", 16 bytes
// each), which the state keeps alive; state-B/presence is measured with strings the caller holds anyway.
func BenchmarkBytesPerPresence(b *testing.B) {
	const n = 100_000
	for _, remote := range []bool{false, true} {
		name := map[bool]string{false: "local", true: "remote"}[remote]
		b.Run(name, func(b *testing.B) {
			var total, state float64
			for range b.N {
				total = heapPerPresence(n, remote, false)
				state = heapPerPresence(n, remote, true)
			}
			b.ReportMetric(total, "B/presence")
			b.ReportMetric(state, "state-B/presence")
		})
	}
}

func heapPerPresence(n int, remote, callerStrings bool) float64 {
	var bn benchNames
	if callerStrings {
		bn = newBenchNames(n)
	}
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	s := New("a")
	for i := range n {
		topic := fmt.Sprint("room:", i%100)
		owner, key := fmt.Sprint("chan:", i), fmt.Sprint("user:", i)
		if callerStrings {
			topic, owner, key = bn.topics[i%100], bn.owners[i], bn.keys[i]
		}
		if _, err := s.Join(owner, topic, key, benchMeta); err != nil {
			panic(err)
		}
	}
	if remote {
		r := New("b")
		r.ReplicaUp("a")
		if _, _, err := r.Merge(s.TakeDelta()); err != nil {
			panic(err)
		}
		s = r
	}
	runtime.GC()
	runtime.ReadMemStats(&m1)
	runtime.KeepAlive(s)
	runtime.KeepAlive(bn)
	return float64(m1.HeapAlloc-m0.HeapAlloc) / float64(n)
}
