package cluster

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pyrehq/pyre/actors/telemetry"
)

// Config.Events hears a peer join and leave, with the member count after each change.
func TestMemberEvents(t *testing.T) {
	if !isolated(t) {
		return
	}
	addrs := freeAddrs(t, 2)
	var mu sync.Mutex
	var seen []string
	record := func(kind string) func(telemetry.Member) {
		return func(m telemetry.Member) {
			mu.Lock()
			defer mu.Unlock()
			seen = append(seen, kind+" "+m.Address+" "+string(rune('0'+m.Members)))
		}
	}
	a := startNode(t, addrs[0], func(c *Config) {
		c.Events = telemetry.Events{MemberJoined: record("joined"), MemberLeft: record("left")}
	})
	b := startNode(t, addrs[1], nil)
	connect(addrs, a, b)
	waitFor(t, "a sees b", 10*time.Second, func() bool { return len(a.node.Members()) == 2 })
	b.stop(t)
	want := []string{"joined " + addrs[1] + " 2", "left " + addrs[1] + " 1"}
	waitFor(t, "a hears b leave", 10*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(seen) >= 2
	})
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(seen, want) {
		t.Fatalf("events %q, want %q", seen, want)
	}
}
