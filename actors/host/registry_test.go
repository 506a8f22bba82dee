package host

import (
	"log/slog"
	"runtime"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

func TestCompactRegistryKeepsTheSystemWorking(t *testing.T) {
	sys := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return slog.New(slog.DiscardHandler) }))
	defer sys.Shutdown()
	CompactRegistry(sys)
	if n := len(sys.ProcessRegistry.LocalPIDs.LocalPIDs); n != registryBuckets {
		t.Fatalf("%d buckets, want %d", n, registryBuckets)
	}
	for _, id := range []string{"deadletter", "eventstream"} { // the system's own, moved
		if _, ok := sys.ProcessRegistry.GetLocal(id); !ok {
			t.Fatalf("%s lost by CompactRegistry", id)
		}
	}
	echo := actor.PropsFromFunc(func(ctx actor.Context) {
		if s, ok := ctx.Message().(string); ok {
			ctx.Respond(s)
		}
	})
	pids := make([]*actor.PID, 100)
	for i := range pids {
		pids[i] = sys.Root.Spawn(echo)
	}
	for _, pid := range pids {
		if got, err := sys.Root.RequestFuture(pid, "ping", 10*time.Second).Result(); err != nil || got != "ping" {
			t.Fatalf("request to %s: %v %v", pid.Id, got, err)
		}
	}
	dead := pids[0]
	if err := sys.Root.StopFuture(dead).Wait(); err != nil {
		t.Fatal(err)
	}
	// A dead pid's request is answered by the dead-letter process: found in the new registry.
	if _, err := sys.Root.RequestFuture(dead, "ping", 10*time.Second).Result(); err != actor.ErrDeadLetter {
		t.Fatalf("request to a stopped actor: %v, want ErrDeadLetter", err)
	}
}

// The registry's share of an actor's memory, protoactor's registry against CompactRegistry's.
func TestCompactRegistryBytesPerActor(t *testing.T) {
	const n = 10000
	perActor := func(compact bool) float64 {
		sys := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return slog.New(slog.DiscardHandler) }))
		defer sys.Shutdown()
		if compact {
			CompactRegistry(sys)
		}
		idle := actor.PropsFromFunc(func(actor.Context) {})
		before := liveHeap()
		pids := make([]*actor.PID, n)
		for i := range pids {
			pids[i] = sys.Root.Spawn(idle)
		}
		after := liveHeap()
		runtime.KeepAlive(pids)
		return float64(after-before) / n
	}
	def, compact := perActor(false), perActor(true)
	t.Logf("live heap per idle actor: protoactor's registry %.0f B, CompactRegistry %.0f B", def, compact)
	// A new map group of 288 B for most actors, against ~50 B: the gap is ~200 B at this count.
	if compact > def-120 {
		t.Fatalf("CompactRegistry saves %.0f B per actor, want at least 120", def-compact)
	}
}
