package supervisor

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newSystem returns a quiet actor system, shut down at the end of the test (after its supervisors, whose
// cleanups run first).
func newSystem(tb testing.TB) *actor.ActorSystem {
	tb.Helper()
	sys := actor.NewActorSystem(
		actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return slog.New(slog.DiscardHandler) }),
		actor.WithDeadLetterThrottleInterval(time.Millisecond), // its goroutine ends before goleak looks
	)
	tb.Cleanup(sys.Shutdown)
	return sys
}

// startSup starts a supervisor and stops it at the end of the test, waiting for it.
func startSup(tb testing.TB, sys *actor.ActorSystem, cfg Config) *Supervisor {
	tb.Helper()
	s, err := Start(sys.Root, cfg)
	if err != nil {
		tb.Fatalf("Start: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Stop(ctx); err != nil {
			tb.Errorf("Stop: %v", err)
		}
	})
	return s
}

// eventually polls cond until it holds, failing the test after a generous deadline.
func eventually(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func bg(tb testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	tb.Cleanup(cancel)
	return ctx
}

// fakeClock is a Clock whose time moves only with Advance, which runs the timers that fall due.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	at            time.Time
	f             func()
	fired, cancel bool
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Unix(1_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) func() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{at: c.now.Add(d), f: f}
	c.timers = append(c.timers, t)
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		if t.fired || t.cancel {
			return false
		}
		t.cancel = true
		return true
	}
}

// Advance moves time on and runs the due timers in the calling goroutine.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	var due []func()
	for _, t := range c.timers {
		if !t.fired && !t.cancel && !t.at.After(c.now) {
			t.fired = true
			due = append(due, t.f)
		}
	}
	c.mu.Unlock()
	for _, f := range due {
		f()
	}
}

// Pending is the number of timers neither fired nor stopped.
func (c *fakeClock) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, t := range c.timers {
		if !t.fired && !t.cancel {
			n++
		}
	}
	return n
}

// Created is the number of timers ever set.
func (c *fakeClock) Created() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

// recorder collects a supervisor's events.
type recorder struct {
	mu     sync.Mutex
	events []Event
}

func (r *recorder) on(e Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

func (r *recorder) all() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events)
}

func (r *recorder) matching(t EventType, id string) []Event {
	var out []Event
	for _, e := range r.all() {
		if e.Type == t && e.ID == id {
			out = append(out, e)
		}
	}
	return out
}

func (r *recorder) count(t EventType, id string) int { return len(r.matching(t, id)) }

// waitN waits for n events of type t about child id and returns the nth.
func (r *recorder) waitN(tb testing.TB, t EventType, id string, n int) Event {
	tb.Helper()
	eventually(tb, fmt.Sprintf("%d %v events for %q", n, t, id), func() bool { return r.count(t, id) >= n })
	return r.matching(t, id)[n-1]
}

// orderLog is a shared, ordered log of starts and stops.
type orderLog struct {
	mu      sync.Mutex
	entries []string
}

func (l *orderLog) add(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.entries = append(l.entries, s)
}

func (l *orderLog) get() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.entries)
}

func (l *orderLog) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.entries)
}

// since returns the entries after the first mark ones.
func (l *orderLog) since(mark int) []string { return l.get()[mark:] }

func (l *orderLog) has(s string) bool { return slices.Contains(l.get(), s) }

// Messages the test worker understands.
type (
	exitWith struct{ reason error } // calls Exit(ctx, reason)
	blockOn  struct{ entered, release chan struct{} }
	note     string // recorded in the worker's got log
)

// worker logs "stop <id>" when it stops, and obeys the messages above.
type worker struct {
	id        string
	log, got  *orderLog
	panicStop bool
}

func newWorker(id string) *worker { return &worker{id: id, log: &orderLog{}, got: &orderLog{}} }

func (w *worker) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Stopping:
		w.log.add("stop " + w.id)
		if w.panicStop {
			panic("in Stopping")
		}
	case exitWith:
		Exit(ctx, m.reason)
	case blockOn:
		close(m.entered)
		<-m.release
	case note:
		w.got.add(string(m))
	}
}

// workerSpec logs "start <id>" in Start, which the supervisor calls in order.
func workerSpec(id string, r Restart, log *orderLog) ChildSpec {
	return ChildSpec{ID: id, Restart: r, Start: func() (actor.Actor, error) {
		log.add("start " + id)
		return &worker{id: id, log: log, got: &orderLog{}}, nil
	}}
}

func pidOf(tb testing.TB, s *Supervisor, id string) *actor.PID {
	tb.Helper()
	infos, err := s.WhichChildren(bg(tb))
	if err != nil {
		tb.Fatalf("WhichChildren: %v", err)
	}
	for _, c := range infos {
		if c.ID == id {
			return c.PID
		}
	}
	tb.Fatalf("no child %q in %v", id, infos)
	return nil
}

func ids(infos []ChildInfo) []string {
	out := make([]string, len(infos))
	for i, c := range infos {
		out[i] = c.ID
	}
	return out
}
