package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/pyrehq/pyre/actors/cluster/clustertest"
	"github.com/pyrehq/pyre/actors/message"
	"github.com/pyrehq/pyre/actors/pubsub"
)

var quiet = slog.New(slog.DiscardHandler)

// freeAddrs returns n loopback addresses for nodes (see clustertest: why not port 0).
func freeAddrs(tb testing.TB, n int) []string { return clustertest.Addrs(tb, "127.0.0.1", n) }

type testNode struct {
	sys  *actor.ActorSystem
	node *Node
	ps   *pubsub.PubSub
	done bool
}

// startNode starts a node at addr with no candidates yet (see connect); it is stopped at the end of the test.
func startNode(tb testing.TB, addr string, tweak func(*Config)) *testNode {
	tb.Helper()
	sys := actor.NewActorSystem(
		actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return quiet }),
		actor.WithDeadLetterThrottleInterval(time.Millisecond),
	)
	cfg := Config{System: sys, Address: addr, HeartbeatInterval: 100 * time.Millisecond,
		DeadAfter: 600 * time.Millisecond, Logger: quiet}
	if tweak != nil {
		tweak(&cfg)
	}
	n := New(cfg)
	ps := pubsub.New(pubsub.Config{Adapter: n})
	if err := n.Start(ps); err != nil {
		tb.Fatalf("start %s: %v", addr, err)
	}
	tn := &testNode{sys: sys, node: n, ps: ps}
	tb.Cleanup(func() { tn.stop(tb) })
	return tn
}

func (tn *testNode) stop(tb testing.TB) {
	if tn.done {
		return
	}
	tn.done = true
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := tn.node.Stop(ctx); err != nil {
		tb.Errorf("stop: %v", err)
	}
	tn.sys.Shutdown()
}

// connect gives every node the candidate list. protoactor's remote.Start sets grpc's global logger, a data
// race with any gRPC goroutine already running in the process: so every in-process node starts its remote
// before any of them talks (one node per process, as in production, has no such issue).
func connect(addrs []string, nodes ...*testNode) {
	for _, n := range nodes {
		n.sys.Root.Send(n.node.mgr, candidates(addrs))
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(tb testing.TB, what string, within time.Duration, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func memberAddrs(n *Node) string {
	var s []string
	for _, m := range n.Members() {
		s = append(s, m.Address)
	}
	return fmt.Sprint(s)
}

func hasMember(n *Node, id string) bool {
	for _, m := range n.Members() {
		if m.ID == id {
			return true
		}
	}
	return false
}

// recorder is a subscriber that keeps what it got.
type recorder struct {
	mu  sync.Mutex
	got []*message.Broadcast
}

func (r *recorder) Deliver(b *message.Broadcast) {
	r.mu.Lock()
	r.got = append(r.got, b)
	r.mu.Unlock()
}

func (r *recorder) all() []*message.Broadcast {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*message.Broadcast(nil), r.got...)
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got)
}

type seqPayload struct {
	From string `json:"from"`
	N    int    `json:"n"`
}

func seqBroadcast(topic, from string, n int) *message.Broadcast {
	b, _ := json.Marshal(seqPayload{From: from, N: n})
	return message.NewBroadcast(topic, "seq", message.JSON(b))
}

const isolateEnv = "PYRE_CLUSTER_TEST_ISOLATED"

// isolated runs the calling test in a child process of its own and reports whether this is that child (run
// the body) or the parent (return). protoactor's remote.Start writes grpc's global logger, which a gRPC
// goroutine left from an earlier test may be reading: one process per test keeps -race meaningful. The
// child runs under goleak too (TestMain).
func isolated(t *testing.T) bool {
	t.Helper()
	if os.Getenv(isolateEnv) == t.Name() {
		return true
	}
	args := []string{"-test.run=^" + t.Name() + "$", "-test.count=1", "-test.v"}
	if testing.Short() {
		args = append(args, "-test.short")
	}
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), isolateEnv+"="+t.Name())
	out, err := cmd.CombinedOutput()
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "=== RUN") || strings.HasPrefix(line, "PASS") || strings.HasPrefix(line, "ok") {
			continue
		}
		t.Log(line)
	}
	if err != nil {
		t.Fatalf("isolated run failed: %v", err)
	}
	return false
}
