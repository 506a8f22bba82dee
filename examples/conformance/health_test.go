package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// /health reflects Endpoint.Err (issue 11.10): ok while serving, 503 once the endpoint supervisor gave up
// after infrastructure crashes past its intensity (driven here through /chaos/kill, as an operator's probe
// would see it).
func TestHealthReflectsEndpointErr(t *testing.T) {
	srv, a := startConformance(t)
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/health"); code != http.StatusOK || body != "ok" {
		t.Fatalf("health while serving: %d %q", code, body)
	}
	// Kill infrastructure workers until the endpoint gives up: each kill that finds one counts toward the
	// intensity (one that lands while a worker restarts finds none, 404, and is retried).
	deadline := time.Now().Add(10 * time.Second) // liveness bound
	for a.endpoint.Err() == nil {
		if time.Now().After(deadline) {
			t.Fatal("the endpoint did not give up")
		}
		get("/chaos/kill?kind=infrastructure")
	}
	if code, body := get("/health"); code != http.StatusServiceUnavailable || !strings.Contains(body, "endpoint stopped") {
		t.Fatalf("health after the endpoint gave up: %d %q, want 503", code, body)
	}
}
