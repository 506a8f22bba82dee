package chaos_test

import (
	"context"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/pyrehq/pyre/supervisor/chaos"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// spec describes a fake target.
type spec struct {
	kind   chaos.Kind
	id     string
	labels map[string]string
}

func tgt(kind chaos.Kind, id string, kv ...string) spec {
	labels := make(map[string]string)
	for i := 0; i+1 < len(kv); i += 2 {
		labels[kv[i]] = kv[i+1]
	}
	return spec{kind: kind, id: id, labels: labels}
}

// call records one Exit or Panic.
type call struct {
	id     string
	method chaos.Method
	arg    any // the reason (error) or the panic value
}

// fake is a Population. Killed targets leave it unless keep is set; targets in gone are listed but report
// that they were already gone.
type fake struct {
	mu      sync.Mutex
	specs   map[string]spec
	keep    bool
	gone    map[string]bool
	calls   []call
	shuffle *rand.Rand // if set, Targets returns the targets in a random order
}

func newFake(tb testing.TB, specs ...spec) *fake {
	tb.Helper()
	f := &fake{specs: make(map[string]spec), gone: make(map[string]bool)}
	for _, s := range specs {
		if _, dup := f.specs[s.id]; dup {
			tb.Fatalf("duplicate target id %q", s.id)
		}
		f.specs[s.id] = s
	}
	return f
}

func (f *fake) Targets() []chaos.Target {
	f.mu.Lock()
	defer f.mu.Unlock()
	ids := slices.Sorted(maps.Keys(f.specs))
	if f.shuffle != nil {
		f.shuffle.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
	}
	ts := make([]chaos.Target, 0, len(ids))
	for _, id := range ids {
		s := f.specs[id]
		ts = append(ts, chaos.Target{
			Kind:   s.kind,
			ID:     s.id,
			Labels: s.labels,
			Exit:   func(reason error) bool { return f.kill(id, chaos.Exit, reason) },
			Panic:  func(value any) bool { return f.kill(id, chaos.Panic, value) },
		})
	}
	return ts
}

func (f *fake) kill(id string, m chaos.Method, arg any) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call{id: id, method: m, arg: arg})
	if _, live := f.specs[id]; !live || f.gone[id] {
		return false
	}
	if !f.keep {
		delete(f.specs, id)
	}
	return true
}

func (f *fake) Calls() []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

func (f *fake) Len() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.specs)
}

// ticker is an injectable Config.Tick that the test drives.
type ticker struct {
	c        chan time.Time
	interval time.Duration // the period Run asked for
	stopped  atomic.Bool
}

func newTicker() *ticker { return &ticker{c: make(chan time.Time)} }

func (tk *ticker) Tick(d time.Duration) (<-chan time.Time, func()) {
	tk.interval = d
	return tk.c, func() { tk.stopped.Store(true) }
}

// drive runs m.Run(ctx) on another goroutine and sends it ticks, the i-th carrying at(i), until Run
// returns. Each tick is received by Run before the next is sent, so the number sent is exact. A nil at
// sends time.Now().
func drive(tb testing.TB, ctx context.Context, m *chaos.Monkey, tk *ticker, at func(i int) time.Time) (chaos.Report, int, error) {
	tb.Helper()
	if at == nil {
		at = func(int) time.Time { return time.Now() }
	}
	var (
		r    chaos.Report
		err  error
		done = make(chan struct{})
	)
	go func() {
		defer close(done)
		r, err = m.Run(ctx)
	}()
	sent := 0
	for {
		select {
		case tk.c <- at(sent):
			sent++
		case <-done:
			if !tk.stopped.Load() {
				tb.Error("Run returned without stopping its ticker")
			}
			return r, sent, err
		}
	}
}

func mustNew(tb testing.TB, pop chaos.Population, cfg chaos.Config) *chaos.Monkey {
	tb.Helper()
	m, err := chaos.New(pop, cfg)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	return m
}

func ids(kills []chaos.Kill) []string {
	out := make([]string, len(kills))
	for i, k := range kills {
		out[i] = k.ID
	}
	return out
}
