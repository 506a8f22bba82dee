package channel_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"strings"
	"time"

	"github.com/pyrehq/pyre/actors/channel"
	"github.com/pyrehq/pyre/supervisor"
	"github.com/pyrehq/pyre/transport"
	"github.com/pyrehq/pyre/transport/client"
)

// serve serves router on a loopback httptest server for the examples and returns a dial function and a stop
// function.
func serve(router *channel.Router) (dial func(params url.Values) (*client.Conn, error), stop func()) {
	ep := transport.NewEndpoint(transport.Config{Logger: slog.New(slog.DiscardHandler)})
	ep.Socket("/socket", router)
	srv := httptest.NewServer(ep)
	wsURL := "ws" + strings.TrimPrefix(srv.URL, "http") + "/socket/websocket?vsn=2.0.0"
	dial = func(params url.Values) (*client.Conn, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return client.Dial(ctx, wsURL, client.Options{Params: params})
	}
	return dial, func() {
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = ep.Shutdown(ctx)
	}
}

// Lobby lets in the users the socket authenticated, and only them.
type Lobby struct{}

func (Lobby) Join(s *channel.Socket, topic string, _ channel.Payload) (any, error) {
	user, _ := channel.Get[string](s.Assigns(), "user_id")
	if topic == "room:admin" && user != "ada" {
		return nil, channel.Deny(map[string]string{"reason": "unauthorized"}) // the join's error reply
	}
	return map[string]string{"hello": user}, nil
}

func (Lobby) HandleIn(*channel.Socket, string, channel.Payload) (channel.Reply, error) {
	return channel.NoReply, nil
}

// A socket handler authenticates connections (Phoenix's connect/3) and names them (id/1); a channel's Join
// authorizes topics.
func ExampleNewRouter() {
	router := channel.NewRouter(channel.ConnectFunc(func(params url.Values, _ channel.ConnectInfo) (channel.Assigns, error) {
		user := params.Get("token") // a real app verifies a signed token: package transport/token
		if user == "" {
			return nil, channel.Refuse("no token") // HTTP 403
		}
		return channel.Assigns{"user_id": user}, nil // every channel of the connection sees these
	}))
	router.Channel("room:*", func() channel.Channel { return Lobby{} })
	dial, stop := serve(router)
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	_, err := dial(nil)
	var refused *client.HandshakeError
	fmt.Println("without a token:", errors.As(err, &refused) && refused.StatusCode == 403)

	for _, user := range []string{"ada", "bob"} {
		conn, err := dial(url.Values{"token": {user}})
		if err != nil {
			log.Fatal(err)
		}
		_, lobby, _ := conn.Join(ctx, "room:lobby", nil)
		_, admin, err := conn.Join(ctx, "room:admin", nil)
		fmt.Println(user, string(lobby.Response), admin.Status, string(admin.Response), err != nil)
		conn.Close()
	}
	// Output:
	// without a token: true
	// ada {"hello":"ada"} ok {"hello":"ada"} false
	// bob {"hello":"bob"} error {"reason":"unauthorized"} true
}

// Counter counts in a field (lost when the channel crashes) and keeps a cursor with Keep (carried into the
// next incarnation).
type Counter struct{ n int }

func (c *Counter) Join(s *channel.Socket, _ string, _ channel.Payload) (any, error) {
	cursor, _ := channel.Get[int](s.Assigns(), "cursor") // 0 at the first join; the kept value after a crash
	return map[string]int{"incarnation": s.Incarnation(), "cursor": cursor}, nil
}

func (c *Counter) HandleIn(s *channel.Socket, event string, _ channel.Payload) (channel.Reply, error) {
	switch event {
	case "inc":
		c.n++
		cursor, _ := channel.Get[int](s.Assigns(), "cursor")
		if err := s.Keep("cursor", cursor+1); err != nil {
			return channel.ReplyError(map[string]string{"reason": err.Error()}), nil
		}
	case "crash":
		panic("boom")
	}
	cursor, _ := channel.Get[int](s.Assigns(), "cursor")
	return channel.ReplyOK(map[string]int{"incarnation": s.Incarnation(), "n": c.n, "cursor": cursor}), nil
}

// A Transient route (the default) restarts a crashed channel in place: the client keeps its join, the push
// that crashed is answered channel_crash, Join runs again on a fresh Channel value, and only what was
// kept with Socket.Keep survives.
func ExampleSocket_Keep() {
	router := channel.NewRouter(nil)
	router.Channel("counter:*", func() channel.Channel { return &Counter{} },
		channel.WithRestart(supervisor.Transient), // the default
		channel.WithIntensity(3, 5*time.Second))   // more crashes than that: phx_error, the channel ends
	dial, stop := serve(router)
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := dial(nil)
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()

	ch, joined, _ := conn.Join(ctx, "counter:a", nil)
	fmt.Println("join:", string(joined.Response))
	for _, event := range []string{"inc", "inc", "crash", "get"} {
		reply, err := ch.Push(ctx, event, nil) // a status other than "ok" is also a *client.ReplyError
		if _, ok := errors.AsType[*client.ReplyError](err); err != nil && !ok {
			log.Fatal(err)
		}
		fmt.Println(event+":", reply.Status, string(reply.Response))
	}
	// Output:
	// join: {"cursor":0,"incarnation":1}
	// inc: ok {"cursor":1,"incarnation":1,"n":1}
	// inc: ok {"cursor":2,"incarnation":1,"n":2}
	// crash: error {"reason":"channel_crash"}
	// get: ok {"cursor":2,"incarnation":2,"n":0}
}
