package pubsub

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/pyrehq/pyre/actors/message"
)

type recorder struct {
	mu  sync.Mutex
	got []string
}

func (r *recorder) Deliver(b *message.Broadcast) {
	r.mu.Lock()
	r.got = append(r.got, b.Topic+"/"+b.Event)
	r.mu.Unlock()
}

func (r *recorder) events() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.got...)
}

type countingAdapter struct{ n int }

func (a *countingAdapter) Broadcast(*message.Broadcast) error { a.n++; return nil }

func TestSubscribeBroadcastUnsubscribe(t *testing.T) {
	ad := &countingAdapter{}
	ps := New(Config{Adapter: ad})
	a, b := &recorder{}, &recorder{}
	ps.Subscribe("room:1", a)
	ps.Subscribe("room:1", a) // idempotent
	ps.Subscribe("room:1", b)
	ps.Subscribe("room:2", b)
	if n := ps.Subscribers("room:1"); n != 2 {
		t.Fatalf("subscribers %d, want 2", n)
	}
	if err := ps.Broadcast(message.NewBroadcast("room:1", "e1", message.EmptyObject)); err != nil {
		t.Fatal(err)
	}
	if err := ps.BroadcastFrom(a, message.NewBroadcast("room:1", "e2", message.EmptyObject)); err != nil {
		t.Fatal(err)
	}
	if n := ps.LocalBroadcast(message.NewBroadcast("room:2", "e3", message.EmptyObject)); n != 1 {
		t.Fatalf("local broadcast reached %d, want 1", n)
	}
	seen := map[string]int{}
	ps.Each(func(topic string, subs []Subscriber) { seen[topic] = len(subs) })
	if fmt.Sprint(seen) != "map[room:1:2 room:2:1]" {
		t.Fatalf("Each saw %v", seen)
	}
	ps.Unsubscribe("room:1", b)
	ps.Broadcast(message.NewBroadcast("room:1", "e4", message.EmptyObject))
	if got := fmt.Sprint(a.events()); got != "[room:1/e1 room:1/e4]" {
		t.Fatalf("a got %s", got)
	}
	if got := fmt.Sprint(b.events()); got != "[room:1/e1 room:1/e2 room:2/e3]" {
		t.Fatalf("b got %s", got)
	}
	if ad.n != 3 {
		t.Fatalf("adapter saw %d broadcasts, want 3 (local ones stay local)", ad.n)
	}
	ps.Unsubscribe("room:1", a)
	ps.Unsubscribe("room:2", b)
	if ps.Topics() != 0 {
		t.Fatalf("topics left: %d", ps.Topics())
	}
}

// Subscribing and broadcasting concurrently must be race-free and lose nothing for stable subscribers.
func TestConcurrentChurnAndBroadcast(t *testing.T) {
	ps := New(Config{})
	stable := &recorder{}
	ps.Subscribe("t", stable)
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 500; i++ {
				r := &recorder{}
				ps.Subscribe("t", r)
				ps.Unsubscribe("t", r)
			}
		}()
	}
	for i := 0; i < 1000; i++ {
		ps.Broadcast(message.NewBroadcast("t", "e", message.EmptyObject))
	}
	wg.Wait()
	if n := len(stable.events()); n != 1000 {
		t.Fatalf("stable subscriber got %d, want 1000", n)
	}
}

type nopSub struct{ _ byte }

func (*nopSub) Deliver(*message.Broadcast) {}

// The dispatch loop itself: no allocation per subscriber.
func BenchmarkBroadcast10kSubscribers(b *testing.B) {
	ps := New(Config{})
	for i := 0; i < 10000; i++ {
		ps.Subscribe("t", &nopSub{})
	}
	bc := message.NewBroadcast("t", "e", message.EmptyObject)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		ps.LocalBroadcast(bc)
	}
}

// A broadcast over MaxPayloadSize is refused before any subscriber or the adapter sees it; one at the
// limit goes through.
func TestMaxPayloadSize(t *testing.T) {
	ad := &countingAdapter{}
	ps := New(Config{Adapter: ad, MaxPayloadSize: 8})
	r := &recorder{}
	ps.Subscribe("t", r)
	big := message.NewBroadcast("t", "big", message.JSON([]byte(`{"a":123}`))) // 9 bytes
	if err := ps.Broadcast(big); !errors.Is(err, message.ErrTooLarge) {
		t.Fatalf("Broadcast: %v, want ErrTooLarge", err)
	}
	if err := ps.BroadcastFrom(nil, big); !errors.Is(err, message.ErrTooLarge) {
		t.Fatalf("BroadcastFrom: %v, want ErrTooLarge", err)
	}
	if n := ps.LocalBroadcast(big); n != 0 {
		t.Fatalf("LocalBroadcast reached %d", n)
	}
	if err := ps.CheckSize(big); !errors.Is(err, message.ErrTooLarge) {
		t.Fatalf("CheckSize: %v", err)
	}
	if err := ps.Broadcast(message.NewBroadcast("t", "ok", message.JSON([]byte(`{"a":12}`)))); err != nil {
		t.Fatal(err)
	}
	if got := r.events(); len(got) != 1 || got[0] != "t/ok" || ad.n != 1 {
		t.Fatalf("delivered %v, adapter %d; want only t/ok, once", got, ad.n)
	}
}
