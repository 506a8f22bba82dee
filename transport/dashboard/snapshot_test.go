package dashboard

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pyrehq/pyre/actors/host"
	"github.com/pyrehq/pyre/supervisor"
	"github.com/pyrehq/pyre/transport"
)

func TestPrefix(t *testing.T) {
	for _, tc := range []struct{ topic, want string }{
		{"room:42", "room:"},
		{"room:a:b", "room:"},
		{"console", "console"},
		{":x", ":"},
		{strings.Repeat("a", 50), strings.Repeat("a", maxPrefix) + "…"},
	} {
		if got := prefix(tc.topic); got != tc.want {
			t.Errorf("prefix(%q) = %q, want %q", tc.topic, got, tc.want)
		}
	}
}

// fakeActors is 10k sockets with one channel each: 9,000 on room:, the rest on 100 prefixes of 10.
func fakeActors(n int) []host.Actor {
	out := []host.Actor{{Kind: host.InfrastructureActor, ID: "pubsub", Child: "pubsub"}}
	for i := range n {
		sock := fmt.Sprintf("user:%d", i)
		tr := "websocket"
		if i%10 == 0 {
			tr = "longpoll"
		}
		out = append(out, host.Actor{Kind: host.SocketActor, ID: fmt.Sprintf("s%d", i), SocketID: sock, Transport: tr, Queued: i % 7})
		topic := fmt.Sprintf("room:%d", i%900)
		if i >= n*9/10 {
			topic = fmt.Sprintf("p%d:%d", i%100, i)
		}
		inc := 1
		if i%1000 == 0 {
			inc = 3
		}
		out = append(out, host.Actor{Kind: host.ChannelActor, ID: fmt.Sprintf("c%d", i), Topic: topic, SocketID: sock,
			Restart: supervisor.Transient, Incarnation: inc})
	}
	return out
}

// At 10k sockets and channels on 101 prefixes an update stays bounded: 40 groups, no rows, a few KB; an
// expanded group is 50 rows, the most restarted first.
func TestBuildBoundedAt10k(t *testing.T) {
	const n = 10_000
	now := time.Unix(1000, 0)
	tr := build(now, transport.Stats{Stats: host.Stats{Sockets: n, Channels: n}}, "running", fakeActors(n), nil)
	s := tr.snap
	if len(s.Channels) != maxGroups || s.Channels[maxGroups-1].Prefix != otherGroup {
		t.Fatalf("%d channel groups, the last %q; want %d, the last %q", len(s.Channels), s.Channels[len(s.Channels)-1].Prefix, maxGroups, otherGroup)
	}
	total := 0
	for _, g := range s.Channels {
		total += g.Channels
	}
	if total != n || s.Channels[0].Prefix != "room:" || s.Channels[0].Channels != 9000 || s.Channels[0].Topics != 900 ||
		s.Channels[0].Restart["transient"] != 9000 || s.Channels[0].Restarted != 9 || s.Channels[0].MaxIncarnation != 3 {
		t.Errorf("channels %d in all, first group %+v", total, s.Channels[0])
	}
	if len(s.Sockets) != 2 || s.Sockets[0].Transport != "websocket" || s.Sockets[0].Sockets != 9000 || s.Sockets[1].Sockets != 1000 ||
		s.Sockets[0].MaxQueued != 6 || s.Sockets[0].Queued+s.Sockets[1].Queued != s.Queues.Queued {
		t.Errorf("socket groups %+v", s.Sockets)
	}
	if s.Queues.Max != 6 || s.Queues.Busy != n-n/7-1 {
		t.Errorf("queues %+v", s.Queues)
	}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > 16<<10 {
		t.Errorf("a snapshot of %d actors is %d bytes, want at most 16 KB", 2*n, len(b))
	}
	g := tr.channels["room:"]
	if len(g.Rows) != maxRows || g.More != 9000-maxRows || g.Rows[0].Incarnation != 3 || g.Rows[9].Incarnation != 1 {
		t.Errorf("room: rows: %d, %d more, first %+v", len(g.Rows), g.More, g.Rows[0])
	}
	if g := tr.sockets["longpoll"]; len(g.Rows) != maxRows || g.Rows[0].Queued != 6 || g.Rows[0].Channels != 1 {
		t.Errorf("longpoll rows: %d, first %+v", len(g.Rows), g.Rows[0])
	}
	if b, _ := json.Marshal(g); len(b) > 8<<10 {
		t.Errorf("an expanded group is %d bytes, want at most 8 KB", len(b))
	}
}

// A restart is an incarnation that grew between two samples; restarts leave the window after 5 minutes.
func TestRestartLog(t *testing.T) {
	var l restartLog
	t0 := time.Unix(1000, 0)
	ch := func(id string, inc int) host.Actor {
		return host.Actor{Kind: host.ChannelActor, ID: id, Topic: "room:" + id, Incarnation: inc}
	}
	l.observe(t0, []host.Actor{ch("a", 1), ch("b", 2)}) // b restarted once before we saw it
	l.observe(t0.Add(time.Second), []host.Actor{ch("a", 3), ch("b", 2)})
	got := fmt.Sprint(l.recent)
	want := fmt.Sprint([]RestartRow{{1000_000, "room:b", 2}, {1001_000, "room:a", 2}, {1001_000, "room:a", 3}})
	if got != want {
		t.Fatalf("recent %s, want %s", got, want)
	}
	l.observe(t0.Add(restartWindow+1500*time.Millisecond), []host.Actor{ch("b", 2)})
	if len(l.recent) != 0 || len(l.seen) != 1 {
		t.Fatalf("after the window: recent %v, seen %v", l.recent, l.seen)
	}
}

func TestCrashLogBounded(t *testing.T) {
	var l crashLog
	for i := range maxCrashes + 5 {
		l.add(Crash{Topic: fmt.Sprint(i), Reason: strings.Repeat("é", maxReason)})
	}
	got := l.newest()
	if len(got) != maxCrashes || got[0].Topic != fmt.Sprint(maxCrashes+4) || len(got[0].Reason) > maxReason+len("…") {
		t.Fatalf("%d crashes, newest %q, reason %d bytes", len(got), got[0].Topic, len(got[0].Reason))
	}
}

func TestHistoryRing(t *testing.T) {
	h := newHistory(3)
	for i := range 5 {
		h.add(Point{At: int64(i)})
	}
	if got := fmt.Sprint(h.points()); got != fmt.Sprint([]Point{{At: 2}, {At: 3}, {At: 4}}) {
		t.Fatalf("points %s", got)
	}
}

// The sampler's work per sample at 10k sockets and 10k channels, once Actors has listed them.
func BenchmarkBuild10k(b *testing.B) {
	actors := fakeActors(10_000)
	st := transport.Stats{Stats: host.Stats{Sockets: 10_000, Channels: 10_000}}
	var l restartLog
	for b.Loop() {
		l.observe(time.Unix(1000, 0), actors)
		build(time.Unix(1000, 0), st, "running", actors, l.recent)
	}
}
