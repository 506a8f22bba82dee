// Command quickstart is the README's quick start: a chat room channel served on 127.0.0.1:4000.
package main

import (
	"context"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/pyrehq/pyre/actors/channel"
	"github.com/pyrehq/pyre/transport"
)

// Room is one client's subscription to one room:* topic; only its own actor touches it.
type Room struct{}

func (*Room) Join(s *channel.Socket, topic string, _ channel.Payload) (any, error) {
	return map[string]string{"welcome": topic}, nil // the join reply
}

func (*Room) HandleIn(s *channel.Socket, event string, p channel.Payload) (channel.Reply, error) {
	if event != "shout" {
		return channel.ReplyError(map[string]string{"reason": "unknown event"}), nil
	}
	var msg struct {
		Body string `json:"body"`
	}
	if err := p.Decode(&msg); err != nil {
		return channel.ReplyError(map[string]string{"reason": "bad payload"}), nil
	}
	return channel.ReplyOK(nil), s.Broadcast("shout", msg) // to every subscriber of the room
}

func main() {
	router := channel.NewRouter(nil) // nil: every client may connect, anonymously
	router.Channel("room:*", func() channel.Channel { return &Room{} })

	ep := transport.NewEndpoint(transport.Config{})
	ep.Socket("/socket", router) // ws://127.0.0.1:4000/socket/websocket, and long-poll

	addr := "127.0.0.1:4000"
	if port := os.Getenv("PORT"); port != "" {
		addr = "127.0.0.1:" + port
	}
	srv := &http.Server{Addr: addr, Handler: ep, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.ListenAndServe(); err != http.ErrServerClosed {
			log.Fatal(err)
		}
	}()
	log.Printf("listening on http://%s", addr)

	stop, _ := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	<-stop.Done()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = srv.Shutdown(ctx) // no new connections
	_ = ep.Shutdown(ctx)  // drain: answer what was received, then close with 1012 (clients reconnect)
}
