package transport_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/pyrehq/pyre/actors/channel"
	"github.com/pyrehq/pyre/transport"
	"github.com/pyrehq/pyre/transport/client"
)

// room answers "shout" and broadcasts it to every member of the room.
type room struct{}

func (room) Join(s *channel.Socket, topic string, _ channel.Payload) (any, error) {
	return map[string]string{"welcome": topic}, nil
}

func (room) HandleIn(s *channel.Socket, event string, p channel.Payload) (channel.Reply, error) {
	if event != "shout" {
		return channel.ReplyError(map[string]string{"reason": "unknown event"}), nil
	}
	return channel.ReplyOK(nil), s.Broadcast("shout", p)
}

// A channel, a router and an endpoint serving them; a client joins, shouts and hears its own broadcast.
func Example() {
	router := channel.NewRouter(nil) // nil: every client may connect, anonymously
	router.Channel("room:*", func() channel.Channel { return room{} })

	ep := transport.NewEndpoint(transport.Config{Logger: slog.New(slog.DiscardHandler)})
	ep.Socket("/socket", router) // answers /socket/websocket and /socket/longpoll
	srv := httptest.NewServer(ep)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/socket/websocket?vsn=2.0.0"
	conn, err := client.Dial(ctx, url, client.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	ch, joined, err := conn.Join(ctx, "room:lobby", nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("join:", joined.Status, string(joined.Response))
	reply, _ := ch.Push(ctx, "shout", map[string]string{"body": "hello"})
	fmt.Println("reply:", reply.Status)
	m := <-ch.Messages()
	fmt.Println("broadcast:", m.Event, string(m.Payload))

	conn.Close()
	srv.Close()          // the http.Server first: no new connections
	_ = ep.Shutdown(ctx) // then drain the endpoint
	// Output:
	// join: ok {"welcome":"room:lobby"}
	// reply: ok
	// broadcast: shout {"body":"hello"}
}
