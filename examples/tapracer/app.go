package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/pyrehq/pyre/actors/channel"
	"github.com/pyrehq/pyre/actors/cluster"
	"github.com/pyrehq/pyre/actors/presence"
	"github.com/pyrehq/pyre/actors/pubsub"
	"github.com/pyrehq/pyre/actors/telemetry"
	"github.com/pyrehq/pyre/examples/internal/chat"
	"github.com/pyrehq/pyre/examples/internal/clusterdash"
	"github.com/pyrehq/pyre/examples/internal/loopback"
	"github.com/pyrehq/pyre/transport"
	"github.com/pyrehq/pyre/transport/dashboard"
	"github.com/pyrehq/pyre/transport/metrics"
)

// phoenixModule is where npm puts the official phoenix.js ES module, relative to the app directory.
const phoenixModule = "assets/node_modules/phoenix/priv/static/phoenix.mjs"

// npmHint tells how to get phoenix.js when it is missing.
const npmHint = "run `npm ci --prefix examples/tapracer/assets` (or `make run`)"

// config configures the app. The zero value serves from the current directory with real time.
type config struct {
	// Dir holds static/ and assets/. Zero value means the current directory.
	Dir string
	// Throttle is the shortest interval between two race_state broadcasts. Zero value means 50 ms.
	Throttle time.Duration
	// Logger receives the app's and the endpoint's reports. Zero value means slog.Default().
	Logger *slog.Logger
	// Cluster makes the app one node of a cluster. Zero value means a single node.
	Cluster clusterConfig
}

// app is TapRacer: the Pyre endpoint with its socket, the race, the presence tracker, and the web pages.
type app struct {
	endpoint *transport.Endpoint
	dash     *dashboard.Dashboard // the live dashboard at /dashboard/, for loopback clients
	race     raceAPI
	node     *cluster.Node      // nil on a single node
	sys      *actor.ActorSystem // the node's actor system; nil on a single node
	nodeName string             // shown on the pages ("" on a single node)
	err      error              // the cluster node did not start
	presence *presence.Tracker  // racers in "play", members of each chat room
	handler  http.Handler
	log      *slog.Logger
	static   string // directory of the pages
	phoenix  string // path of phoenix.mjs on disk
}

// userSocket is the seed's UserSocket: everyone may connect, and sockets are anonymous (id/1 is nil).
func userSocket(url.Values, channel.ConnectInfo) (channel.Assigns, error) {
	return channel.Assigns{}, nil
}

// newApp builds the app; with cfg.Cluster set, a.err says whether its cluster node started.
func newApp(cfg config) *app {
	if cfg.Dir == "" {
		cfg.Dir = "."
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	a := &app{
		log:     cfg.Logger,
		static:  filepath.Join(cfg.Dir, "static"),
		phoenix: filepath.Join(cfg.Dir, phoenixModule),
	}
	// GET /metrics: Prometheus metrics on a registry of the app's own; /dashboard/: the live dashboard.
	reg := prometheus.NewRegistry()
	m, err := metrics.New(reg, metrics.Config{})
	if err != nil {
		panic("tapracer: " + err.Error())
	}
	var ps *pubsub.PubSub
	if cc := cfg.Cluster; cc.Addr != "" {
		// One actor system for the node and the endpoint; the node is the pubsub's adapter.
		a.nodeName = cc.Name
		a.sys = actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
			return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
		}))
		a.node = cluster.New(cluster.Config{System: a.sys, Address: cc.Addr, Name: cc.Name,
			Provider: cluster.Static(cc.Peers), Logger: cfg.Logger, Events: m.Events()})
		m.SetClusterMembers(1)
		ps = pubsub.New(pubsub.Config{Adapter: a.node, MaxPayloadSize: 10 << 20})
		if a.err = a.node.Start(ps); a.err != nil {
			a.node = nil
		}
	}
	a.dash = dashboard.New(dashboard.Config{Authorize: loopback.Only, PhoenixJS: "/assets/phoenix.mjs", Logger: cfg.Logger, Node: a.nodeName,
		Nodes: clusterdash.Nodes(a.node)})
	a.endpoint = transport.NewEndpoint(transport.Config{Logger: cfg.Logger, System: a.sys, PubSub: ps,
		Events: telemetry.Combine(m.Events(), a.dash.Events())})
	if cfg.Cluster.Addr == "" || cfg.Cluster.owner() {
		rc := newRace(a.endpoint.Broadcast, cfg.Throttle, realClock())
		if ps != nil {
			ps.Subscribe(topicOps, opsSubscriber{race: rc}) // what the other nodes' players do
		}
		a.race = rc
	} else {
		a.race = newRaceProxy(cfg.Cluster.Name, a.endpoint.Broadcast, a.endpoint.PubSub())
	}
	pcfg := presence.Config{Logger: cfg.Logger}
	if a.node != nil {
		pcfg.Cluster = a.node // every node's players and chat members
	}
	tracker, err := presence.Start(context.Background(), a.endpoint, pcfg)
	if err != nil {
		// Only a stopped endpoint refuses a child, and this one was just made.
		panic("tapracer: " + err.Error())
	}
	a.presence = tracker
	if err := a.dash.Start(a.endpoint); err != nil {
		panic("tapracer: " + err.Error()) // a new dashboard starts
	}

	router := channel.NewRouter(channel.ConnectFunc(userSocket))
	routes(router, a.race, tracker)
	a.endpoint.Socket("/socket", router)

	mux := http.NewServeMux()
	mux.Handle("/socket/", a.endpoint)
	mux.HandleFunc("GET /{$}", a.page("index.html"))
	mux.HandleFunc("GET /play", a.page("play.html"))
	mux.HandleFunc("GET /console", a.page("console.html"))
	mux.HandleFunc("GET /chat", a.page("chat.html"))
	mux.Handle("GET /static/", http.StripPrefix("/static/", noCache(http.FileServer(http.Dir(a.static)))))
	mux.HandleFunc("GET /assets/phoenix.mjs", a.phoenixJS(a.phoenix, "text/javascript; charset=utf-8"))
	mux.HandleFunc("GET /assets/phoenix.mjs.map", a.phoenixJS(a.phoenix+".map", "application/json"))
	mux.Handle("/dashboard/", a.dash)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	// The node this page's socket is on ("" on a single node); the pages show it.
	mux.HandleFunc("GET /node", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(a.nodeName)) })
	mux.HandleFunc("GET /cluster", clusterdash.Members(a.nodeName, a.node))
	a.handler = mux
	return a
}

// routes adds TapRacer's channels to r.
func routes(r *channel.Router, rc raceAPI, tracker *presence.Tracker) {
	r.Channel("console", func() channel.Channel { return &consoleChannel{race: rc, presence: tracker} })
	r.Channel("play", func() channel.Channel { return &playChannel{race: rc, presence: tracker} })
	r.Channel("chat:*", chat.WithPresence(tracker))
}

// check reports what is missing on disk: the pages, or phoenix.js. The app serves either way; a missing
// phoenix.js answers 503 until npm has run.
func (a *app) check() error {
	var errs []error
	if _, err := os.Stat(filepath.Join(a.static, "index.html")); err != nil {
		errs = append(errs, fmt.Errorf("tapracer: pages not found in %s (set -dir or TAPRACER_DIR to examples/tapracer): %w", a.static, err))
	}
	if _, err := os.Stat(a.phoenix); err != nil {
		errs = append(errs, fmt.Errorf("tapracer: phoenix.js not found at %s: %s; /assets/phoenix.mjs answers 503 until then", a.phoenix, npmHint))
	}
	return errors.Join(errs...)
}

// shutdown closes every connection (each player leaves the race) and then stops the race's timer.
// Call http.Server.Shutdown first.
func (a *app) shutdown(ctx context.Context) error {
	err := errors.Join(a.dash.Close(ctx), a.endpoint.Shutdown(ctx))
	a.race.close()
	if a.node != nil {
		if e := a.node.Stop(ctx); err == nil {
			err = e
		}
	}
	if a.sys != nil {
		a.sys.Shutdown()
	}
	return err
}

func (a *app) page(name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		http.ServeFile(w, r, filepath.Join(a.static, name))
	}
}

// phoenixJS serves a file of the phoenix npm package from disk, read at each request so that running npm
// while the server is up is enough.
func (a *app) phoenixJS(path, contentType string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		f, err := os.Open(path)
		if err != nil {
			a.log.Error("tapracer: phoenix.js is missing; "+npmHint, "path", path, "err", err)
			http.Error(w, "phoenix.js is not installed: "+npmHint, http.StatusServiceUnavailable)
			return
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil || fi.IsDir() {
			http.Error(w, "phoenix.js is not installed: "+npmHint, http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", contentType)
		w.Header().Set("Cache-Control", "no-cache")
		http.ServeContent(w, r, fi.Name(), fi.ModTime(), f)
	}
}

func noCache(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		h.ServeHTTP(w, r)
	})
}
