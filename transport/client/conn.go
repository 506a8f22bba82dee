package client

import (
	"cmp"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lxzan/gws"
)

// Defaults applied to zero Options fields.
const (
	DefaultMessageBuffer    = 64
	DefaultRawBuffer        = 256
	DefaultWriteTimeout     = 10 * time.Second
	DefaultHandshakeTimeout = 10 * time.Second
	DefaultReadBufferSize   = 4096
	DefaultMaxMessageSize   = 16 << 20
)

const (
	authTokenPrefix = "base64url.bearer.phx."
	maxErrorBody    = 64 << 10
	closeTimeout    = time.Second
)

// Options configures Dial. The zero value works: no extra params or headers, no heartbeat, routed mode.
type Options struct {
	// Params are merged into the URL's query (connect params). A key present in Params replaces that key's
	// values in the URL. Nil means the URL's query is sent exactly as written.
	Params url.Values
	// Header holds extra handshake request headers (Origin, X-*, traceparent, ...).
	Header http.Header
	// AuthToken, when non-empty, is offered like phoenix.js's authToken option: Sec-WebSocket-Protocol
	// "phoenix, base64url.bearer.phx.<token in standard base64 without padding>" (replacing any
	// Sec-WebSocket-Protocol in Header). If the server does not select "phoenix", Dial fails with
	// ErrSubprotocol.
	AuthToken string
	// HeartbeatInterval is the period of [null,ref,"phoenix","heartbeat",{}] frames. Zero means no
	// heartbeats.
	HeartbeatInterval time.Duration
	// HeartbeatTimeout is how long a heartbeat may stay unanswered (routed mode only): when it has passed
	// at a heartbeat tick, the client closes the connection with code 1000 and reason "heartbeat timeout";
	// until then no new heartbeat is sent. Zero means HeartbeatInterval (phoenix.js: the previous heartbeat
	// must be answered when the next is due); negative means never close, a heartbeat is sent every tick.
	HeartbeatTimeout time.Duration
	// MessageBuffer is the capacity of each channel's Messages. When it is full the oldest message is
	// dropped and counted (Channel.Dropped, Stats.Dropped): the read goroutine never blocks on a slow
	// consumer. The buffer is allocated at join: about 150 bytes per slot per channel (a load generator
	// holding thousands of channels may want 4–8). Zero means DefaultMessageBuffer (64).
	MessageBuffer int
	// RawFrames switches the connection to raw mode: every inbound data frame is delivered undecoded on
	// Raw, in arrival order, and nothing is routed (Join, Request and replies do not work; use Send). Raw
	// does not drop: a full Raw buffer blocks the read goroutine (back-pressure to the server) until it is
	// read or the connection is closed.
	RawFrames bool
	// RawBuffer is the capacity of Raw. Zero means DefaultRawBuffer (256).
	RawBuffer int
	// WriteTimeout bounds each frame write; a write that times out closes the connection. Zero means
	// DefaultWriteTimeout (10 s); negative means no deadline.
	WriteTimeout time.Duration
	// HandshakeTimeout bounds the WebSocket handshake when ctx has no deadline. Zero means
	// DefaultHandshakeTimeout (10 s).
	HandshakeTimeout time.Duration
	// ReadBufferSize is the size of the connection's read buffer. Zero means DefaultReadBufferSize (4 KiB).
	ReadBufferSize int
	// MaxMessageSize is the largest inbound message accepted; a bigger one makes the client close the
	// connection with 1009. Zero means DefaultMaxMessageSize (16 MiB).
	MaxMessageSize int
	// TLSConfig is used for wss URLs. Nil means a default configuration with ServerName from the URL.
	TLSConfig *tls.Config
	// DialContext opens the TCP connection. Nil means a zero net.Dialer. Load generators can use it to
	// spread connections across local source addresses (127.0.0.x) past the ephemeral port limit.
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)
	// OnMessage, when set, receives every push and broadcast routed to a channel of this connection
	// (phx_close and phx_error included) instead of that channel's Messages, which then stays empty. It
	// runs on the connection's read goroutine, in arrival order, and must not block: a load generator
	// timestamps and counts there without a goroutine per connection.
	OnMessage func(ch *Channel, m Message)
}

// Stats are a connection's counters, all monotonic.
type Stats struct {
	// Dropped counts messages discarded (oldest first) from full channel buffers.
	Dropped uint64
	// UnclaimedReplies counts replies nobody waited for: answers to PushNoReply, replies arriving after
	// their caller gave up, replies to refs this client did not send or with a topic that does not match.
	UnclaimedReplies uint64
	// Unroutable counts pushes and broadcasts for no channel of this connection (not joined, left, or a
	// stale join_ref).
	Unroutable uint64
	// Malformed counts inbound frames that failed to decode and were discarded.
	Malformed uint64
}

// Conn is a Phoenix V2 WebSocket connection. All methods are safe for concurrent use.
type Conn struct {
	ws           *gws.Conn
	raw          chan Frame // nil unless Options.RawFrames
	msgBuf       int
	onMessage    func(*Channel, Message)
	writeTimeout time.Duration
	hbInterval   time.Duration
	hbTimeout    time.Duration

	done      chan struct{} // closed when the read goroutine has returned
	closing   chan struct{} // closed when the client starts closing
	closeOnce sync.Once
	local     atomic.Pointer[CloseError] // how the client closed the connection, if it did
	wmu       sync.Mutex                 // serializes write deadline + write
	refs      atomic.Uint64

	mu        sync.Mutex
	closed    bool        // the read goroutine has finished routing
	closeErr  *CloseError // set with closed
	pending   map[string]*call
	byJoinRef map[string]*Channel
	byTopic   map[string]*Channel // the newest joined channel of each topic, for broadcasts

	hb heartbeat

	dropped, unclaimed, unroutable, malformedCount atomic.Uint64
}

// call is a push waiting for its reply.
type call struct {
	ref    string
	topic  string
	event  string
	owner  *Channel // its pending reply fails when this channel ends
	join   *Channel // registered when the reply is ok
	result chan result
}

type result struct {
	reply Reply
	err   error
}

type heartbeat struct {
	mu      sync.Mutex
	stopped bool
	timer   *time.Timer
	wg      sync.WaitGroup // running beat callbacks
	// touched only by beat, which never overlaps itself:
	last     *call // the previous heartbeat, until answered
	lastSent time.Time
}

// Dial opens a connection to a Phoenix socket endpoint such as
// ws://127.0.0.1:4000/socket/websocket?vsn=2.0.0 (the URL is used as given: routed mode needs vsn=2.0.0).
// ctx bounds the TCP connect and the handshake only. A non-101 answer returns a *HandshakeError.
func Dial(ctx context.Context, rawURL string, opts Options) (*Conn, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("client: dial: %w", err)
	}
	var defaultPort string
	switch u.Scheme {
	case "ws":
		defaultPort = "80"
	case "wss":
		defaultPort = "443"
	default:
		return nil, fmt.Errorf("client: dial %s: scheme must be ws or wss", u.Redacted())
	}
	if len(opts.Params) > 0 {
		q := u.Query()
		for k, vs := range opts.Params {
			q[k] = append([]string(nil), vs...)
		}
		u.RawQuery = q.Encode()
	}
	header := http.Header{}
	for k, vs := range opts.Header {
		for _, v := range vs {
			header.Add(k, v)
		}
	}
	if opts.AuthToken != "" {
		header.Set("Sec-WebSocket-Protocol",
			"phoenix, "+authTokenPrefix+base64.RawStdEncoding.EncodeToString([]byte(opts.AuthToken)))
	}
	hsTimeout := opts.HandshakeTimeout
	if hsTimeout <= 0 {
		hsTimeout = DefaultHandshakeTimeout
	}
	if dl, ok := ctx.Deadline(); ok {
		hsTimeout = time.Until(dl)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("client: dial %s: %w", u.Redacted(), err)
	}
	if hsTimeout <= 0 {
		return nil, fmt.Errorf("client: dial %s: %w", u.Redacted(), context.DeadlineExceeded)
	}

	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), defaultPort)
	}
	dial := opts.DialContext
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	nc, err := dial(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("client: dial %s: %w", u.Redacted(), err)
	}
	if u.Scheme == "wss" {
		cfg := &tls.Config{}
		if opts.TLSConfig != nil {
			cfg = opts.TLSConfig.Clone()
		}
		if cfg.ServerName == "" {
			cfg.ServerName = u.Hostname()
		}
		tc := tls.Client(nc, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			_ = nc.Close()
			return nil, fmt.Errorf("client: dial %s: %w", u.Redacted(), err)
		}
		nc = tc
	}

	c := newConn(opts)
	hc := &handshakeConn{Conn: nc}
	hc.hold.Store(true)
	stop := context.AfterFunc(ctx, func() { _ = nc.Close() })
	ws, resp, err := gws.NewClientFromConn((*events)(c), &gws.ClientOption{
		Addr:               u.String(),
		RequestHeader:      header,
		HandshakeTimeout:   hsTimeout,
		ReadBufferSize:     orDefault(opts.ReadBufferSize, DefaultReadBufferSize),
		ReadMaxPayloadSize: orDefault(opts.MaxMessageSize, DefaultMaxMessageSize),
		Recovery:           gws.Recovery,
		NewSession:         func() gws.SessionStorage { return noSession{} },
	}, hc)
	hc.hold.Store(false)
	if !stop() || (err != nil && ctxEnded(ctx)) { // ctx ended during the handshake
		_ = nc.Close()
		return nil, fmt.Errorf("client: dial %s: %w", u.Redacted(), cmp.Or(ctx.Err(), context.DeadlineExceeded))
	}
	if err != nil {
		if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
			_ = nc.Close()
			return nil, &HandshakeError{StatusCode: resp.StatusCode, Header: resp.Header, Body: body}
		}
		_ = nc.Close()
		if errors.Is(err, gws.ErrSubprotocolNegotiation) {
			err = ErrSubprotocol
		}
		return nil, fmt.Errorf("client: dial %s: %w", u.Redacted(), err)
	}
	c.ws = ws
	go func() {
		defer close(c.done)
		ws.ReadLoop()
	}()
	c.startHeartbeat()
	return c, nil
}

func newConn(opts Options) *Conn {
	c := &Conn{
		msgBuf:       orDefault(opts.MessageBuffer, DefaultMessageBuffer),
		onMessage:    opts.OnMessage,
		writeTimeout: opts.WriteTimeout,
		hbInterval:   opts.HeartbeatInterval,
		hbTimeout:    opts.HeartbeatTimeout,
		done:         make(chan struct{}),
		closing:      make(chan struct{}),
		pending:      make(map[string]*call),
		byJoinRef:    make(map[string]*Channel),
		byTopic:      make(map[string]*Channel),
	}
	if c.hbTimeout == 0 {
		c.hbTimeout = c.hbInterval
	}
	if c.writeTimeout == 0 {
		c.writeTimeout = DefaultWriteTimeout
	}
	if opts.RawFrames {
		c.raw = make(chan Frame, orDefault(opts.RawBuffer, DefaultRawBuffer))
	}
	return c
}

// ctxEnded reports whether ctx is done or its deadline has passed (the handshake's own timeout, set to the
// deadline, may fire a moment before ctx's timer).
func ctxEnded(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	dl, ok := ctx.Deadline()
	return ok && !time.Now().Before(dl)
}

func orDefault(v, d int) int {
	if v <= 0 {
		return d
	}
	return v
}

// NextRef returns a fresh ref from the connection's counter ("1", "2", ...), the one Join, Push and the
// heartbeat use. Frames built for Send can take refs from it to avoid colliding with routed calls.
func (c *Conn) NextRef() string { return strconv.FormatUint(c.refs.Add(1), 10) }

// Subprotocol returns the subprotocol the server selected ("phoenix" when AuthToken was set).
func (c *Conn) Subprotocol() string { return c.ws.SubProtocol() }

// Closed returns a channel closed once the connection has ended and its read goroutine has returned.
func (c *Conn) Closed() <-chan struct{} { return c.done }

// Err returns nil while the connection is open, then a *CloseError describing how it ended.
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closeErr == nil {
		return nil
	}
	return c.closeErr
}

// CloseCode returns the close code of the ended connection (see CloseError.Code: the server's code, e.g.
// 1001, 1011, 1009, 1012), or 0 while it is open.
func (c *Conn) CloseCode() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closeErr == nil {
		return 0
	}
	return c.closeErr.Code
}

// Stats returns a snapshot of the connection's counters.
func (c *Conn) Stats() Stats {
	return Stats{
		Dropped:          c.dropped.Load(),
		UnclaimedReplies: c.unclaimed.Load(),
		Unroutable:       c.unroutable.Load(),
		Malformed:        c.malformedCount.Load(),
	}
}

// Raw returns the channel of inbound frames in raw mode (Options.RawFrames), closed when the connection
// ends; nil otherwise.
func (c *Conn) Raw() <-chan Frame { return c.raw }

// Send writes frame as a text frame, as is. Protocol tests use it to send arbitrary (even malformed)
// frames.
func (c *Conn) Send(frame []byte) error { return c.write(gws.OpcodeText, frame) }

// SendBinary writes frame as a binary frame, as is.
func (c *Conn) SendBinary(frame []byte) error { return c.write(gws.OpcodeBinary, frame) }

// Close sends a close frame with code 1000, closes the TCP connection and waits for the read goroutine
// (and any running heartbeat) to finish. Pending calls fail with the *CloseError; channels' Messages are
// closed. It is idempotent and returns nil.
func (c *Conn) Close() error {
	c.closeLocal(1000, "")
	c.stopHeartbeat(true)
	<-c.done
	return nil
}

// closeLocal starts a client-side close without waiting.
func (c *Conn) closeLocal(code int, reason string) {
	c.closeOnce.Do(func() {
		c.local.Store(&CloseError{Code: code, Reason: reason})
		close(c.closing)
		nc := c.ws.NetConn()
		_ = nc.SetWriteDeadline(time.Now().Add(closeTimeout)) // unblocks a writer stuck in wmu
		c.wmu.Lock()
		defer c.wmu.Unlock()
		_ = nc.SetWriteDeadline(time.Now().Add(closeTimeout))
		_ = c.ws.WriteClose(uint16(code), []byte(reason)) // also closes the TCP connection
	})
}

// write sends one frame with the write deadline.
func (c *Conn) write(op gws.Opcode, b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	select {
	case <-c.closing:
		return c.closedErr()
	default:
	}
	if c.writeTimeout > 0 {
		_ = c.ws.NetConn().SetWriteDeadline(time.Now().Add(c.writeTimeout))
	}
	if err := c.ws.WriteMessage(op, b); err != nil {
		if errors.Is(err, gws.ErrConnClosed) {
			return c.closedErr()
		}
		return fmt.Errorf("client: write: %w", err)
	}
	return nil
}

// closedErr returns the *CloseError if known, else ErrClosed.
func (c *Conn) closedErr() error {
	if err := c.Err(); err != nil {
		return err
	}
	return ErrClosed
}

// writePush encodes and writes a client push.
func (c *Conn) writePush(joinRef, ref, topic, event string, payload json.RawMessage, data []byte, binary bool) error {
	bp := bufPool.Get().(*[]byte)
	defer func() {
		if cap(*bp) <= 64<<10 {
			bufPool.Put(bp)
		}
	}()
	if binary {
		b, err := appendBinaryPush((*bp)[:0], joinRef, ref, topic, event, data)
		if err != nil {
			return err
		}
		*bp = b
		return c.write(gws.OpcodeBinary, b)
	}
	*bp = appendTextPush((*bp)[:0], joinRef, ref, topic, event, payload)
	return c.write(gws.OpcodeText, *bp)
}

// roundTrip registers cl, writes the push and waits for the reply, ctx or the end of the connection or of
// cl.owner.
func (c *Conn) roundTrip(ctx context.Context, cl *call, joinRef string, payload json.RawMessage, data []byte, binary bool) (Reply, error) {
	if c.raw != nil {
		return Reply{}, ErrRawFrames
	}
	cl.result = make(chan result, 1)
	c.mu.Lock()
	switch {
	case c.closed:
		c.mu.Unlock()
		return Reply{}, c.closeErr
	case cl.owner != nil && cl.owner.closed.Load():
		c.mu.Unlock()
		return Reply{}, ErrChannelClosed
	case c.pending[cl.ref] != nil:
		c.mu.Unlock()
		return Reply{}, ErrDuplicateRef
	}
	c.pending[cl.ref] = cl
	c.mu.Unlock()

	if err := c.writePush(joinRef, cl.ref, cl.topic, cl.event, payload, data, binary); err != nil {
		if res, ok := c.abandon(cl); ok {
			return res.reply, res.err
		}
		return Reply{}, err
	}
	select {
	case res := <-cl.result:
		return res.reply, res.err
	case <-ctx.Done():
		if res, ok := c.abandon(cl); ok {
			return res.reply, res.err
		}
		return Reply{}, fmt.Errorf("client: %s %s: %w", cl.topic, cl.event, ctx.Err())
	}
}

// abandon removes cl from pending. If it was already taken, its result is certain to arrive and is
// returned instead.
func (c *Conn) abandon(cl *call) (result, bool) {
	c.mu.Lock()
	if c.pending[cl.ref] == cl {
		delete(c.pending, cl.ref)
		c.mu.Unlock()
		return result{}, false
	}
	c.mu.Unlock()
	return <-cl.result, true
}

// Join joins topic with payload (nil means {}): it sends [ref,ref,topic,"phx_join",payload] with a fresh
// ref as join_ref and waits for the reply. On "ok" it returns the joined Channel; any other status returns
// the Reply and a *ReplyError. If ctx ends first, Join sends phx_leave (so a late join does not linger on
// the server) and returns ctx's error.
func (c *Conn) Join(ctx context.Context, topic string, payload any) (*Channel, Reply, error) {
	p, err := marshalPayload(payload)
	if err != nil {
		return nil, Reply{}, err
	}
	ref := c.NextRef()
	ch := &Channel{conn: c, topic: topic, joinRef: ref}
	r, err := c.roundTrip(ctx, &call{ref: ref, topic: topic, event: "phx_join", join: ch}, ref, p, nil, false)
	if err != nil {
		if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			_ = c.writePush(ref, c.NextRef(), topic, "phx_leave", emptyObject, nil, false)
		}
		return nil, r, err
	}
	return ch, r, nil
}

// Request sends m as a client push (Encode; a fresh ref is assigned when m.Ref is empty) and waits for the
// reply with that ref and topic. It creates no Channel, even for a phx_join: protocol tests use it for
// pushes outside a joined channel (unmatched topics, stale or null join_refs). A non-ok status returns
// the Reply and a *ReplyError.
func (c *Conn) Request(ctx context.Context, m Message) (Reply, error) {
	if m.Ref == "" {
		m.Ref = c.NextRef()
	}
	payload := m.Payload
	if m.Binary == nil && len(payload) == 0 {
		payload = emptyObject
	}
	return c.roundTrip(ctx, &call{ref: m.Ref, topic: m.Topic, event: m.Event}, m.JoinRef, payload, m.Binary, m.Binary != nil)
}

// ---- heartbeat ----

func (c *Conn) startHeartbeat() {
	if c.hbInterval <= 0 {
		return
	}
	c.hb.mu.Lock()
	defer c.hb.mu.Unlock()
	if !c.hb.stopped {
		c.hb.timer = time.AfterFunc(c.hbInterval, c.beat)
	}
}

func (c *Conn) stopHeartbeat(wait bool) {
	c.hb.mu.Lock()
	c.hb.stopped = true
	if c.hb.timer != nil {
		c.hb.timer.Stop()
	}
	c.hb.mu.Unlock()
	if wait {
		c.hb.wg.Wait()
	}
}

// beat runs on a timer goroutine: it checks the previous heartbeat, sends the next and re-arms the timer.
func (c *Conn) beat() {
	c.hb.mu.Lock()
	if c.hb.stopped {
		c.hb.mu.Unlock()
		return
	}
	c.hb.wg.Add(1)
	c.hb.mu.Unlock()
	defer c.hb.wg.Done()

	if last := c.hb.last; last != nil {
		select {
		case <-last.result:
		default:
			switch {
			case c.hbTimeout < 0: // never time out; stop tracking the old one
			case time.Since(c.hb.lastSent) < c.hbTimeout: // keep waiting, send nothing new yet
				c.rearmHeartbeat()
				return
			}
			if _, answered := c.abandon(last); !answered && c.hbTimeout >= 0 {
				c.closeLocal(1000, "heartbeat timeout")
				return
			}
		}
		c.hb.last = nil
	}
	ref := c.NextRef()
	if c.raw == nil {
		cl := &call{ref: ref, topic: "phoenix", event: "heartbeat", result: make(chan result, 1)}
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return
		}
		c.pending[ref] = cl
		c.mu.Unlock()
		c.hb.last = cl
	}
	c.hb.lastSent = time.Now()
	if c.writePush("", ref, "phoenix", "heartbeat", emptyObject, nil, false) != nil {
		return
	}
	c.rearmHeartbeat()
}

func (c *Conn) rearmHeartbeat() {
	c.hb.mu.Lock()
	if !c.hb.stopped {
		c.hb.timer.Reset(c.hbInterval)
	}
	c.hb.mu.Unlock()
}

// ---- read side: gws callbacks, all on the read goroutine ----

// events is Conn's gws.Event implementation, kept off Conn's method set.
type events Conn

func (e *events) OnOpen(*gws.Conn) {}

func (e *events) OnPing(_ *gws.Conn, payload []byte) { _ = (*Conn)(e).write(gws.OpcodePong, payload) }

func (e *events) OnPong(*gws.Conn, []byte) {}

func (e *events) OnMessage(_ *gws.Conn, msg *gws.Message) {
	c := (*Conn)(e)
	defer msg.Close()
	typ := TextFrame
	if msg.Opcode == gws.OpcodeBinary {
		typ = BinaryFrame
	}
	if c.raw != nil {
		f := Frame{Type: typ, Data: append(make([]byte, 0, msg.Data.Len()), msg.Bytes()...)}
		select {
		case c.raw <- f:
		case <-c.closing:
		}
		return
	}
	m, err := Decode(typ, msg.Bytes())
	if err != nil {
		c.malformedCount.Add(1)
		return
	}
	if m.Event == "phx_reply" && m.Ref != "" {
		c.handleReply(m)
		return
	}
	c.handleMessage(m)
}

func (c *Conn) handleReply(m Message) {
	r, perr := replyFromMessage(m)
	c.mu.Lock()
	cl := c.pending[m.Ref]
	if cl == nil || cl.topic != m.Topic {
		c.mu.Unlock()
		c.unclaimed.Add(1)
		return
	}
	delete(c.pending, m.Ref)
	res := result{reply: r, err: perr}
	if perr == nil && !r.OK() {
		res.err = &ReplyError{Event: cl.event, Reply: r}
	}
	if ch := cl.join; ch != nil && res.err == nil {
		size := c.msgBuf
		if c.onMessage != nil {
			size = 0 // never used: OnMessage receives everything
		}
		ch.msgs = make(chan Message, size)
		c.byJoinRef[ch.joinRef] = ch
		c.byTopic[ch.topic] = ch
	}
	c.mu.Unlock()
	cl.result <- res
}

func (c *Conn) handleMessage(m Message) {
	terminal := m.Event == "phx_close" || m.Event == "phx_error"
	var failed []*call
	c.mu.Lock()
	var ch *Channel
	if m.JoinRef != "" {
		ch = c.byJoinRef[m.JoinRef]
	} else {
		ch = c.byTopic[m.Topic]
	}
	if ch != nil && ch.topic != m.Topic {
		ch = nil
	}
	if ch != nil && terminal {
		ch.closed.Store(true)
		delete(c.byJoinRef, ch.joinRef)
		if c.byTopic[ch.topic] == ch {
			delete(c.byTopic, ch.topic)
		}
		for ref, cl := range c.pending {
			if cl.owner == ch {
				delete(c.pending, ref)
				failed = append(failed, cl)
			}
		}
	}
	c.mu.Unlock()
	if ch == nil {
		c.unroutable.Add(1)
		return
	}
	ch.deliver(m)
	if terminal {
		close(ch.msgs)
		for _, cl := range failed {
			cl.result <- result{err: ErrChannelClosed}
		}
	}
}

func (e *events) OnClose(_ *gws.Conn, err error) {
	c := (*Conn)(e)
	ce := c.closeError(err)
	c.mu.Lock()
	c.closed, c.closeErr = true, ce
	calls := c.pending
	chans := c.byJoinRef
	c.pending, c.byJoinRef, c.byTopic = nil, nil, nil
	for _, ch := range chans {
		ch.closed.Store(true)
	}
	c.mu.Unlock()
	c.stopHeartbeat(false)
	for _, cl := range calls {
		cl.result <- result{err: ce}
	}
	for _, ch := range chans {
		close(ch.msgs)
	}
	if c.raw != nil {
		close(c.raw)
	}
}

// closeError classifies the error gws reports when the read loop ends.
func (c *Conn) closeError(err error) *CloseError {
	var remote *gws.CloseError
	if errors.As(err, &remote) {
		code := int(remote.Code)
		if code == 0 {
			code = 1005 // close frame without a status code
		}
		return &CloseError{Code: code, Reason: string(remote.Reason), Remote: true}
	}
	if l := c.local.Load(); l != nil {
		ce := *l
		return &ce
	}
	var local interface{ Uint16() uint16 } // gws's status code for a violation it detected while reading
	if errors.As(err, &local) {
		return &CloseError{Code: int(local.Uint16()), Err: err}
	}
	return &CloseError{Code: 1006, Err: err}
}

// handshakeConn defers Close while gws performs the handshake, so that the body of a refused upgrade can
// still be read.
type handshakeConn struct {
	net.Conn
	hold atomic.Bool
}

func (h *handshakeConn) Close() error {
	if h.hold.Load() {
		return nil
	}
	return h.Conn.Close()
}

// noSession is a gws.SessionStorage that stores nothing, sparing a map per connection.
type noSession struct{}

func (noSession) Len() int                     { return 0 }
func (noSession) Load(string) (any, bool)      { return nil, false }
func (noSession) Delete(string)                {}
func (noSession) Store(string, any)            {}
func (noSession) Range(func(string, any) bool) {}
