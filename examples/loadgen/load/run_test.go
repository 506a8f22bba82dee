package load

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pyrehq/pyre/examples/internal/testlog"
)

// run runs cfg against the test server, logs the table and checks the invariants every run must hold.
func run(t *testing.T, cfg Config) *Result {
	t.Helper()
	lw := testlog.Lines(t, "progress: ")
	cfg.Progress = lw
	res, err := Run(context.Background(), cfg)
	lw.Flush()
	if err != nil {
		t.Fatal(err)
	}
	var table bytes.Buffer
	if err := res.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", table.String())
	checkInvariants(t, res)
	return res
}

func checkInvariants(t *testing.T, res *Result) {
	t.Helper()
	c, j, p := res.Conns, res.Joins, res.Pushes
	if c.Attempted != c.Connected+c.Errors || int64(sum(c.ErrorsBy)) != c.Errors {
		t.Errorf("conns %+v: attempted != connected + errors, or errors_by does not add up", c)
	}
	if int64(sum(c.ClosedEarlyBy)) != c.ClosedEarly {
		t.Errorf("conns %+v: closed_early_by does not add up", c)
	}
	if j.Attempted != j.OK+j.Error+j.Timeout || int64(sum(j.ErrorsBy)) != j.Error {
		t.Errorf("joins %+v: attempted != ok + error + timeout, or errors_by does not add up", j)
	}
	if j.Attempted != c.Connected*int64(res.Setup.JoinsPerConn) {
		t.Errorf("joins attempted %d, want %d (every join of every connection)", j.Attempted,
			c.Connected*int64(res.Setup.JoinsPerConn))
	}
	if p.Sent != p.OK+p.Error+p.Timeout || int64(sum(p.ErrorsBy)) != p.Error {
		t.Errorf("pushes %+v: sent != ok + error + timeout, or errors_by does not add up", p)
	}
	if res.Latency.Connect.Count != c.Connected {
		t.Errorf("connect latency count %d, want %d", res.Latency.Connect.Count, c.Connected)
	}
	b, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	var back Result
	if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(&back, res) {
		t.Errorf("JSON round trip: %v\n%s", err, b)
	}
}

func TestRunTinyLoad(t *testing.T) {
	s := newTestServer(t, 10)
	addrs, err := ParseSourceAddrs("127.0.0.2-5")
	if err != nil {
		t.Fatal(err)
	}
	res := run(t, Config{
		URL:          s.URL,
		Params:       url.Values{"user_id": {"u{i}"}},
		Conns:        50,
		ConnectRate:  2000,
		SourceAddrs:  addrs,
		TopicPattern: "room:{n}", TopicCount: 10, JoinsPerConn: 2,
		PushEvent: "ping", PushPayload: json.RawMessage(`{"seq":{seq},"conn":{i}}`), PushRate: 20,
		BroadcastEvent: "tick",
		Duration:       time.Second,
	})
	if err := res.Err(); err != nil {
		t.Error(err)
	}
	c, j, p, b := res.Conns, res.Joins, res.Pushes, res.Broadcasts
	if c.Connected != 50 || c.Errors != 0 || c.ClosedEarly != 0 {
		t.Errorf("conns %+v, want 50 connected, no errors, none closed early", c)
	}
	if j.Expected != 100 || j.OK != 100 || j.Error != 0 || j.Timeout != 0 {
		t.Errorf("joins %+v, want 100 ok", j)
	}
	if p.Sent == 0 || p.OK != p.Sent || p.Skipped != 0 {
		t.Errorf("pushes %+v, want some sent, all ok", p)
	}
	if b.Received == 0 || b.Dropped != 0 {
		t.Errorf("broadcasts %+v, want some received, none dropped", b)
	}
	l := res.Latency
	if l.Join.Count != 100 || l.Push.Count != p.Sent || l.Delivery.Count != b.Received {
		t.Errorf("latency counts: join %d, push %d (sent %d), delivery %d (received %d)",
			l.Join.Count, l.Push.Count, p.Sent, l.Delivery.Count, b.Received)
	}
	for name, sm := range map[string]Summary{"connect": l.Connect, "join": l.Join, "push": l.Push, "delivery": l.Delivery} {
		if sm.Max <= 0 || sm.P50 > sm.P99 || sm.P99 > sm.Max {
			t.Errorf("%s latency %+v: want 0 < p50 ≤ p99 ≤ max", name, sm)
		}
	}

	peers, users, joins := s.snapshot()
	wantPeers := map[string]int{"127.0.0.2": 13, "127.0.0.3": 13, "127.0.0.4": 12, "127.0.0.5": 12}
	if !reflect.DeepEqual(peers, wantPeers) {
		t.Errorf("server saw peers %v, want %v (round robin over the source addresses)", peers, wantPeers)
	}
	if len(users) != 50 || users["u0"] != 1 || users["u49"] != 1 {
		t.Errorf("server saw users %v, want u0 … u49 once each", users)
	}
	for n := range 10 {
		if topic := "room:" + strconv.Itoa(n); joins[topic] != 10 {
			t.Errorf("topic %s joined %d times, want 10 (exact round robin)", topic, joins[topic])
		}
	}
}

func TestRunJoinFailures(t *testing.T) {
	s := newTestServer(t, 0)
	res := run(t, Config{
		URL: s.URL, Conns: 10, Topics: []string{"room:a", "deny:x", "nowhere:1"}, JoinsPerConn: 3,
		Duration: 50 * time.Millisecond,
	})
	j := res.Joins
	want := map[string]int{"reply error: denied": 10, "reply error: unmatched topic": 10}
	if j.OK != 10 || j.Error != 20 || !reflect.DeepEqual(j.ErrorsBy, want) {
		t.Errorf("joins %+v, want 10 ok and errors %v", j, want)
	}
	if err := res.Err(); !errors.Is(err, ErrIncomplete) || !strings.Contains(err.Error(), "20 of 30 joins") {
		t.Errorf("Err() = %v, want ErrIncomplete about 20 of 30 joins", err)
	}
}

func TestRunConnectFailures(t *testing.T) {
	s := newTestServer(t, 0)
	for _, tc := range []struct {
		name   string
		url    string
		params url.Values
		reason string
	}{
		{"refused port", refusedURL(t), nil, "connection refused"},
		{"refused by the server", s.URL, url.Values{"reject": {"1"}}, "http 403"},
		{"wrong path", strings.TrimSuffix(s.URL, "/socket") + "/nosocket", nil, "http 404"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := run(t, Config{URL: tc.url, Params: tc.params, Conns: 5, Topics: []string{"room:1"},
				Duration: 10 * time.Millisecond})
			c := res.Conns
			if c.Attempted != 5 || c.Connected != 0 || c.Errors != 5 || c.ErrorsBy[tc.reason] != 5 {
				t.Errorf("conns %+v, want 5 errors %q", c, tc.reason)
			}
			if res.Joins.Attempted != 0 {
				t.Errorf("joins %+v, want none attempted", res.Joins)
			}
			if err := res.Err(); !errors.Is(err, ErrIncomplete) {
				t.Errorf("Err() = %v, want ErrIncomplete", err)
			}
		})
	}
}

func TestRunClosedByServer(t *testing.T) {
	s := newTestServer(t, 0)
	res := run(t, Config{
		URL: s.URL, Params: url.Values{"user_id": {"k{i}"}}, Conns: 4, Topics: []string{"kick:1"},
		PushEvent: "ping", PushRate: 50, Duration: 300 * time.Millisecond,
	})
	if c := res.Conns; c.ClosedEarly != 4 || c.ClosedEarlyBy["1001"] != 4 {
		t.Errorf("conns %+v, want 4 closed early with 1001", c)
	}
	if res.Joins.OK != 4 {
		t.Errorf("joins %+v, want 4 ok (the kick follows the join reply)", res.Joins)
	}
}

func TestRunPushErrorsAndTimeouts(t *testing.T) {
	s := newTestServer(t, 0)
	for _, tc := range []struct {
		event            string
		errors, timeouts bool
	}{{"nope", true, false}, {"slow", false, true}} {
		t.Run(tc.event, func(t *testing.T) {
			res := run(t, Config{
				URL: s.URL, Conns: 3, Topics: []string{"room:x"},
				PushEvent: tc.event, PushRate: 20, PushTimeout: 100 * time.Millisecond,
				Duration: 300 * time.Millisecond,
			})
			p := res.Pushes
			if p.Sent == 0 || p.OK != 0 || (p.Error == p.Sent) != tc.errors || (p.Timeout == p.Sent) != tc.timeouts {
				t.Errorf("pushes %+v, want all %s to be errors=%v timeouts=%v", p, tc.event, tc.errors, tc.timeouts)
			}
			if tc.errors && p.ErrorsBy["reply error: nope"] != int(p.Sent) {
				t.Errorf("push errors %v", p.ErrorsBy)
			}
		})
	}
}

// Cancelling ctx ends a run whose Duration would otherwise hold for an hour.
func TestRunCancel(t *testing.T) {
	s := newTestServer(t, 2)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type out struct {
		res *Result
		err error
	}
	done := make(chan out, 1)
	go func() {
		res, err := Run(ctx, Config{URL: s.URL, Conns: 20, TopicPattern: "room:{n}", TopicCount: 2,
			PushEvent: "ping", PushRate: 10, Duration: time.Hour})
		done <- out{res, err}
	}()
	waitFor(t, "every join", 10*time.Second, func() bool {
		_, _, joins := s.snapshot()
		return joins["room:0"]+joins["room:1"] == 20
	})
	cancel()
	o := <-done
	if !errors.Is(o.err, context.Canceled) || o.res == nil || !o.res.Interrupted {
		t.Fatalf("Run = %+v, %v; want the partial result and context.Canceled", o.res, o.err)
	}
	checkInvariants(t, o.res)
	if !errors.Is(o.res.Err(), ErrIncomplete) {
		t.Errorf("Err() = %v, want ErrIncomplete (interrupted)", o.res.Err())
	}
}

// A whole phase bounded by ConnectTimeout: the run still ends, with the missing connections reported.
func TestRunConnectTimeout(t *testing.T) {
	s := newTestServer(t, 0)
	res := run(t, Config{URL: s.URL, Conns: 1000, ConnectRate: 20, ConnectTimeout: 500 * time.Millisecond,
		Duration: 10 * time.Millisecond})
	if c := res.Conns; c.Attempted >= 1000 || c.Connected == 0 {
		t.Errorf("conns %+v, want some connected and the rest never attempted", c)
	}
	if err := res.Err(); err == nil || !strings.Contains(err.Error(), "connections not made") {
		t.Errorf("Err() = %v, want connections not made", err)
	}
}

func TestRunInvalidConfig(t *testing.T) {
	res, err := Run(context.Background(), Config{URL: "ftp://127.0.0.1/socket", Conns: 1, Duration: time.Second})
	if res != nil || !errors.Is(err, ErrConfig) {
		t.Errorf("Run = %v, %v; want nil, ErrConfig", res, err)
	}
}
