//go:build unix

package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pyrehq/pyre/examples/internal/testlog"
)

// TestBrowserLongPoll runs browser/longpoll.test.mjs (node --test, playwright-core driving headless Debian
// chromium) against the conformance server: phoenix.js 1.8 and 1.7 over long-poll with the browser's own
// XMLHttpRequest, cross-origin, and 1.8's fallback from a refused WebSocket to long-poll.
//
// It needs node, chromium ($CHROMIUM or /usr/bin/chromium) and browser/node_modules (`make test` installs
// them). Without them it is skipped, or fails when CI=true.
func TestBrowserLongPoll(t *testing.T) {
	chromium := testlog.Chromium()
	nodeBin := testlog.RequireNode(t, "the long-poll browser test needs node, chromium and the npm packages of examples/conformance/browser",
		chromium, "browser/node_modules/playwright-core/package.json", "browser/node_modules/phoenix/package.json")
	for _, name := range []string{"package.json", "package-lock.json", "longpoll.test.mjs"} {
		if _, err := os.ReadFile(filepath.Join("browser", name)); err != nil { // go test's cache tracks them
			t.Fatal(err)
		}
	}
	base := jsStartServer(t)
	testlog.RunNode(t, nodeBin, "browser", []string{"PYRE_HTTP=" + base, "CHROMIUM=" + chromium}, 3*time.Minute, "longpoll.test.mjs")
}

// TestBrowserDashboard runs browser/dashboard.test.mjs (node --test, playwright-core driving headless
// Debian chromium) against the conformance server: the live dashboard at /dashboard/ loads, its charts
// move under a bounded load, and its supervision tree shows a channel crash and its restart.
// DASHBOARD_SCREENSHOT=path (relative to this directory) keeps the screenshot there: the README shows
// docs/dashboard.png.
//
// It needs node, chromium ($CHROMIUM or /usr/bin/chromium) and browser/node_modules (`make test` installs
// them). Without them it is skipped, or fails when CI=true.
func TestBrowserDashboard(t *testing.T) {
	chromium := testlog.Chromium()
	nodeBin := testlog.RequireNode(t, "the dashboard browser test needs node, chromium and the npm packages of examples/conformance/browser",
		chromium, "browser/node_modules/playwright-core/package.json", "browser/node_modules/phoenix/package.json")
	if _, err := os.ReadFile(filepath.Join("browser", "dashboard.test.mjs")); err != nil { // go test's cache tracks it
		t.Fatal(err)
	}
	env := []string{"PYRE_HTTP=" + jsStartServer(t), "CHROMIUM=" + chromium}
	if shot := os.Getenv("DASHBOARD_SCREENSHOT"); shot != "" {
		abs, err := filepath.Abs(shot) // node runs in browser/
		if err != nil {
			t.Fatal(err)
		}
		env = append(env, "DASHBOARD_SCREENSHOT="+abs)
	}
	testlog.RunNode(t, nodeBin, "browser", env, 3*time.Minute, "dashboard.test.mjs")
}
