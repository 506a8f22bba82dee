package transport

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lxzan/gws"

	"github.com/pyrehq/pyre/actors/channel"
	"github.com/pyrehq/pyre/actors/message"
	"github.com/pyrehq/pyre/transport/serializer"
)

const bearerPrefix = "base64url.bearer.phx."

// socketDef is one mounted socket: its router and the WebSocket upgraders.
type socketDef struct {
	ep     *Endpoint
	router *channel.Router
	// The serializers it serves by vsn (WithSerializers), and each one's codec.
	serializers []serializer.Versioned
	codecs      []*codec
	// Two upgraders: gws either always selects a subprotocol or never does, and Phoenix must answer
	// "phoenix" exactly when the client offered it (phoenix.js aborts otherwise).
	plain, phoenix *gws.Upgrader
}

func newSocketDef(ep *Endpoint, router *channel.Router) *socketDef {
	d := &socketDef{ep: ep, router: router}
	h := &wsHandler{}
	opt := func(sub []string) *gws.ServerOption {
		return &gws.ServerOption{
			ReadMaxPayloadSize: ep.cfg.MaxFrameSize,
			ReadBufferSize:     ep.cfg.ReadBufferSize,
			CheckUtf8Enabled:   true,
			SubProtocols:       sub,
			Recovery:           gws.Recovery,
			NewSession:         func() gws.SessionStorage { return &connSlot{} },
			HandshakeTimeout:   ep.cfg.WriteTimeout,
		}
	}
	d.plain = gws.NewUpgrader(h, opt(nil))
	d.phoenix = gws.NewUpgrader(h, opt([]string{"phoenix"}))
	return d
}

func (d *socketDef) serveWebSocket(w http.ResponseWriter, r *http.Request) {
	ep := d.ep
	if r.Method != http.MethodGet {
		http.Error(w, "WebSocket upgrade requires GET", http.StatusBadRequest)
		return
	}
	offersPhoenix, token := parseSubprotocols(r.Header.Values("Sec-WebSocket-Protocol"))
	ser, connected, err := d.accept(r, "websocket", token)
	var refused *refusal
	switch {
	case errors.As(err, &refused):
		w.WriteHeader(refused.status)
		return
	case err != nil:
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	up := d.plain
	if offersPhoenix {
		up = d.phoenix
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		http.Error(w, "WebSocket needs a hijackable connection", http.StatusInternalServerError)
		return
	}
	netConn, brw, err := hj.Hijack()
	if err != nil {
		return
	}
	lc := &lingerConn{Conn: netConn}
	// gws reads through the reader it is given for the connection's whole life: one of
	// Config.ReadBufferSize over the read guard, which sees every byte first, including any the client
	// sent along with the handshake (already in net/http's reader).
	c := &wsConn{ep: ep, ser: ser}
	pre, _ := brw.Reader.Peek(brw.Reader.Buffered())
	c.in.init(ep, lc, pre, c.refuse)
	socket, err := up.UpgradeFromConn(lc, bufio.NewReaderSize(&c.in, ep.cfg.ReadBufferSize), r)
	if err != nil {
		_ = netConn.Close()
		return
	}
	c.socket = socket
	c.lastRead.Store(time.Now().UnixNano())
	socket.Session().(*connSlot).c = c
	if !ep.track(c) {
		_ = socket.WriteClose(uint16(channel.CloseServiceRestart), nil)
		return
	}
	session, err := ep.host.Open(connected, c)
	if err != nil {
		_ = socket.WriteClose(uint16(channel.CloseServiceRestart), nil)
		ep.untrack(c)
		return
	}
	c.session = session
	go c.readLoop()
}

// readLoop runs gws's read loop. gws recovers panics only around OnMessage: one anywhere else on its read
// path would end the process. Here it ends this connection only: logged, closed with 1011, and the
// bookkeeping OnClose does, done once.
func (c *wsConn) readLoop() {
	defer func() {
		if v := recover(); v != nil {
			c.ep.readPanicked(v)
			c.closeAfterPanic()
		}
		c.ended()
	}()
	c.socket.ReadLoop()
}

func (c *wsConn) closeAfterPanic() {
	defer func() { _ = recover() }() // gws's state may be what panicked: the TCP close below is enough
	_ = c.socket.WriteClose(uint16(channel.CloseInternalError), nil)
	_ = c.socket.NetConn().Close()
}

// ended does once what the end of the read loop means: the connection is gone, its socket actor is told,
// its inbound budget released, and the endpoint stops counting it (Shutdown waits for that), whatever
// panics on the way.
func (c *wsConn) ended() {
	if !c.over.CompareAndSwap(false, true) {
		return
	}
	defer func() {
		if v := recover(); v != nil {
			c.ep.readPanicked(v)
		}
		c.ep.untrack(c)
	}()
	c.in.end()
	c.mu.Lock()
	c.state = wsGone
	c.queue = nil
	c.mu.Unlock()
	if c.session != nil {
		c.session.Close()
	}
}

// lingerConn closes gracefully: it half-closes, then reads and discards what the client still sends for a
// moment before closing. Closing with unread input makes the kernel send a TCP reset, which can overtake
// the close frame (a client sent a 1009-sized frame would see 1006 instead of 1009).
type lingerConn struct {
	net.Conn
	once sync.Once
}

const lingerTime, lingerBytes = 500 * time.Millisecond, 16 << 20

// Close lingers on the closing goroutine (gws's read loop or our writer, both about to end), so no
// goroutine is left behind: it returns at the client's EOF, or after lingerTime at most.
func (c *lingerConn) Close() error {
	c.once.Do(func() {
		tc, ok := c.Conn.(*net.TCPConn)
		if !ok || tc.CloseWrite() != nil {
			_ = c.Conn.Close()
			return
		}
		_ = tc.SetReadDeadline(time.Now().Add(lingerTime))
		_, _ = io.CopyN(io.Discard, tc, lingerBytes)
		_ = tc.Close()
	})
	return nil
}

func connectInfo(r *http.Request, transport, token string) channel.ConnectInfo {
	info := channel.ConnectInfo{
		Transport: transport, PeerAddr: r.RemoteAddr, URI: r.URL, UserAgent: r.UserAgent(), AuthToken: token,
	}
	// Kept for the connection's life: maps only for the header classes present.
	add := func(h *http.Header, k string, v []string) {
		if *h == nil {
			*h = http.Header{}
		}
		(*h)[k] = v
	}
	for k, v := range r.Header {
		lk := strings.ToLower(k)
		switch {
		case strings.HasPrefix(lk, "x-"):
			add(&info.XHeaders, k, v)
		case lk == "traceparent" || lk == "tracestate":
			add(&info.TraceContext, k, v)
		case strings.HasPrefix(lk, "sec-websocket-") && lk != "sec-websocket-key":
			add(&info.WSHeaders, k, v) // the key only served the handshake
		}
	}
	return info
}

// connSlot is the gws session storage: it only points back at our connection.
type connSlot struct{ c *wsConn }

func (s *connSlot) Len() int                     { return 0 }
func (s *connSlot) Load(string) (any, bool)      { return nil, false }
func (s *connSlot) Delete(string)                {}
func (s *connSlot) Store(string, any)            {}
func (s *connSlot) Range(func(string, any) bool) {}
func connOf(socket *gws.Conn) *wsConn            { return socket.Session().(*connSlot).c }

// wsHandler receives gws events for every connection of a socket.
type wsHandler struct{}

func (wsHandler) OnOpen(*gws.Conn) {}

// ownMin is the message size from which the decoded message keeps gws's buffer instead of copying its
// payload: gws allocates a buffer of this size or more for its message alone (it pools only smaller ones),
// so handing it over costs nothing and saves a copy of the whole message.
const ownMin = 256 << 10

func (wsHandler) OnMessage(socket *gws.Conn, msg *gws.Message) {
	c := connOf(socket)
	defer c.in.handed()
	defer func() {
		// gws would log this to its own logger and read on: log it to ours, and close the connection.
		if v := recover(); v != nil {
			c.ep.readPanicked(v)
			c.Close(channel.CloseInternalError)
		}
	}()
	c.lastRead.Store(time.Now().UnixNano())
	switch msg.Opcode {
	case gws.OpcodeText, gws.OpcodeBinary:
	default:
		_ = msg.Close()
		return
	}
	data, binary := msg.Bytes(), msg.Opcode == gws.OpcodeBinary
	var m *message.Message
	var err error
	if len(data) >= ownMin && cap(data)-len(data) <= len(data)/8 {
		// Not closed: the message keeps the buffer. (A fragmented message's buffer grew by doubling:
		// one much larger than the message is copied from instead, so that it is not kept.)
		m, err = serializer.DecodeOwned(c.ser.Serializer, data, binary)
	} else {
		m, err = c.ser.Decode(data, binary)
		_ = msg.Close()
	}
	if err != nil {
		// Phoenix crashes the connection on a malformed frame: 1011, and only this connection.
		c.ep.malformedFrame("websocket", c.socket.RemoteAddr().String(), err)
		c.Close(channel.CloseInternalError)
		return
	}
	c.awaitRoom()
	c.session.Receive(m)
}

func (wsHandler) OnPing(socket *gws.Conn, payload []byte) {
	defer func() { _ = recover() }()
	connOf(socket).lastRead.Store(time.Now().UnixNano())
	_ = socket.WritePong(payload)
}

func (wsHandler) OnPong(socket *gws.Conn, _ []byte) {
	connOf(socket).lastRead.Store(time.Now().UnixNano())
}

func (wsHandler) OnClose(socket *gws.Conn, _ error) { connOf(socket).ended() }

// wsConn is one WebSocket connection: it implements channel.Conn with a bounded outbound queue drained by
// a writer that exists only while there is something to write (see the writer's comment above wsState).
type wsConn struct {
	ep       *Endpoint
	socket   *gws.Conn
	ser      *codec
	session  *channel.Session
	lastRead atomic.Int64 // unix nanoseconds of the last inbound frame
	in       readGuard    // under gws's reader: checks frame headers, claims the inbound budget
	over     atomic.Bool  // the read loop has ended (ended ran)

	mu          sync.Mutex
	queue       []outFrame
	queuedBytes int
	writing     bool              // a writer holds the connection (see the comment on wsState)
	state       wsState           // open, closing (close frame owed) or gone
	closeCode   channel.CloseCode // the close frame's code, once closing
	resume      chan struct{}     // closed to wake the reader paused by awaitRoom; nil while it reads

	abort      atomic.Bool  // cut as a slow consumer: every write from now on fails
	ownWriter  atomic.Bool  // a pooled write to it timed out: it is written by goroutines of its own
	paused     atomic.Bool  // the reader waits in awaitRoom (the janitor does not count it idle)
	writeStart atomic.Int64 // unix nanoseconds when the socket write in progress started; 0 between writes

	// Owned by the connection's writer (a pool worker or its own goroutine), one at a time.
	renewAt time.Time  // when the write deadline must be pushed back
	spare   []outFrame // the previous batch's array, reused for the next queue
}

// The writer. A connection's frames are written by one writer at a time: a turn of a flush pool worker
// (flushOnce), or a goroutine of the connection's own (drain, drainFrom) that the endpoint's writers
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
	small := c.queuedBytes <= smallPending
	c.mu.Unlock()
	if start {
		c.startWriter(small)
	}
	return nil
}

// startWriter hands a connection that just got frames to the flush pool (its small lane when what it has
// pending is small), or to a goroutine of its own when the pool cannot take it.
func (c *wsConn) startWriter(small bool) {
	// drain honours WriteDelay (a pool worker must not sleep), and takes the connections that once kept
	// a pool worker waiting, so they cannot do it again.
	if c.ep.cfg.WriteDelay > 0 || c.ownWriter.Load() || !c.ep.flush.submit(c, small) {
		c.goWrite(c.drain)
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
	c.state, c.closeCode = wsClosing, channel.CloseTryAgainLater
	c.queue, c.queuedBytes = nil, 0
	c.wakeReader()
	start := !c.writing
	c.writing = true
	c.mu.Unlock()
	if start {
		c.goWrite(c.drain)
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
	<-wake // a queue above high water has a writer: it drains it, or fails and closes (see wakeReader)
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

// Close closes the connection with code after the frames already queued.
func (c *wsConn) Close(code channel.CloseCode) {
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
		c.goWrite(c.drain)
	}
}

// drain writes queued frames until the queue is empty, then exits; when closing it sends the close frame.
func (c *wsConn) drain() {
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
