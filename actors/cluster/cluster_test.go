package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"testing"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/pyrehq/pyre/actors/message"
	"github.com/pyrehq/pyre/actors/pubsub"
)

func TestStartErrors(t *testing.T) {
	if !isolated(t) {
		return
	}
	if err := New(Config{Address: "127.0.0.1:1"}).Start(nil); !errors.Is(err, ErrNoSystem) {
		t.Fatalf("no system: %v", err)
	}
	// A taken address: a defined error, and Stop of the failed node is a no-op. (First: a remote that
	// starts while another one serves races on grpc's global logger.)
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	sys := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return quiet }))
	defer sys.Shutdown()
	taken := New(Config{System: sys, Address: held.Addr().String(), Logger: quiet})
	if err := taken.Start(pubsub.New(pubsub.Config{Adapter: taken})); !errors.Is(err, ErrListen) {
		t.Fatalf("taken address: %v", err)
	}
	if err := taken.Stop(context.Background()); err != nil {
		t.Fatalf("stop after a failed start: %v", err)
	}

	addrs := freeAddrs(t, 1)
	a := startNode(t, addrs[0], nil)
	if err := a.node.Start(a.ps); !errors.Is(err, ErrStarted) {
		t.Fatalf("twice: %v", err)
	}
	for _, bad := range []string{"", "127.0.0.1", "127.0.0.1:x", ":4000"} {
		if err := New(Config{System: a.sys, Address: bad}).Start(a.ps); !errors.Is(err, ErrAddress) {
			t.Fatalf("%q: %v", bad, err)
		}
	}
	if err := New(Config{System: a.sys, Address: addrs[0]}).Start(nil); !errors.Is(err, ErrNoPubSub) {
		t.Fatalf("no pubsub: %v", err)
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
