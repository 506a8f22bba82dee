package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/pyrehq/pyre/actors/channel"
	"github.com/pyrehq/pyre/actors/cluster"
	"github.com/pyrehq/pyre/actors/cluster/clustertest"
	"github.com/pyrehq/pyre/actors/presence"
	"github.com/pyrehq/pyre/actors/pubsub"
	"github.com/pyrehq/pyre/supervisor"
	"github.com/pyrehq/pyre/transport"
)

const (
	socketPath  = "/socket"
	topicPrefix = "room:"
	idPrefix    = "users_socket:"
)

// userSocket accepts any client that names itself with user_id, and gives its connection the id
// users_socket:<user_id>, which the chaos targets carry as their socket id label.
type userSocket struct{}

func (userSocket) Connect(params url.Values, _ channel.ConnectInfo) (channel.Assigns, error) {
	id := params.Get("user_id")
	if id == "" {
		return nil, channel.Refuse("user_id required")
	}
	return channel.Assigns{"user_id": id}, nil
}

func (userSocket) ID(a channel.Assigns) string {
	id, _ := channel.Get[string](a, "user_id")
	return idPrefix + id
}

// room answers ping with the client's sequence number and the incarnation that served it; crash panics,
// as a bug in user code would. With several nodes it tracks its user's presence in its topic.
type room struct {
	tr *atomic.Pointer[presence.Tracker]
}

type pingPayload struct {
	Seq int64 `json:"seq"`
}

type pongPayload struct {
	Seq         int64 `json:"seq"`
	Incarnation int   `json:"incarnation"`
}

func (r room) Join(s *channel.Socket, _ string, _ channel.Payload) (any, error) {
	if t := r.tr.Load(); t != nil {
		user, _ := channel.Get[string](s.Assigns(), "user_id")
		if err := t.Track(s, user, nil); err != nil {
			return nil, err
		}
	}
	return nil, nil
}

func (room) HandleIn(s *channel.Socket, event string, p channel.Payload) (channel.Reply, error) {
	switch event {
	case "ping":
		var in pingPayload
		if err := p.Decode(&in); err != nil {
			return channel.ReplyError(map[string]string{"reason": "bad payload"}), nil
		}
		return channel.ReplyOK(pongPayload{Seq: in.Seq, Incarnation: s.Incarnation()}), nil
	case "crash":
		panic("crash requested by the client")
	}
	return channel.ReplyError(map[string]string{"reason": "unknown event"}), nil
}

// server is a Pyre endpoint served on a loopback port.
type server struct {
	ep        *transport.Endpoint
	http      *http.Server
	url       string // ws://127.0.0.1:port/socket/websocket?vsn=2.0.0
	serveDone chan error
	tracker   *presence.Tracker // with -nodes > 1: presence replicated across the nodes

	node *cluster.Node      // with -nodes > 1: this server's cluster node
	sys  *actor.ActorSystem // and its actor system
}

func startServer(chanIntensity, connIntensity supervisor.Intensity, log *slog.Logger) (*server, error) {
	return startServerWith(transport.Config{Logger: log}, nil, chanIntensity, connIntensity)
}

func startServerWith(tcfg transport.Config, node *cluster.Node, chanIntensity, connIntensity supervisor.Intensity) (*server, error) {
	router := channel.NewRouter(userSocket{}, channel.WithConnIntensity(connIntensity.Max, connIntensity.Period))
	tr := new(atomic.Pointer[presence.Tracker])
	router.Channel(topicPrefix+"*", func() channel.Channel { return room{tr: tr} },
		channel.WithRestart(supervisor.Transient), channel.WithIntensity(chanIntensity.Max, chanIntensity.Period))

	ep := transport.NewEndpoint(tcfg)
	ep.Socket(socketPath, router)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &server{
		ep:        ep,
		http:      &http.Server{Handler: ep, ReadHeaderTimeout: 5 * time.Second},
		url:       fmt.Sprintf("ws://%s%s/websocket?vsn=2.0.0", ln.Addr(), socketPath),
		serveDone: make(chan error, 1),
	}
	if node != nil {
		t, err := presence.Start(context.Background(), ep, presence.Config{Cluster: node, Logger: tcfg.Logger})
		if err != nil {
			ln.Close()
			_ = ep.Shutdown(context.Background())
			return nil, err
		}
		tr.Store(t)
		s.tracker = t
	}
	go func() { s.serveDone <- s.http.Serve(ln) }()
	return s, nil
}

// shutdown stops accepting, closes every connection (1012) and waits for every actor and goroutine.
func (s *server) shutdown(ctx context.Context) error {
	err := s.http.Shutdown(ctx)
	err = errors.Join(err, s.ep.Shutdown(ctx))
	if serveErr := <-s.serveDone; !errors.Is(serveErr, http.ErrServerClosed) {
		err = errors.Join(err, serveErr)
	}
	return err
}

// gate is a cluster provider that lists the peers only once opened: every node of the process starts its
// remote before any of them talks (a node starting beside a live gRPC client races on grpc's logger).
type gate struct{ update chan func([]string) }

func (g gate) Start(_ string, update func([]string)) error { g.update <- update; return nil }
func (gate) Stop()                                         {}

// startNodes starts n servers, each a cluster node with its own actor system on a loopback cluster port,
// and waits (within timeout) until every node sees every other.
func startNodes(n int, chanIntensity, connIntensity supervisor.Intensity, log *slog.Logger, timeout time.Duration) ([]*server, error) {
	addrs := make([]string, n)
	for i := range addrs {
		a, err := clustertest.Addr("127.0.0.1")
		if err != nil {
			return nil, err
		}
		addrs[i] = a
	}
	var srvs []*server
	var opens []func([]string)
	fail := func(err error) ([]*server, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		_ = shutdownAll(ctx, srvs)
		return nil, err
	}
	for i, addr := range addrs {
		sys := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return log }),
			actor.WithDeadLetterThrottleInterval(time.Millisecond))
		g := gate{update: make(chan func([]string), 1)}
		node := cluster.New(cluster.Config{System: sys, Address: addr, Name: "n" + strconv.Itoa(i+1), Provider: g, Logger: log})
		ps := pubsub.New(pubsub.Config{Adapter: node})
		if err := node.Start(ps); err != nil {
			sys.Shutdown()
			return fail(err)
		}
		opens = append(opens, <-g.update)
		s, err := startServerWith(transport.Config{System: sys, PubSub: ps, Logger: log}, node, chanIntensity, connIntensity)
		if err != nil {
			_ = cluster.StopAll(context.Background(), node)
			sys.Shutdown()
			return fail(err)
		}
		s.node, s.sys = node, sys
		srvs = append(srvs, s)
	}
	for _, open := range opens {
		open(addrs)
	}
	if !poll(context.Background(), timeout, func() bool {
		for _, s := range srvs {
			if len(s.node.Members()) != n {
				return false
			}
		}
		return true
	}) {
		return fail(fmt.Errorf("the %d nodes did not meet within %v", n, timeout))
	}
	return srvs, nil
}

// shutdownAll shuts every server down, then stops their nodes together (cluster.StopAll) and their actor
// systems.
func shutdownAll(ctx context.Context, srvs []*server) error {
	var err error
	var nodes []*cluster.Node
	for _, s := range srvs {
		err = errors.Join(err, s.shutdown(ctx))
		if s.node != nil {
			nodes = append(nodes, s.node)
		}
	}
	err = errors.Join(err, cluster.StopAll(ctx, nodes...))
	for _, s := range srvs {
		if s.sys != nil {
			s.sys.Shutdown()
		}
	}
	return err
}
