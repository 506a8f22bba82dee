package cluster

import (
	"sync/atomic"
	"testing"
	"time"
)

// Watch calls its function on every change of Members (a join, a leave), not after stop. Every node starts
// before any connects: starting protoactor's remote while another node's gRPC client runs races on grpc's
// global logger under -race.
func TestWatch(t *testing.T) {
	if !isolated(t) {
		return
	}
	addrs := freeAddrs(t, 3)
	a, b, c := startNode(t, addrs[0], nil), startNode(t, addrs[1], nil), startNode(t, addrs[2], nil)
	var calls atomic.Int32
	var sawThree, sawTwo atomic.Bool
	stop := a.node.Watch(func() {
		calls.Add(1)
		switch len(a.node.Members()) {
		case 3:
			sawThree.Store(true)
		case 2:
			sawTwo.Store(sawThree.Load())
		}
	})
	connect(addrs, a, b, c)
	waitFor(t, "a watched b and c join", 10*time.Second, sawThree.Load)
	b.stop(t)
	waitFor(t, "a watched b leave", 10*time.Second, sawTwo.Load)
	stop()
	n := calls.Load()
	c.stop(t)
	waitFor(t, "c gone", 10*time.Second, func() bool { return len(a.node.Members()) == 1 })
	if calls.Load() != n {
		t.Fatalf("called %d times after stop", calls.Load()-n)
	}
}
