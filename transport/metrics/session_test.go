package metrics_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/pyrehq/pyre/actors/channel"
	"github.com/pyrehq/pyre/actors/presence"
	"github.com/pyrehq/pyre/transport"
	"github.com/pyrehq/pyre/transport/client"
	"github.com/pyrehq/pyre/transport/metrics"
)

const waitLimit = 10 * time.Second

// eventually polls cond until it holds, or fails after a liveness bound (not a timing assertion).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, waitLimit)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

type userSocket struct{}

func (userSocket) Connect(p url.Values, _ channel.ConnectInfo) (channel.Assigns, error) {
	return channel.Assigns{"user": p.Get("user")}, nil
}

func (userSocket) ID(a channel.Assigns) string { return "users_socket:" + a["user"].(string) }

// room: "echo" replies, "crash" panics; a join with {"deny":true} is refused; on "pres:*" the join
// tracks the user's presence.
type room struct{ tracker *presence.Tracker }

func (r *room) Join(s *channel.Socket, topic string, p channel.Payload) (any, error) {
	var q struct{ Deny bool }
	_ = p.Decode(&q)
	if q.Deny {
		return nil, channel.Deny(map[string]string{"reason": "denied"})
	}
	if strings.HasPrefix(topic, "pres:") {
		return nil, r.tracker.Track(s, s.Assigns()["user"].(string), map[string]any{})
	}
	return nil, nil
}

func (r *room) HandleIn(s *channel.Socket, event string, p channel.Payload) (channel.Reply, error) {
	if event == "crash" {
		panic("boom")
	}
	return channel.ReplyOK(p), nil
}

func dial(t *testing.T, srv *httptest.Server, user string) *client.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	c, err := client.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/socket/websocket?vsn=2.0.0",
		client.Options{Params: url.Values{"user": {user}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func call(t *testing.T, f func(ctx context.Context) (client.Reply, error)) client.Reply {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	r, err := f(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// crash pushes "crash" to ch and expects the answer {"reason":"channel_crash"}.
func crash(t *testing.T, ch *client.Channel) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	var re *client.ReplyError
	if _, err := ch.Push(ctx, "crash", nil); !errors.As(err, &re) || re.Reply.Reason() != "channel_crash" {
		t.Fatalf("%s crash: %v", ch.Topic(), err)
	}
}

// stalled joins topic over a raw WebSocket and never reads again.
func stalled(t *testing.T, addr, topic string) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.(*net.TCPConn).SetReadBuffer(4096)
	fmt.Fprintf(conn, "GET /socket/websocket?vsn=2.0.0&user=s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n", addr)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake: %v %v", resp, err)
	}
	payload := []byte(`["1","1","` + topic + `","phx_join",{}]`)
	if _, err := conn.Write(append([]byte{0x81, 0x80 | byte(len(payload)), 0, 0, 0, 0}, payload...)); err != nil {
		t.Fatal(err)
	}
}

// longPoll is one request of the long-poll transport; it returns the decoded JSON answer.
func longPoll(t *testing.T, srv *httptest.Server, method, token, body string) map[string]any {
	t.Helper()
	u := srv.URL + "/socket/longpoll?vsn=2.0.0&user=l"
	if token != "" {
		u += "&token=" + url.QueryEscape(token)
	}
	req, _ := http.NewRequest(method, u, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %s", method, b)
	}
	return m
}

// TestScriptedSession checks every metric's value after a session of joins (accepted and refused),
// pushes, a crash and its restart, an escalation, a presence, a slow consumer cut, a kick, a long-poll
// session and a shutdown.
func TestScriptedSession(t *testing.T) {
	before := defaultNames(t)
	reg := prometheus.NewPedanticRegistry()
	m, err := metrics.New(reg, metrics.Config{})
	if err != nil {
		t.Fatal(err)
	}
	ep := transport.NewEndpoint(transport.Config{Events: m.Events(), MaxQueueBytes: 256 << 10})
	tracker, err := presence.Start(context.Background(), ep, presence.Config{})
	if err != nil {
		t.Fatal(err)
	}
	router := channel.NewRouter(userSocket{})
	newRoom := func() channel.Channel { return &room{tracker: tracker} }
	router.Channel("room:*", newRoom)
	router.Channel("once:*", newRoom, channel.WithIntensity(1, time.Hour))
	router.Channel("pres:*", newRoom)
	router.Channel("fan:*", newRoom)
	ep.Socket("/socket", router)
	srv := httptest.NewServer(ep)
	shutdown := func() {
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		if err := ep.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	}
	defer func() {
		if srv != nil {
			shutdown()
		}
	}()

	// A: joins, a refusal, pushes, a crash restarted in place, an escalation.
	a := dial(t, srv, "a")
	var room1 *client.Channel
	call(t, func(ctx context.Context) (r client.Reply, err error) {
		room1, r, err = a.Join(ctx, "room:1", nil)
		return
	})
	if _, _, err := a.Join(context.Background(), "room:2", map[string]any{"deny": true}); err == nil {
		t.Fatal("room:2: join not refused")
	}
	for range 3 {
		call(t, func(ctx context.Context) (client.Reply, error) { return room1.Push(ctx, "echo", map[string]any{}) })
	}
	crash(t, room1)
	call(t, func(ctx context.Context) (client.Reply, error) { return room1.Push(ctx, "echo", map[string]any{}) })
	var once *client.Channel
	call(t, func(ctx context.Context) (r client.Reply, err error) {
		once, r, err = a.Join(ctx, "once:1", nil)
		return
	})
	crash(t, once)                     // restarted
	crash(t, once)                     // past its intensity: phx_error
	for msg := range once.Messages() { // closed after phx_error
		_ = msg
	}
	if err := ep.Broadcast("room:1", "news", map[string]any{}); err != nil {
		t.Fatal(err)
	}
	if msg := <-room1.Messages(); msg.Event != "news" {
		t.Fatalf("room:1 got %+v", msg)
	}
	// Replies to 2 joins, 6 pushes, 2 crashes of once:1, its phx_error, the broadcast.
	eventually(t, "messages sent to A", func() bool {
		return testutil.ToFloat64(sent(t, reg)) == 12
	})

	// A presence, then its leave.
	var pres *client.Channel
	call(t, func(ctx context.Context) (r client.Reply, err error) {
		pres, r, err = a.Join(ctx, "pres:1", nil)
		return
	})
	eventually(t, "presence", func() bool { return gauge(t, reg, "pyre_presences", "pres:") == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	if err := pres.Leave(ctx); err != nil {
		t.Fatal(err)
	}
	cancel()
	eventually(t, "presence left", func() bool { return gauge(t, reg, "pyre_presences", "pres:") == 0 })

	// K is kicked.
	k := dial(t, srv, "k")
	call(t, func(ctx context.Context) (r client.Reply, err error) { _, r, err = k.Join(ctx, "room:k", nil); return })
	if err := ep.Disconnect("users_socket:k"); err != nil {
		t.Fatal(err)
	}
	<-k.Closed()

	// S stops reading and is cut as a slow consumer.
	stalled(t, strings.TrimPrefix(srv.URL, "http://"), "fan:1")
	eventually(t, "S joined", func() bool { return ep.Stats().Channels == 2 }) // room:1 and fan:1
	body := strings.Repeat("x", 16<<10)
	fanned := 0
	for ; ep.Stats().Sockets > 1; fanned++ {
		if fanned == 5000 {
			t.Fatalf("S still connected after %d broadcasts", fanned)
		}
		if err := ep.Broadcast("fan:1", "big", map[string]any{"body": body}); err != nil {
			t.Fatal(err)
		}
	}

	// L, a long-poll session, joins; the shutdown ends it.
	tok, _ := longPoll(t, srv, http.MethodGet, "", "")["token"].(string)
	if st := longPoll(t, srv, http.MethodPost, tok, `["1","1","room:lp","phx_join",{}]`)["status"]; st != 200.0 {
		t.Fatalf("post: %v", st)
	}
	if msgs := longPoll(t, srv, http.MethodGet, tok, "")["messages"].([]any); len(msgs) != 1 {
		t.Fatalf("long-poll messages: %v", msgs)
	}

	// A leaves by closing (1000); then the endpoint shuts down, which ends L (1012).
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "A gone", func() bool { return ep.Stats().Sockets == 1 })
	shutdown()
	srv = nil

	want := map[string]float64{
		`pyre_connections{transport="websocket"}`:                       0,
		`pyre_connections{transport="longpoll"}`:                        0,
		`pyre_connects_total{result="ok",transport="websocket"}`:        3,
		`pyre_connects_total{result="ok",transport="longpoll"}`:         1,
		`pyre_disconnects_total{code="1000"}`:                           1,
		`pyre_disconnects_total{code="1001"}`:                           1,
		`pyre_disconnects_total{code="1012"}`:                           1,
		`pyre_disconnects_total{code="1013"}`:                           1,
		`pyre_channels{topic_prefix="room:"}`:                           0,
		`pyre_channels{topic_prefix="once:"}`:                           0,
		`pyre_channels{topic_prefix="pres:"}`:                           0,
		`pyre_channels{topic_prefix="fan:"}`:                            0,
		`pyre_channel_joins_total{result="ok",topic_prefix="room:"}`:    3,
		`pyre_channel_joins_total{result="error",topic_prefix="room:"}`: 1,
		`pyre_channel_joins_total{result="ok",topic_prefix="once:"}`:    1,
		`pyre_channel_joins_total{result="ok",topic_prefix="pres:"}`:    1,
		`pyre_channel_joins_total{result="ok",topic_prefix="fan:"}`:     1,
		`pyre_channel_crashes_total{topic_prefix="room:"}`:              1,
		`pyre_channel_crashes_total{topic_prefix="once:"}`:              2,
		`pyre_channel_restarts_total{topic_prefix="room:"}`:             1,
		`pyre_channel_restarts_total{topic_prefix="once:"}`:             1,
		`pyre_channel_escalations_total{scope="channel"}`:               1,
		`pyre_channel_leaves_total{reason="left"}`:                      1, // pres:1
		`pyre_channel_leaves_total{reason="closed"}`:                    3, // room:1 (A closed), room:k (kicked), fan:1 (cut)
		`pyre_channel_leaves_total{reason="crash"}`:                     1, // once:1
		`pyre_channel_leaves_total{reason="shutdown"}`:                  1, // room:lp
		`pyre_slow_consumer_disconnects_total{cause="queue"}`:           1,
		`pyre_messages_received_total{transport="websocket"}`:           14, // A 12 (5 joins, 6 pushes, a leave), K 1, S 1
		`pyre_messages_received_total{transport="longpoll"}`:            1,
		`pyre_messages_sent_total{transport="longpoll"}`:                1,
		`pyre_broadcasts_total{topic_prefix="room:"}`:                   1,
		`pyre_broadcast_deliveries_total{topic_prefix="room:"}`:         1,
		`pyre_broadcasts_total{topic_prefix="fan:"}`:                    float64(fanned),
		`pyre_presences{topic_prefix="pres:"}`:                          0,
		`pyre_drained_connections_total`:                                1, // L
		`pyre_endpoint_give_ups_total`:                                  0,
		`pyre_cluster_members`:                                          0,
	}
	// Histograms: one observation per join handled and per push handled.
	wantCount := map[string]uint64{
		`pyre_join_duration_seconds{topic_prefix="room:"}`:      4,
		`pyre_join_duration_seconds{topic_prefix="once:"}`:      1,
		`pyre_handle_in_duration_seconds{topic_prefix="room:"}`: 5,
		`pyre_handle_in_duration_seconds{topic_prefix="once:"}`: 2,
		`pyre_connect_duration_seconds{transport="websocket"}`:  3,
		`pyre_connect_duration_seconds{transport="longpoll"}`:   1,
	}
	got, counts := values(t, reg)
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	for k, v := range wantCount {
		if counts[k] != v {
			t.Errorf("%s count = %v, want %v", k, counts[k], v)
		}
	}
	if after := defaultNames(t); after != before {
		t.Errorf("the default registry changed:\nbefore %s\nafter  %s", before, after)
	}
}

// values flattens what reg gathers: each series' value (a counter's, a gauge's), and each histogram's
// sample count.
func values(t *testing.T, reg prometheus.Gatherer) (map[string]float64, map[string]uint64) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	vals, counts := map[string]float64{}, map[string]uint64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			key := mf.GetName()
			if len(labels) > 0 {
				key += "{" + strings.Join(labels, ",") + "}"
			}
			switch {
			case m.Counter != nil:
				vals[key] = m.Counter.GetValue()
			case m.Gauge != nil:
				vals[key] = m.Gauge.GetValue()
			case m.Histogram != nil:
				counts[key] = m.Histogram.GetSampleCount()
			}
		}
	}
	return vals, counts
}

func sent(t *testing.T, reg prometheus.Gatherer) prometheus.Collector {
	return collectorOf(t, reg, `pyre_messages_sent_total{transport="websocket"}`)
}

// collectorOf reads one series' current value as a constant collector, for testutil.ToFloat64.
func collectorOf(t *testing.T, reg prometheus.Gatherer, series string) prometheus.Collector {
	t.Helper()
	v, _ := values(t, reg)
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "x"})
	g.Set(v[series])
	return g
}

func gauge(t *testing.T, reg prometheus.Gatherer, name, prefix string) float64 {
	v, _ := values(t, reg)
	return v[fmt.Sprintf("%s{topic_prefix=%q}", name, prefix)]
}

// defaultNames lists the metric families of Prometheus's global registry.
func defaultNames(t *testing.T) string {
	t.Helper()
	mfs, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, mf := range mfs {
		if strings.HasPrefix(mf.GetName(), "pyre") {
			t.Errorf("default registry holds %s", mf.GetName())
		}
		names = append(names, mf.GetName())
	}
	return strings.Join(names, " ")
}

func TestNilRegisterer(t *testing.T) {
	if _, err := metrics.New(nil, metrics.Config{}); !errors.Is(err, metrics.ErrNoRegisterer) {
		t.Fatalf("err = %v", err)
	}
}

func TestRegisteredTwice(t *testing.T) {
	reg := prometheus.NewRegistry()
	if _, err := metrics.New(reg, metrics.Config{}); err != nil {
		t.Fatal(err)
	}
	if _, err := metrics.New(reg, metrics.Config{}); err == nil {
		t.Fatal("registered twice on one registry")
	}
	if _, err := metrics.New(reg, metrics.Config{Namespace: "other"}); err != nil {
		t.Fatalf("another namespace: %v", err)
	}
}
