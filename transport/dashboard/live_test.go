package dashboard

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pyrehq/pyre/actors/channel"
	"github.com/pyrehq/pyre/transport"
	"github.com/pyrehq/pyre/transport/client"
)

// room answers every push ok and panics on "crash": its route restarts it in place.
type room struct{}

func (room) Join(*channel.Socket, string, channel.Payload) (any, error) { return nil, nil }
func (room) HandleIn(_ *channel.Socket, event string, p channel.Payload) (channel.Reply, error) {
	if event == "crash" {
		panic("crash requested")
	}
	return channel.ReplyOK(p), nil
}

type anyone struct{}

func (anyone) Connect(url.Values, channel.ConnectInfo) (channel.Assigns, error) {
	return channel.Assigns{}, nil
}

// fixture is an endpoint with its dashboard mounted at /dashboard/ on one test server.
type fixture struct {
	ep  *transport.Endpoint
	d   *Dashboard
	srv *httptest.Server
}

func newFixture(t *testing.T, cfg Config) *fixture {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	cfg.Logger = log
	d := New(cfg)
	router := channel.NewRouter(anyone{})
	router.Channel("*", func() channel.Channel { return room{} })
	ep := transport.NewEndpoint(transport.Config{Logger: log, Events: d.Events()})
	ep.Socket("/socket", router)
	if err := d.Start(ep); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/socket/", ep)
	mux.Handle("/dashboard/", d)
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := d.Close(ctx); err != nil {
			t.Errorf("dashboard Close: %v", err)
		}
		if err := ep.Shutdown(ctx); err != nil {
			t.Errorf("endpoint Shutdown: %v", err)
		}
	})
	return &fixture{ep: ep, d: d, srv: srv}
}

func (f *fixture) dial(t *testing.T, path string) *client.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, "ws"+strings.TrimPrefix(f.srv.URL, "http")+path+"/websocket?vsn=2.0.0", client.Options{MessageBuffer: 8})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// waitSnapshot reads the page's updates until one satisfies ok, within a liveness bound, adding their
// points to sum.
func waitSnapshot(t *testing.T, page *client.Channel, sum *Point, what string, ok func(Snapshot) bool) Snapshot {
	t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		select {
		case m, open := <-page.Messages():
			if !open {
				t.Fatalf("%s: the page's channel ended", what)
			}
			if m.Event != "snapshot" {
				continue
			}
			if len(m.Payload) > 16<<10 {
				t.Fatalf("an update of %d bytes, want at most 16 KB", len(m.Payload))
			}
			var s Snapshot
			if err := json.Unmarshal(m.Payload, &s); err != nil {
				t.Fatal(err)
			}
			for _, p := range s.Rates {
				sum.add(p)
			}
			if ok(s) {
				return s
			}
		case <-deadline:
			t.Fatalf("%s: no such update within 15 s", what)
		}
	}
}

func (sum *Point) add(p Point) {
	sum.Connects += p.Connects
	sum.Joins += p.Joins
	sum.In += p.In
	sum.Out += p.Out
	sum.Crashes += p.Crashes
}

func group(s Snapshot, prefix string) ChannelGroup {
	for _, g := range s.Channels {
		if g.Prefix == prefix {
			return g
		}
	}
	return ChannelGroup{}
}

// A few thousand channels in-process: the page gets bounded updates of the aggregated tree, sees a crash
// and its restart in place, and expands a group to 50 rows, the restarted channel first.
func TestLiveTreeAtThousandsOfChannels(t *testing.T) {
	f := newFixture(t, Config{Interval: 50 * time.Millisecond})
	const conns, perConn = 30, 100 // DefaultMaxChannels per connection
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var victim *client.Channel
	for i := range conns {
		c := f.dial(t, "/socket")
		for j := range perConn {
			topic := fmt.Sprintf("room:%d", i*perConn+j)
			if j >= 80 { // 600 channels on 60 prefixes: past maxGroups
				topic = fmt.Sprintf("p%d:%d", (i*20+j)%60, i)
			}
			ch, _, err := c.Join(ctx, topic, nil)
			if err != nil {
				t.Fatalf("join %s: %v", topic, err)
			}
			if i == 0 && j == 0 {
				victim = ch
			}
		}
	}

	page, reply, err := f.dial(t, "/dashboard/socket").Join(ctx, Topic, nil)
	if err != nil {
		t.Fatal(err)
	}
	var joined struct {
		History  []Point `json:"history"`
		Points   int     `json:"points"`
		Interval int     `json:"interval"`
	}
	if err := json.Unmarshal(reply.Response, &joined); err != nil || joined.Points != 6000 || joined.Interval != 50 {
		t.Fatalf("join reply %s: %v", reply.Response, err)
	}
	var sum Point // the charts: the join reply's history, then each update's newest point
	for _, p := range joined.History {
		sum.add(p)
	}
	s := waitSnapshot(t, page, &sum, "3,000 channels", func(s Snapshot) bool { return s.Endpoint.Channels == conns*perConn })
	if len(s.Channels) != maxGroups || group(s, "room:").Channels != conns*80 || group(s, "room:").Restart["transient"] != conns*80 ||
		len(s.Sockets) != 1 || s.Sockets[0].Sockets != conns || s.Endpoint.Status != "running" || len(s.Infra) == 0 {
		t.Fatalf("snapshot: %d groups, room: %+v, sockets %+v, endpoint %+v, infrastructure %+v",
			len(s.Channels), group(s, "room:"), s.Sockets, s.Endpoint, s.Infra)
	}

	if _, err := victim.Push(ctx, "crash", nil); err == nil {
		t.Fatal("the crashing push was answered ok")
	}
	s = waitSnapshot(t, page, &sum, "the restart and the crash", func(s Snapshot) bool {
		return group(s, "room:").RecentRestarts == 1 && len(s.Crashes) == 1 && sum.Crashes == 1
	})
	if g := group(s, "room:"); g.MaxIncarnation != 2 || g.Restarted != 1 || len(s.Restarts) != 1 ||
		s.Restarts[0].Topic != "room:0" || s.Restarts[0].Incarnation != 2 || s.Endpoint.Restarts != 1 {
		t.Fatalf("after the crash: room: %+v, restarts %+v, endpoint %+v", g, s.Restarts, s.Endpoint)
	}
	if c := s.Crashes[0]; c.Topic != "room:0" || !strings.Contains(c.Reason, "crash requested") || !strings.Contains(c.Stack, "live_test.go") {
		t.Fatalf("crash %+v", c)
	}
	// Every connection, join and push was counted; out counts the replies and the dashboard's own frames
	// are not (its endpoint is another).
	if sum.Connects != conns || sum.Joins != conns*perConn || sum.In < conns*perConn+1 || sum.Out < conns*perConn+1 {
		t.Fatalf("rates summed %+v", sum)
	}

	r, err := page.Push(ctx, "group", map[string]string{"kind": "channels", "key": "room:"})
	if err != nil {
		t.Fatal(err)
	}
	var g Group
	if err := json.Unmarshal(r.Response, &g); err != nil || len(g.Rows) != maxRows || g.More != conns*80-maxRows ||
		g.Rows[0].Topic != "room:0" || g.Rows[0].Incarnation != 2 || g.Rows[0].Restart != "transient" {
		t.Fatalf("group reply %.300s: %v", r.Response, err)
	}
	if _, err := page.Push(ctx, "group", map[string]string{"kind": "nope"}); err == nil {
		t.Fatal("an unknown kind was answered ok")
	}
}

// Denied by Authorize: 403 for the page, its script and its socket.
func TestAuthorizeDenied(t *testing.T) {
	f := newFixture(t, Config{Authorize: func(r *http.Request) bool { return r.Header.Get("X-Admin") == "yes" }})
	for _, path := range []string{"/dashboard/", "/dashboard/dashboard.js", "/dashboard/socket/websocket?vsn=2.0.0", "/dashboard/socket/longpoll?vsn=2.0.0"} {
		resp, err := http.Get(f.srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("GET %s = %d, want 403", path, resp.StatusCode)
		}
	}
	req, _ := http.NewRequest("GET", f.srv.URL+"/dashboard/", nil)
	req.Header.Set("X-Admin", "yes")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusOK || !strings.HasPrefix(ct, "text/html") {
		t.Errorf("allowed GET /dashboard/ = %d %s", resp.StatusCode, ct)
	}

	// The socket's long-poll, allowed, under the mount path: a new session (410 with a token).
	req, _ = http.NewRequest("GET", f.srv.URL+"/dashboard/socket/longpoll?vsn=2.0.0", nil)
	req.Header.Set("X-Admin", "yes")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var lp struct {
		Status int    `json:"status"`
		Token  string `json:"token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&lp); err != nil || lp.Status != http.StatusGone || lp.Token == "" {
		t.Errorf("allowed long-poll GET: %+v, %v", lp, err)
	}
}

// The page imports phoenix.js from Config.PhoenixJS, escaped.
func TestPagePhoenixURL(t *testing.T) {
	f := newFixture(t, Config{PhoenixJS: `/js/phoenix.mjs?"x"`})
	resp, err := http.Get(f.srv.URL + "/dashboard/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `data-phoenix="/js/phoenix.mjs?&#34;x&#34;"`) {
		t.Errorf("page does not import phoenix.js from the configured URL:\n%.400s", b)
	}
}

// Start twice, Start after Close, Close twice, Close without Start.
func TestLifecycle(t *testing.T) {
	d := New(Config{})
	if err := d.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := d.Start(nil); err != ErrClosed {
		t.Fatalf("Start after Close: %v", err)
	}
	f := newFixture(t, Config{})
	if err := f.d.Start(f.ep); err != ErrStarted {
		t.Fatalf("second Start: %v", err)
	}
}
