package client_test

import (
	"context"
	"fmt"
	"log"
	"net/url"
	"time"

	"github.com/pyrehq/pyre/transport/client"
)

func ExampleDial() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := client.Dial(ctx, "ws://127.0.0.1:4000/socket/websocket?vsn=2.0.0", client.Options{
		Params:            url.Values{"user_id": {"1"}},
		HeartbeatInterval: 30 * time.Second,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()

	ch, _, err := conn.Join(ctx, "room:lobby", map[string]any{"nick": "ann"})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := ch.Push(ctx, "new_msg", map[string]any{"body": "hi"}); err != nil {
		log.Fatal(err)
	}
	for m := range ch.Messages() { // pushes and broadcasts, then phx_close or phx_error
		fmt.Println(m.Event, string(m.Payload))
	}
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
