package metrics_test

import (
	"context"
	"fmt"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/pyrehq/pyre/actors/telemetry"
	"github.com/pyrehq/pyre/transport"
	"github.com/pyrehq/pyre/transport/metrics"
)

func Example() {
	reg := prometheus.NewRegistry() // yours: Pyre never registers on the global one
	m, err := metrics.New(reg, metrics.Config{})
	if err != nil {
		panic(err)
	}
	crashes := func(e telemetry.ChannelCrashed) { fmt.Println(e.Topic, "crashed") }
	ep := transport.NewEndpoint(transport.Config{
		Events: telemetry.Combine(m.Events(), telemetry.Events{ChannelCrashed: crashes}),
	})
	defer ep.Shutdown(context.Background())

	mux := http.NewServeMux()
	mux.Handle("/socket/", ep)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))

	mfs, _ := reg.Gather()
	fmt.Println(len(mfs) > 0)
	// Output: true
}

func ExampleMetrics_SetClusterMembers() {
	reg := prometheus.NewRegistry()
	m, _ := metrics.New(reg, metrics.Config{})
	m.SetClusterMembers(3)
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() == "pyre_cluster_members" {
			fmt.Println(mf.GetMetric()[0].GetGauge().GetValue())
		}
	}
	// Output: 3
}
