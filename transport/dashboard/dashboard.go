package dashboard

import (
	"bytes"
	"context"
	"embed"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/pyrehq/pyre/actors/channel"
	"github.com/pyrehq/pyre/actors/host"
	"github.com/pyrehq/pyre/transport"
)

// Topic is the topic the page joins on the dashboard's own socket.
const Topic = "pyre:dashboard"

// Source is what the dashboard shows: *transport.Endpoint is one.
type Source interface {
	Stats() transport.Stats
	Actors() []host.Actor
	Err() error
}

// Config configures a Dashboard. The zero value works: one sample a second, five minutes of charts,
// every request allowed.
type Config struct {
	// Authorize decides whether a request may see the dashboard: the page, its scripts and its socket
	// (the WebSocket upgrade and every long-poll request). A refused request gets 403. Zero value means
	// every request is allowed: mount the handler behind your own authentication, or set it.
	Authorize func(*http.Request) bool
	// Interval is the time between two samples (and two updates of the page). Zero value means 1 s.
	Interval time.Duration
	// History is how far back the charts reach. Zero value means 5 minutes.
	History time.Duration
	// PhoenixJS is the URL the page imports phoenix.js from (the ES module of the phoenix npm package,
	// phoenix/priv/static/phoenix.mjs), served by your application. Zero value means /assets/phoenix.mjs.
	PhoenixJS string
	// Node names this node on the page. Zero value means none is shown.
	Node string
	// Nodes, when set, lists the cluster's nodes for the page (one row each), called once per sample from
	// the sampling goroutine; it must not block. Zero value means the nodes the cluster events reported
	// (telemetry.Events MemberJoined and MemberLeft, given through Events), this one first; none when
	// not clustered.
	Nodes func() []Node
	// Logger receives the dashboard's reports and its own endpoint's. Zero value means slog.Default().
	Logger *slog.Logger
}

func (c *Config) setDefaults() {
	if c.Interval <= 0 {
		c.Interval = time.Second
	}
	if c.History <= 0 {
		c.History = 5 * time.Minute
	}
	if c.PhoenixJS == "" {
		c.PhoenixJS = "/assets/phoenix.mjs"
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Dashboard is the live dashboard: an http.Handler serving the page and the socket it is pushed through.
// Make it with New, give Events to the endpoint it shows, Start it, mount it, Close it.
type Dashboard struct {
	cfg      Config
	counters counters
	hist     *history
	crashes  crashLog
	members  memberList

	mu      sync.Mutex
	src     Source
	ep      *transport.Endpoint // the dashboard's own, for the page's socket
	last    *tree               // the newest sample; nil until the first
	started bool
	closed  bool

	// The sampler's own.
	restarts  restartLog
	lastCount Point

	wake chan struct{} // capacity 1: a page joined, sample now
	stop chan struct{}
	done chan struct{}
}

// New returns a dashboard that shows nothing until Start. It starts no goroutine.
func New(cfg Config) *Dashboard {
	cfg.setDefaults()
	n := max(int(cfg.History/cfg.Interval), 2)
	return &Dashboard{cfg: cfg, hist: newHistory(n), wake: make(chan struct{}, 1),
		stop: make(chan struct{}), done: make(chan struct{})}
}

// Start shows src (your endpoint): it starts the dashboard's own endpoint, which serves the page's
// socket, and the sampling goroutine, which reads src's Stats and Actors once per Config.Interval while
// a page is open (nothing but a few counters otherwise). Close stops both. A nil src panics.
func (d *Dashboard) Start(src Source) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case d.closed:
		return ErrClosed
	case d.started:
		return ErrStarted
	case src == nil:
		panic("dashboard: Start with a nil Source")
	}
	router := channel.NewRouter(channel.ConnectFunc(func(url.Values, channel.ConnectInfo) (channel.Assigns, error) {
		return channel.Assigns{}, nil // ServeHTTP has authorized the request
	}))
	router.Channel(Topic, func() channel.Channel { return &pageChannel{d: d} })
	d.ep = transport.NewEndpoint(transport.Config{Logger: d.cfg.Logger})
	d.ep.Socket("/socket", router)
	d.src, d.started = src, true
	go d.loop()
	return nil
}

// Close stops the sampling goroutine and waits for it, then shuts the dashboard's own endpoint down
// within ctx (open pages get 1012 and reconnect, to be refused). Call it after your http.Server's Shutdown.
func (d *Dashboard) Close(ctx context.Context) error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	started := d.started
	d.mu.Unlock()
	if !started {
		return nil
	}
	close(d.stop)
	<-d.done
	return d.ep.Shutdown(ctx)
}

func (d *Dashboard) loop() {
	defer close(d.done)
	t := time.NewTicker(d.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-d.stop:
			return
		case now := <-t.C:
			d.tick(now, true)
		case <-d.wake:
			d.tick(time.Now(), false)
		}
	}
}

// tick takes one sample: the rates always (when the ticker fired), the tree only while a page is open.
func (d *Dashboard) tick(now time.Time, rates bool) {
	var fresh []Point
	if rates {
		p := d.counters.take(now.UnixMilli(), &d.lastCount)
		d.hist.add(p)
		fresh = []Point{p}
	}
	if d.ep.Stats().Channels == 0 {
		return // nobody watches
	}
	actors := d.src.Actors()
	d.restarts.observe(now, actors)
	status := "running"
	if err := d.src.Err(); err != nil {
		status = "stopped: " + err.Error()
	}
	t := build(now, d.src.Stats(), status, actors, d.restarts.recent)
	t.snap.Node = d.cfg.Node
	t.snap.Crashes = d.crashes.newest()
	t.snap.Presences = d.counters.presences.Load()
	t.snap.SlowCuts = d.counters.slowCuts.Load()
	t.snap.Nodes = d.nodes()
	d.mu.Lock()
	d.last = t
	d.mu.Unlock()
	update := t.snap
	if fresh != nil {
		update.Rates = fresh
	}
	if err := d.ep.Broadcast(Topic, "snapshot", update); err != nil {
		d.cfg.Logger.Warn("pyre: dashboard update not sent", "err", err)
	}
}

func (d *Dashboard) nodes() []Node {
	if d.cfg.Nodes != nil {
		return d.cfg.Nodes()
	}
	return d.members.list(d.cfg.Node)
}

// joinReply is the newest sample with the whole history of the charts; Snapshot is null before the
// first sample.
func (d *Dashboard) joinReply() map[string]any {
	d.mu.Lock()
	t := d.last
	d.mu.Unlock()
	reply := map[string]any{"snapshot": nil, "history": d.hist.points(), "points": len(d.hist.ring),
		"interval": d.cfg.Interval.Milliseconds()}
	if t != nil {
		reply["snapshot"] = t.snap
	}
	return reply
}

// group is the first rows of an expanded group of the newest sample: kind "channels" (key: a prefix) or
// "sockets" (key: a transport).
func (d *Dashboard) group(kind, key string) (Group, bool) {
	d.mu.Lock()
	t := d.last
	d.mu.Unlock()
	if t == nil {
		return Group{Rows: []Row{}}, true
	}
	var g Group
	var ok bool
	switch kind {
	case "channels":
		g, ok = t.channels[key]
	case "sockets":
		g, ok = t.sockets[key]
	default:
		return Group{}, false
	}
	if !ok {
		g = Group{Rows: []Row{}} // gone since the page asked
	}
	return g, true
}

// poke asks the sampler for a sample now (a page joined); a pending request is enough.
func (d *Dashboard) poke() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// pageChannel is the page's channel: its join reply is the newest sample, and it answers "group" with
// the rows of an expanded group. Updates reach it as broadcasts on Topic.
type pageChannel struct{ d *Dashboard }

func (c *pageChannel) Join(*channel.Socket, string, channel.Payload) (any, error) {
	c.d.poke()
	return c.d.joinReply(), nil
}

func (c *pageChannel) HandleIn(_ *channel.Socket, event string, p channel.Payload) (channel.Reply, error) {
	if event != "group" {
		return channel.ReplyError(map[string]string{"reason": "unknown event"}), nil
	}
	var req struct{ Kind, Key string }
	if err := p.Decode(&req); err != nil {
		return channel.ReplyError(map[string]string{"reason": "bad request"}), nil
	}
	g, ok := c.d.group(req.Kind, req.Key)
	if !ok {
		return channel.ReplyError(map[string]string{"reason": "unknown kind"}), nil
	}
	return channel.ReplyOK(g), nil
}

//go:embed static
var static embed.FS

var page = template.Must(template.ParseFS(static, "static/index.html"))

// ServeHTTP serves the page (at the mount path, which must end in "/": mount it as a subtree,
// mux.Handle("/dashboard/", d)), its script and style, and its socket (socket/websocket and
// socket/longpoll under the mount path), each after Config.Authorize. It answers 503 before Start and
// after Close.
func (d *Dashboard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if d.cfg.Authorize != nil && !d.cfg.Authorize(r) {
		http.Error(w, "forbidden", http.StatusForbidden)
		return
	}
	d.mu.Lock()
	ep, ok := d.ep, d.started && !d.closed
	d.mu.Unlock()
	if !ok {
		http.Error(w, "dashboard not running", http.StatusServiceUnavailable)
		return
	}
	p := r.URL.Path
	for _, last := range []string{"/socket/websocket", "/socket/longpoll"} {
		if strings.HasSuffix(p, last) {
			// The endpoint knows its socket at /socket, wherever the dashboard is mounted.
			r2 := r.Clone(r.Context())
			r2.URL.Path, r2.URL.RawPath = last, ""
			ep.ServeHTTP(w, r2)
			return
		}
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	switch {
	case strings.HasSuffix(p, "/"):
		var b bytes.Buffer
		if err := page.Execute(&b, map[string]any{"PhoenixJS": d.cfg.PhoenixJS}); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		_, _ = w.Write(b.Bytes())
	case strings.HasSuffix(p, "/dashboard.js"), strings.HasSuffix(p, "/dashboard.css"):
		name := p[strings.LastIndexByte(p, '/')+1:]
		w.Header().Set("Cache-Control", "no-cache")
		http.ServeFileFS(w, r, static, "static/"+name)
	default:
		http.NotFound(w, r)
	}
}
