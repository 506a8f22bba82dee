package transport

import (
	"errors"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/pyrehq/pyre/actors/channel"
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

// flushOnce writes what c has pending, then requeues c if more arrived, or marks it idle.
func (c *wsConn) flushOnce() {
	c.mu.Lock()
	batch := c.takeTurn()
	if len(batch) == 0 {
		if c.state != wsClosing {
			c.goIdle(batch)
			c.mu.Unlock()
			return
		}
		c.spare = batch
		c.mu.Unlock()
		c.goWrite(c.drain) // writes the close frame, which may wait on the client
		return
	}
	c.mu.Unlock()

	rest, err := c.writePooled(batch)
	c.recycle(batch)
	if err != nil {
		if rest != nil {
			c.ownWriter.Store(true)
			c.goWrite(func() { c.drainFrom(rest) })
			return
		}
		c.fail()
		return
	}
	c.mu.Lock()
	more := len(c.queue) > 0 || c.state != wsOpen
	if !more {
		c.goIdle(nil)
	}
	small := c.queuedBytes <= smallPending
	c.mu.Unlock()
	if more {
		c.startWriter(small)
	}
}

// takeTurn takes the frames of one turn from the queue: all of them when they fit in maxCoalesce bytes,
// else as many as fit (at least one). A connection with a long backlog then goes to the back of the ready
// queue instead of holding a worker while every other connection waits. It resumes a reader paused by
// awaitRoom once the queue is below low water. Called with c.mu held.
func (c *wsConn) takeTurn() []outFrame {
	if c.resume != nil {
		defer func() {
			if c.belowLowWater() {
				c.wakeReader()
			}
		}()
	}
	k, size := 0, 0
	for k < len(c.queue) && (k == 0 || size+c.queue[k].size() <= maxCoalesce) {
		size += c.queue[k].size()
		k++
	}
	if k == len(c.queue) {
		batch := c.queue
		c.queue, c.spare = c.spare[:0], nil
		c.queuedBytes = 0
		return batch
	}
	batch := append(c.spare[:0], c.queue[:k]...)
	c.spare = nil
	n := copy(c.queue, c.queue[k:])
	clear(c.queue[n:])
	c.queue = c.queue[:n]
	c.queuedBytes -= size
	return batch
}

// recycle keeps a written batch's array for the next turn. Writer only.
func (c *wsConn) recycle(batch []outFrame) {
	clear(batch)
	c.spare = batch[:0]
}

// maxIdleFrames bounds the queue arrays an idle connection keeps: a burst must not leave every connection
// holding a large one.
const maxIdleFrames = 16

// goIdle marks c as having no writer, keeping small arrays for the next frames. Called with c.mu held.
func (c *wsConn) goIdle(spare []outFrame) {
	c.writing = false
	if spare != nil {
		c.spare = spare
	}
	if cap(c.spare) > maxIdleFrames {
		c.spare = nil
	}
	if len(c.queue) == 0 && cap(c.queue) > maxIdleFrames {
		c.queue = nil
	}
}

// writePooled writes batch with the pool's short deadline. On a timeout it returns the bytes not yet
// written, for a goroutine of the connection's own.
func (c *wsConn) writePooled(batch []outFrame) (rest []byte, err error) {
	c.renewAt = time.Time{} // the next own-goroutine write sets its full deadline
	if err := c.setDeadline(time.Now().Add(poolWriteTimeout)); err != nil {
		return nil, err
	}
	rest, err = c.writeFrames(batch)
	if err != nil && (!errors.Is(err, os.ErrDeadlineExceeded) || c.abort.Load() || c.cutSlow()) {
		// Not a slow write to hand over: the connection is done. A client already cut as a slow consumer
		// that did not read this write within poolWriteTimeout is not reading: no close frame will get
		// through (slowConsumer left the write to finish while it was moving).
		rest = nil
	}
	return rest, err
}

// cutSlow reports whether c is being cut as a slow consumer.
func (c *wsConn) cutSlow() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state != wsOpen && c.closeCode == channel.CloseTryAgainLater
}

// goWrite runs a writer of c's own on a goroutine the endpoint's Shutdown waits for.
func (c *wsConn) goWrite(writer func()) { c.ep.writers.Go(writer) }

// drainFrom finishes a write the pool gave up waiting for, then carries on as the connection's writer.
func (c *wsConn) drainFrom(rest []byte) {
	if err := c.setDeadline(time.Now().Add(c.ep.cfg.WriteTimeout)); err != nil {
		c.fail()
		return
	}
	if _, err := c.write(rest); err != nil {
		c.fail()
		return
	}
	c.drain()
}
