//go:build unix

package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"syscall"
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
	chromiumBin := os.Getenv("CHROMIUM")
	if chromiumBin == "" {
		chromiumBin = "/usr/bin/chromium"
	}
	nodeBin, nodeErr := exec.LookPath("node")
	var missing []error
	if nodeErr != nil {
		missing = append(missing, fmt.Errorf("node: %w", nodeErr))
	}
	for _, p := range []string{chromiumBin, phoenixModule, "browser/node_modules/playwright-core/package.json"} {
		if _, err := os.Stat(p); err != nil {
			missing = append(missing, err)
		}
	}
	if len(missing) > 0 {
		msg := fmt.Sprintf("the browser test needs node, chromium and the npm packages of examples/tapracer/assets and "+
			"examples/tapracer/browser; run `make test`, which installs them (%v)", errors.Join(missing...))
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}

	base := startRun(t)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, nodeBin, "--test", "--test-reporter=spec", "tapracer.test.mjs")
	cmd.Dir = "browser"
	cmd.Env = append(os.Environ(), "TAPRACER_URL="+base, "CHROMIUM="+chromiumBin, "NO_COLOR=1", "FORCE_COLOR=0")
	// node --test runs the file in a child process, which starts chromium: kill the whole group on timeout.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	out := testlog.Lines(t, "node: ")
	cmd.Stdout = out
	cmd.Stderr = out
	t.Logf("running node --test browser/tapracer.test.mjs against %s", base)
	err := cmd.Run()
	out.Flush()
	if ctx.Err() != nil {
		t.Fatalf("browser test did not finish within 3 minutes: %v", err)
	}
	if err != nil {
		t.Fatalf("browser test failed: %v", err)
	}
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
