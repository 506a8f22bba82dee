package cluster

import (
	"errors"
	"fmt"
	"testing"

	"github.com/pyrehq/pyre/actors/message"
)

func TestStartErrors(t *testing.T) {
	if !isolated(t) {
		return
	}
	if err := New(Config{Address: "127.0.0.1:1"}).Start(nil); !errors.Is(err, ErrNoSystem) {
		t.Fatalf("no system: %v", err)
	}
	addrs := freeAddrs(t, 1)
	a := startNode(t, addrs[0], nil)
	if err := a.node.Start(a.ps); !errors.Is(err, ErrStarted) {
		t.Fatalf("twice: %v", err)
	}
	for _, bad := range []string{"", "127.0.0.1", "127.0.0.1:x", ":4000"} {
		if err := New(Config{System: a.sys, Address: bad}).Start(nil); !errors.Is(err, ErrAddress) {
			t.Fatalf("%q: %v", bad, err)
		}
	}
	// Alone, a node is its only member and Broadcast has nowhere to go.
	if got := memberAddrs(a.node); got != fmt.Sprint([]string{addrs[0]}) {
		t.Fatalf("members %s", got)
	}
	if err := a.ps.Broadcast(message.NewBroadcast("t", "e", message.EmptyObject)); err != nil {
		t.Fatal(err)
	}
}

func sortedCopy(s []string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}
