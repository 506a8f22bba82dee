package presence

import (
	"context"
	"fmt"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pyrehq/pyre/actors/channel"
	"github.com/pyrehq/pyre/supervisor"
	"github.com/pyrehq/pyre/transport"
	"github.com/pyrehq/pyre/transport/client"
)

// BenchmarkJoinBigTopic (issue 16): clients join a topic whose presence list already holds `presences`
// keys, 64 at a time, each until it has its presence_state, next to the same clients joining a topic
// without presence (a plain join: the reply only). joins/s = clients / (first dial → last state or reply).
//
//	go test -run '^$' -bench JoinBigTopic -benchtime 1x ./actors/presence
func BenchmarkJoinBigTopic(b *testing.B) {
	for _, c := range []struct {
		presences int
		window    time.Duration
	}{{0, 0}, {10000, 0}, {10000, 50 * time.Millisecond}} {
		b.Run(fmt.Sprintf("presences=%d/window=%v", c.presences, c.window), func(b *testing.B) {
			for b.Loop() {
				joinBigTopic(b, 200, 64, c.presences, Config{Window: c.window})
			}
		})
	}
}

// filler tracks n keys of its own on the topic it joins, or, joined by anyone else, its user as room does.
type filler struct {
	room
	n int
}

func (f *filler) Join(s *channel.Socket, topic string, p channel.Payload) (any, error) {
	if user, _ := channel.Get[string](s.Assigns(), "user"); user != "filler" {
		return f.room.Join(s, topic, p)
	}
	for i := range f.n {
		if err := f.tr.Track(s, fmt.Sprint("k", i), map[string]string{"online_at": "1"}); err != nil {
			return nil, err
		}
	}
	return nil, nil
}

type plain struct{}

func (plain) Join(*channel.Socket, string, channel.Payload) (any, error) { return nil, nil }
func (plain) HandleIn(*channel.Socket, string, channel.Payload) (channel.Reply, error) {
	return channel.ReplyOK(nil), nil
}

func joinBigTopic(b *testing.B, clients, concurrency, presences int, cfg Config) {
	ep := transport.NewEndpoint(transport.Config{})
	tr, err := Start(context.Background(), ep, cfg)
	if err != nil {
		b.Fatal(err)
	}
	r := channel.NewRouter(channel.ConnectFunc(func(p url.Values, _ channel.ConnectInfo) (channel.Assigns, error) {
		return channel.Assigns{"user": p.Get("user")}, nil
	}))
	r.Channel("big:*", func() channel.Channel { return &filler{room: room{tr: tr}, n: presences} }, channel.WithRestart(supervisor.Temporary))
	r.Channel("plain:*", func() channel.Channel { return plain{} })
	ep.Socket("/socket", r)
	srv := httptest.NewServer(ep)
	defer func() {
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		_ = ep.Shutdown(ctx)
	}()
	ws := "ws" + strings.TrimPrefix(srv.URL, "http") + "/socket/websocket?vsn=2.0.0"
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	topic := "plain:x"
	if presences > 0 {
		topic = "big:x"
		fc, err := client.Dial(ctx, ws, client.Options{Params: url.Values{"user": {"filler"}}})
		if err != nil {
			b.Fatal(err)
		}
		defer fc.Close()
		if _, _, err := fc.Join(ctx, topic, nil); err != nil {
			b.Fatal(err)
		}
		for len(tr.List(topic)) < presences && ctx.Err() == nil {
			time.Sleep(10 * time.Millisecond)
		}
	}
	var states atomic.Int64
	onMsg := func(_ *client.Channel, m client.Message) {
		if m.Event == "presence_state" {
			states.Add(1)
		}
	}
	conns := make([]*client.Conn, clients)
	defer func() {
		for _, c := range conns {
			if c != nil {
				_ = c.Close()
			}
		}
	}()

	start := time.Now()
	sem := make(chan struct{}, concurrency)
	var wg sync.WaitGroup
	for i := range conns {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			c, err := client.Dial(ctx, ws, client.Options{Params: url.Values{"user": {fmt.Sprint("u", i)}}, MessageBuffer: 1, OnMessage: onMsg})
			if err != nil {
				b.Error(err)
				return
			}
			conns[i] = c
			if _, _, err := c.Join(ctx, topic, nil); err != nil {
				b.Error(err)
			}
		})
	}
	wg.Wait()
	for presences > 0 && states.Load() < int64(clients) && ctx.Err() == nil {
		time.Sleep(time.Millisecond)
	}
	elapsed := time.Since(start)

	b.ReportMetric(float64(clients)/elapsed.Seconds(), "joins/s")
	b.ReportMetric(float64(tr.stateBytes.Load())/(1<<20), "state_encoded_MB")
}
