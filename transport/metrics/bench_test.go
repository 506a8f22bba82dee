package metrics_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/lxzan/gws"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pyrehq/pyre/actors/channel"
	"github.com/pyrehq/pyre/actors/telemetry"
	"github.com/pyrehq/pyre/transport"
	"github.com/pyrehq/pyre/transport/metrics"
)

// The cost of metrics on the hot paths: each benchmark runs with no Events ("off") and with the metrics'
// Events ("metrics") in the same run; compare the two (make bench measures Pyre at scale).

type echo struct{}

func (echo) Join(*channel.Socket, string, channel.Payload) (any, error) { return nil, nil }
func (echo) HandleIn(_ *channel.Socket, _ string, p channel.Payload) (channel.Reply, error) {
	return channel.ReplyOK(p), nil
}

// benchServer serves room:* (echo) with events ev.
func benchServer(b *testing.B, ev telemetry.Events) (*httptest.Server, *transport.Endpoint) {
	router := channel.NewRouter(channel.ConnectFunc(func(url.Values, channel.ConnectInfo) (channel.Assigns, error) { return nil, nil }))
	router.Channel("room:*", func() channel.Channel { return echo{} })
	ep := transport.NewEndpoint(transport.Config{Events: ev, IdleTimeout: time.Hour})
	ep.Socket("/socket", router)
	srv := httptest.NewServer(ep)
	b.Cleanup(func() {
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		_ = ep.Shutdown(ctx)
	})
	return srv, ep
}

// benchClient is a WebSocket client that signals each frame it receives.
type benchClient struct {
	conn   *gws.Conn
	frames chan struct{}
	count  *atomic.Int64 // fan-out: frames of all clients
	fan    *fanWait
	done   chan struct{}
}

// fanWait signals when the clients' frames reach target.
type fanWait struct {
	target atomic.Int64
	done   chan struct{}
}

func (c *benchClient) OnOpen(*gws.Conn)             {}
func (c *benchClient) OnPing(s *gws.Conn, p []byte) { _ = s.WritePong(p) }
func (c *benchClient) OnPong(*gws.Conn, []byte)     {}
func (c *benchClient) OnClose(*gws.Conn, error)     { close(c.done) }
func (c *benchClient) OnMessage(_ *gws.Conn, m *gws.Message) {
	_ = m.Close()
	if c.count != nil {
		if c.count.Add(1) == c.fan.target.Load() {
			c.fan.done <- struct{}{}
		}
		return
	}
	c.frames <- struct{}{}
}

func benchDial(b *testing.B, srv *httptest.Server, count *atomic.Int64, fan *fanWait) *benchClient {
	c := &benchClient{frames: make(chan struct{}, 16), count: count, fan: fan, done: make(chan struct{})}
	conn, _, err := gws.NewClient(c, &gws.ClientOption{Addr: "ws" + strings.TrimPrefix(srv.URL, "http") + "/socket/websocket?vsn=2.0.0"})
	if err != nil {
		b.Fatal(err)
	}
	c.conn = conn
	go conn.ReadLoop()
	b.Cleanup(func() {
		_ = conn.WriteClose(1000, nil)
		<-c.done
	})
	return c
}

func metricsEvents(b *testing.B) telemetry.Events {
	m, err := metrics.New(prometheus.NewRegistry(), metrics.Config{})
	if err != nil {
		b.Fatal(err)
	}
	return m.Events()
}

func eachMode(b *testing.B, run func(b *testing.B, ev telemetry.Events)) {
	b.Run("off", func(b *testing.B) { run(b, telemetry.Events{}) })
	b.Run("metrics", func(b *testing.B) { run(b, metricsEvents(b)) })
}

// BenchmarkFanout: one broadcast to 1000 WebSocket subscribers per op, until all have it.
func BenchmarkFanout(b *testing.B) {
	eachMode(b, func(b *testing.B, ev telemetry.Events) {
		const subs = 1000
		srv, ep := benchServer(b, ev)
		var count atomic.Int64
		fan := &fanWait{done: make(chan struct{}, 1)}
		fan.target.Store(subs)
		for i := range subs {
			c := benchDial(b, srv, &count, fan)
			if err := c.conn.WriteString(fmt.Sprintf(`["%d","%d","room:fan","phx_join",{}]`, i, i)); err != nil {
				b.Fatal(err)
			}
		}
		fan.wait(b)
		payload := json.RawMessage(`{"body":"` + strings.Repeat("x", 64) + `"}`)
		b.ReportAllocs()
		b.ResetTimer()
		cpu := cpuTime()
		for i := range b.N {
			fan.target.Store(int64(subs * (i + 2)))
			if err := ep.Broadcast("room:fan", "msg", payload); err != nil {
				b.Fatal(err)
			}
			fan.wait(b)
		}
		b.ReportMetric(float64(b.N*subs)/b.Elapsed().Seconds(), "deliveries/s")
		b.ReportMetric(float64((cpuTime()-cpu).Nanoseconds())/float64(b.N*subs), "cpu-ns/delivery")
	})
}

// cpuTime is the CPU time the process has used (user + system): clients and server alike, the same in
// both modes, so the difference between modes is the metrics' cost, less disturbed by other jobs than
// wall time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func (f *fanWait) wait(b *testing.B) {
	select {
	case <-f.done:
	case <-time.After(waitLimit):
		b.Fatalf("no fan-out within %v", waitLimit)
	}
}

// BenchmarkRequestReply: one push answered by HandleIn per op, from 50 clients in parallel.
func BenchmarkRequestReply(b *testing.B) {
	eachMode(b, func(b *testing.B, ev telemetry.Events) {
		const clients = 50
		srv, _ := benchServer(b, ev)
		cs := make([]*benchClient, clients)
		for i := range cs {
			cs[i] = benchDial(b, srv, nil, nil)
			if err := cs[i].conn.WriteString(`["1","1","room:` + fmt.Sprint(i) + `","phx_join",{}]`); err != nil {
				b.Fatal(err)
			}
			<-cs[i].frames
		}
		push := []byte(`["1","2","room:0","echo",{"body":"` + strings.Repeat("x", 64) + `"}]`)
		b.ReportAllocs()
		b.ResetTimer()
		cpu := cpuTime()
		var wg sync.WaitGroup
		for i, c := range cs {
			n := b.N / clients
			if i < b.N%clients {
				n++
			}
			frame := []byte(strings.Replace(string(push), "room:0", "room:"+fmt.Sprint(i), 1))
			wg.Go(func() {
				for range n {
					if err := c.conn.WriteMessage(gws.OpcodeText, frame); err != nil {
						b.Error(err)
						return
					}
					select {
					case <-c.frames:
					case <-time.After(waitLimit):
						b.Error("no reply")
						return
					}
				}
			})
		}
		wg.Wait()
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "replies/s")
		b.ReportMetric(float64((cpuTime()-cpu).Nanoseconds())/float64(b.N), "cpu-ns/reply")
	})
}

// BenchmarkEventCost: what each hot event costs with the metrics on (the emission point's nil check aside),
// on one goroutine and on all (contention on the shared series).
func BenchmarkEventCost(b *testing.B) {
	m, err := metrics.New(prometheus.NewRegistry(), metrics.Config{})
	if err != nil {
		b.Fatal(err)
	}
	ev := m.Events().Guarded(nil) // as the runtime holds it
	ch := telemetry.Channel{Conn: telemetry.Conn{Socket: "$1", Transport: "websocket"}, Topic: "room:42", Channel: "$1/$2", Restart: "transient"}
	cases := []struct {
		name string
		f    func()
	}{
		{"MessageReceived", func() {
			ev.MessageReceived(telemetry.MessageReceived{Conn: ch.Conn, Topic: "room:42", Event: "ping", Bytes: 64})
		}},
		{"MessagesSent", func() { ev.MessagesSent(telemetry.MessagesSent{Conn: ch.Conn, Frames: 1, Bytes: 80}) }},
		{"ChannelHandledIn", func() {
			ev.ChannelHandledIn(telemetry.ChannelHandledIn{Channel: ch, Event: "ping", Duration: 3 * time.Microsecond, Result: "ok"})
		}},
		{"Broadcast", func() { ev.Broadcast(telemetry.Broadcast{Topic: "room:42", Event: "msg", Subscribers: 1000}) }},
		{"time.Now+Since", func() { _ = time.Since(time.Now()) }}, // the timing of HandleIn, Join and Connect
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				c.f()
			}
		})
		b.Run(c.name+"/parallel", func(b *testing.B) {
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					c.f()
				}
			})
		})
	}
}
