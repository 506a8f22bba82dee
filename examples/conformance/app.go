package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"strings"
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
	"github.com/pyrehq/pyre/supervisor"
	"github.com/pyrehq/pyre/supervisor/chaos"
	"github.com/pyrehq/pyre/supervisor/chaos/pyrechaos"
	"github.com/pyrehq/pyre/transport"
	"github.com/pyrehq/pyre/transport/dashboard"
	"github.com/pyrehq/pyre/transport/metrics"
	"github.com/pyrehq/pyre/transport/token"
)

type app struct {
	name     string        // PYRE_NODE ("" for a single node)
	node     *cluster.Node // nil for a single node
	sys      *actor.ActorSystem
	endpoint *transport.Endpoint
	dash     *dashboard.Dashboard // at /dashboard/, for loopback clients
	mux      *http.ServeMux
	signer   *token.Signer // the user tokens of /auth
	presence *presence.Tracker
}

// userSocket accepts everyone but reject=1 (and refuse_websocket=1 over WebSocket, so that a client falls
// back to long-poll) and names sockets by user_id.
type userSocket struct{}

func (userSocket) Connect(params url.Values, info channel.ConnectInfo) (channel.Assigns, error) {
	if params.Get("reject") == "1" {
		return nil, channel.Refuse("rejected by request")
	}
	if params.Get("refuse_websocket") == "1" && info.Transport == "websocket" {
		return nil, channel.Refuse("WebSocket refused by request")
	}
	a := channel.Assigns{}
	if id := params.Get("user_id"); id != "" {
		a["user_id"] = id
	}
	return a, nil
}

func (userSocket) ID(a channel.Assigns) string {
	if id, ok := channel.Get[string](a, "user_id"); ok {
		return "users_socket:" + id
	}
	return ""
}

// authSocket is socket authentication with signed tokens (Phoenix.Token's idiom): the token comes as the
// `token` connect param, else as phoenix.js's authToken (the Sec-WebSocket-Protocol bearer, or the
// X-Phoenix-AuthToken header over long-poll). No token, a bad or an expired one: refused (HTTP 403).
type authSocket struct{ signer *token.Signer }

func (s authSocket) Connect(params url.Values, info channel.ConnectInfo) (channel.Assigns, error) {
	tok := params.Get("token")
	if tok == "" {
		tok = info.AuthToken
	}
	var user string
	switch err := s.signer.Verify(tok, &user); {
	case errors.Is(err, token.ErrMissing):
		return nil, channel.Refuse("missing token")
	case errors.Is(err, token.ErrExpired):
		return nil, channel.Refuse("expired token")
	case err != nil:
		return nil, channel.Refuse("invalid token")
	}
	return channel.Assigns{"user_id": user}, nil
}

func (authSocket) ID(a channel.Assigns) string { return "users_socket:" + a["user_id"].(string) }

// whoamiChannel answers its join with the authenticated user.
type whoamiChannel struct{}

func (whoamiChannel) Join(s *channel.Socket, _ string, _ channel.Payload) (any, error) {
	return map[string]any{"user_id": s.Assigns()["user_id"], "transport": s.Transport()}, nil
}
func (whoamiChannel) HandleIn(*channel.Socket, string, channel.Payload) (channel.Reply, error) {
	return channel.NoReply, nil
}

// newApp is the single node of the tests; newNodeApp the same app as one node of a cluster.
func newApp() *app {
	a, err := newNodeApp(clusterConfig{})
	if err != nil {
		panic(err)
	}
	return a
}

// clusterConfig is PYRE_NODE, PYRE_CLUSTER_ADDR and PYRE_CLUSTER_PEERS (every member's cluster address,
// this one's included). The zero value is a single node.
type clusterConfig struct {
	name, addr string
	peers      []string
}

func clusterFromEnv() (clusterConfig, error) {
	c := clusterConfig{name: os.Getenv("PYRE_NODE"), addr: os.Getenv("PYRE_CLUSTER_ADDR")}
	for _, p := range strings.Split(os.Getenv("PYRE_CLUSTER_PEERS"), ",") {
		if p = strings.TrimSpace(p); p != "" {
			c.peers = append(c.peers, p)
		}
	}
	if (c.addr == "") != (c.name == "") || (c.addr == "" && len(c.peers) > 0) {
		return c, errors.New("PYRE_NODE, PYRE_CLUSTER_ADDR and PYRE_CLUSTER_PEERS go together")
	}
	return c, nil
}

// maxFrame is the endpoint's MaxFrameSize (transport's default, 10 MB): a broadcast of a payload this big
// crosses nodes (cluster.Config.MaxPayload is 16 MiB).
const maxFrame = 10 << 20

func newNodeApp(cc clusterConfig) (*app, error) {
	a := &app{name: cc.name, mux: http.NewServeMux()}
	// GET /metrics: Prometheus metrics on a registry of the app's own; /dashboard/: the live dashboard.
	reg := prometheus.NewRegistry()
	m, err := metrics.New(reg, metrics.Config{})
	if err != nil {
		return nil, err
	}
	dcfg := dashboard.Config{Authorize: loopback.Only, PhoenixJS: "/assets/phoenix.mjs", Node: cc.name}
	var ps *pubsub.PubSub
	if cc.addr != "" {
		// A node: its actor system, the cluster node as the pubsub's adapter, started before the endpoint.
		// protoactor's own log (connections, endpoint writers) at Warn and above.
		a.sys = actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
			return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
		}))
		a.node = cluster.New(cluster.Config{System: a.sys, Address: cc.addr, Name: cc.name, Provider: cluster.Static(cc.peers),
			Events: m.Events()})
		m.SetClusterMembers(1)
		dcfg.Nodes = clusterdash.Nodes(a.node)
		ps = pubsub.New(pubsub.Config{Adapter: a.node, MaxPayloadSize: maxFrame})
		if err := a.node.Start(ps); err != nil {
			a.sys.Shutdown()
			return nil, err
		}
	}
	router := channel.NewRouter(userSocket{})
	router.Channel("chat:*", chat.New)
	// echo:* keeps Phoenix's crash semantics; restart:* is the same channel restarted in place.
	router.Channel("echo:*", func() channel.Channel { return &echoChannel{} }, channel.WithRestart(supervisor.Temporary))
	router.Channel("restart:*", func() channel.Channel { return &restartChannel{} }, channel.WithRestart(supervisor.Transient))
	var tracker *presence.Tracker // started with the endpoint below, before any join
	router.Channel("presence:*", func() channel.Channel { return &presenceChannel{tr: tracker} })

	a.dash = dashboard.New(dcfg)
	// Long-poll (/socket/longpoll) with a 2 s window instead of Phoenix's 10 s: an idle session expires
	// after 3 s, which the phoenix.js suite waits for.
	cfg := transport.Config{CheckOrigin: transport.AllowAllOrigins(), LongPollWindow: 2 * time.Second,
		MaxFrameSize: maxFrame, System: a.sys, PubSub: ps, Events: telemetry.Combine(m.Events(), a.dash.Events())}
	if a.node != nil {
		// A long-poll session is reachable from every node; they sign tokens with one secret
		// ($SECRET_KEY_BASE, else this example's own).
		cfg.LongPollPeers = a.node.LongPoll()
		cfg.SecretKeyBase = cmp.Or(os.Getenv("SECRET_KEY_BASE"), "pyre conformance example secret, not for production")
	}
	ep := transport.NewEndpoint(cfg)
	if a.node != nil {
		a.node.LongPoll().Handle(ep)
	}
	ep.Socket("/socket", router)
	pcfg := presence.Config{}
	if a.node != nil {
		pcfg.Cluster = a.node // presences of every node
	}
	tracker, err = presence.Start(context.Background(), ep, pcfg)
	if err != nil {
		return nil, err
	}
	if err := a.dash.Start(ep); err != nil {
		return nil, err
	}

	// /auth: the same server with token authentication; GET /token?user=U[&max_age=D] signs one.
	signer, err := token.NewSigner(rand.Text()+rand.Text(), "user socket")
	if err != nil {
		panic(err)
	}
	auth := channel.NewRouter(authSocket{signer: signer})
	auth.Channel("whoami", func() channel.Channel { return whoamiChannel{} })
	ep.Socket("/auth", auth)

	a.endpoint, a.signer, a.presence = ep, signer, tracker
	a.mux.Handle("/dashboard/", a.dash)
	a.mux.HandleFunc("GET /assets/phoenix.mjs", servePhoenix)
	a.mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	a.mux.HandleFunc("GET /presence", a.presenceList)
	a.mux.Handle("/auth/", ep)
	a.mux.HandleFunc("GET /token", a.token)
	a.mux.Handle("/socket/", ep)
	a.mux.HandleFunc("GET /broadcast", a.broadcast)
	a.mux.HandleFunc("GET /health", a.health)
	a.mux.HandleFunc("GET /stats", a.stats)
	a.mux.HandleFunc("GET /chaos/kill", a.kill)
	a.mux.HandleFunc("GET /cluster", clusterdash.Members(a.name, a.node))
	a.mux.HandleFunc("GET /disconnect", a.disconnect)
	return a, nil
}

// shutdown closes the dashboard, drains the endpoint, then leaves the cluster. Call the http.Server's
// Shutdown first.
func (a *app) shutdown(ctx context.Context) error {
	err := errors.Join(a.dash.Close(ctx), a.endpoint.Shutdown(ctx))
	if a.node != nil {
		if e := a.node.Stop(ctx); err == nil {
			err = e
		}
		a.sys.Shutdown()
	}
	return err
}

// phoenixModules are where npm puts phoenix.js (the dashboard page imports it from /assets/phoenix.mjs),
// from this directory and from the repository root.
var phoenixModules = []string{
	"browser/node_modules/phoenix/priv/static/phoenix.mjs",
	"examples/conformance/browser/node_modules/phoenix/priv/static/phoenix.mjs",
}

// servePhoenix serves phoenix.js for the dashboard, or 503 saying how to install it.
func servePhoenix(w http.ResponseWriter, r *http.Request) {
	for _, p := range phoenixModules {
		if _, err := os.Stat(p); err == nil {
			w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
			http.ServeFile(w, r, p)
			return
		}
	}
	http.Error(w, "phoenix.js is not installed: run `npm ci --prefix examples/conformance/browser`", http.StatusServiceUnavailable)
}

// disconnect: GET /disconnect?id=users_socket:42 closes that socket id's connections on every node.
func (a *app) disconnect(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("id")
	if id == "" {
		http.Error(w, "id is required", http.StatusBadRequest)
		return
	}
	if err := a.endpoint.Disconnect(id); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	_, _ = w.Write([]byte("ok"))
}

// presenceList: GET /presence?topic=T answers the server's presence list of T (as presence_state).
func (a *app) presenceList(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(a.presence.List(r.URL.Query().Get("topic")))
}

// token: GET /token?user=U[&max_age=D] answers a token for /auth signed for user U, valid for D (a Go
// duration; default one day), as a login page would hand one to its client.
func (a *app) token(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	user := q.Get("user")
	if user == "" {
		http.Error(w, "user is required", http.StatusBadRequest)
		return
	}
	var opts []token.SignOption
	if v := q.Get("max_age"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			http.Error(w, "max_age must be a positive duration", http.StatusBadRequest)
			return
		}
		opts = append(opts, token.MaxAge(d))
	}
	tok, err := a.signer.Sign(user, opts...)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	_, _ = w.Write([]byte(tok))
}

// broadcast: GET /broadcast?topic=T&event=E&msg=M (or payload=<json object>) to every node; with local=1
// to this node's subscribers only.
func (a *app) broadcast(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	topic, event := q.Get("topic"), q.Get("event")
	if topic == "" || event == "" {
		http.Error(w, "topic and event are required", http.StatusBadRequest)
		return
	}
	var payload any = map[string]string{"msg": q.Get("msg")}
	if raw := q.Get("payload"); raw != "" {
		if !json.Valid([]byte(raw)) {
			http.Error(w, "payload is not valid JSON", http.StatusBadRequest)
			return
		}
		payload = json.RawMessage(raw)
	}
	send := a.endpoint.Broadcast
	if q.Get("local") == "1" {
		send = a.endpoint.LocalBroadcast
	}
	if err := send(topic, event, payload); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	_, _ = w.Write([]byte("ok"))
}

// kill: GET /chaos/kill?kind=socket|channel|infrastructure&topic=P&socket_id=S&child=C&method=exit|panic
// kills one matching actor at random and answers what it killed (404 when nothing matched). child selects
// an infrastructure worker by its child id under the endpoint supervisor (e.g. child=presence, the
// presence tracker; child=janitor).
func (a *app) kill(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	sel := chaos.Selector{Topic: q.Get("topic"), SocketID: q.Get("socket_id")}
	if k := q.Get("kind"); k != "" {
		sel.Kinds = []chaos.Kind{chaos.Kind(k)}
	}
	if child := q.Get("child"); child != "" {
		sel.Match = func(t chaos.Target) bool { return t.Labels[chaos.LabelChild] == child }
	}
	method := chaos.Exit
	switch q.Get("method") {
	case "", "exit":
	case "panic":
		method = chaos.Panic
	default:
		http.Error(w, "method must be exit or panic", http.StatusBadRequest)
		return
	}
	k, ok := chaos.Once(pyrechaos.Population(a.endpoint), sel, method, nil)
	if !ok || !k.Done {
		http.Error(w, "no matching actor", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"kind": k.Kind, "labels": k.Labels, "method": k.Method.String()})
}

// health: 200 "ok" while the endpoint serves; 503 with the reason once it stopped on its own (its
// supervisor gave up, Endpoint.Err), so that a load balancer or orchestrator replaces this server.
func (a *app) health(w http.ResponseWriter, _ *http.Request) {
	if err := a.endpoint.Err(); err != nil {
		http.Error(w, "endpoint stopped: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	_, _ = w.Write([]byte("ok"))
}

func (a *app) stats(w http.ResponseWriter, _ *http.Request) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	s := a.endpoint.Stats()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"goroutines": runtime.NumGoroutine(),
		"heap_bytes": ms.HeapAlloc,
		"sockets":    s.Sockets,
		"channels":   s.Channels,
		"actors":     s.Actors,
		"topics":     s.Topics,
		"restarts":   s.Restarts,
	})
}

// echoChannel has Phoenix-exact crash semantics; see the README of this example for its events.
type echoChannel struct{}

type welcome struct{}

func (*echoChannel) Join(s *channel.Socket, topic string, _ channel.Payload) (any, error) {
	s.Send(welcome{})
	return map[string]string{"joined": topic}, nil
}

func (*echoChannel) HandleInfo(s *channel.Socket, msg any) error {
	if _, ok := msg.(welcome); ok {
		return s.Push("welcome", map[string]string{"topic": s.Topic()})
	}
	return nil
}

func (*echoChannel) HandleIn(s *channel.Socket, event string, p channel.Payload) (channel.Reply, error) {
	switch event {
	case "echo":
		return channel.ReplyOK(p), nil
	case "error":
		return channel.ReplyError(p), nil
	case "reply_ok":
		return channel.ReplyOK(nil), nil
	case "noreply":
		return channel.NoReply, nil
	case "crash":
		panic("crash requested")
	case "stop":
		return channel.NoReply, channel.StopNormal
	case "stop_reply":
		return channel.ReplyOK(p), channel.StopNormal
	case "broadcast":
		return channel.NoReply, s.Broadcast("broadcast", p)
	case "broadcast_from":
		return channel.NoReply, s.BroadcastFrom("broadcast_from", p)
	case "async":
		ref := s.ReplyRef()
		time.AfterFunc(50*time.Millisecond, func() { _ = ref.Reply(channel.ReplyOK(p)) })
		return channel.NoReply, nil
	case "push":
		return channel.NoReply, s.Push("push", p)
	case "binary":
		if p.IsBinary() {
			return channel.ReplyOK(p), nil
		}
	}
	panic("unexpected event " + event)
}

// restartChannel is echoChannel under the Transient restart policy, plus two events that show restarts:
// count (a counter that lives as long as one incarnation) and incarnation (starts of this channel).
type restartChannel struct {
	echoChannel
	count int
}

func (c *restartChannel) HandleIn(s *channel.Socket, event string, p channel.Payload) (channel.Reply, error) {
	switch event {
	case "count":
		c.count++
		return channel.ReplyOK(map[string]int{"count": c.count}), nil
	case "incarnation":
		return channel.ReplyOK(map[string]int{"incarnation": s.Incarnation()}), nil
	}
	return c.echoChannel.HandleIn(s, event, p)
}

// presenceChannel tracks params.user (else the socket's user_id, else "anonymous") with
// {"online_at":"<unix seconds>"} and pushes presence_state after joining. Events: "update" merges the
// payload into the meta, "untrack", "crash" (presence:* restarts in place: clients see no change).
type presenceChannel struct {
	tr   *presence.Tracker
	key  string
	meta map[string]any
}

type presenceAfterJoin struct{}

func (c *presenceChannel) Join(s *channel.Socket, _ string, p channel.Payload) (any, error) {
	var params struct {
		User string `json:"user"`
	}
	_ = p.Decode(&params)
	c.key = params.User
	if c.key == "" {
		c.key, _ = channel.Get[string](s.Assigns(), "user_id")
	}
	if c.key == "" {
		c.key = "anonymous"
	}
	c.meta = map[string]any{"online_at": strconv.FormatInt(time.Now().Unix(), 10)}
	if err := c.tr.Track(s, c.key, c.meta); err != nil {
		return nil, err
	}
	if s.Incarnation() > 1 { // restarted in place: the presence was kept as it was; so is our copy
		if raw, ok := c.tr.Tracked(s, c.key); ok {
			meta := map[string]any{}
			if json.Unmarshal(raw, &meta) == nil {
				delete(meta, "phx_ref")
				delete(meta, "phx_ref_prev")
				c.meta = meta
			}
		}
	}
	s.Send(presenceAfterJoin{})
	return nil, nil
}

func (c *presenceChannel) HandleInfo(s *channel.Socket, msg any) error {
	if _, ok := msg.(presenceAfterJoin); ok {
		return c.tr.PushState(s)
	}
	return nil
}

func (c *presenceChannel) HandleIn(s *channel.Socket, event string, p channel.Payload) (channel.Reply, error) {
	switch event {
	case "update":
		var extra map[string]any
		if err := p.Decode(&extra); err != nil {
			return channel.ReplyError(map[string]string{"reason": "payload must be an object"}), nil
		}
		for k, v := range extra {
			c.meta[k] = v
		}
		if err := c.tr.Update(s, c.key, c.meta); err != nil {
			return channel.ReplyError(map[string]string{"reason": err.Error()}), nil
		}
	case "untrack":
		c.tr.Untrack(s, c.key)
	case "crash":
		panic("crash requested")
	}
	return channel.ReplyOK(nil), nil
}
