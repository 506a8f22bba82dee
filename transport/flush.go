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
//
// Connections with little pending (smallPending: replies, pushes, small broadcasts) wait in a lane of
// their own, served before the bulk lane, so that a reply to one client does not queue behind megabytes
// owed to thousands of others (a presence storm's states); every smallBurst small turns a worker takes one
// bulk turn if one waits, so neither lane starves the other.
type flushPool struct {
	small chan *wsConn
	ready chan *wsConn

	mu     sync.Mutex
	stop   chan struct{} // closed to stop the running workers; nil when none run
	closed bool
	wg     sync.WaitGroup
}

// poolWriteTimeout bounds how long a pooled write may take before its connection gets its own goroutine.
const poolWriteTimeout = 50 * time.Millisecond

// smallPending is the most a connection may have pending to wait in the small lane; smallBurst is how
// many small turns a worker takes before it looks at the bulk lane.
const (
	smallPending = 4 << 10
	smallBurst   = 8
)

func newFlushPool() *flushPool {
	return &flushPool{small: make(chan *wsConn, 1<<16), ready: make(chan *wsConn, 1<<16)}
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

// submit queues c for a worker, in the small lane or the bulk one; false when the lane is full (the caller
// then starts a goroutine for c).
func (p *flushPool) submit(c *wsConn, small bool) bool {
	lane := p.ready
	if small {
		lane = p.small
	}
	select {
	case lane <- c:
		return true
	default:
		return false
	}
}

func (p *flushPool) work(stop chan struct{}) {
	for turns := 0; ; turns++ {
		if turns%smallBurst != 0 {
			select {
			case c := <-p.small:
				c.flushOnce()
				continue
			default:
			}
		}
		select {
		case c := <-p.small:
			c.flushOnce()
		case c := <-p.ready:
			c.flushOnce()
		case <-stop:
			return
		}
	}
}
