package cluster

import (
	"sync/atomic"
	"testing"
	"time"
)

// Watch calls its function on every change of Members (a join, a leave), not after stop.
func TestWatch(t *testing.T) {
	if !isolated(t) {
		return
	}
	addrs := freeAddrs(t, 2)
	a, b := startNode(t, addrs[0], nil), startNode(t, addrs[1], nil)
	var calls atomic.Int32
	var sawTwo, sawOne atomic.Bool
	stop := a.node.Watch(func() {
		calls.Add(1)
		switch len(a.node.Members()) {
		case 2:
			sawTwo.Store(true)
		case 1:
			sawOne.Store(sawTwo.Load())
		}
	})
	connect(addrs, a, b)
	waitFor(t, "a watched b join", 10*time.Second, sawTwo.Load)
	b.stop(t)
	waitFor(t, "a watched b leave", 10*time.Second, sawOne.Load)
	stop()
	n := calls.Load()
	b2 := startNode(t, addrs[1], nil)
	connect(addrs, b2)
	waitFor(t, "b again", 10*time.Second, func() bool { return len(a.node.Members()) == 2 })
	if calls.Load() != n {
		t.Fatalf("called %d times after stop", calls.Load()-n)
	}
}
