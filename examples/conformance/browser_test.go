//go:build unix

package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
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
	chromiumBin := os.Getenv("CHROMIUM")
	if chromiumBin == "" {
		chromiumBin = "/usr/bin/chromium"
	}
	nodeBin, nodeErr := exec.LookPath("node")
	var missing []error
	if nodeErr != nil {
		missing = append(missing, fmt.Errorf("node: %w", nodeErr))
	}
	for _, p := range []string{chromiumBin, "browser/node_modules/playwright-core/package.json", "browser/node_modules/phoenix/package.json"} {
		if _, err := os.Stat(p); err != nil {
			missing = append(missing, err)
		}
	}
	if len(missing) > 0 {
		msg := fmt.Sprintf("the long-poll browser test needs node, chromium and the npm packages of "+
			"examples/conformance/browser; run `make test`, which installs them (%v)", errors.Join(missing...))
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	for _, name := range []string{"package.json", "package-lock.json", "longpoll.test.mjs"} {
		if _, err := os.ReadFile(filepath.Join("browser", name)); err != nil { // go test's cache tracks them
			t.Fatal(err)
		}
	}

	base := jsStartServer(t)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, nodeBin, "--test", "--test-reporter=spec", "longpoll.test.mjs")
	cmd.Dir = "browser"
	cmd.Env = append(os.Environ(), "PYRE_HTTP="+base, "CHROMIUM="+chromiumBin, "NO_COLOR=1", "FORCE_COLOR=0")
	// node --test runs the file in a child process, which starts chromium: kill the whole group on timeout.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	out := testlog.Lines(t, "node: ")
	cmd.Stdout = out
	cmd.Stderr = out
	t.Logf("running node --test browser/longpoll.test.mjs against %s", base)
	err := cmd.Run()
	out.Flush()
	if ctx.Err() != nil {
		t.Fatalf("browser test did not finish within 3 minutes: %v", err)
	}
	if err != nil {
		t.Fatalf("browser test failed: %v", err)
	}
}
