package transport

import (
	"bytes"
	"errors"
	"os"
	"time"

	"github.com/pyrehq/pyre/actors/channel"
	"github.com/pyrehq/pyre/actors/host"
	"github.com/pyrehq/pyre/actors/message"
	"github.com/pyrehq/pyre/transport/serializer"
)

// The writer. A connection's frames are written by one writer at a time: a turn of a flush pool worker
// (flushOnce), or a goroutine of the connection's own (writeQueue, writeQueueFrom) that the endpoint's writers
// WaitGroup owns, so Shutdown waits for it. Its state, and who changes it:
//
//   - writing (mu): a writer holds the connection, queued in the pool or running. Set by whoever starts one
//     (enqueue, Close, slowConsumer); cleared by the writer when the queue is empty (goIdle) or it failed.
//   - state (mu): wsOpen takes frames; wsClosing takes none and owes the client a close frame with
//     closeCode, which the writer sends after the queue (Close, slowConsumer); wsGone has nothing more to
//     write, the connection being closed (the read loop ended, or a write failed).
//   - abort (atomic): the connection is cut as a slow consumer while a write is stuck; every write from then
//     on fails. Set by slowConsumer, read by the writer.
//   - ownWriter (atomic): a pooled write to this client timed out once; from then on its writers are
//     goroutines of its own, so it cannot hold a pool worker again. Set by the pool worker that handed
//     it over.
//   - writeStart (atomic): when the write in progress started, 0 between writes; the writer sets it, and
//     slowConsumer reads it to tell a stuck write from one that moves.
//   - renewAt, spare: the current writer's own.

// wsState is where a connection is in its life, as its writer sees it.
type wsState uint8

const (
	wsOpen    wsState = iota // frames are accepted
	wsClosing                // no frame is accepted; the close frame is owed after the queue
	wsGone                   // the connection is closed: nothing more is written
)

type outFrame struct {
	data   []byte
	binary bool
	// body, when set, follows data in the frame, then tail: a large payload queued by reference, shared
	// with every connection it is pushed to (a presence_state to a storm of joiners), not copied per
	// connection into its queue.
	body []byte
	tail byte
}

func (f *outFrame) size() int {
	if f.body == nil {
		return len(f.data)
	}
	return len(f.data) + len(f.body) + 1
}

// sharedMin is the payload size from which a V2 push is queued by reference (sharedPush).
const sharedMin = 4 << 10

// sharedPush renders a large JSON push (V2 only) as its frame's head, up to the payload, and the payload
// itself, not copied: the bytes are shared by every connection it goes to.
func sharedPush(ser serializer.Serializer, m *message.Message) (outFrame, bool) {
	p := m.Payload
	if ser != serializer.V2 || m.IsReply() || p.Len() < sharedMin || !p.IsObject() {
		return outFrame{}, false
	}
	head, _, err := ser.Encode(&message.Message{JoinRef: m.JoinRef, Ref: m.Ref, Topic: m.Topic, Event: m.Event, Payload: message.EmptyObject})
	if err != nil || !bytes.HasSuffix(head, []byte("{}]")) {
		return outFrame{}, false
	}
	return outFrame{data: head[:len(head)-3], body: p.Bytes(), tail: ']'}, true
}

func (c *wsConn) Write(m *message.Message) error {
	if f, ok := sharedPush(c.ser.Serializer, m); ok {
		return c.enqueue(f)
	}
	data, binary, err := c.ser.Encode(m)
	if err != nil {
		return err
	}
	return c.enqueue(outFrame{data: data, binary: binary})
}

func (c *wsConn) WriteBroadcast(b *message.Broadcast) error {
	data, err := b.Encoded(c.ser.Slot(), c.ser.encodeBroadcast)
	if err != nil {
		return err
	}
	return c.enqueue(outFrame{data: data, binary: b.Payload.IsBinary()})
}

// enqueue queues f, or cuts the connection as a slow consumer when its queue is full: MaxQueueMessages
// frames, or MaxQueueBytes already queued. A queue below its byte bound takes a frame of any size (the
// sources bound each payload, Config.MaxOutboundPayload), so one big message never cuts a client, and a
// queue overflows only by growing while the client does not read. Memory per connection stays under
// MaxQueueBytes plus one message.
func (c *wsConn) enqueue(f outFrame) error {
	c.mu.Lock()
	if c.state != wsOpen {
		c.mu.Unlock()
		return channel.ErrConnClosed
	}
	if len(c.queue) >= c.ep.cfg.MaxQueueMessages || c.queuedBytes >= c.ep.cfg.MaxQueueBytes {
		c.mu.Unlock()
		c.slowConsumer()
		return channel.ErrSlowConsumer
	}
	c.queue = append(c.queue, f)
	c.queuedBytes += f.size()
	start := !c.writing
	c.writing = true
	c.mu.Unlock()
	if start {
		c.startWriter()
	}
	return nil
}

// startWriter hands a connection that just got frames to the flush pool, or to a goroutine of its own
// when the pool cannot take it.
func (c *wsConn) startWriter() {
	// writeQueue honours WriteDelay (a pool worker must not sleep), and takes the connections that once kept
	// a pool worker waiting, so they cannot do it again.
	if c.ep.cfg.WriteDelay > 0 || c.ownWriter.Load() || !c.ep.flush.submit(c) {
		c.goWrite(c.writeQueue)
	}
}

func frameOpcode(f outFrame) byte {
	if f.binary {
		return opBinary
	}
	return opText
}

// appendOutFrame appends f as one WebSocket frame.
func appendOutFrame(dst []byte, f *outFrame) []byte {
	if f.body == nil {
		return appendFrame(dst, frameOpcode(*f), f.data)
	}
	dst = appendFrameHeader(dst, frameOpcode(*f), f.size())
	dst = append(dst, f.data...)
	dst = append(dst, f.body...)
	return append(dst, f.tail)
}

// slowConsumer drops what is queued and disconnects: with 1013 after the write in progress, if any, or by
// closing the connection when that write is stuck (a client that does not read would never see a close
// frame anyway).
func (c *wsConn) slowConsumer() {
	c.mu.Lock()
	if c.state != wsOpen {
		c.mu.Unlock()
		return
	}
	c.state, c.closeCode = wsClosing, host.CloseTryAgainLater
	c.queue, c.queuedBytes = nil, 0
	c.wakeReader()
	start := !c.writing
	c.writing = true
	c.mu.Unlock()
	if c.ep.ev.SlowConsumer != nil {
		c.ep.slow(c.session, "websocket")
	}
	if start {
		c.goWrite(c.writeQueue)
		return
	}
	// A write in progress to a client already too slow for the shared writers once (ownWriter), or for
	// longer than a pooled write may take, is blocked on a client that stopped reading: fail it now rather
	// than at the write deadline, so the connection and what it holds are released at once (a writer about
	// to set a later deadline sees abort right after setting it). Any other write is left to finish, then
	// the writer sends the close frame: aborting it would cut a client that reads with no close frame.
	if t := c.writeStart.Load(); t != 0 && (c.ownWriter.Load() || time.Since(time.Unix(0, t)) >= poolWriteTimeout) {
		c.abort.Store(true)
		_ = c.socket.SetWriteDeadline(time.Now())
	}
}

// Reader backpressure: while the outbound queue holds a quarter of a bound (messages or bytes) or more,
// the connection's reader stops reading until it is down to an eighth. A quarter, because the reader checks
// before it waits for MaxInflight (at most a quarter of MaxQueueMessages by default): the replies to the
// messages in flight then, and to those it hands on after, still fit.
func (c *wsConn) aboveHighWater() bool {
	return aboveHighWater(&c.ep.cfg, len(c.queue), c.queuedBytes)
}

func (c *wsConn) belowLowWater() bool {
	return len(c.queue) <= c.ep.cfg.MaxQueueMessages/8 && c.queuedBytes <= c.ep.cfg.MaxQueueBytes/8
}

func aboveHighWater(cfg *Config, frames, bytes int) bool {
	return frames >= max(cfg.MaxQueueMessages/4, 1) || bytes >= max(cfg.MaxQueueBytes/4, 1)
}

// awaitRoom runs on the connection's read goroutine (gws's, never an actor) before each inbound message is
// handed on: while the outbound queue is above its high-water mark it waits until the writer brings it
// below the low-water mark, or the connection closes. A client that pipelines pushes faster than it
// reads their replies is so slowed by TCP, as MaxInflight slows it for unhandled messages, instead of
// being cut as a slow consumer; one that stops reading is still cut, by the queue bound or WriteTimeout,
// which close the connection and so wake its reader. Called with c.mu not held.
func (c *wsConn) awaitRoom() {
	c.mu.Lock()
	if c.state != wsOpen || !c.aboveHighWater() {
		c.mu.Unlock()
		return
	}
	wake := make(chan struct{})
	c.resume = wake
	c.paused.Store(true)
	c.mu.Unlock()
	<-wake // a queue above high water has a writer: it empties it, or fails and closes (see wakeReader)
	c.paused.Store(false)
}

// wakeReader releases a reader paused in awaitRoom. Called with c.mu held, by the writer once the queue is
// below low water, and by every path that leaves wsOpen.
func (c *wsConn) wakeReader() {
	if c.resume != nil {
		close(c.resume)
		c.resume = nil
	}
}

// Queued is how many frames wait to be written (host.Queuer).
func (c *wsConn) Queued() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.queue)
}

// Close closes the connection with code after the frames already queued.
func (c *wsConn) Close(code host.CloseCode) {
	c.mu.Lock()
	if c.state != wsOpen {
		c.mu.Unlock()
		return
	}
	c.state, c.closeCode = wsClosing, code
	c.wakeReader()
	start := !c.writing
	c.writing = true
	c.mu.Unlock()
	if start {
		c.goWrite(c.writeQueue)
	}
}

// writeQueue writes queued frames until the queue is empty, then exits; when closing it sends the close frame.
func (c *wsConn) writeQueue() {
	if d := c.ep.cfg.WriteDelay; d > 0 {
		time.Sleep(d) // let more frames gather for this write (Config.WriteDelay)
	}
	for {
		c.mu.Lock()
		batch := c.takeTurn()
		if len(batch) == 0 {
			state, code := c.state, c.closeCode
			c.goIdle(batch)
			c.mu.Unlock()
			if state == wsClosing {
				_ = c.socket.SetWriteDeadline(time.Now().Add(c.ep.cfg.WriteTimeout))
				_ = c.socket.WriteClose(uint16(code), nil)
			}
			return
		}
		c.mu.Unlock()
		if err := c.renewDeadline(); err != nil {
			c.fail()
			return
		}
		_, err := c.writeFrames(batch)
		c.recycle(batch)
		if err != nil {
			c.fail()
			return
		}
	}
}

// renewDeadline keeps the full WriteTimeout on an own-goroutine writer. Setting a deadline costs as much as
// a small write, so it is renewed only once half of it has passed: a stuck write still fails between
// WriteTimeout/2 and WriteTimeout after it started.
func (c *wsConn) renewDeadline() error {
	now := time.Now()
	if !now.After(c.renewAt) {
		return nil
	}
	if err := c.setDeadline(now.Add(c.ep.cfg.WriteTimeout)); err != nil {
		return err
	}
	c.renewAt = now.Add(c.ep.cfg.WriteTimeout / 2)
	return nil
}

// writeFrames writes batch (one turn, see takeTurn) in a single write. Writes go straight to the
// connection: each Write of a net.TCPConn is atomic, so gws's own control frames (pongs, a close on a
// protocol error) cannot land inside a batch. On a failed write it returns the bytes not written, copied,
// for a writer that carries on.
func (c *wsConn) writeFrames(batch []outFrame) (rest []byte, err error) {
	bp := writeBufs.Get().(*[]byte)
	buf := (*bp)[:0]
	for i := range batch {
		buf = appendOutFrame(buf, &batch[i])
	}
	n, err := c.write(buf)
	if err != nil {
		rest = append([]byte(nil), buf[n:]...)
		c.batchBytes = len(buf)
	} else if c.ep.ev.MessagesSent != nil {
		c.sent(len(batch), len(buf))
	}
	if cap(buf) <= 4*maxCoalesce { // one huge frame should not pin its buffer in the pool
		*bp = buf[:0]
		writeBufs.Put(bp)
	}
	return rest, err
}

// write writes b to the connection, recording when the write started for slowConsumer.
func (c *wsConn) write(b []byte) (int, error) {
	c.writeStart.Store(time.Now().UnixNano())
	n, err := c.socket.NetConn().Write(b)
	c.writeStart.Store(0)
	return n, err
}

// errAborted fails the writes of a connection cut as a slow consumer.
var errAborted = errors.New("transport: write aborted (slow consumer)")

// setDeadline sets the write deadline unless the connection is being cut.
func (c *wsConn) setDeadline(t time.Time) error {
	if err := c.socket.SetWriteDeadline(t); err != nil {
		return err
	}
	if c.abort.Load() {
		return errAborted
	}
	return nil
}

// fail gives up on a connection whose write failed or timed out.
func (c *wsConn) fail() {
	c.mu.Lock()
	c.state, c.writing = wsGone, false
	c.queue, c.queuedBytes = nil, 0
	c.wakeReader()
	c.mu.Unlock()
	_ = c.socket.NetConn().Close()
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
		c.goWrite(c.writeQueue) // writes the close frame, which may wait on the client
		return
	}
	c.mu.Unlock()

	rest, err := c.writePooled(batch)
	c.recycle(batch)
	if err != nil {
		if rest != nil {
			c.ownWriter.Store(true)
			c.goWrite(func() { c.writeQueueFrom(rest) })
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
	c.mu.Unlock()
	if more {
		c.startWriter()
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
	if rest != nil && c.ep.ev.MessagesSent != nil {
		c.sent(len(batch), c.batchBytes) // handed over whole to a writer of the connection's own
	}
	return rest, err
}

// cutSlow reports whether c is being cut as a slow consumer.
func (c *wsConn) cutSlow() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state != wsOpen && c.closeCode == host.CloseTryAgainLater
}

// goWrite runs a writer of c's own on a goroutine the endpoint's Shutdown waits for.
func (c *wsConn) goWrite(writer func()) { c.ep.writers.Go(writer) }

// writeQueueFrom finishes a write the pool gave up waiting for, then carries on as the connection's writer.
func (c *wsConn) writeQueueFrom(rest []byte) {
	if err := c.setDeadline(time.Now().Add(c.ep.cfg.WriteTimeout)); err != nil {
		c.fail()
		return
	}
	if _, err := c.write(rest); err != nil {
		c.fail()
		return
	}
	c.writeQueue()
}
