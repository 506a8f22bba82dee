package transport

import (
	"runtime"
	"sync"
	"time"
)

// flushPool is a few writer goroutines (one per P) shared by every connection. A connection with frames
// pending joins the ready queue once; a worker writes everything it has in one write. While the workers
// are busy, connections keep collecting frames, so the busier the server the more frames each write
// carries: fan-out to thousands of subscribers costs far fewer syscalls than one write per message.
//
// A worker must never wait on one client: its writes have a short deadline, and a connection whose write
// does not finish in time (a client not reading) is handed, with the unwritten rest, to a goroutine of its
// own that writes with the full WriteTimeout. That connection stays off the pool from then on, so a slow
// client holds a worker once, for poolWriteTimeout at most.
type flushPool struct {
	ready chan *wsConn

	mu     sync.Mutex
	stop   chan struct{} // closed to stop the running workers; nil when none run
	closed bool
	wg     sync.WaitGroup
}

// poolWriteTimeout bounds how long a pooled write may take before its connection gets its own goroutine.
const poolWriteTimeout = 50 * time.Millisecond

func newFlushPool() *flushPool {
	return &flushPool{ready: make(chan *wsConn, 1<<16)}
}

// start runs the workers if none run: the endpoint calls it when it gets a connection.
func (p *flushPool) start() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stop != nil || p.closed {
		return
	}
	p.stop = make(chan struct{})
	for range runtime.GOMAXPROCS(0) {
		stop := p.stop
		p.wg.Go(func() { p.work(stop) })
	}
}

// idle stops the workers without waiting: the endpoint has no connection left, so nothing runs for it.
func (p *flushPool) idle() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stop != nil {
		close(p.stop)
		p.stop = nil
	}
}

// close stops the workers for good and waits for them.
func (p *flushPool) close() {
	p.idle()
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.wg.Wait()
}

// submit queues c for a worker; false when the queue is full or the pool stopped (the caller then starts
// a goroutine for c).
func (p *flushPool) submit(c *wsConn) bool {
	select {
	case p.ready <- c:
		return true
	default:
		return false
	}
}

func (p *flushPool) work(stop chan struct{}) {
	for {
		select {
		case c := <-p.ready:
			c.flushOnce()
		case <-stop:
			return
		}
	}
}
