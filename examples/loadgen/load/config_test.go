package load

import (
	"encoding/json"
	"errors"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestExpand(t *testing.T) {
	for _, tc := range []struct {
		tpl  string
		v    vars
		want string
	}{
		{"", vars{}, ""},
		{"room:lobby", vars{i: 3}, "room:lobby"},
		{"room:{n}", vars{n: 7}, "room:7"},
		{"u{i}", vars{i: 42}, "u42"},
		{"{i}{i}", vars{i: 1}, "11"},
		{`{"seq":{seq},"conn":{i},"topic":{n}}`, vars{i: 2, n: 3, seq: 99}, `{"seq":99,"conn":2,"topic":3}`},
		{`{}`, vars{seq: 1}, `{}`},
		{`{"a":{}}`, vars{}, `{"a":{}}`},
		{"{seq", vars{seq: 5}, "{seq"},
		{"{x}{i}{", vars{i: 0}, "{x}0{"},
		{"{seq}{seq}", vars{seq: -1}, "-1-1"},
	} {
		tpl := compile(tc.tpl)
		if got := string(tpl.expand(nil, tc.v)); got != tc.want {
			t.Errorf("expand(%q, %+v) = %q, want %q", tc.tpl, tc.v, got, tc.want)
		}
	}
}

func TestCompileJSON(t *testing.T) {
	for _, tc := range []struct {
		raw  string
		want string // expansion with seq 1, or "" when invalid
	}{
		{"", "{}"},
		{"  ", "{}"},
		{`{"seq":{seq}}`, `{"seq":1}`},
		{`"{seq}"`, `"1"`},
		{`{"seq":{seq}`, ""},
		{`not json`, ""},
	} {
		tpl, err := compileJSON("PushPayload", json.RawMessage(tc.raw))
		switch {
		case tc.want == "" && !errors.Is(err, ErrConfig):
			t.Errorf("compileJSON(%q) error %v, want ErrConfig", tc.raw, err)
		case tc.want != "" && err != nil:
			t.Errorf("compileJSON(%q): %v", tc.raw, err)
		case tc.want != "" && string(tpl.expand(nil, vars{seq: 1})) != tc.want:
			t.Errorf("compileJSON(%q) expands to %s, want %s", tc.raw, tpl.expand(nil, vars{seq: 1}), tc.want)
		}
	}
}

func TestTopicAssignment(t *testing.T) {
	for _, tc := range []struct{ conns, joins, topics int }{
		{50, 2, 10}, {1000, 3, 7}, {5000, 2, 100}, {3, 1, 5}, {10, 4, 4},
	} {
		perTopic := make([]int, tc.topics)
		for i := range tc.conns {
			seen := map[int]bool{}
			for j := range tc.joins {
				n := topicIndex(i, j, tc.joins, tc.topics)
				if seen[n] {
					t.Fatalf("%+v: connection %d joins topic %d twice", tc, i, n)
				}
				seen[n] = true
				perTopic[n]++
			}
		}
		lo, hi := slices.Min(perTopic), slices.Max(perTopic)
		if hi-lo > 1 || lo+hi < 2*tc.conns*tc.joins/tc.topics-1 {
			t.Errorf("%+v: joins per topic between %d and %d, want within 1 of %d", tc, lo, hi,
				tc.conns*tc.joins/tc.topics)
		}
	}
	p, err := newPlan(Config{URL: "ws://h/socket", Conns: 3, TopicPattern: "room:{n}", TopicCount: 5,
		JoinsPerConn: 2, Duration: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range [][]string{{"room:0", "room:1"}, {"room:2", "room:3"}, {"room:4", "room:0"}} {
		if got := p.topicsFor(i); !slices.Equal(got, want) {
			t.Errorf("topicsFor(%d) = %v, want %v", i, got, want)
		}
	}
}

func TestBuildTopics(t *testing.T) {
	for _, tc := range []struct {
		explicit []string
		pattern  string
		count    int
		want     []string // nil with wantErr
		wantErr  bool
	}{
		{nil, "", 0, nil, false},
		{[]string{"a", "b"}, "", 0, []string{"a", "b"}, false},
		{nil, "room:{n}", 3, []string{"room:0", "room:1", "room:2"}, false},
		{nil, "room:{n}", 0, []string{"room:0"}, false},
		{nil, "room:lobby", 1, []string{"room:lobby"}, false},
		{nil, "room:lobby", 2, nil, true},
		{[]string{"a"}, "room:{n}", 1, nil, true},
		{[]string{"a", "a"}, "", 0, nil, true},
		{[]string{""}, "", 0, nil, true},
		{nil, "", 4, nil, true},
	} {
		got, err := buildTopics(tc.explicit, tc.pattern, tc.count)
		if (err != nil) != tc.wantErr || !slices.Equal(got, tc.want) {
			t.Errorf("buildTopics(%v, %q, %d) = %v, %v; want %v (error %v)", tc.explicit, tc.pattern, tc.count,
				got, err, tc.want, tc.wantErr)
		}
	}
}

func TestNormalizeURL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"ws://127.0.0.1:4000/socket", "ws://127.0.0.1:4000/socket/websocket?vsn=2.0.0"},
		{"ws://127.0.0.1:4000/socket/", "ws://127.0.0.1:4000/socket/websocket?vsn=2.0.0"},
		{"ws://127.0.0.1:4000/socket/websocket", "ws://127.0.0.1:4000/socket/websocket?vsn=2.0.0"},
		{"ws://h/socket/websocket?vsn=2.0.0", "ws://h/socket/websocket?vsn=2.0.0"},
		{"ws://h/live?token=x", "ws://h/live/websocket?token=x&vsn=2.0.0"},
		{"http://h:4000/socket", "ws://h:4000/socket/websocket?vsn=2.0.0"},
		{"https://h/socket", "wss://h/socket/websocket?vsn=2.0.0"},
		{"ws://h", "ws://h/websocket?vsn=2.0.0"},
		{"ftp://h/socket", ""},
		{"ws://h/socket?vsn=1.0.0", ""},
		{"ws:///socket", ""},
		{"", ""},
	} {
		u, err := normalizeURL(tc.in)
		switch {
		case tc.want == "" && !errors.Is(err, ErrConfig):
			t.Errorf("normalizeURL(%q) error %v, want ErrConfig", tc.in, err)
		case tc.want != "" && (err != nil || u.String() != tc.want):
			t.Errorf("normalizeURL(%q) = %v, %v; want %s", tc.in, u, err, tc.want)
		}
	}
}

func TestParseSourceAddrs(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    []string
		wantErr bool
	}{
		{"", nil, false},
		{"none", []string{""}, false},
		{"127.0.0.2", []string{"127.0.0.2"}, false},
		{"127.0.0.2-127.0.0.4", []string{"127.0.0.2", "127.0.0.3", "127.0.0.4"}, false},
		{"127.0.0.8-9", []string{"127.0.0.8", "127.0.0.9"}, false},
		{"127.0.0.2, 127.0.0.7-8", []string{"127.0.0.2", "127.0.0.7", "127.0.0.8"}, false},
		{"127.0.0.255-127.0.1.0", []string{"127.0.0.255", "127.0.1.0"}, false},
		{"3", []string{"127.0.0.2", "127.0.0.3", "127.0.0.4"}, false},
		{"0", nil, true},
		{"254", nil, true},
		{"127.0.0.9-127.0.0.2", nil, true},
		{"127.0.0.2-x", nil, true},
		{"localhost", nil, true},
		{"::1", nil, true},
		{"127.0.0.0-127.1.0.0", nil, true},
	} {
		got, err := ParseSourceAddrs(tc.in)
		if (err != nil) != tc.wantErr || !slices.Equal(got, tc.want) {
			t.Errorf("ParseSourceAddrs(%q) = %q, %v; want %q (error %v)", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestDefaultSourceAddrs(t *testing.T) {
	for _, tc := range []struct {
		host  string
		conns int
		want  int
	}{
		{"127.0.0.1", 1, 1}, {"127.0.0.1", 1000, 1}, {"127.0.0.1", 1001, 2}, {"127.0.0.1", 15000, 15},
		{"localhost", 5000, 5}, {"127.0.0.1", 10_000_000, 253},
		{"192.168.1.10", 5000, 0}, {"example.com", 5000, 0}, {"::1", 5000, 0},
	} {
		got := defaultSourceAddrs(tc.host, tc.conns)
		if len(got) != tc.want || (tc.want > 0 && (got[0] != "127.0.0.2" || got[len(got)-1] != "127.0.0."+strconv.Itoa(tc.want+1))) {
			t.Errorf("defaultSourceAddrs(%q, %d) = %v, want %d addresses from 127.0.0.2", tc.host, tc.conns, got, tc.want)
		}
	}
}

func TestPlanValidation(t *testing.T) {
	ok := Config{URL: "ws://127.0.0.1:4000/socket", Conns: 10, Duration: time.Second}
	for _, tc := range []struct {
		name   string
		change func(*Config)
	}{
		{"no conns", func(c *Config) { c.Conns = 0 }},
		{"no duration", func(c *Config) { c.Duration = 0 }},
		{"negative rate", func(c *Config) { c.ConnectRate = -1 }},
		{"push event without rate", func(c *Config) { c.TopicPattern, c.PushEvent = "r:{n}", "ping" }},
		{"push rate without event", func(c *Config) { c.TopicPattern, c.PushRate = "r:{n}", 1 }},
		{"pushes without topics", func(c *Config) { c.PushEvent, c.PushRate = "ping", 1 }},
		{"more joins than topics", func(c *Config) { c.Topics, c.JoinsPerConn = []string{"a", "b"}, 3 }},
		{"bad source address", func(c *Config) { c.SourceAddrs = []string{"127.0.0.300"} }},
		{"bad join payload", func(c *Config) { c.Topics, c.JoinPayload = []string{"a"}, json.RawMessage("{") }},
		{"bad url", func(c *Config) { c.URL = "127.0.0.1:4000" }},
	} {
		cfg := ok
		tc.change(&cfg)
		if _, err := newPlan(cfg); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: newPlan error %v, want ErrConfig", tc.name, err)
		}
	}

	p, err := newPlan(ok)
	if err != nil {
		t.Fatal(err)
	}
	if p.JoinsPerConn != 0 || p.ConnectConcurrency != DefaultConnectConcurrency || p.PushTimeout != DefaultPushTimeout ||
		p.ConnectTimeout != DefaultConnectTimeout || p.Heartbeat != DefaultHeartbeat || !slices.Equal(p.SourceAddrs, []string{"127.0.0.2"}) {
		t.Errorf("defaults not applied: %+v", p)
	}
	cfg := ok
	cfg.Topics = []string{"a"}
	cfg.Params = url.Values{"user_id": {"u{i}"}, "token": {"t"}}
	if p, err = newPlan(cfg); err != nil {
		t.Fatal(err)
	}
	if p.JoinsPerConn != 1 {
		t.Errorf("JoinsPerConn %d, want 1 by default with topics", p.JoinsPerConn)
	}
	if got, want := p.paramsFor(7), (url.Values{"user_id": {"u7"}, "token": {"t"}}); !reflect.DeepEqual(got, want) {
		t.Errorf("paramsFor(7) = %v, want %v", got, want)
	}
}

func TestPayloadTS(t *testing.T) {
	ns := time.Unix(1_700_000_000, 123_456_789)
	for _, tc := range []struct {
		payload string
		want    time.Time // zero: none
	}{
		{`{"ts":1700000000123456789}`, ns},
		{`{"body":"x", "ts" : 1700000000123456789 , "seq":1}`, ns},
		{`{"ts":1700000000123456}`, time.UnixMicro(1_700_000_000_123_456)},
		{`{"ts":1700000000123}`, time.UnixMilli(1_700_000_000_123)},
		{`{"ts":1700000000}`, time.Unix(1_700_000_000, 0)},
		{`{"ts":1700000000.5}`, time.Unix(1_700_000_000, 500_000_000)},
		{`{"a":"ts","ts":1700000000}`, time.Unix(1_700_000_000, 0)},
		{`{"ts":"1700000000"}`, time.Time{}},
		{`{"ts":null}`, time.Time{}},
		{`{"t":1}`, time.Time{}},
		{`{"ts":-5}`, time.Time{}},
		{``, time.Time{}},
	} {
		got, ok := payloadTS([]byte(tc.payload))
		if ok != !tc.want.IsZero() || !got.Equal(tc.want) {
			t.Errorf("payloadTS(%s) = %v, %v; want %v", tc.payload, got, ok, tc.want)
		}
	}
}

func TestSchedule(t *testing.T) {
	chans := make([]*chanState, 10)
	for k := range chans {
		chans[k] = &chanState{conn: k}
	}
	chans[3].dead.Store(true)
	var mu sync.Mutex
	fired := make([]int, len(chans))
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		schedule(chans, 200, quit, func(c *chanState) {
			mu.Lock()
			fired[c.conn]++
			mu.Unlock()
		})
	}()
	waitFor(t, "every live channel to push 3 times", 10*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		for k, n := range fired {
			if k != 3 && n < 3 {
				return false
			}
		}
		return true
	})
	chans[5].dead.Store(true) // dropped when next due
	close(quit)
	<-done
	if fired[3] != 0 {
		t.Errorf("a dead channel pushed %d times", fired[3])
	}

	// Every channel dead: the scheduler waits for quit without spinning.
	for _, c := range chans {
		c.dead.Store(true)
	}
	quit = make(chan struct{})
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		schedule(chans, 1e9, quit, func(*chanState) { t.Error("fired a dead channel") })
	}()
	close(quit)
	<-ended
}

func TestResultErrAndTable(t *testing.T) {
	r := &Result{Conns: ConnStats{Target: 3, Attempted: 3, Connected: 3}, Joins: JoinStats{Expected: 6, OK: 6}}
	if err := r.Err(); err != nil {
		t.Errorf("Err() = %v for a complete run", err)
	}
	r.Conns.Connected, r.Joins.OK = 2, 4
	r.Conns.ErrorsBy = map[string]int{"connection refused": 1}
	err := r.Err()
	if !errors.Is(err, ErrIncomplete) || !strings.Contains(err.Error(), "1 of 3 connections") ||
		!strings.Contains(err.Error(), "2 of 6 joins") {
		t.Errorf("Err() = %v", err)
	}
	var b strings.Builder
	if err := r.WriteTable(&b); err != nil || !strings.Contains(b.String(), "connection refused ×1") {
		t.Errorf("WriteTable: %v\n%s", err, b.String())
	}
}
