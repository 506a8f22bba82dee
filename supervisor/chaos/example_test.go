package chaos_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/pyrehq/pyre/supervisor/chaos"
)

// livePopulation is a small fake: killed targets leave it.
type livePopulation struct {
	mu   sync.Mutex
	live map[string]chaos.Target
}

func (p *livePopulation) add(kind chaos.Kind, id string, labels map[string]string) {
	exit := func(error) bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		_, ok := p.live[id]
		delete(p.live, id)
		return ok
	}
	p.live[id] = chaos.Target{Kind: kind, ID: id, Labels: labels, Exit: exit}
}

func (p *livePopulation) Targets() []chaos.Target {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Collect(maps.Values(p.live))
}

func ExampleMonkey_Run() {
	pop := &livePopulation{live: make(map[string]chaos.Target)}
	pop.add(chaos.Socket, "s1", map[string]string{chaos.LabelSocketID: "user:1"})
	pop.add(chaos.Channel, "c1", map[string]string{chaos.LabelSocketID: "user:1", chaos.LabelTopic: "room:lobby"})
	pop.add(chaos.Channel, "c2", map[string]string{chaos.LabelSocketID: "user:2", chaos.LabelTopic: "room:lobby"})
	pop.add(chaos.Infrastructure, "p1", map[string]string{chaos.LabelChild: "pubsub"})

	m, err := chaos.New(pop, chaos.Config{
		Select: chaos.Selector{Kinds: []chaos.Kind{chaos.Channel}, Topic: "room:*"},
		Seed:   1,
		Rate:   1000, // kills per second
		Max:    2,
		OnKill: func(k chaos.Kill) {
			fmt.Println(k.Method, k.Kind, k.Labels[chaos.LabelTopic], k.Reason, k.Done)
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	report, err := m.Run(context.Background())
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(report.ByKind[chaos.Channel], "channels killed,", len(pop.Targets()), "targets left")
	// Output:
	// exit channel room:lobby killed true
	// exit channel room:lobby killed true
	// 2 channels killed, 2 targets left
}

func ExampleOnce() {
	pop := &livePopulation{live: make(map[string]chaos.Target)}
	pop.add(chaos.Socket, "s1", map[string]string{chaos.LabelSocketID: "user:1"})
	pop.add(chaos.Socket, "s2", map[string]string{chaos.LabelSocketID: "user:2"})
	pop.add(chaos.Channel, "c2", map[string]string{chaos.LabelSocketID: "user:2", chaos.LabelTopic: "room:lobby"})

	k, ok := chaos.Once(pop, chaos.Selector{Kinds: []chaos.Kind{chaos.Socket}, SocketID: "user:2"}, chaos.Exit, nil)
	fmt.Println(ok, k.Kind, k.ID, k.Reason)
	// Output:
	// true socket s2 killed
}
