package client_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"strings"
	"time"

	"github.com/pyrehq/pyre/actors/channel"
	"github.com/pyrehq/pyre/transport"
	"github.com/pyrehq/pyre/transport/client"
)

// counter is the server's channel in the examples: "inc" replies with the count so far.
type counter struct{ n int }

func (c *counter) Join(s *channel.Socket, topic string, _ channel.Payload) (any, error) {
	return map[string]string{"topic": topic}, nil
}

func (c *counter) HandleIn(s *channel.Socket, event string, _ channel.Payload) (channel.Reply, error) {
	c.n++
	if err := s.Push("tick", map[string]int{"n": c.n}); err != nil {
		return channel.NoReply, err
	}
	return channel.ReplyOK(map[string]int{"n": c.n}), nil
}

// Connect, join, push and read the channel's pushes, against a Pyre endpoint on an httptest server (any
// Phoenix server would do: ws://host:4000/socket/websocket?vsn=2.0.0).
func ExampleDial() {
	router := channel.NewRouter(nil)
	router.Channel("counter:*", func() channel.Channel { return &counter{} })
	ep := transport.NewEndpoint(transport.Config{Logger: slog.New(slog.DiscardHandler)})
	ep.Socket("/socket", router)
	srv := httptest.NewServer(ep)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	defer func() { srv.Close(); _ = ep.Shutdown(ctx) }()

	wsURL := "ws" + strings.TrimPrefix(srv.URL, "http") + "/socket/websocket?vsn=2.0.0"
	conn, err := client.Dial(ctx, wsURL, client.Options{
		Params:            url.Values{"user_id": {"1"}}, // the socket's connect params
		HeartbeatInterval: 30 * time.Second,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()

	ch, joined, err := conn.Join(ctx, "counter:a", map[string]any{"nick": "ann"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(joined.Status, string(joined.Response))
	for range 2 {
		reply, err := ch.Push(ctx, "inc", nil)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(reply.Status, string(reply.Response))
	}
	for range 2 { // pushes and broadcasts, in order; closed after phx_close or phx_error
		m := <-ch.Messages()
		fmt.Println(m.Event, string(m.Payload))
	}
	// Output:
	// ok {"topic":"counter:a"}
	// ok {"n":1}
	// ok {"n":2}
	// tick {"n":1}
	// tick {"n":2}
}

func ExampleEncode() {
	typ, frame, _ := client.Encode(client.Message{JoinRef: "1", Ref: "2", Topic: "room:1", Event: "new_msg"})
	fmt.Println(typ, string(frame))
	typ, frame, _ = client.Encode(client.Message{JoinRef: "12", Ref: "123", Topic: "topic", Event: "event", Binary: []byte("efg")})
	fmt.Println(typ, frame)
	// Output:
	// text ["1","2","room:1","new_msg",{}]
	// binary [0 2 3 5 5 49 50 49 50 51 116 111 112 105 99 101 118 101 110 116 101 102 103]
}

func ExampleDecode() {
	m, _ := client.Decode(client.TextFrame, []byte(`["1",null,"room:1","tick",{"n":1}]`))
	fmt.Printf("%q %q %s %s %s\n", m.JoinRef, m.Ref, m.Topic, m.Event, m.Payload)
	// Output: "1" "" room:1 tick {"n":1}
}
