//go:build unix

package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pyrehq/pyre/examples/internal/testlog"
)

// TestPhoenixJS drives the conformance server with the official phoenix.js clients
// (1.8.x and 1.7.x, see js/package.json) through Node's built-in test runner.
//
// It needs node and js/node_modules (`make test` runs `npm ci` in js/). Without them the
// test is skipped, or fails when CI=true.
func TestPhoenixJS(t *testing.T) {
	nodeBin, jsDir := jsRequire(t)
	jsReadInputs(t, jsDir)
	httpBase := jsStartServer(t)
	wsURL := "ws" + strings.TrimPrefix(httpBase, "http") + "/socket"
	testlog.RunNode(t, nodeBin, jsDir, []string{"PYRE_URL=" + wsURL, "PYRE_HTTP=" + httpBase}, 3*time.Minute, "test/")
}

// jsRequire finds node and the suite's node_modules: without them the test is skipped, or fails when
// CI=true. It returns node's path and the js directory.
func jsRequire(t *testing.T) (nodeBin, jsDir string) {
	t.Helper()
	jsDir, err := filepath.Abs("js")
	if err != nil {
		t.Fatal(err)
	}
	nodeBin = testlog.RequireNode(t, "the phoenix.js conformance suite needs node and the npm packages of examples/conformance/js",
		filepath.Join(jsDir, "node_modules"))
	return nodeBin, jsDir
}

// jsStartServer builds and starts the conformance server on a free loopback port, waits
// until GET /health answers, and stops it in t.Cleanup. It returns the HTTP base URL.
func jsStartServer(t *testing.T) string {
	t.Helper()
	return jsRunServer(t, jsBuildServer(t)).base
}

// jsBuildServer builds the conformance server (with -race when the test has it) and returns its path.
func jsBuildServer(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go tool not found: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "pyre-conformance")
	buildCtx, cancelBuild := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancelBuild()
	args := []string{"build", "-o", bin}
	if jsRaceEnabled() {
		args = append(args, "-race") // the server gets the race detector too when the test has it
	}
	build := exec.CommandContext(buildCtx, goBin, append(args, ".")...)
	if b, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build of the conformance server failed: %v\n%s", err, b)
	}
	return bin
}

// jsServer is a running conformance server process.
type jsServer struct {
	base   string // HTTP base URL
	proc   *exec.Cmd
	exited chan error // receives the process's exit once
	logs   *jsSyncBuffer
}

// stop sends SIGTERM (the server drains) and waits for the process to exit, at most limit.
func (s *jsServer) stop(t *testing.T, limit time.Duration) error {
	t.Helper()
	_ = s.proc.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.exited:
		s.exited <- err // for the cleanup
		return err
	case <-time.After(limit):
		return fmt.Errorf("still running %v after SIGTERM", limit)
	}
}

// jsRunServer starts bin on a free loopback port, waits until GET /health answers, and stops it in
// t.Cleanup (SIGTERM, then a kill after 15 s).
func jsRunServer(t *testing.T, bin string) *jsServer {
	t.Helper()
	port := jsFreePort(t)
	s := &jsServer{base: fmt.Sprintf("http://127.0.0.1:%d", port), exited: make(chan error, 1), logs: &jsSyncBuffer{}}
	s.proc = exec.Command(bin)
	s.proc.Env = append(os.Environ(), fmt.Sprintf("PORT=%d", port))
	s.proc.Stdout = s.logs
	s.proc.Stderr = s.logs
	if err := s.proc.Start(); err != nil {
		t.Fatalf("starting the conformance server: %v", err)
	}
	go func() { s.exited <- s.proc.Wait() }()
	race := jsRaceEnabled()

	t.Cleanup(func() {
		_ = s.proc.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-s.exited:
			if err != nil {
				t.Logf("conformance server exited after SIGTERM: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Errorf("conformance server still running 15s after SIGTERM; killing it")
			_ = s.proc.Process.Kill()
			<-s.exited
		}
		out := s.logs.String()
		if strings.Contains(out, "WARNING: DATA RACE") {
			t.Errorf("the race detector fired in the conformance server")
		}
		if t.Failed() || testing.Verbose() {
			t.Logf("conformance server output (race detector: %v):\n%s", race, out)
		}
	})

	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case err := <-s.exited:
			s.exited <- err // let the cleanup see it too
			t.Fatalf("conformance server exited before answering /health: %v\n%s", err, s.logs.String())
		default:
		}
		resp, err := client.Get(s.base + "/health")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				t.Logf("conformance server up at %s (/health: %q)", s.base, strings.TrimSpace(string(body)))
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("conformance server did not answer /health within 30s (last error: %v)\n%s", err, s.logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// jsReadInputs reads the suite's own files so that go test's result cache, which
// tracks the files a test opens, is invalidated when the JS tests change.
func jsReadInputs(t *testing.T, jsDir string) {
	t.Helper()
	for _, name := range []string{"package.json", "package-lock.json"} {
		if _, err := os.ReadFile(filepath.Join(jsDir, name)); err != nil {
			t.Fatal(err)
		}
	}
	for _, sub := range []string{"lib", "test"} {
		err := filepath.WalkDir(filepath.Join(jsDir, sub), func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			_, err = os.ReadFile(path)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// jsRaceEnabled reports whether this test binary was built with -race.
func jsRaceEnabled() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}

func jsFreePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// jsSyncBuffer collects the server's output from its two pipes.
type jsSyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *jsSyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *jsSyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
