package channeltest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pyrehq/pyre/actors/channel"
	"github.com/pyrehq/pyre/actors/host"
	"github.com/pyrehq/pyre/actors/message"
	"github.com/pyrehq/pyre/actors/pubsub"
)

// Options configures a Server. The zero value works.
type Options struct {
	// Host configures the server's Host. Its Logger's zero value means the test's log (t.Log); its Clock's
	// zero value means a fake Clock (Server.Clock), so that time moves only when the test says.
	Host host.Config
	// Timeout bounds each assertion's wait for a frame, in real time: a liveness bound, never a timing
	// assertion (a frame that arrives ends the wait at once). Zero value means DefaultTimeout.
	Timeout time.Duration
	// MaxQueue bounds the frames (and the broadcasts) one Client holds that no assertion has taken yet:
	// past it, the client is a slow consumer and the connection closes with 1013, as the transport's
	// bounded writer would. Zero value means 10,000.
	MaxQueue int
}

// DefaultTimeout is Options.Timeout's default.
const DefaultTimeout = 5 * time.Second

// ClockStart is the fake Clock's time when a Server starts.
var ClockStart = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// Server runs a Router on a real host.Host, with its real socket and channel actors and their
// supervision, and no network: clients are in memory. It is to Pyre's channels what httptest.Server is
// to net/http. The test's cleanup shuts it down.
type Server struct {
	// Host runs the actors: broadcast through it as the application would (Host.Broadcast), read its
	// Stats (in-place restarts among them), hand it to a presence tracker.
	Host *host.Host
	// Clock is the Host's fake time, nil when Options.Host.Clock was given.
	Clock *Clock

	t        testing.TB
	router   *channel.Router
	timeout  time.Duration
	maxQueue int
}

// Advance waits until the server's actors are idle (Sync), so that what they did happened at the time
// it is now (a crash counts in the restart window now), then advances the fake Clock by d.
func (s *Server) Advance(d time.Duration) {
	s.t.Helper()
	if s.Clock == nil {
		s.t.Fatalf("channeltest: Advance with a clock of the test's own (Options.Host.Clock): advance it")
	}
	s.Sync()
	s.Clock.Advance(d)
}

// Sync waits until every socket and channel actor of the server is idle (host.Host.Sync): what the
// clients sent, and everything it caused in any connection's actors, has been handled and written. The
// Refute assertions call it.
func (s *Server) Sync() {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	if err := s.Host.Sync(ctx); err != nil {
		s.t.Fatalf("channeltest: the actors did not become idle within %v: %v", s.timeout, err)
	}
}

// NewServer starts a Host for router. The router's routes may still be added until the first Connect
// (a route whose channels need the Host, such as a presence tracker's, can be added after NewServer).
func NewServer(t testing.TB, router *channel.Router, opts Options) *Server {
	t.Helper()
	s := &Server{t: t, router: router, timeout: opts.Timeout, maxQueue: opts.MaxQueue}
	if s.timeout <= 0 {
		s.timeout = DefaultTimeout
	}
	if s.maxQueue <= 0 {
		s.maxQueue = 10_000
	}
	cfg := opts.Host
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(logWriter{t}, nil))
	}
	if cfg.Clock == nil {
		s.Clock = NewClock(ClockStart)
		cfg.Clock = s.Clock
	}
	s.Host = host.New(cfg)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
		defer cancel()
		if err := s.Host.Shutdown(ctx, host.CloseServiceRestart); err != nil {
			t.Errorf("channeltest: shutting the host down: %v", err)
		}
	})
	return s
}

// logWriter sends each log record to t.Log.
type logWriter struct{ t testing.TB }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// Connect runs the router's SocketHandler as a connecting client would (Phoenix's connect/3) and opens
// the connection. info.Transport's zero value means "websocket". A refusal is the handler's error.
func (s *Server) Connect(params url.Values, info channel.ConnectInfo) (*Client, error) {
	if info.Transport == "" {
		info.Transport = "websocket"
	}
	connected, err := host.Connect(s.router, params, info)
	if err != nil {
		return nil, err
	}
	c := &Client{srv: s, t: s.t, id: connected.ID(), changed: make(chan struct{})}
	sess, err := s.Host.Open(connected, wire{c})
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.sess = sess
	closed := c.code != 0
	c.mu.Unlock()
	if closed { // closed by the runtime before Open returned: the transport ends the session
		sess.Close()
	}
	return c, nil
}

// MustConnect is Connect that fails the test on a refusal.
func (s *Server) MustConnect(params url.Values) *Client {
	s.t.Helper()
	c, err := s.Connect(params, channel.ConnectInfo{})
	if err != nil {
		s.t.Fatalf("channeltest: connect %v refused: %v", params, err)
	}
	return c
}

// Client is one connection to a Server, as the transport would run it: it keeps what the runtime writes
// to it until an assertion takes it. Its methods belong to the test's goroutine.
type Client struct {
	srv  *Server
	t    testing.TB
	id   string
	sess *host.Session // set once Open returned

	refs int

	mu         sync.Mutex
	frames     []*message.Message   // written by the runtime, not yet taken by an assertion
	broadcasts []*message.Broadcast // seen by SubscribeAndJoin's subscriptions, not yet taken
	subs       map[string]*recorder // SubscribeAndJoin's subscriptions, by topic
	code       host.CloseCode       // why the runtime closed the connection; 0 while open
	overflowed bool
	changed    chan struct{} // closed (and replaced) whenever something arrives
}

// ID is the connection's id (Identifier), "" when anonymous.
func (c *Client) ID() string { return c.id }

// wire is the Client as the runtime sees it: the host.Conn a transport would give.
type wire struct{ c *Client }

// Write queues a push or reply. As phoenix.js's default serializer (V2) does, a push whose JSON payload
// is not an object is refused with message.ErrNotObject.
func (w wire) Write(m *message.Message) error {
	c := w.c
	if !m.IsReply() && !m.Payload.IsBinary() && !m.Payload.IsObject() {
		return message.ErrNotObject
	}
	return c.add(func() { c.frames = append(c.frames, m) })
}

// WriteBroadcast queues a broadcast from the fastlane: a push with null refs.
func (w wire) WriteBroadcast(b *message.Broadcast) error {
	c := w.c
	return c.add(func() {
		c.frames = append(c.frames, &message.Message{Topic: b.Topic, Event: b.Event, Payload: b.Payload})
	})
}

func (c *Client) add(f func()) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.code != 0 {
		return channel.ErrConnClosed
	}
	if len(c.frames) >= c.srv.maxQueue {
		c.closeLocked(host.CloseTryAgainLater)
		return channel.ErrConnClosed
	}
	f()
	c.signalLocked()
	return nil
}

// Close: the runtime closed the connection with code (a kick, a slow consumer, too many restarts, a
// shutdown). The session ends as the transport would end it.
func (w wire) Close(code host.CloseCode) {
	c := w.c
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closeLocked(code)
}

func (c *Client) closeLocked(code host.CloseCode) {
	if c.code != 0 {
		return
	}
	c.code = code
	c.signalLocked()
	if c.sess != nil {
		c.sess.Close() // only sends a message to the socket supervisor
	}
}

func (c *Client) signalLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

func (c *Client) nextRef() message.Ref {
	c.refs++
	return message.StringRef(strconv.Itoa(c.refs))
}

// send hands an inbound message to the socket actor, as the transport's read loop does.
func (c *Client) send(m *message.Message) {
	c.sess.Receive(m)
}

// Join sends phx_join for topic with params (nil is {}) and waits for its reply: a Channel when the join
// succeeded, else a *JoinError with the reply (Phoenix's join/3 returning {:error, reply}).
func (c *Client) Join(topic string, params any) (*Channel, error) {
	c.t.Helper()
	p, err := message.PayloadOf(params)
	if err != nil {
		c.t.Fatalf("channeltest: join %q: params: %v", topic, err)
	}
	ref := c.nextRef()
	c.send(&message.Message{JoinRef: ref, Ref: ref, Topic: topic, Event: message.EventJoin, Payload: p})
	what := fmt.Sprintf("the reply to the join of %q (ref %s)", topic, ref.String())
	r := c.take(c.srv.timeout, what, func(m *message.Message) bool {
		return m.Event == message.EventReply && m.Topic == topic && m.Ref == ref
	})
	if r.Status != message.StatusOK {
		return nil, &JoinError{Topic: topic, Status: r.Status, Reply: r.Payload}
	}
	return &Channel{c: c, topic: topic, joinRef: ref, reply: r.Payload, timeout: c.srv.timeout}, nil
}

// MustJoin is Join that fails the test when the join is refused.
func (c *Client) MustJoin(topic string, params any) *Channel {
	c.t.Helper()
	ch, err := c.Join(topic, params)
	if err != nil {
		c.t.Fatalf("channeltest: %v", err)
	}
	return ch
}

// SubscribeAndJoin subscribes the test to topic's broadcasts, then joins it (Phoenix's
// subscribe_and_join): Channel.AssertBroadcast sees what is broadcast on the topic, whoever sends it.
// The subscription stays when the join is refused.
func (c *Client) SubscribeAndJoin(topic string, params any) (*Channel, error) {
	c.t.Helper()
	c.Subscribe(topic)
	return c.Join(topic, params)
}

// Subscribe subscribes the test to topic's broadcasts, for Channel.AssertBroadcast (Phoenix's
// @endpoint.subscribe). The subscription ends with the server.
func (c *Client) Subscribe(topic string) {
	c.mu.Lock()
	if _, ok := c.subs[topic]; ok {
		c.mu.Unlock()
		return
	}
	if c.subs == nil {
		c.subs = make(map[string]*recorder)
	}
	r := &recorder{c: c}
	c.subs[topic] = r
	c.mu.Unlock()
	ps := c.srv.Host.PubSub()
	ps.Subscribe(topic, r)
	c.t.Cleanup(func() { ps.Unsubscribe(topic, r) })
}

// recorder is the test's own subscription to a topic.
type recorder struct{ c *Client }

var _ pubsub.Subscriber = (*recorder)(nil)

func (r *recorder) Deliver(b *message.Broadcast) {
	c := r.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.broadcasts) >= c.srv.maxQueue {
		if !c.overflowed {
			c.overflowed = true
			c.t.Errorf("channeltest: more than %d broadcasts not taken by an assertion; later ones are dropped", c.srv.maxQueue)
		}
		return
	}
	c.broadcasts = append(c.broadcasts, b)
	c.signalLocked()
}

// Disconnect is the client going away (a closed tab): its channels terminate with channel.ErrClosed
// (Phoenix's close/1). It returns once its socket and channel actors have stopped.
func (c *Client) Disconnect() {
	c.t.Helper()
	c.sess.Close()
	select {
	case <-c.sess.Done():
	case <-time.After(c.srv.timeout):
		c.t.Fatalf("channeltest: the connection's actors did not stop within %v of its close", c.srv.timeout)
	}
}

// Sync is Server.Sync: the server's actors, this connection's and the others', are idle.
func (c *Client) Sync() {
	c.t.Helper()
	c.srv.Sync()
}

// AssertClosed waits until the server closes the connection, and checks the close code (0: any code).
// Frames not taken yet stay.
func (c *Client) AssertClosed(code host.CloseCode) {
	c.t.Helper()
	deadline := time.Now().Add(c.srv.timeout)
	for {
		c.mu.Lock()
		got, changed := c.code, c.changed
		c.mu.Unlock()
		if got != 0 {
			if code != 0 && got != code {
				c.t.Fatalf("channeltest: connection closed with %d, want %d", got, code)
			}
			return
		}
		if !wait(changed, deadline) {
			c.t.Fatalf("channeltest: connection not closed within %v (want %d); %s", c.srv.timeout, code, c.pending())
		}
	}
}

// RefuteClosed checks that the connection is open once its actors are idle.
func (c *Client) RefuteClosed() {
	c.t.Helper()
	c.Sync()
	c.mu.Lock()
	code := c.code
	c.mu.Unlock()
	if code != 0 {
		c.t.Fatalf("channeltest: connection closed with %d, want it open", code)
	}
}

// Frames returns the frames the client received that no assertion took, oldest first, and forgets them.
func (c *Client) Frames() []*message.Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	f := c.frames
	c.frames = nil
	return f
}

// Heartbeat sends a heartbeat and waits for its reply.
func (c *Client) Heartbeat() {
	c.t.Helper()
	ref := c.nextRef()
	c.send(&message.Message{Ref: ref, Topic: message.TopicPhoenix, Event: message.EventHeartbeat, Payload: message.EmptyObject})
	c.take(c.srv.timeout, "the heartbeat's reply", func(m *message.Message) bool {
		return m.Event == message.EventReply && m.Topic == message.TopicPhoenix && m.Ref == ref
	})
}

func wait(changed <-chan struct{}, deadline time.Time) bool {
	d := time.Until(deadline)
	if d <= 0 {
		return false
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-changed:
		return true
	case <-t.C:
		return false
	}
}

// take waits for the first frame that matches, removes it and returns it; else it fails the test,
// listing what arrived instead.
func (c *Client) take(timeout time.Duration, what string, match func(*message.Message) bool) *message.Message {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		c.mu.Lock()
		for i, m := range c.frames {
			if match(m) {
				c.frames = append(c.frames[:i:i], c.frames[i+1:]...)
				c.mu.Unlock()
				return m
			}
		}
		code, changed := c.code, c.changed
		c.mu.Unlock()
		if code != 0 {
			c.t.Fatalf("channeltest: no %s: the connection closed with %d; %s", what, code, c.pending())
		}
		if !wait(changed, deadline) {
			c.t.Fatalf("channeltest: no %s within %v; %s", what, timeout, c.pending())
		}
	}
}

// takeBroadcast is take for the test's subscriptions.
func (c *Client) takeBroadcast(timeout time.Duration, what string, match func(*message.Broadcast) bool) *message.Broadcast {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		c.mu.Lock()
		for i, b := range c.broadcasts {
			if match(b) {
				c.broadcasts = append(c.broadcasts[:i:i], c.broadcasts[i+1:]...)
				c.mu.Unlock()
				return b
			}
		}
		changed := c.changed
		c.mu.Unlock()
		if !wait(changed, deadline) {
			c.t.Fatalf("channeltest: no %s within %v; %s", what, timeout, c.pendingBroadcasts())
		}
	}
}

// pending describes the frames not taken, for failure messages.
func (c *Client) pending() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.frames) == 0 {
		return "the client received nothing else"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "the client received instead (%d):", len(c.frames))
	for i, m := range c.frames {
		if i == 20 {
			fmt.Fprintf(&b, "\n\t... and %d more", len(c.frames)-i)
			break
		}
		b.WriteString("\n\t")
		b.WriteString(Describe(m))
	}
	return b.String()
}

func (c *Client) pendingBroadcasts() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.broadcasts) == 0 {
		return "the test's subscriptions saw no other broadcast"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "the test's subscriptions saw instead (%d):", len(c.broadcasts))
	for i, m := range c.broadcasts {
		if i == 20 {
			fmt.Fprintf(&b, "\n\t... and %d more", len(c.broadcasts)-i)
			break
		}
		fmt.Fprintf(&b, "\n\tbroadcast %q %s on %q", m.Event, m.Payload, m.Topic)
	}
	return b.String()
}

// Describe renders a frame for failure messages: the kind, the event or status, the payload, the topic
// and the refs.
func Describe(m *message.Message) string {
	switch {
	case m.IsReply():
		return fmt.Sprintf("reply %s %s to ref %s on %q", m.Status, m.Payload, m.Ref.JSON(), m.Topic)
	case m.JoinRef.IsNull():
		return fmt.Sprintf("broadcast %q %s on %q", m.Event, m.Payload, m.Topic)
	default:
		return fmt.Sprintf("push %q %s on %q (join_ref %s)", m.Event, m.Payload, m.Topic, m.JoinRef.JSON())
	}
}

// JoinError is a refused join: its reply's status (normally "error") and response.
type JoinError struct {
	Topic  string          // the topic whose join was refused
	Status string          // the join reply's status ("error")
	Reply  channel.Payload // the join reply's response: what Join's Deny carried, or {"reason":..}
}

func (e *JoinError) Error() string {
	return fmt.Sprintf("join %q refused: %s %s", e.Topic, e.Status, e.Reply)
}

// ErrJoinRefused matches every *JoinError with errors.Is.
var ErrJoinRefused = errors.New("channeltest: join refused")

// Is makes errors.Is(err, ErrJoinRefused) hold.
func (e *JoinError) Is(target error) bool { return target == ErrJoinRefused }

var _ host.Conn = wire{}
