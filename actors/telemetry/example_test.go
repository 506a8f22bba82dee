package telemetry_test

import (
	"fmt"
	"sync/atomic"

	"github.com/pyrehq/pyre/actors/telemetry"
)

// An observer is a struct of the funcs you need; Combine runs several.
func ExampleCombine() {
	var joins atomic.Int64
	counting := telemetry.Events{ChannelJoined: func(telemetry.ChannelJoined) { joins.Add(1) }}
	logging := telemetry.Events{ChannelJoined: func(e telemetry.ChannelJoined) { fmt.Println("joined", e.Topic, e.Result) }}
	ev := telemetry.Combine(counting, logging)

	// What the runtime does where a channel joins:
	if f := ev.ChannelJoined; f != nil {
		f(telemetry.ChannelJoined{Channel: telemetry.Channel{Topic: "room:42"}, Result: telemetry.ResultOK})
	}
	fmt.Println(joins.Load(), ev.ChannelLeft == nil)
	// Output:
	// joined room:42 ok
	// 1 true
}

func ExampleTopicPrefix() {
	fmt.Println(telemetry.TopicPrefix("room:42"), telemetry.TopicPrefix("lobby"))
	// Output: room: other
}
