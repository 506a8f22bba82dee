package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// The driver's side of a server child (`measure server`), and its HTTP calls to it.

// loadAvg returns the 1-minute load average ("?" if unknown): the machine is shared, so the report says
// how busy it was.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	if f := strings.Fields(string(b)); len(f) > 0 {
		return f[0]
	}
	return "?"
}

func mb(b uint64) float64 { return float64(b) / (1 << 20) }

func getJSON(ctx context.Context, hc *http.Client, url string, v any) error {
	return doJSON(ctx, hc, http.MethodGet, url, v)
}

func postJSON(ctx context.Context, hc *http.Client, url string, v any) error {
	return doJSON(ctx, hc, http.MethodPost, url, v)
}

// call makes a request without a body and returns the response if its status is 200 OK; otherwise an
// error with the status and the start of the body.
func call(ctx context.Context, hc *http.Client, method, url string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
		resp.Body.Close()
		return nil, fmt.Errorf("%s %s: %s: %s", method, url, resp.Status, strings.TrimSpace(string(body)))
	}
	return resp, nil
}

// doJSON calls url and decodes the answer into v (unless v is nil).
func doJSON(ctx context.Context, hc *http.Client, method, url string, v any) error {
	resp, err := call(ctx, hc, method, url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil || v == nil {
		return err
	}
	return json.Unmarshal(body, v)
}

// saveURL calls url and writes the answer to path (a profile), creating its directory.
func saveURL(ctx context.Context, hc *http.Client, method, url, path string) error {
	resp, err := call(ctx, hc, method, url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	fh, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(fh, resp.Body); err != nil {
		fh.Close()
		return err
	}
	return fh.Close()
}

// ---- the server child process ----

type serverProc struct {
	cmd   *exec.Cmd
	addr  string
	stdin io.WriteCloser

	waited  chan struct{} // closed when cmd.Wait returned
	waitErr error
	once    sync.Once
	exited  bool   // reported by stop: the child had ended before stop was called
	onStop  func() // run by stop before the kill (the driver's scraper of /metrics), when set
}

// startServer runs `<exe> server -kind kind` (with env added to the environment, its stderr into log
// when not nil) and waits for its LISTEN line. The child dies with the driver three ways: stop (also
// deferred on panic), SIGKILL from the kernel when the driver's thread dies (Pdeathsig), and EOF on its
// stdin when the driver's end of the pipe closes.
func startServer(ctx context.Context, exe string, env []string, log io.Writer, kind string, withPprof bool, extra ...string) (*serverProc, error) {
	args := []string{"server", "-kind", kind, "-addr", "127.0.0.1:0", "-exit-on-stdin-eof"}
	if withPprof {
		args = append(args, "-pprof")
	}
	args = append(args, extra...)
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if log != nil {
		cmd.Stderr = &prefixWriter{w: log, prefix: kind + " server: "}
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &serverProc{cmd: cmd, stdin: stdin, waited: make(chan struct{})}
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		first := true
		for sc.Scan() {
			if first {
				lines <- sc.Text()
				first = false
			}
		}
		if first {
			close(lines)
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	go func() {
		p.waitErr = cmd.Wait()
		close(p.waited)
	}()
	timer := time.NewTimer(20 * time.Second)
	defer timer.Stop()
	select {
	case line, ok := <-lines:
		addr, found := strings.CutPrefix(line, listenPrefix)
		if !ok || !found {
			p.stop()
			return nil, fmt.Errorf("server printed %q, want %q", line, listenPrefix+"host:port")
		}
		p.addr = addr
		return p, nil
	case <-timer.C:
		p.stop()
		return nil, errors.New("server did not start within 20s")
	case <-ctx.Done():
		p.stop()
		return nil, ctx.Err()
	}
}

// exitedYet reports whether the child has ended, and how.
func (p *serverProc) exitedYet() (bool, string) {
	select {
	case <-p.waited:
		if p.waitErr != nil {
			return true, p.waitErr.Error()
		}
		return true, "exit status 0"
	default:
		return false, ""
	}
}

// stop kills the child and reaps it. It reports whether the child had already exited, and how it exited.
func (p *serverProc) stop() (exitedEarly bool, exit string) {
	p.once.Do(func() {
		if p.onStop != nil {
			p.onStop()
		}
		select {
		case <-p.waited:
			p.exited = true
		default:
		}
		_ = p.stdin.Close()
		_ = p.cmd.Process.Kill()
		select {
		case <-p.waited:
		case <-time.After(10 * time.Second):
		}
	})
	if p.exited && p.waitErr != nil {
		exit = p.waitErr.Error()
	}
	return p.exited, exit
}

// prefixWriter writes each line with a prefix (the server's stderr into the driver's log).
type prefixWriter struct {
	mu     sync.Mutex
	w      io.Writer
	prefix string
	buf    []byte
}

func (pw *prefixWriter) Write(b []byte) (int, error) {
	pw.mu.Lock()
	defer pw.mu.Unlock()
	pw.buf = append(pw.buf, b...)
	for {
		i := strings.IndexByte(string(pw.buf), '\n')
		if i < 0 {
			break
		}
		_, _ = fmt.Fprintf(pw.w, "%s%s\n", pw.prefix, pw.buf[:i])
		pw.buf = pw.buf[i+1:]
	}
	if len(pw.buf) > 64<<10 { // no newline for too long: flush as is
		_, _ = fmt.Fprintf(pw.w, "%s%s\n", pw.prefix, pw.buf)
		pw.buf = pw.buf[:0]
	}
	return len(b), nil
}
