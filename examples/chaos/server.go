package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/pyrehq/pyre/actors/channel"
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
// as a bug in user code would.
type room struct{}

type pingPayload struct {
	Seq int64 `json:"seq"`
}

type pongPayload struct {
	Seq         int64 `json:"seq"`
	Incarnation int   `json:"incarnation"`
}

func (room) Join(*channel.Socket, string, channel.Payload) (any, error) { return nil, nil }

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
}

func startServer(chanIntensity, connIntensity supervisor.Intensity, log *slog.Logger) (*server, error) {
	router := channel.NewRouter(userSocket{}, channel.WithConnIntensity(connIntensity.Max, connIntensity.Period))
	router.Channel(topicPrefix+"*", func() channel.Channel { return room{} },
		channel.WithRestart(supervisor.Transient), channel.WithIntensity(chanIntensity.Max, chanIntensity.Period))

	ep := transport.NewEndpoint(transport.Config{Logger: log})
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
