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
