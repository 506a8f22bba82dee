// Command realtime serves @supabase/realtime-js clients (broadcast over Phoenix channels) on Pyre: the
// example of a serializer plugged into a socket (transport.WithSerializers). realtime-js at its default
// vsn 2.0.0 sends and expects binary frames Phoenix's V2 does not have (kinds 3 and 4, see Realtime);
// with this serializer mounted for "~> 2.0.0" they are decoded and encoded like any other.
//
//	go run ./examples/realtime   # then, in JS: createClient(...) or new RealtimeClient("ws://127.0.0.1:4000/socket")
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
	"github.com/pyrehq/pyre/transport/serializer"
)

// Room is one realtime-js channel ("realtime:<name>"): it relays the client's broadcasts to the topic.
type Room struct {
	self, ack bool // the join's config.broadcast: echo to the sender, acknowledge each broadcast
}

func (r *Room) Join(s *channel.Socket, _ string, p channel.Payload) (any, error) {
	var params struct {
		Config struct {
			Broadcast struct {
				Self bool `json:"self"`
				Ack  bool `json:"ack"`
			} `json:"broadcast"`
		} `json:"config"`
	}
	_ = p.Decode(&params)
	r.self, r.ack = params.Config.Broadcast.Self, params.Config.Broadcast.Ack
	return map[string]any{"postgres_changes": []any{}}, nil
}

func (r *Room) HandleIn(s *channel.Socket, event string, p channel.Payload) (channel.Reply, error) {
	switch {
	case event == "access_token":
		// A refreshed token must survive an in-place restart: Assign would not carry it, Keep does.
		var t struct {
			AccessToken string `json:"access_token"`
		}
		if err := p.Decode(&t); err == nil && t.AccessToken != "" {
			_ = s.Keep("access_token", t.AccessToken)
		}
		return channel.NoReply, nil
	case event == "broadcast" || p.IsBinary():
		// JSON: event "broadcast" with {"type","event","payload"}; binary: the user's event (see Realtime).
		send := s.BroadcastFrom
		if r.self {
			send = s.Broadcast
		}
		if err := send(event, p); err != nil {
			return channel.ReplyError(map[string]string{"reason": err.Error()}), nil
		}
		if r.ack {
			return channel.ReplyOK(nil), nil
		}
		return channel.NoReply, nil
	}
	return channel.ReplyError(map[string]string{"reason": "unknown event"}), nil
}

// newEndpoint mounts the realtime socket at /socket: V1 as Phoenix for "~> 1.0.0", Realtime for
// "~> 2.0.0" (realtime-js's default vsn).
func newEndpoint(cfg transport.Config) *transport.Endpoint {
	router := channel.NewRouter(nil)
	router.Channel("realtime:*", func() channel.Channel { return &Room{} })
	ep := transport.NewEndpoint(cfg)
	ep.Socket("/socket", router, transport.WithSerializers(
		serializer.Versioned{Requirement: "~> 1.0.0", Serializer: serializer.V1},
		serializer.Versioned{Requirement: "~> 2.0.0", Serializer: Realtime{}},
	))
	return ep
}

func main() {
	ep := newEndpoint(transport.Config{})
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
	log.Printf("realtime-js clients: ws://%s/socket", addr)
	stop, _ := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	<-stop.Done()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = srv.Shutdown(ctx)
	_ = ep.Shutdown(ctx)
}
