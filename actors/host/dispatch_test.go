package host

import (
	"testing"
	"time"

	"go.uber.org/goleak"
)

// The host's dispatcher reuses its workers, never blocks a sender when they are all busy, and ends them
// once idle or stopped.
func TestWorkerPool(t *testing.T) {
	defer goleak.VerifyNone(t)
	p := newWorkerPool(1)
	ran := make(chan int, 4)
	p.Schedule(func() { ran <- 1 })
	if got := <-ran; got != 1 {
		t.Fatalf("ran %d", got)
	}
	// The one worker is busy with a pass that waits: the next pass must not wait behind it.
	release := make(chan struct{})
	p.Schedule(func() { <-release; ran <- 2 })
	p.Schedule(func() { ran <- 3 })
	if got := <-ran; got != 3 {
		t.Fatalf("ran %d first, want 3 (the pass behind a busy worker)", got)
	}
	close(release)
	if got := <-ran; got != 2 {
		t.Fatalf("ran %d, want 2", got)
	}
	// Idle, the worker ends by itself.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		p.mu.Lock()
		n := p.workers
		p.mu.Unlock()
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d workers still running", n)
		}
	}
	p.Schedule(func() { ran <- 4 })
	<-ran
	p.stop() // waits for the worker started by the pass above
	p.mu.Lock()
	n := p.workers
	p.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d workers after stop", n)
	}
	done := make(chan struct{})
	p.Schedule(func() { close(done) }) // after stop, on a goroutine of its own
	<-done
}
