package host

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pyrehq/pyre/actors/message"
	"github.com/pyrehq/pyre/actors/telemetry"
	"github.com/pyrehq/pyre/transport/metrics"
)

// BenchmarkPushReplyEvents is BenchmarkPushReply with no observer ("off": one nil check per emission
// point, to compare with BenchmarkPushReply before telemetry existed) and with the Prometheus metrics'
// ("metrics"), in one run.
func BenchmarkPushReplyEvents(b *testing.B) {
	run := func(b *testing.B, ev telemetry.Events) {
		s, out := openBench(b, Config{Events: ev})
		s.Receive(&message.Message{JoinRef: "1", Ref: "1", Topic: "room:a", Event: message.EventJoin, Payload: message.EmptyObject})
		out.await(b, message.EventReply)
		push := &message.Message{JoinRef: "1", Ref: "2", Topic: "room:a", Event: "ping", Payload: message.JSON([]byte(`{"n":1}`))}
		b.ReportAllocs()
		for b.Loop() {
			s.Receive(push)
			out.await(b, message.EventReply)
		}
	}
	b.Run("off", func(b *testing.B) { run(b, telemetry.Events{}) })
	b.Run("metrics", func(b *testing.B) {
		m, err := metrics.New(prometheus.NewRegistry(), metrics.Config{})
		if err != nil {
			b.Fatal(err)
		}
		run(b, m.Events())
	})
}
