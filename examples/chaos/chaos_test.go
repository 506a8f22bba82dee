package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/pyrehq/pyre/actors/host"
	"github.com/pyrehq/pyre/examples/internal/testlog"
	"github.com/pyrehq/pyre/supervisor"
	"github.com/pyrehq/pyre/supervisor/chaos"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// runSession runs cfg and fails the test on any violation.
func runSession(t *testing.T, cfg Config) *Report {
	t.Helper()
	cfg.Progress = testlog.Lines(t, "")
	r, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	var table bytes.Buffer
	if err := r.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", table.String())
	for _, v := range r.Violations() {
		t.Error(v)
	}
	return r
}

func TestChaosSession(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Clients, cfg.Topics, cfg.Joins = 60, 12, 3
	cfg.Duration, cfg.KillRate, cfg.Method = 4*time.Second, 10, "mixed"
	cfg.CrashPushes = 0.005 // user-code crashes: the monkey's injected panics never hit a push
	r := runSession(t, cfg)

	if r.Kills["channel"] == 0 || r.Kills["socket"] == 0 {
		t.Errorf("kills %v, want channels and sockets killed", r.Kills)
	}
	if r.Restarts == 0 {
		t.Error("no channel was restarted in place")
	}
	if r.Pushes.OK == 0 || r.Pushes.ChannelCrash == 0 {
		t.Errorf("pushes %+v, want ok replies and channel_crash replies", r.Pushes)
	}
	if r.Broadcasts.Received == 0 || r.Broadcasts.Required == 0 {
		t.Errorf("broadcasts %+v, want ticks owed and received", r.Broadcasts)
	}
	if r.Recovery["channel"].Count == 0 || r.Recovery["socket"].Count == 0 {
		t.Errorf("recovery %+v, want times for channel and socket kills", r.Recovery)
	}
	if !r.Leak.Clean {
		t.Errorf("leak check %+v", r.Leak)
	}
}

// A few channels killed often: past the channel intensity they end with phx_error and are rejoined,
// past the connection intensity the connection closes with 1011 and is reconnected.
func TestChaosBeyondIntensity(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Clients, cfg.Topics, cfg.Joins = 8, 2, 2
	cfg.Duration, cfg.KillRate, cfg.Method = 1500*time.Millisecond, 40, "exit"
	cfg.Kinds = []chaos.Kind{chaos.Channel}
	cfg.ChannelIntensity = supervisor.Intensity{Max: 1, Period: 5 * time.Second}
	cfg.ConnIntensity = supervisor.Intensity{Max: 3, Period: 5 * time.Second}
	r := runSession(t, cfg)

	if r.Connections.PhxErrors+r.Connections.ClosedByLimit == 0 {
		t.Errorf("connections %+v, want phx_error or intensity closes", r.Connections)
	}
}

func TestCLIJSON(t *testing.T) {
	var out, errOut bytes.Buffer
	// Two kills of the endpoint's infrastructure (its idle-connection janitor): fewer than the endpoint
	// supervisor's intensity (host.EndpointIntensity), past which the whole endpoint gives up.
	code := cliMain([]string{"-clients", "4", "-topics", "2", "-joins", "2", "-duration", "600ms",
		"-kill-rate", "4", "-kinds", "infrastructure", "-method", "exit", "-json"}, &out, &errOut)
	var r Report
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("exit %d, output not JSON: %v\n%s\n%s", code, err, out.String(), errOut.String())
	}
	if code != 0 || len(r.Violations()) > 0 || r.Config.Clients != 4 {
		t.Fatalf("exit %d, violations %v, config %+v", code, r.Violations(), r.Config)
	}
	if n := r.Kills["infrastructure"]; n == 0 || n > host.EndpointIntensity.Max || r.Recovery["infrastructure"].Count != n {
		t.Errorf("kills %v, recovery %+v: want infrastructure kills, each followed by serving again", r.Kills, r.Recovery)
	}
}

func TestCLIBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-joins", "4", "-topics", "3"},
		{"-method", "nuke"},
		{"-kinds", "channel,pubsub"},
		{"-kill-rate", "0"},
		{"-nodes", "10"},
		{"-nope"},
	} {
		var out, errOut bytes.Buffer
		if code := cliMain(args, &out, &errOut); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// at is t0 plus n milliseconds.
func at(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }

func sp(from, to int) span { return span{at(from), at(to)} }

func TestPercentile(t *testing.T) {
	ms := func(ns ...int) []time.Duration {
		var ds []time.Duration
		for _, n := range ns {
			ds = append(ds, time.Duration(n)*time.Millisecond)
		}
		return ds
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = i + 1
	}
	for _, tc := range []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one", ms(7), 50, 7 * time.Millisecond},
		{"one p99", ms(7), 99, 7 * time.Millisecond},
		{"two p50 is the lower", ms(1, 2), 50, time.Millisecond},
		{"ten p50", ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 50, 5 * time.Millisecond},
		{"ten p99 is the max", ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 99, 10 * time.Millisecond},
		{"hundred p99", ms(hundred...), 99, 99 * time.Millisecond},
		{"hundred p100", ms(hundred...), 100, 100 * time.Millisecond},
		{"tiny p rounds up to the first", ms(1, 2, 3), 0.1, time.Millisecond},
	} {
		if got := percentile(tc.sorted, tc.p); got != tc.want {
			t.Errorf("%s: percentile(%v, %v) = %v, want %v", tc.name, tc.sorted, tc.p, got, tc.want)
		}
	}
	l := summarize(ms(30, 10, 20), 1)
	if l.Count != 3 || l.P50 != 20*time.Millisecond || l.P99 != 30*time.Millisecond || l.Max != 30*time.Millisecond || l.Unrecovered != 1 {
		t.Errorf("summarize = %+v", l)
	}
}

func received(seqs ...int) seqSet {
	var s seqSet
	for _, n := range seqs {
		s.add(n)
	}
	return s
}

func TestSeqSet(t *testing.T) {
	var s seqSet
	if s.has(1) || s.add(1) || !s.add(1) || !s.has(1) || s.has(2) || s.add(200) || !s.has(200) || s.has(199) {
		t.Fatalf("seqSet misbehaves: %v", s)
	}
}

// Ticks every 10 ms, each published over 1 ms: seq n during [10n, 10n+1].
func ticksEvery10(n int) []span {
	ticks := make([]span, n)
	for i := range ticks {
		ticks[i] = sp(10*(i+1), 10*(i+1)+1)
	}
	return ticks
}

func TestCountTicks(t *testing.T) {
	ticks := ticksEvery10(10) // seqs 1..10 at 10..100 ms
	all := received(1, 2, 3, 4, 5, 6, 7, 8, 9, 10)
	for _, tc := range []struct {
		name      string
		instances []span
		windows   []span
		got       seqSet
		want      tickCounts
	}{
		{"joined throughout, all received", []span{sp(0, 200)}, nil, all,
			tickCounts{Required: 10}},
		{"one missed outside windows", []span{sp(0, 200)}, nil, received(1, 2, 3, 4, 6, 7, 8, 9, 10),
			tickCounts{Required: 10, Missed: 1}},
		{"joined late: earlier ticks not owed", []span{sp(35, 200)}, nil, received(4, 5, 6, 7, 8, 9, 10),
			tickCounts{Required: 7}},
		{"joined as a publication starts: owed", []span{sp(30, 200)}, nil, received(3, 4, 5, 6, 7, 8, 9, 10),
			tickCounts{Required: 8}},
		{"joined during a publication: not owed", []span{{at(30).Add(time.Microsecond), at(200)}}, nil, received(4, 5, 6, 7, 8, 9, 10),
			tickCounts{Required: 7}},
		{"ended early: later ticks not owed", []span{sp(0, 55)}, nil, received(1, 2, 3, 4, 5),
			tickCounts{Required: 5}},
		{"window excuses what it overlaps, received or not", []span{sp(0, 200)}, []span{sp(21, 41)}, received(1, 2, 5, 6, 7, 8, 9, 10),
			tickCounts{Required: 7, Excused: 3, ExcusedMissed: 2}},
		{"window touching a publication's end excuses it", []span{sp(0, 200)}, []span{sp(31, 31)}, all,
			tickCounts{Required: 9, Excused: 1}},
		{"open window excuses the rest", []span{sp(0, 200)}, []span{{at(75), forever}}, received(1, 2, 3, 4, 5, 6, 7),
			tickCounts{Required: 7, Excused: 3, ExcusedMissed: 3}},
		{"rejoin gap inside a window is excused", []span{sp(0, 42), sp(68, 200)}, []span{sp(38, 70)}, received(1, 2, 3, 7, 8, 9, 10),
			tickCounts{Required: 6, Excused: 4, ExcusedMissed: 3}},
		{"rejoin gap outside any window is a gap", []span{sp(0, 42), sp(68, 200)}, nil, received(1, 2, 3, 7, 8, 9, 10),
			tickCounts{Required: 8, Missed: 1, Gap: 2}},
		{"never joined", nil, nil, nil, tickCounts{}},
	} {
		s := subRecord{Instances: tc.instances, Received: tc.got}
		if got := countTicks(s, ticks, tc.windows, 0); got != tc.want {
			t.Errorf("%s: got %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

func TestWindowEnd(t *testing.T) {
	s := subRecord{
		OKs:      []okEvent{{at(10), at(12)}, {at(20), at(25)}, {at(40), at(41)}, {at(60), at(61)}},
		Received: received(1, 2, 5),
	}
	ticks := ticksEvery10(6)
	for _, tc := range []struct {
		name string
		w    window
		want time.Time
		ok   bool
	}{
		{"first ok sent after", window{Start: at(15), After: at(15)}, at(25), true},
		{"a push sent before does not count", window{Start: at(11), After: at(11)}, at(25), true},
		{"served only after the connection closed", window{Start: at(5), After: at(30)}, at(41), true},
		{"never served", window{Start: at(65), After: at(65)}, time.Time{}, false},
		{"tick needed: the first received after", window{Start: at(25), After: at(25), Tick: true}, at(51), true},
		{"tick needed, none received after", window{Start: at(52), After: at(52), Tick: true}, time.Time{}, false},
	} {
		got, ok := windowEnd(s, ticks, tc.w)
		if ok != tc.ok || !got.Equal(tc.want) {
			t.Errorf("%s: got %v %v, want %v %v", tc.name, got.Sub(t0), ok, tc.want.Sub(t0), tc.ok)
		}
	}
}

func TestClassify(t *testing.T) {
	in := supervisor.Intensity{Max: 2, Period: time.Second}
	hits := func(ms ...int) []time.Time {
		var ts []time.Time
		for _, n := range ms {
			ts = append(ts, at(n))
		}
		return ts
	}
	for _, tc := range []struct {
		name        string
		conn        connRecord
		socketKills []time.Time
		channelHits []time.Time
		want        connClass
		since       time.Time
	}{
		{"open", connRecord{DialStart: at(0)}, nil, nil, connOpen, time.Time{}},
		{"closed by us", connRecord{DialStart: at(0), ClosedAt: at(100), Code: 1000, Local: true}, nil, nil, connLocal, time.Time{}},
		{"socket killed", connRecord{DialStart: at(0), ClosedAt: at(100), Code: 1011}, hits(90), nil, connKilled, time.Time{}},
		{"socket kill before this connection", connRecord{DialStart: at(50), ClosedAt: at(100), Code: 1011}, hits(40), nil, connUnexpected, time.Time{}},
		{"intensity: more hits than allowed", connRecord{DialStart: at(0), ClosedAt: at(3000), Code: 1011}, nil, hits(2500, 2600, 2700), connIntensity, at(2500)},
		{"intensity: hits within period plus slack", connRecord{DialStart: at(0), ClosedAt: at(3000), Code: 1011}, nil, hits(1000, 1100, 2900), connIntensity, at(1000)},
		{"not enough hits", connRecord{DialStart: at(0), ClosedAt: at(3000), Code: 1011}, nil, hits(500, 2600, 2700), connUnexpected, time.Time{}},
		{"hits on an earlier connection do not count", connRecord{DialStart: at(2650), ClosedAt: at(3000), Code: 1011}, nil, hits(2500, 2600, 2700), connUnexpected, time.Time{}},
		{"hits but another code", connRecord{DialStart: at(0), ClosedAt: at(3000), Code: 1001}, nil, hits(2500, 2600, 2700), connUnexpected, time.Time{}},
	} {
		got, since := classify(tc.conn, tc.socketKills, tc.channelHits, in)
		if got != tc.want || !since.Equal(tc.since) {
			t.Errorf("%s: got %v %v, want %v %v", tc.name, got, since, tc.want, tc.since)
		}
	}
}

// One client, two topics; its socket is killed at 45 ms and its connection seen closed at 47 ms; it
// reconnects and rejoins at 60 ms. A channel kill at 130 ms is served at 133 ms.
func TestAnalyze(t *testing.T) {
	ticks := ticksEvery10(20)
	o := observation{
		SocketIDs: []string{"users_socket:0"},
		Ticks:     map[string][]span{"room:a": ticks, "room:b": ticks},
		Conns: []connRecord{
			{Client: 0, DialStart: at(0), ClosedAt: at(47), Code: 1011, Lost: 1},
			{Client: 0, DialStart: at(50), ClosedAt: at(300), Code: 1000, Local: true},
		},
		Subs: []subRecord{
			{Client: 0, Topic: "room:a", Instances: []span{sp(5, 47), sp(60, 300)},
				OKs:      []okEvent{{at(20), at(21)}, {at(46), at(46)}, {at(61), at(64)}, {at(100), at(101)}, {at(131), at(133)}, {at(150), at(151)}},
				Received: received(1, 2, 3, 4, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20)},
			{Client: 0, Topic: "room:b", Instances: []span{sp(5, 47), sp(60, 300)},
				OKs:      []okEvent{{at(20), at(21)}, {at(62), at(70)}},
				Received: received(1, 2, 3, 4, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19)}, // 20 missed
		},
		Kills: []chaos.Kill{
			{At: at(45), Kind: chaos.Socket, Done: true, Labels: map[string]string{chaos.LabelSocketID: "users_socket:0"}},
			{At: at(130), Kind: chaos.Channel, Done: true, Labels: map[string]string{chaos.LabelSocketID: "users_socket:0", chaos.LabelTopic: "room:a"}},
			{At: at(140), Kind: chaos.Channel, Done: false, Labels: map[string]string{chaos.LabelSocketID: "users_socket:0", chaos.LabelTopic: "room:b"}},
			{At: at(150), Kind: chaos.Channel, Done: true, Labels: map[string]string{chaos.LabelSocketID: "users_socket:9", chaos.LabelTopic: "room:b"}},
		},
		ConnIntensity: supervisor.Intensity{Max: 10, Period: 5 * time.Second},
	}
	a := analyze(o)
	// The socket kill is served by the first ok after the close: room:a at 64 ms (room:b's at 70 ms).
	if got := a.Recovery[chaos.Socket]; len(got) != 1 || got[0] != 19*time.Millisecond {
		t.Errorf("socket recovery %v, want [19ms]", got)
	}
	if got := a.Recovery[chaos.Channel]; len(got) != 1 || got[0] != 3*time.Millisecond {
		t.Errorf("channel recovery %v, want [3ms]", got)
	}
	if a.Unattributed != 1 || len(a.Unrecovered) != 0 {
		t.Errorf("unattributed %d, unrecovered %v, want 1 and none", a.Unattributed, a.Unrecovered)
	}
	if a.Closed[connKilled] != 1 || a.Closed[connLocal] != 1 || a.LostKilled != 1 || a.LostOther != 0 {
		t.Errorf("closes %v, lost killed %d other %d", a.Closed, a.LostKilled, a.LostOther)
	}
	// Per topic, ticks 1..20 at 10..200 ms; the first join at 5 ms and the end at 300 ms bound the life.
	// room:a: the socket window [45, 64] excuses 5 and 6 (missed); the channel window [130, 133] excuses
	// 13 (received). room:b: [45, 70] excuses 5, 6 (missed) and 7; 20 is owed and missed.
	want := tickCounts{Required: 17 + 17, Missed: 1, Excused: 3 + 3, ExcusedMissed: 4}
	if a.Ticks != want {
		t.Errorf("ticks %+v, want %+v", a.Ticks, want)
	}
}

// An infrastructure kill without a topic label disrupts every subscription until each has both an ok
// reply and a tick published after the kill.
func TestAnalyzeInfrastructure(t *testing.T) {
	ticks := ticksEvery10(10)
	o := observation{
		SocketIDs: []string{"users_socket:0", "users_socket:1"},
		Ticks:     map[string][]span{"room:a": ticks},
		Conns: []connRecord{
			{Client: 0, DialStart: at(0), ClosedAt: at(200), Code: 1000, Local: true},
			{Client: 1, DialStart: at(0), ClosedAt: at(200), Code: 1000, Local: true},
		},
		Subs: []subRecord{
			{Client: 0, Topic: "room:a", Instances: []span{sp(1, 200)}, OKs: []okEvent{{at(36), at(37)}},
				Received: received(1, 2, 3, 6, 7, 8, 9, 10)},
			{Client: 1, Topic: "room:a", Instances: []span{sp(1, 200)}, OKs: []okEvent{{at(33), at(34)}},
				Received: received(1, 2, 3, 4, 5, 6, 7, 8, 9, 10)},
		},
		Kills: []chaos.Kill{{At: at(32), Kind: chaos.Infrastructure, Done: true, Labels: map[string]string{}}},
	}
	a := analyze(o)
	// Client 0 serves again with tick 6 (published by 61 ms), client 1 with tick 4 (41 ms): the kill
	// recovers when both have, 29 ms after it.
	if got := a.Recovery[chaos.Infrastructure]; len(got) != 1 || got[0] != 29*time.Millisecond {
		t.Errorf("infrastructure recovery %v, want [29ms]", got)
	}
	want := tickCounts{Required: 7 + 9, Excused: 3 + 1, ExcusedMissed: 2}
	if a.Ticks != want {
		t.Errorf("ticks %+v, want %+v", a.Ticks, want)
	}
}

func TestViolations(t *testing.T) {
	clean := Report{
		Pushes:   PushCounts{OK: 1, LostKilled: 3},
		Recovery: map[string]Latency{"channel": {Count: 1}},
		Settled:  true, Leak: LeakCheck{Clean: true},
		Broadcasts: BroadcastCounts{Excused: 5, ExcusedMissed: 5},
	}
	if v := clean.Violations(); len(v) != 0 {
		t.Fatalf("clean report: %v", v)
	}
	for _, tc := range []struct {
		name  string
		spoil func(*Report)
		want  string
	}{
		{"no reply", func(r *Report) { r.Pushes.NoReply = 2 }, "2 pushes never got a reply"},
		{"missed", func(r *Report) { r.Broadcasts.Missed = 1 }, "1 broadcasts missed"},
		{"drop", func(r *Report) { r.Connections.Unexpected = 1 }, "dropped unexpectedly"},
		{"unrecovered", func(r *Report) { r.Recovery["channel"] = Latency{Unrecovered: 1} }, "1 channel kills never"},
		{"leak", func(r *Report) { r.Leak.Clean = false }, "leak:"},
		{"nothing ran", func(r *Report) { r.Pushes.OK = 0 }, "nothing was exercised"},
	} {
		r := clean
		r.Recovery = map[string]Latency{"channel": {Count: 1}}
		tc.spoil(&r)
		v := r.Violations()
		if len(v) != 1 || !strings.Contains(v[0], tc.want) {
			t.Errorf("%s: violations %q, want one containing %q", tc.name, v, tc.want)
		}
	}
}

// Three nodes in this process, the clients spread over them and the ticks published on the first: the
// monkey kills channels, sockets and infrastructure on every node, the cluster's actors included, and
// every client serves again, ticks arrive in order across nodes, presence lists converge on every node
// (and empty once the clients close), nothing leaks.
func TestChaosNodes(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Nodes = 3
	cfg.Clients, cfg.Topics, cfg.Joins = 30, 6, 2
	cfg.Duration, cfg.KillRate, cfg.Method = 3*time.Second, 20, "mixed"
	r := runSession(t, cfg)

	if r.Kills["channel"] == 0 || r.Kills["socket"] == 0 || r.ClusterKills == 0 {
		t.Errorf("kills %v, %d of cluster actors: want channels, sockets and cluster actors killed", r.Kills, r.ClusterKills)
	}
	if r.Broadcasts.Received == 0 {
		t.Errorf("broadcasts %+v: none arrived", r.Broadcasts)
	}
	if p := r.Presence; p == nil || !p.Converged || !p.Emptied {
		t.Errorf("presence %+v: want converged, then emptied", p)
	}
}
