package transport

import (
	"bufio"
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
	"github.com/pyrehq/pyre/actors/host"
	"github.com/pyrehq/pyre/actors/message"
	"github.com/pyrehq/pyre/actors/telemetry"
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
	ser, connected, took, err := d.accept(r, "websocket", token)
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
	lc := &lingerConn{Conn: netConn, wait: ep.lingerTime}
	// gws reads through the reader it is given for the connection's whole life: one of
	// Config.ReadBufferSize over the read guard, which sees every byte first, including any the client
	// sent along with the handshake (already in net/http's reader).
	c := &wsConn{ep: ep, ser: ser}
	pre, _ := brw.Reader.Peek(brw.Reader.Buffered())
	c.in.init(ep, lc, pre, c.refuse)
	c.in.peerDone = &lc.peerDone
	socket, err := up.UpgradeFromConn(lc, bufio.NewReaderSize(&c.in, ep.cfg.ReadBufferSize), r)
	if err != nil {
		_ = netConn.Close()
		return
	}
	c.socket = socket
	c.opened = time.Now().UnixNano()
	c.lastRead.Store(c.opened)
	socket.Session().(*connSlot).c = c
	if !ep.track(c) {
		ep.connected(nil, "websocket", ser, took, telemetry.ResultError)
		_ = socket.WriteClose(uint16(host.CloseServiceRestart), nil)
		return
	}
	session, err := ep.host.Open(connected, c)
	if err != nil {
		ep.connected(nil, "websocket", ser, took, telemetry.ResultError)
		_ = socket.WriteClose(uint16(host.CloseServiceRestart), nil)
		ep.untrack(c)
		return
	}
	c.session = session
	c.tele = teleConn(session, "websocket")
	ep.connected(session, "websocket", ser, took, telemetry.ResultOK) // before the read loop, whose end is SocketDisconnected
	go c.readLoop()
}

// readLoop runs gws's read loop. gws recovers panics only around OnMessage: one anywhere else on its read
// path would end the process. Here it ends this connection only: logged, closed with 1011, and the
// bookkeeping OnClose does, done once.
func (c *wsConn) readLoop() {
	defer func() {
		if v := recover(); v != nil {
			c.ep.readPanicked(v)
			c.serverCode.CompareAndSwap(0, uint32(host.CloseInternalError))
			c.closeAfterPanic()
		}
		c.ended()
	}()
	c.socket.ReadLoop()
}

func (c *wsConn) closeAfterPanic() {
	defer func() { _ = recover() }() // gws's state may be what panicked: the TCP close below is enough
	_ = c.socket.WriteClose(uint16(host.CloseInternalError), nil)
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
	code := c.closeCode
	c.mu.Unlock()
	if c.session != nil {
		c.session.Close()
		if c.ep.ev.SocketDisconnected != nil {
			c.ep.disconnected(c.session, "websocket", c.endCode(code), c.opened)
		}
	}
}

// endCode is the code a connection ended with: the server's (closeCode, set when it was closing; else a
// refused frame's or a panic's), else the client's, else 1006.
func (c *wsConn) endCode(closing host.CloseCode) host.CloseCode {
	switch {
	case closing != 0:
		return closing
	case c.serverCode.Load() != 0:
		return host.CloseCode(c.serverCode.Load())
	case c.peerCode.Load() != 0:
		return host.CloseCode(c.peerCode.Load())
	}
	return closeAbnormal
}

// lingerConn closes gracefully: it half-closes, then reads and discards what the client still sends for a
// moment before closing. Closing with unread input makes the kernel send a TCP reset, which can overtake
// the close frame (a client sent a 1009-sized frame would see 1006 instead of 1009). A client that has
// sent its close frame or its EOF sends nothing more: that close (most of them) does not linger.
type lingerConn struct {
	net.Conn
	once     sync.Once
	peerDone atomic.Bool   // set by the read guard
	wait     time.Duration // 0: lingerTime (tests lengthen it)
}

const lingerTime, lingerBytes = 500 * time.Millisecond, 16 << 20

// Close lingers on the closing goroutine (gws's read loop or our writer, both about to end), so no
// goroutine is left behind: it returns at the client's EOF, or after lingerTime at most.
func (c *lingerConn) Close() error {
	c.once.Do(func() {
		tc, ok := c.Conn.(*net.TCPConn)
		if !ok || c.peerDone.Load() || tc.CloseWrite() != nil {
			_ = c.Conn.Close()
			return
		}
		wait := c.wait
		if wait == 0 {
			wait = lingerTime
		}
		_ = tc.SetReadDeadline(time.Now().Add(wait))
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
			c.Close(host.CloseInternalError)
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
		c.Close(host.CloseInternalError)
		return
	}
	if c.ep.ev.MessageReceived != nil {
		c.ep.received(c.tele, m.Topic, m.Event, len(data))
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

func (wsHandler) OnClose(socket *gws.Conn, err error) {
	c := connOf(socket)
	if ce, ok := err.(*gws.CloseError); ok && c.ep.ev.SocketDisconnected != nil {
		code := uint32(ce.Code)
		if code == 0 {
			code = closeNoStatus
		}
		c.peerCode.Store(code)
	}
	c.ended()
}

// wsConn is one WebSocket connection: it implements host.Conn with a bounded outbound queue emptied by
// a writer that exists only while there is something to write (see the writer's comment above wsState).
type wsConn struct {
	ep       *Endpoint
	socket   *gws.Conn
	ser      *codec
	session  *host.Session
	tele     telemetry.Conn // names it in events, set with session: no walk through the cold session per write
	lastRead atomic.Int64   // unix nanoseconds of the last inbound frame
	in       readGuard      // under gws's reader: checks frame headers, claims the inbound budget
	over     atomic.Bool    // the read loop has ended (ended ran)
	opened   int64          // unix nanoseconds when it opened, for telemetry

	// The close code for telemetry's SocketDisconnected, besides closeCode: one the server sent outside
	// the writer (a refused frame, a panic), and the client's.
	serverCode atomic.Uint32
	peerCode   atomic.Uint32

	mu          sync.Mutex
	queue       []outFrame
	queuedBytes int
	writing     bool           // a writer holds the connection (see the comment on wsState)
	state       wsState        // open, closing (close frame owed) or gone
	closeCode   host.CloseCode // the close frame's code, once closing
	resume      chan struct{}  // closed to wake the reader paused by awaitRoom; nil while it reads

	abort      atomic.Bool  // cut as a slow consumer: every write from now on fails
	ownWriter  atomic.Bool  // a pooled write to it timed out: it is written by goroutines of its own
	paused     atomic.Bool  // the reader waits in awaitRoom (the janitor does not count it idle)
	writeStart atomic.Int64 // unix nanoseconds when the socket write in progress started; 0 between writes

	// Owned by the connection's writer (a pool worker or its own goroutine), one at a time.
	renewAt    time.Time  // when the write deadline must be pushed back
	batchBytes int        // the size of the batch whose write failed, for telemetry
	spare      []outFrame // the previous batch's array, reused for the next queue
}
