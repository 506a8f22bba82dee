// Package pubsub is Pyre's topic registry: topic → subscribers, and the dispatch of broadcasts to them.
//
// A Subscriber is anything with a non-blocking Deliver method. The channel runtime subscribes one per joined
// channel: its Deliver writes the broadcast straight to the client connection (the fastlane, encoded once per
// serializer through message.Broadcast.Encoded) unless the channel intercepts the event, in which case it
// goes through the channel actor's HandleOut.
//
// Broadcasts that must reach other nodes go through an Adapter; this package ships only the local registry
// (package actors/cluster has one for several nodes).
//
// Applications rarely use it directly: an Endpoint makes one (transport.Config.PubSub to share one between
// endpoints or give it an Adapter), channels broadcast through their Socket and the Endpoint's Broadcast.
// Code of one's own can subscribe too, e.g. to watch a topic from a test or a bridge:
//
//	type watcher chan *message.Broadcast
//
//	func (w watcher) Deliver(b *message.Broadcast) {
//		select {
//		case w <- b:
//		default: // full: drop rather than block the publisher
//		}
//	}
//
//	w := make(watcher, 64)
//	ep.PubSub().Subscribe("room:lobby", w)
//	defer ep.PubSub().Unsubscribe("room:lobby", w)
//
// # Mapping from Phoenix
//
//	Phoenix.PubSub.subscribe/3 (fastlane metadata)  PubSub.Subscribe with a Subscriber
//	Phoenix.PubSub.broadcast/3                      PubSub.Broadcast (local dispatch + Adapter)
//	Phoenix.PubSub.broadcast_from/4                 PubSub.BroadcastFrom
//	Phoenix.PubSub.local_broadcast/3                PubSub.LocalBroadcast
//
// # Concurrency
//
// All methods are safe for concurrent use. Deliver is called from the publisher's goroutine, without any
// pubsub lock held, once per subscriber; it must not block. Per publisher, order is preserved.
package pubsub

import (
	"hash/maphash"
	"sync"
	"sync/atomic"

	"github.com/pyrehq/pyre/actors/message"
	"github.com/pyrehq/pyre/actors/telemetry"
)

// Subscriber receives broadcasts. Deliver must return quickly and never block: queue, or drop and report.
type Subscriber interface {
	// Deliver hands b to the subscriber, on the publisher's goroutine. b is shared by every subscriber:
	// read it, never modify it.
	Deliver(b *message.Broadcast)
}

// Adapter carries broadcasts to other nodes. Broadcast must not block; the adapter calls LocalBroadcast on
// the receiving node's PubSub for each broadcast it gets from elsewhere.
type Adapter interface {
	// Broadcast sends b to the other nodes, after it was delivered locally. An error is returned to the
	// publisher (PubSub.Broadcast); the local delivery stands.
	Broadcast(b *message.Broadcast) error
}

// Config configures a PubSub. The zero value is a local-only registry.
type Config struct {
	// Adapter forwards broadcasts to other nodes. Zero value means local only.
	Adapter Adapter
	// MaxPayloadSize refuses broadcasts whose payload has more bytes (message.ErrTooLarge) before any
	// subscriber sees them: a broadcast too big for the receivers' outbound queues is an error to its
	// publisher, not a disconnect of every subscriber. transport.Endpoint sets it to
	// Config.MaxOutboundPayload for the registry it creates. Zero value means no limit.
	MaxPayloadSize int
}

const shardCount = 64

// PubSub is a topic registry. The zero value is not usable; call New.
type PubSub struct {
	adapter  Adapter
	observer atomic.Pointer[func(telemetry.Broadcast)] // Observe
	maxSize  int
	seed     maphash.Seed
	shards   [shardCount]shard
}

type shard struct {
	mu     sync.Mutex
	topics map[string]*topicSubs
}

// topicSubs keeps a set for O(1) subscribe/unsubscribe, and an immutable snapshot rebuilt lazily by the
// first broadcast after a change, so dispatch iterates without holding a lock.
type topicSubs struct {
	set  map[Subscriber]struct{}
	snap []Subscriber
}

// New returns an empty registry.
func New(cfg Config) *PubSub {
	ps := &PubSub{adapter: cfg.Adapter, maxSize: cfg.MaxPayloadSize, seed: maphash.MakeSeed()}
	for i := range ps.shards {
		ps.shards[i].topics = make(map[string]*topicSubs)
	}
	return ps
}

func (ps *PubSub) shard(topic string) *shard {
	return &ps.shards[maphash.String(ps.seed, topic)%shardCount]
}

// Subscribe adds s to topic. Subscribing the same subscriber twice is a no-op.
func (ps *PubSub) Subscribe(topic string, s Subscriber) {
	sh := ps.shard(topic)
	sh.mu.Lock()
	t := sh.topics[topic]
	if t == nil {
		t = &topicSubs{set: make(map[Subscriber]struct{}, 1)}
		sh.topics[topic] = t
	}
	if _, ok := t.set[s]; !ok {
		t.set[s] = struct{}{}
		t.snap = nil
	}
	sh.mu.Unlock()
}

// Unsubscribe removes s from topic.
func (ps *PubSub) Unsubscribe(topic string, s Subscriber) {
	sh := ps.shard(topic)
	sh.mu.Lock()
	if t := sh.topics[topic]; t != nil {
		if _, ok := t.set[s]; ok {
			delete(t.set, s)
			t.snap = nil
			if len(t.set) == 0 {
				delete(sh.topics, topic)
			}
		}
	}
	sh.mu.Unlock()
}

// Subscribers counts the local subscribers of topic.
func (ps *PubSub) Subscribers(topic string) int {
	sh := ps.shard(topic)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if t := sh.topics[topic]; t != nil {
		return len(t.set)
	}
	return 0
}

// Topics counts the topics with at least one local subscriber.
func (ps *PubSub) Topics() int {
	n := 0
	for i := range ps.shards {
		sh := &ps.shards[i]
		sh.mu.Lock()
		n += len(sh.topics)
		sh.mu.Unlock()
	}
	return n
}

// Each calls fn for every topic with local subscribers, with a snapshot of them (introspection, chaos
// testing). fn runs without any lock held; it sees subscriptions as they were when its shard was read.
func (ps *PubSub) Each(fn func(topic string, subs []Subscriber)) {
	type entry struct {
		topic string
		subs  []Subscriber
	}
	var batch []entry
	for i := range ps.shards {
		sh := &ps.shards[i]
		batch = batch[:0]
		sh.mu.Lock()
		for topic, t := range sh.topics {
			subs := make([]Subscriber, 0, len(t.set))
			for s := range t.set {
				subs = append(subs, s)
			}
			batch = append(batch, entry{topic, subs})
		}
		sh.mu.Unlock()
		for _, e := range batch {
			fn(e.topic, e.subs)
		}
	}
}

func (ps *PubSub) snapshot(topic string) []Subscriber {
	sh := ps.shard(topic)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	t := sh.topics[topic]
	if t == nil {
		return nil
	}
	if t.snap == nil {
		t.snap = make([]Subscriber, 0, len(t.set))
		for s := range t.set {
			t.snap = append(t.snap, s)
		}
	}
	return t.snap
}

// Broadcast delivers b to every local subscriber of b.Topic and hands it to the adapter for other nodes.
// The error, if any, is the adapter's; local delivery has happened regardless.
func (ps *PubSub) Broadcast(b *message.Broadcast) error {
	return ps.BroadcastFrom(nil, b)
}

// BroadcastFrom is Broadcast skipping the local subscriber from (nil skips nobody). A broadcast over
// Config.MaxPayloadSize reaches nobody: the error wraps message.ErrTooLarge.
func (ps *PubSub) BroadcastFrom(from Subscriber, b *message.Broadcast) error {
	if err := ps.CheckSize(b); err != nil {
		return err
	}
	ps.LocalBroadcastFrom(from, b)
	if ps.adapter != nil {
		return ps.adapter.Broadcast(b)
	}
	return nil
}

// CheckSize returns an error wrapping message.ErrTooLarge when b's payload is over Config.MaxPayloadSize.
func (ps *PubSub) CheckSize(b *message.Broadcast) error {
	return message.CheckSize(b.Payload.Len(), ps.maxSize)
}

// MaxPayloadSize is Config.MaxPayloadSize: the largest payload a broadcast may carry (0: no limit).
func (ps *PubSub) MaxPayloadSize() int { return ps.maxSize }

// LocalBroadcast delivers b to this node's subscribers only and returns how many it reached.
func (ps *PubSub) LocalBroadcast(b *message.Broadcast) int {
	return ps.LocalBroadcastFrom(nil, b)
}

// LocalBroadcastFrom is LocalBroadcast skipping from. A broadcast over Config.MaxPayloadSize reaches
// nobody (0): call CheckSize first to tell why.
func (ps *PubSub) LocalBroadcastFrom(from Subscriber, b *message.Broadcast) int {
	if ps.CheckSize(b) != nil {
		return 0
	}
	n := 0
	for _, s := range ps.snapshot(b.Topic) {
		if from != nil && s == from {
			continue
		}
		s.Deliver(b)
		n++
	}
	if f := ps.observer.Load(); f != nil {
		(*f)(telemetry.Broadcast{Topic: b.Topic, Event: b.Event, Subscribers: n})
	}
	return n
}

// Observe calls f after each broadcast delivered on this node (by Broadcast, BroadcastFrom, LocalBroadcast
// or a cluster adapter's LocalBroadcast), on the broadcaster's goroutine, with the number of local
// subscribers it reached. One observer at a time: the last one given wins; nil removes it. A transport
// Endpoint (host.Host) sets it from its telemetry.Events.Broadcast.
func (ps *PubSub) Observe(f func(telemetry.Broadcast)) {
	if f == nil {
		ps.observer.Store(nil)
		return
	}
	ps.observer.Store(&f)
}
