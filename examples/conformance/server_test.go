package main

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"
)

// startConformance serves a new app on a test server; both end with the test.
func startConformance(t *testing.T) (*httptest.Server, *app) {
	t.Helper()
	a := newApp()
	srv := httptest.NewServer(a.mux)
	t.Cleanup(func() {
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = a.shutdown(ctx)
	})
	return srv, a
}
