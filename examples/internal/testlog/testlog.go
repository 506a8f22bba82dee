// Package testlog serves the examples' tests that drive Node (phoenix.js, playwright-core): it streams a
// subprocess's output into a test log, line by line, finds node and what a test needs (skipping, or
// failing when CI=true), and runs node --test with its whole process group bounded in time.
package testlog

import (
	"bytes"
	"sync"
	"testing"
)

// LineWriter is an io.Writer that sends each complete line to t.Log, prefixed. Safe for concurrent use
// (a command's stdout and stderr may share one).
type LineWriter struct {
	t      testing.TB
	prefix string
	mu     sync.Mutex
	buf    []byte
}

// Lines returns a LineWriter logging to t.
func Lines(t testing.TB, prefix string) *LineWriter { return &LineWriter{t: t, prefix: prefix} }

func (w *LineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.t.Log(w.prefix + string(w.buf[:i]))
		w.buf = w.buf[i+1:]
	}
	return len(p), nil
}

// Flush logs a trailing partial line.
func (w *LineWriter) Flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > 0 {
		w.t.Log(w.prefix + string(w.buf))
		w.buf = nil
	}
}
