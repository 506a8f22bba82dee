package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func findPlayer(st raceState, id string) (playerState, bool) {
	for _, p := range st.Players {
		if p.ID == id {
			return p, true
		}
	}
	return playerState{}, false
}

func TestPages(t *testing.T) {
	_, srv := startApp(t)
	for _, tc := range []struct{ path, ctype, contains string }{
		{"/", "text/html", `href="/play"`},
		{"/play", "text/html", `id="tap"`},
		{"/console", "text/html", `id="new-race"`},
		{"/chat", "text/html", `id="messages"`},
		{"/play", "text/html", `id="racers"`},
		{"/console", "text/html", `id="racers"`},
		{"/chat", "text/html", `id="members"`},
		{"/static/common.js", "text/javascript", "tapracerPeople"},
		{"/static/style.css", "text/css", "--accent"},
		{"/static/play.js", "text/javascript", `from "/assets/phoenix.mjs"`},
		{"/static/console.js", "text/javascript", `from "/assets/phoenix.mjs"`},
		{"/static/chat.js", "text/javascript", `from "/assets/phoenix.mjs"`},
		{"/dashboard/", "text/html", `data-phoenix="/assets/phoenix.mjs"`}, // the live dashboard
		{"/dashboard/dashboard.js", "text/javascript", `"pyre:dashboard"`},
	} {
		code, ctype, body := get(t, srv.URL+tc.path)
		if code != http.StatusOK || !strings.HasPrefix(ctype, tc.ctype) || !strings.Contains(body, tc.contains) {
			t.Errorf("GET %s = %d %q (%d bytes), want 200 %s containing %q", tc.path, code, ctype, len(body), tc.ctype, tc.contains)
		}
	}
	if code, _, _ := get(t, srv.URL+"/nope"); code != http.StatusNotFound {
		t.Errorf("GET /nope = %d, want 404", code)
	}
	if _, err := os.Stat(phoenixModule); err != nil {
		t.Logf("skipping /assets/phoenix.mjs: %v (run `npm ci --prefix examples/tapracer/assets`)", err)
		return
	}
	code, ctype, body := get(t, srv.URL+"/assets/phoenix.mjs")
	if code != http.StatusOK || !strings.HasPrefix(ctype, "text/javascript") || !strings.Contains(body, "export") {
		t.Errorf("GET /assets/phoenix.mjs = %d %q", code, ctype)
	}
}

// Without node_modules, /assets/phoenix.mjs answers 503 saying what to run, and check says so at start.
func TestPhoenixJSMissing(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "static"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "static", "index.html"), []byte("<!doctype html>"), 0o644); err != nil {
		t.Fatal(err)
	}
	a := newApp(config{Dir: dir, Logger: discardLogger()})
	if err := a.check(); err == nil || !strings.Contains(err.Error(), "npm ci --prefix examples/tapracer/assets") {
		t.Errorf("check() = %v, want the npm ci hint", err)
	}
	srv := newServer(t, a)
	code, _, body := get(t, srv.URL+"/assets/phoenix.mjs")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "npm ci --prefix examples/tapracer/assets") {
		t.Errorf("GET /assets/phoenix.mjs = %d %q, want 503 with the npm ci hint", code, body)
	}
}

func get(t *testing.T, url string) (int, string, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
}

// TestRunShutdown checks main's serve-and-shutdown path without a browser: a connected player is closed
// and run returns nil once its context is canceled.
func TestRunShutdown(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addrs := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, "127.0.0.1:0", config{Dir: ".", Logger: discardLogger()}, func(a net.Addr) { addrs <- a })
	}()
	addr := <-addrs
	c := dialURL(t, "ws://"+addr.String(), "player")
	c.mustJoin("play", map[string]any{"name": "Grace"}, nil)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run = %v, want nil", err)
		}
	case <-time.After(waitLimit):
		t.Fatalf("run did not return within %v of the cancel", waitLimit)
	}
	select {
	case <-c.closed:
	case <-time.After(waitLimit):
		t.Fatalf("the player's connection is still open after shutdown")
	}
}
