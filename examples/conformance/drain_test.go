//go:build unix

package main

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pyrehq/pyre/examples/internal/testlog"
)

// TestPhoenixJSDrain deploys over live phoenix.js clients: 20 clients (1.8 and 1.7) join channels on
// server A; A gets SIGTERM and drains (Endpoint.Shutdown); every client must see a 1012 close from the
// server (not 1000, not a reset), reconnect to server B (each client's close callback points it there, as
// a load balancer would), rejoin its channel on B and be answered there (js/drain/drain.mjs).
func TestPhoenixJSDrain(t *testing.T) {
	nodeBin, jsDir := jsRequire(t)
	if _, err := os.ReadFile(filepath.Join(jsDir, "drain", "drain.mjs")); err != nil {
		t.Fatal(err)
	}
	bin := jsBuildServer(t)
	a, b := jsRunServer(t, bin), jsRunServer(t, bin)
	ws := func(base string) string { return "ws" + strings.TrimPrefix(base, "http") + "/socket" }

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := testlog.NodeCommand(ctx, nodeBin, jsDir, []string{"PYRE_URL=" + ws(a.base), "PYRE_HTTP=" + a.base,
		"PYRE_B_URL=" + ws(b.base), "PYRE_B_HTTP=" + b.base, "DRAIN_CLIENTS=20"}, "drain/drain.mjs")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	logs := testlog.Lines(t, "node: ")
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			_, _ = logs.Write([]byte(line + "\n"))
			if line == "READY" {
				close(ready)
			}
		}
	}()
	select {
	case <-ready:
	case <-ctx.Done():
		t.Fatal("the clients did not join within 2 minutes")
	}
	// The deploy: A drains. Its exit status says whether Endpoint.Shutdown finished in its budget.
	if err := a.stop(t, 45*time.Second); err != nil {
		t.Fatalf("server A after SIGTERM: %v\n%s", err, a.logs.String())
	}
	err = cmd.Wait()
	logs.Flush()
	if err != nil {
		t.Fatalf("drain clients: %v", err)
	}
	if out := a.logs.String(); strings.Contains(out, "shutdown:") {
		t.Fatalf("server A did not drain cleanly:\n%s", out)
	}
}
