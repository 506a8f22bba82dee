package dashboard

import (
	"time"

	"github.com/pyrehq/pyre/actors/telemetry"
)

// Events is what the dashboard needs to hear from the endpoint it shows, for its rates, crashes,
// slow-consumer cuts, presences and cluster nodes. Give it to the endpoint (transport.Config.Events; its
// presence trackers take them from there), with telemetry.Combine when you observe it otherwise too. Each func is one atomic add, except for a crash (a short lock) and a member joining or leaving.
// Without it the page still shows the tree, the queues and the restarts (which it samples), and its
// charts stay flat.
func (d *Dashboard) Events() telemetry.Events {
	c := &d.counters
	return telemetry.Events{
		SocketConnected: func(e telemetry.SocketConnected) {
			if e.Result == telemetry.ResultOK {
				c.connects.Add(1)
			}
		},
		ChannelJoined: func(e telemetry.ChannelJoined) {
			if e.Result == telemetry.ResultOK {
				c.joins.Add(1)
			}
		},
		MessageReceived: func(telemetry.MessageReceived) { c.in.Add(1) },
		MessagesSent:    func(e telemetry.MessagesSent) { c.out.Add(int64(e.Frames)) },
		ChannelCrashed: func(e telemetry.ChannelCrashed) {
			c.crashes.Add(1)
			d.crashes.add(Crash{At: time.Now().UnixMilli(), Topic: e.Topic, Reason: reason(e.Reason), Stack: e.Stack})
		},
		InfrastructureRestarted: func(e telemetry.InfrastructureRestarted) {
			d.crashes.add(Crash{At: time.Now().UnixMilli(), Topic: "infrastructure: " + e.Child, Reason: reason(e.Reason)})
		},
		EndpointGaveUp: func(e telemetry.EndpointGaveUp) {
			d.crashes.add(Crash{At: time.Now().UnixMilli(), Topic: "endpoint supervisor gave up", Reason: reason(e.Reason)})
		},
		SlowConsumer:   func(telemetry.SlowConsumer) { c.slowCuts.Add(1) },
		PresenceJoined: func(telemetry.Presence) { c.presences.Add(1) },
		PresenceLeft:   func(telemetry.Presence) { c.presences.Add(-1) },
		MemberJoined:   func(e telemetry.Member) { d.members.join(e.ID, e.Address) },
		MemberLeft:     func(e telemetry.Member) { d.members.leave(e.ID) },
	}
}

func reason(err error) string {
	if err == nil {
		return "normal"
	}
	return err.Error()
}
