//go:build unix

package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pyrehq/pyre/transport/client"
)

// The README's quick start is this program, character for character: a change to one without the other
// fails here.
func TestREADMEShowsThisProgram(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("main.go")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```go\n(.*?)```").FindAllSubmatch(readme, -1)
	for _, b := range blocks {
		if bytes.Equal(b[1], src) {
			return
		}
	}
	t.Fatalf("README.md has no ```go block equal to examples/quickstart/main.go (%d go blocks)", len(blocks))
}

// The quick start builds, serves a room, answers a shout and broadcasts it to both members, and drains on
// SIGTERM, as a separate OS process the way a user runs it.
func TestQuickStartRuns(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "quickstart")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	port := freePort(t)
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "PORT="+strconv.Itoa(port))
	logs := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	var exitErr error
	go func() { exitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill() // nothing if it exited already
		<-exited
	})

	url := "ws://127.0.0.1:" + strconv.Itoa(port) + "/socket/websocket?vsn=2.0.0"
	dial := func() *client.Conn {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second) // the process may still be starting
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			c, err := client.Dial(ctx, url, client.Options{})
			cancel()
			if err == nil {
				return c
			}
			if time.Now().After(deadline) {
				t.Fatalf("dial %s: %v\n%s", url, err, logs.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	alice, bob := dial(), dial()
	defer alice.Close()
	defer bob.Close()
	ac, reply, err := alice.Join(ctx, "room:lobby", nil)
	if err != nil || string(reply.Response) != `{"welcome":"room:lobby"}` {
		t.Fatalf("join: %+v, %v", reply, err)
	}
	bc, _, err := bob.Join(ctx, "room:lobby", nil)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := ac.Push(ctx, "shout", map[string]string{"body": "hello"}); err != nil || !r.OK() {
		t.Fatalf("shout: %+v, %v", r, err)
	}
	for _, ch := range []*client.Channel{ac, bc} {
		select {
		case m := <-ch.Messages():
			if m.Event != "shout" || string(m.Payload) != `{"body":"hello"}` {
				t.Fatalf("got %s %s, want the shout", m.Event, m.Payload)
			}
		case <-ctx.Done():
			t.Fatal("no broadcast")
		}
	}
	if r, err := ac.Push(ctx, "whisper", nil); err == nil || r.Reason() != "unknown event" {
		t.Fatalf("unknown event: %+v, %v", r, err)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-alice.Closed():
	case <-ctx.Done():
		t.Fatal("no close on SIGTERM")
	}
	if code := alice.CloseCode(); code != 1012 {
		t.Errorf("close code %d, want 1012 (drain)", code)
	}
	select {
	case <-exited:
		if exitErr != nil {
			t.Fatalf("exit: %v\n%s", exitErr, logs.String())
		}
	case <-ctx.Done():
		t.Fatal("the process did not exit after SIGTERM")
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// lockedBuffer collects the process's output, readable while it still writes.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
