package dashboard

import (
	"errors"
	"fmt"
	"testing"

	"github.com/pyrehq/pyre/actors/telemetry"
)

// Each event lands in its counter, the crash log or the node list; the sampler takes the counts since its
// last sample.
func TestEventsCounted(t *testing.T) {
	d := New(Config{Node: "a"})
	ev := d.Events()
	ev.SocketConnected(telemetry.SocketConnected{Result: telemetry.ResultOK})
	ev.SocketConnected(telemetry.SocketConnected{Result: telemetry.ResultError})
	ev.ChannelJoined(telemetry.ChannelJoined{Result: telemetry.ResultOK})
	ev.ChannelJoined(telemetry.ChannelJoined{Result: telemetry.ResultCrash})
	for range 3 {
		ev.MessageReceived(telemetry.MessageReceived{})
	}
	ev.MessagesSent(telemetry.MessagesSent{Frames: 5})
	ev.ChannelCrashed(telemetry.ChannelCrashed{Channel: telemetry.Channel{Topic: "room:1"}, Reason: errors.New("boom"), Stack: "main.f x.go:1"})
	ev.InfrastructureRestarted(telemetry.InfrastructureRestarted{Child: "janitor", Reason: errors.New("bad")})
	ev.SlowConsumer(telemetry.SlowConsumer{})
	ev.PresenceJoined(telemetry.Presence{})
	ev.PresenceJoined(telemetry.Presence{})
	ev.PresenceLeft(telemetry.Presence{})
	ev.MemberJoined(telemetry.Member{ID: "c", Address: "127.0.0.3:1"})
	ev.MemberJoined(telemetry.Member{ID: "b", Address: "127.0.0.2:1"})
	ev.MemberLeft(telemetry.Member{ID: "c"})

	var last Point
	if p := d.counters.take(7, &last); p != (Point{At: 7, Connects: 1, Joins: 1, In: 3, Out: 5, Crashes: 1}) {
		t.Errorf("first point %+v", p)
	}
	ev.MessageReceived(telemetry.MessageReceived{})
	if p := d.counters.take(8, &last); p != (Point{At: 8, In: 1}) {
		t.Errorf("second point %+v", p)
	}
	crashes := d.crashes.newest()
	if len(crashes) != 2 || crashes[0].Topic != "infrastructure: janitor" || crashes[1].Topic != "room:1" ||
		crashes[1].Reason != "boom" || crashes[1].Stack != "main.f x.go:1" {
		t.Errorf("crashes %+v", crashes)
	}
	if d.counters.slowCuts.Load() != 1 || d.counters.presences.Load() != 1 {
		t.Errorf("slow cuts %d, presences %d", d.counters.slowCuts.Load(), d.counters.presences.Load())
	}
	if got := fmt.Sprint(d.nodes()); got != fmt.Sprint([]Node{{Name: "a", Status: "up", Self: true}, {Name: "b", Addr: "127.0.0.2:1", Status: "up"}}) {
		t.Errorf("nodes %s", got)
	}
	// Config.Nodes, the cluster's hook, wins.
	d.cfg.Nodes = func() []Node { return []Node{{Name: "x"}} }
	if got := d.nodes(); len(got) != 1 || got[0].Name != "x" {
		t.Errorf("nodes with Config.Nodes: %v", got)
	}
}
