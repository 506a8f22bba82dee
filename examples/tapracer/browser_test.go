//go:build unix

package main

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/pyrehq/pyre/examples/internal/testlog"
)

// TestBrowser runs browser/tapracer.test.mjs (node --test, playwright-core driving headless Debian
// chromium) against the app served in-process on a free loopback port.
//
// It needs node, chromium ($CHROMIUM or /usr/bin/chromium), and the npm packages of assets/ and browser/
// (`make test` installs them all). Without them it is skipped, or fails when CI=true.
func TestBrowser(t *testing.T) {
	chromium := testlog.Chromium()
	nodeBin := testlog.RequireNode(t, "the browser test needs node, chromium and the npm packages of examples/tapracer/assets and examples/tapracer/browser",
		chromium, phoenixModule, "browser/node_modules/playwright-core/package.json")
	base := startRun(t)
	testlog.RunNode(t, nodeBin, "browser", []string{"TAPRACER_URL=" + base, "CHROMIUM=" + chromium}, 3*time.Minute, "tapracer.test.mjs")
}

// startRun serves the app with run (as main does) on a free loopback port and returns its base URL. The
// cleanup cancels run's context, as a signal would, and checks that it shuts down cleanly.
func startRun(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	addrs := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, "127.0.0.1:0", config{Dir: ".", Logger: discardLogger()}, func(a net.Addr) { addrs <- a })
	}()
	var addr net.Addr
	select {
	case addr = <-addrs:
	case err := <-done:
		cancel()
		t.Fatalf("run: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run returned %v after its context was canceled", err)
			}
		case <-time.After(2 * shutdownTimeout):
			t.Errorf("run still running %v after its context was canceled", 2*shutdownTimeout)
		}
	})
	return "http://" + addr.String()
}
