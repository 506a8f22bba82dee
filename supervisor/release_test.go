package supervisor

import (
	"bytes"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
	"weak"

	"github.com/asynkron/protoactor-go/actor"
)

// The protoactor-go behaviours ReleaseChild fences. If one of these tests fails, protoactor changed:
// revisit ReleaseChild (it may have become unnecessary, or insufficient).

// PIDSet.Remove leaves the removed PID past the end of the slice that Values (ctx.Children) returns.
func TestProtoactorPIDSetKeepsRemovedSlot(t *testing.T) {
	a, b, c := actor.NewPID("x", "a"), actor.NewPID("x", "b"), actor.NewPID("x", "c")
	s := actor.NewPIDSet(a, b, c)
	s.Remove(b)
	v := s.Values()
	if len(v) != 2 || cap(v) < 3 {
		t.Fatalf("Values: len %d cap %d after removing one of three", len(v), cap(v))
	}
	if stale := v[:3][2]; stale != c {
		t.Fatalf("slot past the end holds %v, want the PID moved from it (c): protoactor clears it now", stale)
	}
	s.Remove(c)
	if v = s.Values(); v[:2][1] != c {
		t.Fatalf("slot past the end holds %v, want the removed PID (c)", v[:2][1])
	}
	// Values is the set's own storage, so clearing its spare slots reaches the set.
	v[:2][1] = nil
	if &s.Values()[0] != &v[0] {
		t.Fatal("Values returns a copy: ReleaseChild cannot clear the set's slots through ctx.Children")
	}
}

type ballast [256 << 10]byte

type heavy struct{ b *ballast }

func (*heavy) Receive(actor.Context) {}

// collected reports whether the collector freed what w points to, collecting until it has or a liveness
// bound passes.
func collected[T any](w weak.Pointer[T]) bool {
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		runtime.GC()
		if w.Value() == nil {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
	}
}

// A *PID caches its process: a stopped actor stays reachable through any PID that was used to reach it,
// until the PID is used again, which drops the cache of a dead process.
func TestProtoactorDeadPIDCachesItsProcess(t *testing.T) {
	var logged syncBuffer
	sys := actor.NewActorSystem(
		actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return slog.New(slog.NewTextHandler(&logged, nil)) }),
		actor.WithDeadLetterThrottleInterval(time.Millisecond),
	)
	t.Cleanup(sys.Shutdown)
	h := &heavy{b: new(ballast)}
	w := weak.Make(h.b)
	pid := sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return h }))
	h = nil
	sys.Root.Send(pid, "hello") // caches the process in pid
	if err := sys.Root.StopFuture(pid).Wait(); err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	if w.Value() == nil {
		t.Fatal("a stopped actor is not reachable through its used PID: protoactor no longer caches the process")
	}
	sys.Root.Send(pid, released{})
	if !collected(w) {
		t.Fatal("a stopped actor stays reachable after its PID was used: protoactor no longer drops the cache of a dead process")
	}
	// The touch is a dead letter that is not logged (dead letters are logged as they are sent).
	if strings.Contains(logged.String(), "DeadLetter") {
		t.Fatalf("the touch was logged as a dead letter:\n%s", logged.String())
	}
	sys.Root.Send(pid, "other")
	if !strings.Contains(logged.String(), "DeadLetter") {
		t.Fatal("other dead letters are not logged either: the check above proves nothing")
	}
	runtime.KeepAlive(pid)
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// A supervisor keeps nothing of its exited children: neither their values nor their pids (the PIDSet slot).
func TestExitedChildrenAreReleased(t *testing.T) {
	const n = 200
	sys := newSystem(t)
	s := startSup(t, sys, Config{Strategy: SimpleOneForOne, Intensity: many})
	before := liveHeap()
	var pids []weak.Pointer[actor.PID]
	var values []weak.Pointer[ballast]
	for range n {
		h := &heavy{b: new(ballast)}
		values = append(values, weak.Make(h.b))
		pid, err := s.StartChild(bg(t), ChildSpec{Restart: Temporary, Start: func() (actor.Actor, error) { return h, nil }})
		if err != nil {
			t.Fatal(err)
		}
		pids = append(pids, weak.Make(pid))
	}
	peak := liveHeap()
	for _, w := range pids {
		s.Exit(w.Value(), nil)
	}
	eventually(t, "every child to exit", func() bool {
		c, err := s.CountChildren(bg(t))
		return err == nil && c.Specs == 0
	})
	reachable := func() (nv, np int) {
		runtime.GC()
		for i := range n {
			if values[i].Value() != nil {
				nv++
			}
			if pids[i].Value() != nil {
				np++
			}
		}
		return
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		v, p := reachable()
		if v+p == 0 {
			break
		}
		if time.Now().After(deadline) { // a liveness bound: exiting children finish on their own goroutines
			t.Fatalf("after every child exited, %d of %d values and %d pids are still reachable", v, n, p)
		}
	}
	after := liveHeap()
	t.Logf("live heap %d KiB before, %d KiB with %d children, %d KiB after they exited", before>>10, peak>>10, n, after>>10)
	if grown := int64(after) - int64(before); grown > n*int64(len(ballast{}))/16 {
		t.Fatalf("%d KiB more live heap after every child exited", grown>>10)
	}
}

func liveHeap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
