package channeltest

import (
	"errors"
	"fmt"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/pyrehq/pyre/actors/channel"
	"github.com/pyrehq/pyre/actors/host"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// room is the channel under test: it refuses "room:secret", echoes "echo", broadcasts "shout", crashes
// on "boom", pushes "tick" after a SendAfter, and chains self-sends on "chain".
type room struct {
	terminated chan<- error
}

type (
	tick  struct{}
	chain int
)

func (r *room) Join(s *channel.Socket, topic string, params channel.Payload) (any, error) {
	if topic == "room:secret" {
		return nil, channel.Deny(map[string]string{"reason": "unauthorized"})
	}
	return map[string]any{"incarnation": s.Incarnation(), "user": s.Assigns()["user"]}, nil
}

func (r *room) HandleIn(s *channel.Socket, event string, p channel.Payload) (channel.Reply, error) {
	switch event {
	case "echo":
		return channel.ReplyOK(p), nil
	case "incarnation":
		return channel.ReplyOK(map[string]int{"incarnation": s.Incarnation()}), nil
	case "shout":
		return channel.NoReply, s.Broadcast("shout", p)
	case "shout_from":
		return channel.NoReply, s.BroadcastFrom("shout", p)
	case "boom":
		panic("boom")
	case "later":
		s.SendAfter(10*time.Second, tick{})
		return channel.ReplyOK(nil), nil
	case "chain":
		var n struct{ N int }
		_ = p.Decode(&n)
		s.Send(chain(n.N))
		return channel.NoReply, nil
	}
	return channel.ReplyError(map[string]string{"reason": "unknown " + event}), nil
}

func (r *room) HandleInfo(s *channel.Socket, msg any) error {
	switch m := msg.(type) {
	case tick:
		return s.Push("tick", nil)
	case chain:
		if m == 0 {
			return s.Push("chained", nil)
		}
		s.Send(m - 1)
	}
	return nil
}

func (r *room) Terminate(_ *channel.Socket, reason error) {
	if r.terminated != nil {
		r.terminated <- reason
	}
}

// userSocket accepts {"user": name} connections, named "user_socket:<name>"; it refuses "mallory".
type userSocket struct{}

func (userSocket) Connect(params url.Values, _ channel.ConnectInfo) (channel.Assigns, error) {
	if params.Get("user") == "mallory" {
		return nil, errors.New("go away")
	}
	return channel.Assigns{"user": params.Get("user")}, nil
}

func (userSocket) ID(a channel.Assigns) string { return "user_socket:" + a["user"].(string) }

func newServer(t testing.TB, opts Options, routeOpts ...channel.RouteOption) (*Server, chan error) {
	terminated := make(chan error, 16)
	r := channel.NewRouter(userSocket{}, channel.WithConnIntensity(2, 5*time.Second))
	r.Channel("room:*", func() channel.Channel { return &room{terminated: terminated} }, routeOpts...)
	return NewServer(t, r, opts), terminated
}

func TestJoinPushReply(t *testing.T) {
	srv, _ := newServer(t, Options{})
	c := srv.MustConnect(url.Values{"user": {"ada"}})
	if c.ID() != "user_socket:ada" {
		t.Fatalf("ID = %q", c.ID())
	}
	ch := c.MustJoin("room:1", nil)
	var jr map[string]any
	if err := ch.JoinReply().Decode(&jr); err != nil || jr["user"] != "ada" || jr["incarnation"] != 1.0 {
		t.Fatalf("join reply %s", ch.JoinReply())
	}
	ref := ch.Push("echo", map[string]any{"n": 1, "s": "x"})
	ch.AssertReply(ref, "ok", map[string]any{"s": "x", "n": 1.0})
	ref = ch.Push("nope", nil)
	ch.AssertReply(ref, "error", Partial(map[string]any{"reason": "unknown nope"}))

	_, err := c.Join("room:secret", nil)
	var je *JoinError
	if !errors.As(err, &je) || !errors.Is(err, ErrJoinRefused) || je.Status != "error" || je.Reply.String() != `{"reason":"unauthorized"}` {
		t.Fatalf("join room:secret = %v", err)
	}
	if _, err := srv.Connect(url.Values{"user": {"mallory"}}, channel.ConnectInfo{}); err == nil || err.Error() != "go away" {
		t.Fatalf("connect mallory = %v", err)
	}
}

func TestBroadcasts(t *testing.T) {
	srv, _ := newServer(t, Options{})
	a := srv.MustConnect(url.Values{"user": {"a"}})
	b := srv.MustConnect(url.Values{"user": {"b"}})
	cha, err := a.SubscribeAndJoin("room:1", nil)
	if err != nil {
		t.Fatal(err)
	}
	chb := b.MustJoin("room:1", nil)

	cha.Push("shout", map[string]string{"body": "hi"})
	cha.AssertBroadcast("shout", map[string]string{"body": "hi"})
	for _, ch := range []*Channel{cha, chb} {
		ch.AssertPush("shout", map[string]string{"body": "hi"})
	}

	chb.Push("shout_from", map[string]string{"body": "from b"})
	cha.AssertPush("shout", map[string]string{"body": "from b"})
	cha.AssertBroadcast("shout", Any)
	chb.RefutePush("shout", Any)

	// broadcast_from skips the test's subscription, not the channels.
	cha.BroadcastFrom("news", map[string]int{"n": 1})
	cha.AssertPush("news", map[string]int{"n": 1})
	chb.AssertPush("news", map[string]int{"n": 1})
	cha.RefuteBroadcast("news", Any)

	if err := srv.Host.Broadcast("room:1", "news", map[string]int{"n": 2}); err != nil {
		t.Fatal(err)
	}
	cha.AssertBroadcast("news", Partial(map[string]int{"n": 2}))
	chb.AssertPush("news", map[string]int{"n": 2})
}

func TestLeaveAndDisconnect(t *testing.T) {
	srv, terminated := newServer(t, Options{})
	c := srv.MustConnect(url.Values{"user": {"a"}})
	ch := c.MustJoin("room:1", nil)
	ch.AssertReply(ch.Leave(), "ok", nil)
	ch.AssertPush("phx_close", nil)
	if err := <-terminated; !errors.Is(err, channel.ErrLeft) {
		t.Fatalf("terminate after leave: %v", err)
	}
	ch.AssertReply(ch.Push("echo", nil), "error", map[string]string{"reason": "unmatched topic"})

	c.MustJoin("room:2", nil)
	c.Disconnect()
	if err := <-terminated; !errors.Is(err, channel.ErrClosed) {
		t.Fatalf("terminate after close: %v", err)
	}
}

// A kick closes the connection with 1001.
func TestKick(t *testing.T) {
	srv, _ := newServer(t, Options{})
	c := srv.MustConnect(url.Values{"user": {"a"}})
	c.MustJoin("room:1", nil)
	c.RefuteClosed()
	if err := srv.Host.Disconnect(c.ID()); err != nil {
		t.Fatal(err)
	}
	c.AssertClosed(host.CloseGoingAway)
}

// A crash answers the push with channel_crash and restarts the channel in place; past the route's
// intensity it ends with phx_error, unless the fake clock moved the window on.
func TestCrashRestartAndIntensityWindow(t *testing.T) {
	srv, _ := newServer(t, Options{}, channel.WithIntensity(1, 5*time.Second))
	c := srv.MustConnect(url.Values{"user": {"a"}})
	ch := c.MustJoin("room:1", nil)

	ch.AssertReply(ch.Push("boom", nil), "error", map[string]string{"reason": "channel_crash"})
	ch.AssertReply(ch.Push("incarnation", nil), "ok", map[string]int{"incarnation": 2})
	srv.Advance(6 * time.Second) // the first restart leaves the window
	ch.AssertReply(ch.Push("boom", nil), "error", map[string]string{"reason": "channel_crash"})
	ch.AssertReply(ch.Push("incarnation", nil), "ok", map[string]int{"incarnation": 3})
	ch.RefutePush("phx_error", Any)
	if got := srv.Host.Stats().Restarts; got != 2 {
		t.Fatalf("restarts = %d, want 2", got)
	}

	// A second crash within 5 s is one too many.
	srv.Advance(time.Second)
	ch.AssertReply(ch.Push("boom", nil), "error", map[string]string{"reason": "channel_crash"})
	ch.AssertPush("phx_error", Any)
	ch.AssertReply(ch.Push("echo", nil), "error", map[string]string{"reason": "unmatched topic"})
}

// More channel restarts than the connection allows close it with 1011, unless the window moved on.
func TestConnectionIntensityWindow(t *testing.T) {
	srv, _ := newServer(t, Options{})
	c := srv.MustConnect(url.Values{"user": {"a"}})
	chs := []*Channel{c.MustJoin("room:1", nil), c.MustJoin("room:2", nil), c.MustJoin("room:3", nil)}
	for _, ch := range chs[:2] {
		ch.AssertReply(ch.Push("boom", nil), "error", Any)
	}
	srv.Advance(6 * time.Second)
	chs[2].AssertReply(chs[2].Push("boom", nil), "error", Any)
	c.RefuteClosed()
	chs[0].AssertReply(chs[0].Push("boom", nil), "error", Any)
	chs[1].AssertReply(chs[1].Push("boom", nil), "error", Any) // the 3rd within 5 s: over 2
	c.AssertClosed(host.CloseInternalError)
}

// SendAfter fires when the fake clock is advanced, not before.
func TestSendAfterFakeClock(t *testing.T) {
	srv, _ := newServer(t, Options{})
	c := srv.MustConnect(url.Values{"user": {"a"}})
	ch := c.MustJoin("room:1", nil)
	ch.AssertReply(ch.Push("later", nil), "ok", nil)
	srv.Advance(9 * time.Second)
	ch.RefutePush("tick", Any)
	srv.Advance(time.Second)
	ch.AssertPush("tick", nil)
	if srv.Clock.Pending() != 0 {
		t.Fatalf("pending timers: %d", srv.Clock.Pending())
	}
}

// Refutations see what a chain of messages through the channel's own mailbox pushes: Sync waits until
// the actors are idle, not for one barrier.
func TestRefuteSeesMessageChains(t *testing.T) {
	ft := &fakeTB{TB: t}
	srv, _ := newServer(ft, Options{})
	var ch *Channel
	ft.run(func() { ch = srv.MustConnect(url.Values{"user": {"a"}}).MustJoin("room:1", nil) })
	for range 20 {
		ft.fatals = nil
		ft.run(func() {
			ch.Push("chain", map[string]int{"n": 1000}) // each step a message to itself
			ch.RefutePush("chained", Any)
		})
		if len(ft.fatals) != 1 || !strings.Contains(ft.fatals[0], `want no push "chained" any payload on "room:1", got push "chained" {}`) {
			t.Fatalf("RefutePush after a chain: %q", ft.fatals)
		}
		ft.fatals = nil
		ft.run(func() { ch.AssertPush("chained", nil) })
		if len(ft.fatals) != 0 {
			t.Fatal(ft.fatals)
		}
	}
}

// fakeTB records failures; Fatalf ends the goroutine as testing's does.
type fakeTB struct {
	testing.TB
	mu     sync.Mutex
	fatals []string
	errors []string
}

func (f *fakeTB) Helper() {}

func (f *fakeTB) Fatalf(format string, args ...any) {
	f.mu.Lock()
	f.fatals = append(f.fatals, fmt.Sprintf(format, args...))
	f.mu.Unlock()
	runtime.Goexit()
}

func (f *fakeTB) Errorf(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errors = append(f.errors, fmt.Sprintf(format, args...))
}

// run runs fn in its own goroutine, as a test function, and waits for it.
func (f *fakeTB) run(fn func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	<-done
}

// Failed assertions say what was expected and list what arrived instead.
func TestFailureMessages(t *testing.T) {
	ft := &fakeTB{TB: t}
	srv, _ := newServer(ft, Options{Timeout: 50 * time.Millisecond})
	var c *Client
	var ch *Channel
	ft.run(func() {
		c = srv.MustConnect(url.Values{"user": {"a"}})
		ch = c.MustJoin("room:1", nil)
		ch.Push("echo", map[string]int{"n": 1})
		ch.Push("shout", map[string]int{"n": 2})
		c.Sync()
	})
	if len(ft.fatals) != 0 {
		t.Fatal(ft.fatals)
	}
	for _, tc := range []struct {
		name string
		f    func()
		want []string
	}{
		{"assert_push", func() { ch.AssertPush("nope", map[string]int{"n": 3}) }, []string{
			`channeltest: no push "nope" {"n":3} on "room:1" within 50ms; the client received instead (2):`,
			`reply ok {"n":1} to ref "2" on "room:1"`,
			`broadcast "shout" {"n":2} on "room:1"`,
		}},
		{"assert_push payload", func() { ch.AssertPush("shout", map[string]int{"n": 3}) }, []string{
			`no push "shout" {"n":3} on "room:1"`, `broadcast "shout" {"n":2} on "room:1"`,
		}},
		{"assert_reply status", func() { ch.AssertReply("2", "error", Any) }, []string{
			`channeltest: reply to ref "2" on "room:1" is ok {"n":1}, want error any payload`,
		}},
		{"assert_reply missing", func() { ch.AssertReply("9", "ok", nil) }, []string{
			`no reply to ref "9" on "room:1" within 50ms; the client received instead (1):`, `broadcast "shout" {"n":2}`,
		}},
		{"refute_push", func() { ch.RefutePush("shout", Partial(map[string]int{"n": 2})) }, []string{
			`channeltest: want no push "shout" partial {"n":2} on "room:1", got broadcast "shout" {"n":2} on "room:1"`,
		}},
		{"assert_broadcast unsubscribed", func() { ch.AssertBroadcast("shout", Any) }, []string{
			`the test is not subscribed to "room:1": join it with SubscribeAndJoin`,
		}},
		{"refuted join", func() { c.MustJoin("room:secret", nil) }, []string{
			`channeltest: join "room:secret" refused: error {"reason":"unauthorized"}`,
		}},
		{"assert_closed", func() { c.AssertClosed(host.CloseGoingAway) }, []string{
			"channeltest: connection not closed within 50ms (want 1001); the client received instead (1):",
		}},
	} {
		ft.fatals = nil
		ft.run(tc.f)
		if len(ft.fatals) != 1 {
			t.Errorf("%s: failures %q, want one", tc.name, ft.fatals)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(ft.fatals[0], w) {
				t.Errorf("%s: failure %q does not contain %q", tc.name, ft.fatals[0], w)
			}
		}
	}
	// After a close, an assertion fails at once with the close code.
	srv.Host.Disconnect(c.ID())
	ft.fatals = nil
	ft.run(func() { ch.WithTimeout(time.Minute).AssertPush("nope", Any) })
	if len(ft.fatals) != 1 || !strings.Contains(ft.fatals[0], `no push "nope" any payload on "room:1": the connection closed with 1001`) {
		t.Errorf("after a kick: %q", ft.fatals)
	}
}

func TestClockOrder(t *testing.T) {
	c := NewClock(ClockStart)
	var got []int
	c.AfterFunc(2*time.Second, func() { got = append(got, 2) })
	c.AfterFunc(time.Second, func() { got = append(got, 1); c.AfterFunc(0, func() { got = append(got, 11) }) })
	stop := c.AfterFunc(time.Second, func() { got = append(got, 99) })
	c.AfterFunc(3*time.Second, func() { got = append(got, 3) })
	if !stop() || stop() {
		t.Fatal("stop")
	}
	c.Advance(2 * time.Second)
	if fmt.Sprint(got) != "[1 11 2]" || !c.Now().Equal(ClockStart.Add(2*time.Second)) || c.Pending() != 1 {
		t.Fatalf("got %v at %v, %d pending", got, c.Now(), c.Pending())
	}
}

// A client that lets more than MaxQueue frames pile up is a slow consumer, as behind the transport's
// bounded writer: the connection closes with 1013. Frames taken by Frames make room.
func TestMaxQueueSlowConsumer(t *testing.T) {
	srv, _ := newServer(t, Options{MaxQueue: 3})
	c := srv.MustConnect(url.Values{"user": {"a"}})
	ch := c.MustJoin("room:1", nil)
	c.Heartbeat()
	for i := range 3 {
		ch.Push("echo", map[string]int{"i": i})
	}
	c.Sync()
	if f := c.Frames(); len(f) != 3 || Describe(f[2]) != `reply ok {"i":2} to ref "5" on "room:1"` {
		t.Fatalf("frames %v", f)
	}
	c.RefuteClosed()
	for i := range 4 {
		ch.Push("echo", map[string]int{"i": i})
	}
	c.AssertClosed(host.CloseTryAgainLater)
}
