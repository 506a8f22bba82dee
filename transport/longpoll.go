package transport

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"mime"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pyrehq/pyre/actors/channel"
	"github.com/pyrehq/pyre/actors/host"
	"github.com/pyrehq/pyre/actors/message"
	"github.com/pyrehq/pyre/actors/telemetry"
	"github.com/pyrehq/pyre/transport/serializer"
	"github.com/pyrehq/pyre/transport/token"
)

// The long-poll transport (transport/PROTOCOL.md §7), at path+"/longpoll" of every socket. A long-poll
// connection (Phoenix's long-poll session) is a socket actor like a WebSocket connection's, with a pollConn
// as its host.Conn: same router, channels, pubsub and fastlane. Every answer is HTTP 200 with the logical status in a JSON body:
//
//	GET, no connection (no, forged, expired token)  connect → {"messages":[],"status":410,"token":T}; refused → 403
//	GET with a connection                           {"messages":[..],"status":200,"token":T} once frames are
//	                                                queued, 204 after Config.LongPollWindow, 410 if it ends
//	POST with a connection                          frames handed on → 200; body or hand-off not done within
//	                                                the window → 408 (the body's reads have that deadline);
//	                                                malformed → 400, too large → 413 (both end the connection)
//	POST, no connection                             410
//	OPTIONS                                         CORS preflight
//
// Mapping from Phoenix (Phoenix.Transports.LongPoll and LongPoll.Server): the signed token names the
// connection (a random id and this endpoint's random node id, package transport/token, two-week max age);
// the newest GET is the one woken by frames; a connection no GET polled for 1.5 windows ends; ndjson batches
// are read up to 100 lines. Differences: no binary frames server → client (ErrLongPollBinary; Phoenix
// sends what phoenix.js cannot decode); a malformed frame answers 400 at once (Phoenix's long-poll server crashes
// and the POST times out with 408); empty ndjson lines are skipped; the outbound queue is bounded
// (Config.MaxQueueMessages and MaxQueueBytes, with the WebSocket's rules: past them the connection ends as a
// slow consumer, and a POST waits while the queue is a quarter full, so a client that posts faster than it
// polls is slowed, not ended); across nodes, a request reaches its connection's node through
// Config.LongPollPeers (Phoenix: distributed Erlang), else connections live on one endpoint (sticky).

// Long-poll errors.
var (
	// ErrLongPollInactive is why the channels of a long-poll connection end when no GET polled it for 1.5 ×
	// Config.LongPollWindow. It is a channel.ErrClosed (errors.Is holds for both), as Phoenix ends them
	// with {:shutdown, :closed}.
	ErrLongPollInactive = fmt.Errorf("%w: long-poll connection inactive", channel.ErrClosed)
	// ErrLongPollBinary is returned by a push or reply with a binary payload to a long-poll client, and the
	// frame is dropped: long-poll carries server frames as JSON strings, and Phoenix, which tries anyway,
	// sends a frame that phoenix.js cannot decode.
	ErrLongPollBinary = errors.New("transport: binary frames cannot be sent over long-poll")
)

const (
	// maxPollBatch is how many lines of one ndjson POST are read (Phoenix's @max_poll_batch_size, which
	// phoenix.js never exceeds); later lines are ignored, as Phoenix does.
	maxPollBatch = 100
	// pollTokenMaxAge bounds a connection token's life, as Phoenix's long-poll crypto max_age (two weeks).
	pollTokenMaxAge = 14 * 24 * time.Hour
	pollTokenSalt   = "pyre long-poll session"
	tokenHeader     = "X-Phoenix-Longpoll-Token"
)

// LongPollPeers reaches the other nodes of a cluster for long-poll (Config.LongPollPeers).
type LongPollPeers interface {
	// Name names this node in the connection tokens it issues.
	Name() string
	// Forward answers r, a long-poll request for a connection of the node named node, through that node: it
	// writes that node's answer to w and returns true, or returns false (writing nothing) when node is not
	// a live member.
	Forward(w http.ResponseWriter, r *http.Request, node string) bool
}

// longPoll is the endpoint's long-poll state shared by every socket; its connections are in Endpoint.polls.
type longPoll struct {
	signer *token.Signer
	// node is in every token: random per Endpoint (a token from another endpoint finds no connection), after
	// "<LongPollPeers.Name>/" with peers.
	node  string
	peers LongPollPeers // nil: no forwarding
	// expiry ends a connection no GET polled for this long (nanoseconds): 1.5 × LongPollWindow, as Phoenix.
	// Atomic so that tests can set it apart from the window.
	expiry atomic.Int64
	// acceptWait bounds how long a POST waits for its frames to be accepted (nanoseconds); 0 means until
	// the request's deadline, one window. Tests shorten it apart from the window.
	acceptWait atomic.Int64

	servers sync.Map // *http.Server → struct{}: servers whose Shutdown releases waiting GETs

	mu      sync.Mutex
	release chan struct{} // closed (and replaced) when a server serving polls shuts down
}

// pollClaims is what a connection token carries, signed.
type pollClaims struct {
	Node string `json:"n"`
	Conn string `json:"s"`
}

func newLongPoll(secretKeyBase string, window time.Duration, peers LongPollPeers) *longPoll {
	if secretKeyBase == "" {
		secretKeyBase = randomID(48)
	}
	signer, err := token.NewSigner(secretKeyBase, pollTokenSalt, token.WithMaxAge(pollTokenMaxAge))
	if err != nil {
		panic("transport: Config.SecretKeyBase: " + err.Error())
	}
	lp := &longPoll{signer: signer, node: randomID(12), peers: peers, release: make(chan struct{})}
	if peers != nil {
		lp.node = peers.Name() + "/" + lp.node
	}
	lp.expiry.Store(int64(window * 3 / 2))
	return lp
}

func randomID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

// released returns the channel closed when a server serving polls starts shutting down.
func (lp *longPoll) released() <-chan struct{} {
	lp.mu.Lock()
	defer lp.mu.Unlock()
	return lp.release
}

// watchServer makes the Shutdown of the http.Server serving r answer every waiting GET at once, so that
// the server does not wait a whole window for them (http.Server.Shutdown waits for active requests).
func (lp *longPoll) watchServer(r *http.Request) {
	srv, ok := r.Context().Value(http.ServerContextKey).(*http.Server)
	if !ok {
		return
	}
	if _, seen := lp.servers.LoadOrStore(srv, struct{}{}); seen {
		return
	}
	srv.RegisterOnShutdown(lp.releaseAll)
}

// releaseAll answers every waiting GET at once, as if its window had passed.
func (lp *longPoll) releaseAll() {
	lp.mu.Lock()
	close(lp.release)
	lp.release = make(chan struct{})
	lp.mu.Unlock()
}

// serveLongPoll answers the long-poll transport (transport/PROTOCOL.md §7). Every answer but a non-GET/POST/OPTIONS
// method (400) is HTTP 200 with the logical status in the JSON body.
// deadline is when reading r's body must end (Endpoint.ServeHTTP): a POST answers 408 past it.
func (d *socketDef) serveLongPoll(w http.ResponseWriter, r *http.Request, deadline time.Time) {
	ep := d.ep
	h := w.Header()
	// As Phoenix: any origin may call, the Origin header is checked below instead, and the connection token,
	// not a cookie, carries the connection (so no allow-credentials).
	h.Set("Access-Control-Allow-Origin", "*")
	if !checkOrigin(ep.cfg.CheckOrigin, r) {
		writePollStatus(w, http.StatusForbidden)
		return
	}
	switch r.Method {
	case http.MethodOptions:
		h.Set("Access-Control-Allow-Headers", strings.Join(r.Header.Values("Access-Control-Request-Headers"), ", "))
		h.Set("Access-Control-Allow-Methods", "get, post, options")
		h.Set("Access-Control-Max-Age", "3600")
		w.WriteHeader(http.StatusOK)
	case http.MethodGet:
		ep.lp.watchServer(r)
		if d.forward(w, r) {
			return
		}
		c, tok := d.pollConnOf(r)
		if c == nil {
			d.openPoll(w, r)
			return
		}
		msgs, status := c.poll(r.Context(), ep.cfg.LongPollWindow, ep.lp.released())
		switch status {
		case 0: // the client is gone
		case http.StatusGone:
			writePollStatus(w, status)
		default:
			writePoll(w, status, tok, msgs)
			if f := ep.ev.MessagesSent; f != nil && len(msgs) > 0 {
				n := 0
				for _, m := range msgs {
					n += len(m)
				}
				f(telemetry.MessagesSent{Conn: teleConn(c.getSession(), "longpoll"), Frames: len(msgs), Bytes: n})
			}
		}
	case http.MethodPost:
		if d.forward(w, r) {
			return
		}
		c, _ := d.pollConnOf(r)
		if c == nil {
			writePollStatus(w, http.StatusGone)
			return
		}
		writePollStatus(w, c.publish(r, deadline))
	default:
		w.WriteHeader(http.StatusBadRequest)
	}
}

// openPoll starts a connection: {"messages":[],"status":410,"token":T}, or {"status":403} when refused.
// While shutting down it answers {"status":500}, which phoenix.js retries later, as a network error (it
// throws on statuses it does not know, such as 503).
func (d *socketDef) openPoll(w http.ResponseWriter, r *http.Request) {
	ep := d.ep
	authToken := ""
	if v := r.Header.Values("X-Phoenix-AuthToken"); len(v) > 0 {
		authToken = v[0]
	}
	ser, connected, took, err := d.accept(r, "longpoll", authToken)
	var refused *refusal
	switch {
	case errors.As(err, &refused):
		writePollStatus(w, http.StatusForbidden) // phoenix.js knows no other refusal (Phoenix sends 403 only)
		return
	case err != nil:
		writePollStatus(w, http.StatusInternalServerError)
		return
	}
	c := newPollConn(d, ser)
	tok, err := ep.lp.signer.Sign(pollClaims{Node: ep.lp.node, Conn: c.id})
	if err != nil || !ep.trackPoll(c) {
		ep.connected(nil, "longpoll", ser, took, telemetry.ResultError)
		writePollStatus(w, http.StatusInternalServerError)
		return
	}
	session, err := ep.host.Open(connected, c)
	if err != nil {
		ep.connected(nil, "longpoll", ser, took, telemetry.ResultError)
		c.end(channel.ErrClosed, host.CloseServiceRestart)
		writePollStatus(w, http.StatusInternalServerError)
		return
	}
	// Reported before the session is visible to end, which reports its end once it is (else we do, below).
	ep.connected(session, "longpoll", ser, took, telemetry.ResultOK)
	if f := ep.ev.LongPollOpened; f != nil {
		f(telemetry.LongPoll{Conn: teleConn(session, "longpoll")})
	}
	c.mu.Lock()
	c.session = session
	ended := c.ended
	c.mu.Unlock()
	if ended { // closed while Open ran (Shutdown): the socket actor must hear it
		session.Close()
		c.reportEnd(session, false)
		writePollStatus(w, http.StatusInternalServerError)
		return
	}
	writePoll(w, http.StatusGone, tok, nil)
}

// forward hands r to the node that owns its connection when that is another live node (Config.LongPollPeers)
// and reports whether it did. A token of a node that is gone finds no connection here: a GET opens a new one.
func (d *socketDef) forward(w http.ResponseWriter, r *http.Request) bool {
	lp := d.ep.lp
	if lp.peers == nil {
		return false
	}
	var claims pollClaims
	if tok := pollToken(r); tok == "" || lp.signer.Verify(tok, &claims) != nil || claims.Node == lp.node {
		return false
	}
	owner, _, ok := strings.Cut(claims.Node, "/")
	if !ok || owner == lp.peers.Name() {
		return false // this node's earlier incarnation: the connection is gone
	}
	return lp.peers.Forward(w, r, owner)
}

// pollToken is r's connection token: the X-Phoenix-Longpoll-Token header, else the last token query
// parameter (phoenix.js 1.8 appends its own after the connect params, which may hold a token too).
func pollToken(r *http.Request) string {
	if v := r.Header.Values(tokenHeader); len(v) > 0 {
		return v[0]
	}
	if v, _, one := queryParam(r.URL.RawQuery, "token"); one {
		return v // the last token=, as Phoenix; token[]= is a list, no token
	}
	return ""
}

// pollConnOf finds the connection of r's token: the X-Phoenix-Longpoll-Token header, else the last token
// query parameter (phoenix.js 1.8 appends its own after the connect params, which may hold a token too).
// A missing, forged or expired token, or one whose connection ended or belongs to another socket, finds none.
func (d *socketDef) pollConnOf(r *http.Request) (*pollConn, string) {
	e := d.ep
	tok := pollToken(r)
	var claims pollClaims
	if tok == "" || e.lp.signer.Verify(tok, &claims) != nil || claims.Node != e.lp.node {
		return nil, ""
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	c := e.polls[claims.Conn]
	if c == nil || c.def != d {
		return nil, ""
	}
	return c, tok
}

func writePollStatus(w http.ResponseWriter, status int) {
	writePollJSON(w, struct {
		Status int `json:"status"`
	}{status})
}

func writePoll(w http.ResponseWriter, status int, tok string, frames [][]byte) {
	msgs := make([]string, len(frames))
	for i, f := range frames {
		msgs[i] = string(f)
	}
	writePollJSON(w, struct {
		Messages []string `json:"messages"`
		Status   int      `json:"status"`
		Token    string   `json:"token"`
	}{msgs, status, tok})
}

func writePollJSON(w http.ResponseWriter, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v) // strings and ints only
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	// The poll URL is the same for every connection when the token travels in a header: never cache.
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf.Bytes())
}

// pollConn is one long-poll connection: the host.Conn of its socket actor. Frames wait in a bounded queue
// until a GET takes them all.
type pollConn struct {
	ep   *Endpoint
	def  *socketDef // the socket it was opened on
	id   string     // the connection id, in the token
	ser  *codec
	post chan struct{} // one POST at a time: frames keep their order, ReceiveContext has a single caller
	done chan struct{} // closed when the connection ends

	mu       sync.Mutex
	session  *host.Session
	queue    [][]byte
	queued   int           // bytes in queue
	waiter   chan struct{} // the newest waiting GET's wake-up; nil when none waits
	room     chan struct{} // closed when a GET empties the queue or the connection ends: a waiting POST goes on
	polling  int           // GETs in progress: a connection being polled does not expire
	lastPoll time.Time     // when a GET last started or ended
	ended    bool
	code     host.CloseCode // what it ended with, for telemetry
	opened   int64          // unix nanoseconds when it opened, for telemetry
}

func newPollConn(d *socketDef, ser *codec) *pollConn {
	return &pollConn{
		ep: d.ep, def: d, id: randomID(16), ser: ser,
		post: make(chan struct{}, 1), done: make(chan struct{}),
		lastPoll: time.Now(), opened: time.Now().UnixNano(),
	}
}

func (c *pollConn) Write(m *message.Message) error {
	data, binary, err := c.ser.Encode(m)
	if err != nil {
		return err
	}
	if binary {
		c.ep.cfg.Logger.Warn("pyre: binary frame dropped: long-poll cannot carry it", "topic", m.Topic, "event", m.Event)
		return ErrLongPollBinary
	}
	return c.enqueue(data)
}

func (c *pollConn) WriteBroadcast(b *message.Broadcast) error {
	if b.Payload.IsBinary() {
		c.ep.cfg.Logger.Debug("pyre: binary broadcast dropped: long-poll cannot carry it", "topic", b.Topic, "event", b.Event)
		return ErrLongPollBinary
	}
	data, err := b.Encoded(c.ser.Slot(), c.ser.encodeBroadcast)
	if err != nil {
		return err
	}
	return c.enqueue(data)
}

func (c *pollConn) enqueue(data []byte) error {
	c.mu.Lock()
	if c.ended {
		c.mu.Unlock()
		return channel.ErrConnClosed
	}
	// As wsConn.enqueue: full at MaxQueueMessages frames or MaxQueueBytes already queued, so that one message
	// within Config.MaxOutboundPayload never ends a connection that polls.
	if len(c.queue) >= c.ep.cfg.MaxQueueMessages || c.queued >= c.ep.cfg.MaxQueueBytes {
		// A slow consumer: a client that stopped polling cannot grow memory. The connection ends; its next
		// request finds none (410).
		c.queue, c.queued = nil, 0
		s := c.session
		c.mu.Unlock()
		if c.ep.ev.SlowConsumer != nil && s != nil {
			c.ep.slow(s, "longpoll")
		}
		c.end(channel.ErrClosed, host.CloseTryAgainLater)
		return channel.ErrSlowConsumer
	}
	c.queue = append(c.queue, data)
	c.queued += len(data)
	if c.waiter != nil {
		select {
		case c.waiter <- struct{}{}:
		default:
		}
	}
	c.mu.Unlock()
	return nil
}

// Queued is how many frames wait for the next GET (host.Queuer).
func (c *pollConn) Queued() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.queue)
}

// Close ends the connection whatever the code: long-poll has no close frame. A waiting GET answers with what
// is queued, or 410.
func (c *pollConn) Close(code host.CloseCode) { c.end(channel.ErrClosed, code) }

// end ends the connection once: waiting GETs wake up, the connection leaves the endpoint, and the socket actor
// stops with reason (a no-op when it is the one closing). code is what telemetry reports it ended with.
func (c *pollConn) end(reason error, code host.CloseCode) {
	c.mu.Lock()
	if c.ended {
		c.mu.Unlock()
		return
	}
	c.ended = true
	c.code = code
	c.openRoom()
	s := c.session
	// Frames nobody is waiting for (the last replies of a drained connection) stay for the connection's next
	// GET, then it is forgotten; or the janitor forgets it after 1.5 windows.
	keep := len(c.queue) > 0 && c.waiter == nil
	if keep {
		c.lastPoll = time.Now()
	}
	c.mu.Unlock()
	close(c.done)
	c.ep.untrackPoll(c, keep)
	if s != nil {
		s.CloseWith(reason)
		c.reportEnd(s, errors.Is(reason, ErrLongPollInactive))
	}
}

// reportEnd reports the end of a session reported opened, once: by end, or by openPoll when end ran
// before the session was set.
func (c *pollConn) reportEnd(s *host.Session, expired bool) {
	if c.ep.ev.SocketDisconnected != nil {
		c.ep.disconnected(s, "longpoll", c.code, c.opened)
	}
	if f := c.ep.ev.LongPollClosed; f != nil {
		f(telemetry.LongPoll{Conn: teleConn(s, "longpoll"), Duration: time.Duration(time.Now().UnixNano() - c.opened), Expired: expired})
	}
}

// poll answers a GET: the queued frames (200) as soon as there are some, 204 when the window passes
// first, 410 when the connection ended with nothing queued, 0 when the client went away. The newest GET of a
// connection is the one woken by new frames, as in Phoenix; an older one still waiting answers at its window
// (or when released).
func (c *pollConn) poll(ctx context.Context, window time.Duration, release <-chan struct{}) ([][]byte, int) {
	c.mu.Lock()
	c.lastPoll = time.Now()
	if len(c.queue) > 0 {
		msgs, ended := c.take(), c.ended
		c.mu.Unlock()
		if ended {
			c.ep.forgetPoll(c)
		}
		return msgs, http.StatusOK
	}
	if c.ended {
		c.mu.Unlock()
		return nil, http.StatusGone
	}
	wake := make(chan struct{}, 1)
	c.waiter = wake
	c.polling++
	c.mu.Unlock()

	timer := time.NewTimer(window)
	select {
	case <-wake:
	case <-c.done:
	case <-timer.C:
	case <-ctx.Done():
	case <-release:
	}
	timer.Stop()

	c.mu.Lock()
	defer c.mu.Unlock()
	if c.waiter == wake {
		c.waiter = nil
	}
	c.polling--
	c.lastPoll = time.Now()
	switch {
	case ctx.Err() != nil:
		return nil, 0 // the frames wait for the next GET
	case len(c.queue) > 0:
		return c.take(), http.StatusOK
	case c.ended:
		return nil, http.StatusGone
	}
	return nil, http.StatusNoContent
}

// take empties the queue; c.mu is held.
func (c *pollConn) take() [][]byte {
	q := c.queue
	c.queue, c.queued = nil, 0
	c.openRoom()
	return q
}

// openRoom lets a POST waiting in awaitRoom go on; c.mu is held.
func (c *pollConn) openRoom() {
	if c.room != nil {
		close(c.room)
		c.room = nil
	}
}

// awaitRoom holds a POST's next frame while the queue is above its high-water mark (a quarter of a bound,
// as a WebSocket's), until a GET takes it or the connection ends: a client that posts faster than it polls is
// slowed (408 past the window), as a WebSocket reader is paused, instead of ending as a slow consumer.
func (c *pollConn) awaitRoom(ctx context.Context) error {
	c.mu.Lock()
	if c.ended || !aboveHighWater(&c.ep.cfg, len(c.queue), c.queued) {
		c.mu.Unlock()
		return nil
	}
	if c.room == nil {
		c.room = make(chan struct{})
	}
	room := c.room
	c.mu.Unlock()
	select {
	case <-room:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *pollConn) getSession() *host.Session {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.session
}

// publish hands the frames of a POST to the socket actor and returns the status to answer: 200 when all
// were accepted, 408 when the body did not arrive whole or its frames were not accepted by deadline (one
// window after the request came), 410 when the connection ended. A body that breaks off is a 400. A malformed
// frame (or a line that is not base64) ends the connection, as it closes a WebSocket with 1011: 400; so does a
// body or frame past the size limits, as 1009: 413. Frames before the bad one were already handed on.
func (c *pollConn) publish(r *http.Request, deadline time.Time) int {
	ep := c.ep
	ctx, cancel := context.WithDeadline(r.Context(), deadline)
	defer cancel()
	if w := ep.lp.acceptWait.Load(); w > 0 {
		ctx, cancel = context.WithTimeout(ctx, time.Duration(w))
		defer cancel()
	}
	maxFrame := ep.cfg.MaxFrameSize
	body, err := io.ReadAll(io.LimitReader(r.Body, int64(maxFrame/3*4+4)+1))
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		return http.StatusRequestTimeout // the connection stays: Phoenix's does too
	case err != nil:
		return http.StatusBadRequest
	case len(body) > maxFrame/3*4+4: // room for one frame of MaxFrameSize, base64-encoded
		c.end(channel.ErrClosed, host.CloseMessageTooBig)
		return http.StatusRequestEntityTooLarge
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	select {
	case c.post <- struct{}{}:
		defer func() { <-c.post }()
	case <-c.done:
		return http.StatusGone
	case <-ctx.Done():
		return http.StatusRequestTimeout
	}
	session := c.getSession()
	for f, err := range pollFrames(body, ct == "application/x-ndjson") {
		var m *message.Message
		if err == nil {
			if len(f.data) > maxFrame {
				c.end(channel.ErrClosed, host.CloseMessageTooBig)
				return http.StatusRequestEntityTooLarge
			}
			m, err = c.ser.Decode(f.data, f.binary)
		}
		if err != nil {
			ep.malformedFrame("longpoll", r.RemoteAddr, err)
			c.end(channel.ErrClosed, host.CloseInternalError)
			return http.StatusBadRequest
		}
		if c.awaitRoom(ctx) != nil {
			return http.StatusRequestTimeout
		}
		if ep.ev.MessageReceived != nil {
			ep.received(teleConn(session, "longpoll"), m.Topic, m.Event, len(f.data))
		}
		switch err := session.ReceiveContext(ctx, m); {
		case errors.Is(err, channel.ErrConnClosed):
			return http.StatusGone
		case err != nil:
			return http.StatusRequestTimeout
		}
	}
	return http.StatusOK
}

// pollFrame is one inbound frame of a POST body.
type pollFrame struct {
	data   []byte
	binary bool
}

// errBase64Line is a line of an ndjson POST that is neither a JSON array nor base64.
var errBase64Line = fmt.Errorf("%w: long-poll line is not base64", serializer.ErrMalformed)

// pollFrames yields the frames of a POST body. An application/x-ndjson body holds one frame per line
// (split at "\n" or "\r\n"; only the first maxPollBatch lines are read; empty lines are skipped): a line
// starting with "[" is a text frame, any other is the standard base64 of a binary frame (phoenix.js
// encodes binary pushes so). Any other body is one text frame. It stops after yielding an error for a
// line that is not base64.
//
// Phoenix reads an empty line as an empty binary frame, which crashes the connection: skipping it lets a
// client end every line with "\n", as the ndjson format has it.
func pollFrames(body []byte, ndjson bool) iter.Seq2[pollFrame, error] {
	return func(yield func(pollFrame, error) bool) {
		if !ndjson {
			yield(pollFrame{data: body}, nil)
			return
		}
		rest := body
		for n := 0; n < maxPollBatch && len(rest) > 0; n++ {
			var line []byte
			line, rest, _ = bytes.Cut(rest, []byte{'\n'})
			line = bytes.TrimSuffix(line, []byte{'\r'})
			switch {
			case len(line) == 0:
				continue
			case line[0] == '[':
				if !yield(pollFrame{data: line}, nil) {
					return
				}
				continue
			}
			data := make([]byte, base64.StdEncoding.DecodedLen(len(line)))
			k, err := base64.StdEncoding.Decode(data, line)
			if err != nil {
				yield(pollFrame{}, errBase64Line)
				return
			}
			if !yield(pollFrame{data: data[:k], binary: true}, nil) {
				return
			}
		}
	}
}

// expirePolls ends the long-poll connections that no GET polled for 1.5 windows (ErrLongPollInactive). The
// janitor calls it on its timer: one timer for all long-poll connections. scratch is returned for reuse.
func (e *Endpoint) expirePolls(now time.Time, scratch []*pollConn) []*pollConn {
	limit := now.Add(-time.Duration(e.lp.expiry.Load()))
	expired := scratch[:0]
	e.mu.Lock()
	for _, c := range e.polls {
		c.mu.Lock()
		if c.polling == 0 && c.lastPoll.Before(limit) {
			expired = append(expired, c)
		}
		c.mu.Unlock()
	}
	e.mu.Unlock()
	for _, c := range expired {
		c.end(ErrLongPollInactive, host.CloseGoingAway)
		e.forgetPoll(c) // an ended connection kept for its last frames
	}
	clear(expired)
	return expired
}
