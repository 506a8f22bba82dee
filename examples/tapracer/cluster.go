package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/pyrehq/pyre/actors/message"
	"github.com/pyrehq/pyre/actors/pubsub"
)

// clusterConfig makes the app one node of a cluster (package actors/cluster): PYRE_NODE names it,
// PYRE_CLUSTER_ADDR is its cluster listener and PYRE_CLUSTER_PEERS every member's, this one's included.
// The zero value is a single node.
type clusterConfig struct {
	Name, Addr string
	Peers      []string
}

func clusterFromEnv() (clusterConfig, error) {
	c := clusterConfig{Name: os.Getenv("PYRE_NODE"), Addr: os.Getenv("PYRE_CLUSTER_ADDR")}
	for _, p := range strings.Split(os.Getenv("PYRE_CLUSTER_PEERS"), ",") {
		if p = strings.TrimSpace(p); p != "" {
			c.Peers = append(c.Peers, p)
		}
	}
	if (c.Addr == "") != (c.Name == "") || (c.Addr == "" && len(c.Peers) > 0) {
		return c, errors.New("PYRE_NODE, PYRE_CLUSTER_ADDR and PYRE_CLUSTER_PEERS go together")
	}
	return c, nil
}

// owner is whether this node holds the race: the first member of the list (the same on every node).
func (c clusterConfig) owner() bool { return len(c.Peers) == 0 || c.Peers[0] == c.Addr }

// raceAPI is what the channels need of the race: the race itself on a single node and on the owner node
// of a cluster, a raceProxy on the other nodes.
type raceAPI interface {
	join(name string) joinResult
	rejoin(id, name string) joinResult
	leave(id string)
	tap(id string) tapResult
	newRace(target int) (raceState, error)
	state() raceState
	sendState(send func(event string, payload any) error) error
	close()
}

// Across nodes the race lives on its owner; the other nodes send it what their players do as broadcasts
// on topicOps (which only the owner subscribes to: order per publisher holds between two nodes), and
// follow its race_state broadcasts, which reach every node like any other.
const (
	topicOps = "tapracer:ops"
	eventOp  = "op"
)

// raceOp is one operation sent to the owner.
type raceOp struct {
	Op     string `json:"op"` // join, rejoin, leave, tap, new_race, sync
	ID     string `json:"id,omitempty"`
	Name   string `json:"name,omitempty"`
	Target int    `json:"target,omitempty"`
}

// opsSubscriber applies other nodes' operations to the owner's race. Deliver runs on the cluster relay
// or a publisher's goroutine and only takes the race's mutex: it does not block.
type opsSubscriber struct{ race *race }

func (o opsSubscriber) Deliver(b *message.Broadcast) {
	var op raceOp
	if b.Event != eventOp || json.Unmarshal(b.Payload.Bytes(), &op) != nil {
		return
	}
	switch op.Op {
	case "join", "rejoin":
		if name, err := validName(op.Name); err == nil && op.ID != "" {
			o.race.rejoin(op.ID, name) // the id is the proxy's: rejoin adds it as given
		}
	case "leave":
		o.race.leave(op.ID)
	case "tap":
		o.race.tap(op.ID)
	case "new_race":
		_, _ = o.race.newRace(op.Target)
	case "sync":
		o.race.republish()
	}
}

// raceProxy is the race on a node that does not own it. Replies are what this node knows: the latest
// race_state it saw, plus its own players' taps since; the owner's broadcasts then tell the truth.
type raceProxy struct {
	node    string
	publish publishFunc

	mu     sync.Mutex
	nextID int
	last   raceState
	known  bool           // last came from the owner
	taps   map[string]int // this node's players' taps in race last.Race, counted here
	closed bool
}

func newRaceProxy(node string, publish publishFunc, ps *pubsub.PubSub) *raceProxy {
	p := &raceProxy{node: node, publish: publish, taps: make(map[string]int)}
	ps.Subscribe(topicPlay, p)
	return p
}

// Deliver follows the owner's race_state and winner broadcasts.
func (p *raceProxy) Deliver(b *message.Broadcast) {
	if b.Event != eventRaceState && b.Event != eventWinner {
		return
	}
	var st raceState
	if json.Unmarshal(b.Payload.Bytes(), &st) != nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.known && st.Race == p.last.Race && st.Version < p.last.Version {
		return
	}
	if st.Race != p.last.Race {
		for id := range p.taps {
			p.taps[id] = 0 // a new race: this node's players are still in it
		}
	}
	for _, pl := range st.Players {
		if _, ok := p.taps[pl.ID]; ok {
			p.taps[pl.ID] = max(p.taps[pl.ID], pl.Taps)
		}
	}
	p.last, p.known = st, true
}

func (p *raceProxy) send(op raceOp) {
	if !p.known && op.Op != "sync" {
		p.send(raceOp{Op: "sync"}) // the owner publishes its state: this node learns it
	}
	_ = p.publish(topicOps, eventOp, op)
}

func (p *raceProxy) join(name string) joinResult {
	p.mu.Lock()
	p.nextID++
	id := fmt.Sprintf("%s-p%d", p.node, p.nextID)
	p.taps[id] = 0
	st := p.last
	p.send(raceOp{Op: "join", ID: id, Name: name})
	p.mu.Unlock()
	return joinResult{ID: id, Name: name, Race: st.Race, Target: st.Target}
}

func (p *raceProxy) rejoin(id, name string) joinResult {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.send(raceOp{Op: "rejoin", ID: id, Name: name})
	return joinResult{ID: id, Name: name, Race: p.last.Race, Target: p.last.Target}
}

func (p *raceProxy) leave(id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.taps, id)
	p.send(raceOp{Op: "leave", ID: id})
}

func (p *raceProxy) tap(id string) tapResult {
	p.mu.Lock()
	defer p.mu.Unlock()
	res := tapResult{Race: p.last.Race, Target: p.last.Target, Finished: p.last.Winner != nil}
	if _, ok := p.taps[id]; !ok || res.Finished {
		return res
	}
	p.taps[id]++
	res.Taps, res.Counted = p.taps[id], true
	p.send(raceOp{Op: "tap", ID: id})
	return res
}

func (p *raceProxy) newRace(target int) (raceState, error) {
	if target < 0 || target > maxTarget {
		return raceState{}, errBadTarget
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.send(raceOp{Op: "new_race", Target: target})
	st := p.last // what the owner is about to publish
	st.Race++
	st.Winner = nil
	if target > 0 {
		st.Target = target
	}
	st.Players = append([]playerState(nil), st.Players...)
	for i := range st.Players {
		st.Players[i].Taps = 0
	}
	return st, nil
}

func (p *raceProxy) state() raceState {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.last
}

func (p *raceProxy) sendState(send func(event string, payload any) error) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.known {
		p.send(raceOp{Op: "sync"})
		return nil // the owner's broadcast brings it
	}
	return send(eventRaceState, p.last)
}

func (p *raceProxy) close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
}
