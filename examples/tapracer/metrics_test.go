package main

import (
	"net/http"
	"strings"
	"testing"
)

// GET /metrics serves the endpoint's Prometheus metrics.
func TestMetricsEndpoint(t *testing.T) {
	srv := newServer(t, newApp(config{Dir: ".", Logger: discardLogger()}))
	code, ctype, body := get(t, srv.URL+"/metrics")
	if code != http.StatusOK || !strings.HasPrefix(ctype, "text/plain") || !strings.Contains(body, "# TYPE pyre_connections gauge") {
		t.Fatalf("GET /metrics: %d %s\n%.300s", code, ctype, body)
	}
}
