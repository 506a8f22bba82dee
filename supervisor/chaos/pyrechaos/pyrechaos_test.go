package pyrechaos

import (
	"errors"
	"maps"
	"testing"

	"github.com/pyrehq/pyre/actors/cluster"
	"github.com/pyrehq/pyre/actors/host"
	"github.com/pyrehq/pyre/supervisor/chaos"
)

type actors []host.Actor

func (a actors) Actors() []host.Actor { return a }

func TestPopulation(t *testing.T) {
	var exited error
	var panicked any
	rt := actors{
		{Kind: host.SocketActor, ID: "s", SocketID: "user:1"},
		{Kind: host.ChannelActor, ID: "c", Topic: "room:1", SocketID: "user:1",
			Exit:  func(r error) bool { exited = r; return true },
			Panic: func(v any) bool { panicked = v; return true }},
		{Kind: host.InfrastructureActor, ID: "i", Child: "pubsub"},
	}
	want := []struct {
		kind   chaos.Kind
		labels map[string]string
	}{
		{chaos.Socket, map[string]string{chaos.LabelSocketID: "user:1"}},
		{chaos.Channel, map[string]string{chaos.LabelTopic: "room:1", chaos.LabelSocketID: "user:1"}},
		{chaos.Infrastructure, map[string]string{chaos.LabelChild: "pubsub"}},
	}
	got := Population(rt).Targets()
	if len(got) != len(want) {
		t.Fatalf("%d targets, want %d", len(got), len(want))
	}
	for i, w := range want {
		if got[i].Kind != w.kind || got[i].ID != rt[i].ID || !maps.Equal(got[i].Labels, w.labels) {
			t.Errorf("target %d = %+v, want kind %s id %s labels %v", i, got[i], w.kind, rt[i].ID, w.labels)
		}
	}
	if got[0].Exit != nil || got[0].Panic != nil {
		t.Errorf("a socket without Exit and Panic became a target with them")
	}
	errX := errors.New("x")
	if !got[1].Exit(errX) || exited != errX || !got[1].Panic("p") || panicked != "p" {
		t.Errorf("Exit and Panic do not reach the actor: %v %v", exited, panicked)
	}
	if !(chaos.Selector{Kinds: []chaos.Kind{chaos.Channel}, Topic: "room:*", SocketID: "user:1"}).Matches(got[1]) {
		t.Errorf("a selector for the channel does not match it")
	}
}

type node []cluster.Actor

func (n node) Actors() []cluster.Actor { return n }

// A node's cluster actors are Infrastructure targets named by LabelChild; Merge lists populations in order.
func TestClusterMerge(t *testing.T) {
	var killed error
	n := node{{Name: "pyre-cluster-relay", ID: "r", Exit: func(r error) bool { killed = r; return true }}}
	got := Merge(Population(actors{{Kind: host.SocketActor, ID: "s"}}), Cluster(n)).Targets()
	if len(got) != 2 || got[0].ID != "s" || got[1].ID != "r" || got[1].Kind != chaos.Infrastructure ||
		!maps.Equal(got[1].Labels, map[string]string{chaos.LabelChild: "pyre-cluster-relay"}) {
		t.Fatalf("targets %+v", got)
	}
	if !got[1].Exit(errors.ErrUnsupported) || killed != errors.ErrUnsupported {
		t.Fatalf("exit reached %v", killed)
	}
}
