package presence_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/pyrehq/pyre/actors/channel"
	"github.com/pyrehq/pyre/actors/presence"
	"github.com/pyrehq/pyre/transport"
	"github.com/pyrehq/pyre/transport/client"
)

// Room tracks its user in the topic and pushes the list ("presence_state") after its join.
type Room struct{ tracker *presence.Tracker }

type afterJoin struct{}

func (r *Room) Join(s *channel.Socket, _ string, _ channel.Payload) (any, error) {
	user, _ := channel.Get[string](s.Assigns(), "user")
	if err := r.tracker.Track(s, user, map[string]string{"device": "phone"}); err != nil {
		return nil, err
	}
	s.Send(afterJoin{}) // handled after the join reply: the client has its subscription by then
	return nil, nil
}

func (r *Room) HandleInfo(s *channel.Socket, msg any) error {
	if _, ok := msg.(afterJoin); ok {
		return r.tracker.PushState(s)
	}
	return nil
}

func (*Room) HandleIn(*channel.Socket, string, channel.Payload) (channel.Reply, error) {
	return channel.NoReply, nil
}

// Two users join a room: the second gets the list of both, the first a presence_diff with the second's
// join; when the second leaves, the first gets its leave.
func Example() {
	ep := transport.NewEndpoint(transport.Config{Logger: slog.New(slog.DiscardHandler)})
	tracker, err := presence.Start(context.Background(), ep, presence.Config{}) // after NewEndpoint, before serving
	if err != nil {
		log.Fatal(err)
	}
	router := channel.NewRouter(channel.ConnectFunc(func(p url.Values, _ channel.ConnectInfo) (channel.Assigns, error) {
		return channel.Assigns{"user": p.Get("user")}, nil
	}))
	router.Channel("room:*", func() channel.Channel { return &Room{tracker: tracker} })
	ep.Socket("/socket", router)
	srv := httptest.NewServer(ep)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	defer func() { srv.Close(); _ = ep.Shutdown(ctx) }()

	join := func(user string) *client.Channel {
		wsURL := "ws" + strings.TrimPrefix(srv.URL, "http") + "/socket/websocket?vsn=2.0.0"
		conn, err := client.Dial(ctx, wsURL, client.Options{Params: url.Values{"user": {user}}})
		if err != nil {
			log.Fatal(err)
		}
		ch, _, err := conn.Join(ctx, "room:lobby", nil)
		if err != nil {
			log.Fatal(err)
		}
		return ch
	}
	keys := func(m json.RawMessage) []string { // the users in a list, sorted
		var list map[string]struct{ Metas []map[string]string }
		_ = json.Unmarshal(m, &list)
		var users []string
		for user := range list {
			users = append(users, user)
		}
		slices.Sort(users)
		return users
	}
	// next is the channel's next frame; with skipDiffs, its next presence_state. A joiner's own join may
	// reach it as a diff or only in its list (the diff may go out before its subscription), so a joiner
	// waits for its list.
	next := func(ch *client.Channel, skipDiffs bool) client.Message {
		for {
			select {
			case m := <-ch.Messages():
				if skipDiffs && m.Event == "presence_diff" {
					continue
				}
				return m
			case <-ctx.Done():
				log.Fatal(ctx.Err())
			}
		}
	}
	show := func(who string, m client.Message) { // a list, or a diff's joins and leaves
		if m.Event == "presence_state" {
			fmt.Println(who+":", m.Event, keys(m.Payload))
			return
		}
		var diff struct{ Joins, Leaves json.RawMessage }
		_ = json.Unmarshal(m.Payload, &diff)
		fmt.Println(who+":", m.Event, "joins", keys(diff.Joins), "leaves", keys(diff.Leaves))
	}

	ada := join("ada")
	show("ada", next(ada, true)) // the list it asked for in HandleInfo

	bob := join("bob")
	show("bob", next(bob, true))
	show("ada", next(ada, false)) // what every subscriber sees of bob's join

	_ = bob.Leave(ctx) // the channel ends: its presences go
	show("ada", next(ada, false))
	fmt.Println("listed:", len(tracker.List("room:lobby")))

	ada.Conn().Close()
	bob.Conn().Close()
	// Output:
	// ada: presence_state [ada]
	// bob: presence_state [ada bob]
	// ada: presence_diff joins [bob] leaves []
	// ada: presence_diff joins [] leaves [bob]
	// listed: 1
}
