//go:build unix

package testlog

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// Chromium is the browser the examples' browser tests drive: $CHROMIUM, else the first of chromium,
// chromium-browser, google-chrome on PATH, else Debian's /usr/bin/chromium.
func Chromium() string {
	if c := os.Getenv("CHROMIUM"); c != "" {
		return c
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return "/usr/bin/chromium"
}

// RequireNode returns node's path once node and every path exist. Otherwise the test is skipped with a
// message that names what is missing and says `make test` installs it, or fails when CI=true: a test that
// cannot run its real dependency must not pass there.
func RequireNode(t testing.TB, what string, paths ...string) string {
	t.Helper()
	nodeBin, err := exec.LookPath("node")
	var missing []error
	if err != nil {
		missing = append(missing, fmt.Errorf("node: %w", err))
	}
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			missing = append(missing, err)
		}
	}
	if len(missing) > 0 {
		msg := fmt.Sprintf("%s; run `make test`, which installs it (%v)", what, errors.Join(missing...))
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		recordSkip(t.Name() + ": " + what)
		t.Skip(msg)
	}
	return nodeBin
}

// NodeCommand is `node args...` in dir, with env added to the process's. When ctx ends, node's whole
// process group is killed: node --test runs each file in a child process, which may start a browser.
func NodeCommand(ctx context.Context, nodeBin, dir string, env []string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, nodeBin, args...)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), "NO_COLOR=1", "FORCE_COLOR=0"), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	return cmd
}

// RunNode runs `node --test --test-reporter=spec files...` in dir with env, its output in t's log, and
// fails the test if node fails or does not finish within limit.
func RunNode(t testing.TB, nodeBin, dir string, env []string, limit time.Duration, files ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := NodeCommand(ctx, nodeBin, dir, env, append([]string{"--test", "--test-reporter=spec"}, files...)...)
	out := Lines(t, "node: ")
	cmd.Stdout = out
	cmd.Stderr = out
	t.Logf("running node --test %v in %s with %v", files, dir, env)
	err := cmd.Run()
	out.Flush()
	if ctx.Err() != nil {
		t.Fatalf("node --test %v did not finish within %v: %v", files, limit, err)
	}
	if err != nil {
		t.Fatalf("node --test %v failed: %v", files, err)
	}
}

// recordSkip appends line to $PYRE_SKIPPED, where `make test` lists what it could not run.
func recordSkip(line string) {
	name := os.Getenv("PYRE_SKIPPED")
	if name == "" {
		return
	}
	f, err := os.OpenFile(name, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return
	}
	defer f.Close()
	_, _ = fmt.Fprintln(f, line)
}
