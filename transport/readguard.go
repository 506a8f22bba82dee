package transport

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pyrehq/pyre/actors/host"
)

// Close codes of refused frames (RFC 6455 §7.4.1).
const (
	closeProtocolError = 1002
	closeMessageTooBig = uint16(host.CloseMessageTooBig)
	closeTryAgainLater = uint16(host.CloseTryAgainLater)
)

const (
	maxHeader = 14 // 2 + 8 (64-bit length) + 4 (mask key)
	// smallMessage is the size up to which a message is never refused for the inbound budget: heartbeats
	// and ordinary pushes keep flowing while large claims hold the budget. It lets the budget be exceeded
	// by this much per connection at most.
	smallMessage = 4 << 10
)

// readGuard sits under gws's bufio.Reader and sees every byte a client sends after the handshake before gws
// does. gws 1.8.9 trusts frame headers: a 64-bit length with the top bit set becomes a negative int that
// passes its size check and panics its read loop; a header alone makes it allocate the whole claimed frame
// before any payload arrives; the fragments of a message grow a buffer before their total is checked; a
// misplaced continuation frame is read into memory before it is refused.
//
// The guard parses frame headers as a stream (split anywhere between reads) and withholds each header from
// gws until the header is whole and accepted, so gws only ever parses headers the guard let through. It
// refuses what RFC 6455 forbids at the header (1002), a message past Config.MaxFrameSize (1009), and a claim
// the endpoint's inbound budget cannot take (1013): it passes on the bytes before the refused header, then
// writes the close frame itself (gws's close-once flag then keeps gws from writing its own) and fails
// gws's read. Payload bytes pass through untouched, read straight into gws's buffer.
//
// Every field but since is owned by the connection's read goroutine (gws's read loop runs Read and
// OnMessage on it).
type readGuard struct {
	src    io.Reader
	pre    []byte // bytes the client sent along with the handshake, read before src
	ep     *Endpoint
	refuse func(code uint16, why string) // sends the close frame of a refusal (wsConn.refuse)

	hdr    [maxHeader]byte
	hn     int    // header bytes parsed so far (withheld from gws until the header is accepted)
	need   int    // the header's size, once hn >= 2
	left   uint64 // payload bytes of the current frame still to pass
	inData bool   // the current frame is a data frame
	fin    bool   // ... and the last of its message
	open   bool   // a data message has begun and its last frame has not
	msg    int64  // payload bytes of the message in progress
	claim  int64  // budget bytes claimed by the message in progress
	held   int64  // budget bytes this connection holds, for it and for messages not yet handed over
	// closeFrame: the current frame is the client's close frame. peerDone (nil in unit tests) is set once
	// the client will send nothing more: its close frame passed whole, or its EOF (the close needs no linger).
	closeFrame bool
	peerDone   *atomic.Bool

	code uint16 // a refusal's close code, to send at the next Read
	why  string
	err  error // sticky: the read failed

	since atomic.Int64 // unix ns: a data message has been unfinished since then; 0 when none is
}

func (g *readGuard) init(ep *Endpoint, src io.Reader, pre []byte, refuse func(code uint16, why string)) {
	g.ep, g.src, g.refuse = ep, src, refuse
	if len(pre) > 0 {
		g.pre = append([]byte(nil), pre...)
	}
}

// Read reads from the client into p and returns the bytes gws may parse. It needs len(p) > maxHeader, which
// bufio guarantees (its buffers are at least 16 bytes, and it reads into p directly only when p is larger).
func (g *readGuard) Read(p []byte) (int, error) {
	if g.err != nil {
		return 0, g.err
	}
	if g.code != 0 {
		return 0, g.fail()
	}
	if len(p) <= maxHeader {
		return 0, io.ErrShortBuffer
	}
	for {
		k := copy(p, g.hdr[:g.hn]) // a header withheld from the previous read goes first
		n, err := g.fill(p[k:])
		if h := g.ep.readHook; h != nil && n > 0 {
			h(p[k : k+n])
		}
		m := g.scan(p, k, k+n)
		g.mark()
		switch {
		case m > 0:
			if err != nil {
				g.err = err
				g.ended(err)
			}
			return m, nil
		case g.code != 0:
			return 0, g.fail()
		case err != nil:
			g.err = err
			g.ended(err)
			return 0, err
		}
		// Only part of a header arrived: read on rather than return 0 bytes.
	}
}

func (g *readGuard) fill(p []byte) (int, error) {
	if len(g.pre) > 0 {
		n := copy(p, g.pre)
		g.pre = g.pre[n:]
		return n, nil
	}
	return g.src.Read(p)
}

// scan parses b[from:to] (b[:from] holds the withheld header bytes, already parsed) and returns how many
// bytes of b gws may read: all but a header still incomplete at the end, or up to a refused header.
func (g *readGuard) scan(b []byte, from, to int) int {
	for i := from; i < to; {
		if g.left > 0 {
			step := uint64(to - i)
			if step > g.left {
				step = g.left
			}
			i += int(step)
			g.left -= step
			if g.left == 0 {
				g.frameDone()
			}
			continue
		}
		g.hdr[g.hn] = b[i]
		g.hn++
		i++
		if g.hn == 2 {
			g.need = headerSize(g.hdr[1])
		}
		if g.hn < 2 || g.hn < g.need {
			continue
		}
		if code, why := g.accept(); code != 0 {
			g.code, g.why = code, why
			return i - g.hn
		}
		g.hn = 0
		if g.left == 0 {
			g.frameDone()
		}
	}
	return to - g.hn
}

// headerSize is the size of a client frame header from its second byte.
func headerSize(b1 byte) int {
	n := 2
	switch b1 & 0x7F {
	case 126:
		n += 2
	case 127:
		n += 8
	}
	if b1&0x80 != 0 {
		n += 4
	}
	return n
}

// accept checks a whole header and claims its payload, or returns the close code that refuses it.
func (g *readGuard) accept() (uint16, string) {
	b0, b1 := g.hdr[0], g.hdr[1]
	n := uint64(b1 & 0x7F)
	switch n {
	case 126:
		n = uint64(binary.BigEndian.Uint16(g.hdr[2:4]))
	case 127:
		n = binary.BigEndian.Uint64(g.hdr[2:10])
	}
	op, fin := b0&0x0F, b0&0x80 != 0
	switch {
	case n>>63 != 0:
		return closeProtocolError, "64-bit length with the top bit set"
	case b0&0x70 != 0:
		return closeProtocolError, "reserved bits set" // no extension is negotiated
	case b1&0x80 == 0:
		return closeProtocolError, "unmasked client frame"
	case op >= 8 && op <= 10: // close, ping, pong
		if !fin || n > 125 {
			return closeProtocolError, "fragmented or long control frame"
		}
		g.left, g.inData, g.closeFrame = n, false, op == 8
		return 0, ""
	case op > 2:
		return closeProtocolError, fmt.Sprintf("reserved opcode %d", op)
	case op == 0 && !g.open:
		return closeProtocolError, "continuation frame outside a message"
	case op != 0 && g.open:
		return closeProtocolError, "new message inside a fragmented one"
	}
	max := int64(g.ep.cfg.MaxFrameSize)
	if n > uint64(max) || g.msg+int64(n) > max {
		return closeMessageTooBig, "message larger than MaxFrameSize"
	}
	total, cost := g.msg+int64(n), int64(n)
	if op == 0 || !fin {
		// gws reassembles a fragmented message in a buffer grown by doubling: up to twice the message,
		// and the buffer it outgrew, live at once.
		cost *= 3
	}
	if cost > 0 {
		if !g.ep.inbound.take(cost, total <= smallMessage) {
			return closeTryAgainLater, "inbound budget (MaxInboundBytes) exhausted"
		}
		g.held += cost
		g.claim += cost
	}
	g.msg, g.left, g.inData, g.fin, g.open = total, n, true, fin, !fin
	return 0, ""
}

// frameDone ends the current frame: the last frame of a message ends the message.
func (g *readGuard) frameDone() {
	if g.inData && g.fin {
		g.msg, g.claim, g.inData = 0, 0, false
	}
	if g.closeFrame && g.peerDone != nil {
		g.peerDone.Store(true)
	}
}

// ended notes a failed read from the client: past its EOF (or a reset) nothing more comes. A timeout is
// no end.
func (g *readGuard) ended(err error) {
	var ne net.Error
	if g.peerDone != nil && !(errors.As(err, &ne) && ne.Timeout()) {
		g.peerDone.Store(true)
	}
}

// mark records since when a data message has been unfinished, for the janitor: pings between the fragments
// of a message keep its connection from being idle, not the message from timing out.
func (g *readGuard) mark() {
	unfinished := g.open || (g.inData && g.left > 0)
	switch since := g.since.Load(); {
	case unfinished && since == 0:
		g.since.Store(time.Now().UnixNano())
	case !unfinished && since != 0:
		g.since.Store(0)
	}
}

// unfinishedBefore reports whether a data message has been unfinished since before t (unix ns).
func (g *readGuard) unfinishedBefore(t int64) bool {
	s := g.since.Load()
	return s != 0 && s < t
}

// handed releases the budget held by the messages gws has handed over (OnMessage), keeping the claim of
// one already begun behind them.
func (g *readGuard) handed() {
	if r := g.held - g.claim; r > 0 {
		g.ep.inbound.release(r)
		g.held -= r
	}
}

// end releases everything the connection holds.
func (g *readGuard) end() {
	g.ep.inbound.release(g.held)
	g.held, g.msg, g.claim = 0, 0, 0
	g.since.Store(0)
}

// fail closes the connection with the refusal's code and fails the read.
func (g *readGuard) fail() error {
	g.err = errRefused
	g.refuse(g.code, g.why)
	return g.err
}

// refuse closes the connection for a frame its read guard refused, from the read goroutine. gws writes a
// close frame once: this one, and not the 1000 it would send for the failed read.
func (c *wsConn) refuse(code uint16, why string) {
	c.mu.Lock()
	closing := c.state != wsOpen
	c.mu.Unlock()
	if !closing { // a connection being closed lingers, reading beside gws: what the guard saw is no frame
		c.ep.refused(c, code, why)
		c.serverCode.CompareAndSwap(0, uint32(code))
	}
	_ = c.socket.WriteClose(code, nil)
}

// inboundBudget bounds the bytes claimed by inbound messages in progress across an endpoint.
type inboundBudget struct {
	max  int64
	used atomic.Int64
}

// take reserves n bytes, unless they do not fit and force is false.
func (b *inboundBudget) take(n int64, force bool) bool {
	if force {
		b.used.Add(n)
		return true
	}
	for {
		u := b.used.Load()
		if u+n > b.max {
			return false
		}
		if b.used.CompareAndSwap(u, u+n) {
			return true
		}
	}
}

func (b *inboundBudget) release(n int64) {
	if n != 0 {
		b.used.Add(-n)
	}
}

// logLimiter lets one log line a second through and counts the others.
type logLimiter struct {
	mu         sync.Mutex
	next       time.Time
	suppressed int
}

// allow reports whether to log now, and how many lines were suppressed since the last one.
func (l *logLimiter) allow() (bool, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if now.Before(l.next) {
		l.suppressed++
		return false, 0
	}
	n := l.suppressed
	l.next, l.suppressed = now.Add(time.Second), 0
	return true, n
}

// refused counts and logs a connection closed for a refused frame.
func (e *Endpoint) refused(c *wsConn, code uint16, why string) {
	total := e.refusals.Add(1)
	if ok, suppressed := e.refusalLog.allow(); ok {
		e.cfg.Logger.Warn("pyre: inbound frame refused, connection closed", "code", code, "reason", why,
			"peer", c.socket.RemoteAddr().String(), "total", total, "suppressed", suppressed)
	}
}

// readPanicked counts and logs a panic recovered on a connection's read goroutine (capped: a panic value
// may carry client data).
func (e *Endpoint) readPanicked(v any) {
	total := e.panics.Add(1)
	ok, suppressed := e.panicLog.allow()
	if !ok {
		return
	}
	msg := fmt.Sprint(v)
	if len(msg) > 512 {
		msg = msg[:512] + "…"
	}
	stack := make([]byte, 8<<10)
	stack = stack[:runtime.Stack(stack, false)]
	e.cfg.Logger.Error("pyre: websocket read loop panicked, connection closed (1011)", "panic", msg,
		"stack", string(stack), "total", total, "suppressed", suppressed)
}

// malformedFrame counts and logs a frame the connection's serializer could not decode: the connection
// ends (1011 on a WebSocket, 400 on long-poll), so a client that reconnects and sends it again loops; the
// line says so at a level an operator sees, once a second at most.
func (e *Endpoint) malformedFrame(transport, peer string, err error) {
	total := e.malformed.Add(1)
	if ok, suppressed := e.malformedLog.allow(); ok {
		e.cfg.Logger.Warn("pyre: malformed frame, connection closed", "transport", transport, "err", err,
			"peer", peer, "total", total, "suppressed", suppressed)
	}
}
