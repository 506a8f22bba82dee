package main

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pyrehq/pyre/transport/client"
)

// GET /metrics serves the endpoint's Prometheus metrics.
func TestMetricsEndpoint(t *testing.T) {
	srv, _ := startConformance(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/socket/websocket?vsn=2.0.0", client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, _, err := c.Join(ctx, "echo:1", nil); err != nil {
		t.Fatal(err)
	}
	want := []string{`pyre_connections{transport="websocket"} 1`, `pyre_channel_joins_total{result="ok",topic_prefix="echo:"} 1`}
	deadline := time.Now().Add(10 * time.Second) // liveness bound: the join's event follows its reply
	for {
		resp, err := http.Get(srv.URL + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		missing := ""
		for _, w := range want {
			if !strings.Contains(string(b), w) {
				missing = w
			}
		}
		if resp.StatusCode == http.StatusOK && missing == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET /metrics: %d, missing %s in\n%s", resp.StatusCode, missing, b)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
