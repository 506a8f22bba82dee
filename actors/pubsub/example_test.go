package pubsub_test

import (
	"fmt"

	"github.com/pyrehq/pyre/actors/message"
	"github.com/pyrehq/pyre/actors/pubsub"
)

// watcher is a Subscriber that queues what it is delivered, and drops past its capacity rather than block
// the publisher.
type watcher chan *message.Broadcast

func (w watcher) Deliver(b *message.Broadcast) {
	select {
	case w <- b:
	default:
	}
}

func ExamplePubSub_Subscribe() {
	ps := pubsub.New(pubsub.Config{})
	w := make(watcher, 8)
	ps.Subscribe("room:lobby", w)
	defer ps.Unsubscribe("room:lobby", w)

	payload, _ := message.PayloadOf(map[string]string{"body": "hi"})
	for _, topic := range []string{"room:lobby", "room:other"} {
		if err := ps.Broadcast(message.NewBroadcast(topic, "shout", payload)); err != nil {
			fmt.Println(err)
		}
	}
	b := <-w
	fmt.Println(b.Topic, b.Event, b.Payload, len(w))
	// Output: room:lobby shout {"body":"hi"} 0
}
