package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/pyrehq/pyre/supervisor/chaos"
)

// Report is the outcome of a chaos session. Its JSON form is what -json prints.
type Report struct {
	Config ReportConfig `json:"config"`

	Strikes      int            `json:"strikes"`       // kill attempts
	Kills        map[string]int `json:"kills"`         // targets killed, per kind
	AlreadyGone  int            `json:"already_gone"`  // strikes whose target had just ended
	ClusterKills int            `json:"cluster_kills"` // infrastructure kills of a node's cluster actors (-nodes > 1)
	IdleTicks    int            `json:"idle_ticks"`    // monkey ticks with no matching target
	Restarts     int64          `json:"restarts"`      // in-place channel restarts (Endpoint.Stats)

	Recovery map[string]Latency `json:"recovery"` // kill → serving again, per kind

	Pushes      PushCounts       `json:"pushes"`
	Broadcasts  BroadcastCounts  `json:"broadcasts"`
	Connections ConnectionCounts `json:"connections"`
	Leak        LeakCheck        `json:"leak"`

	Settled  bool           `json:"settled"`            // every client served again after the chaos, within the deadline
	Presence *PresenceCheck `json:"presence,omitempty"` // with several nodes
	Elapsed  time.Duration  `json:"elapsed_ns"`
	Problems []string       `json:"problems,omitempty"` // harness-level failures (e.g. nothing joined)

	ErrorSamples []string `json:"error_samples,omitempty"` // the first unexplained client errors
}

// PresenceCheck is, with several nodes, whether presence converged: after the chaos every node's tracker
// lists exactly the users joined to each topic, and once the clients closed, nobody.
type PresenceCheck struct {
	Converged  bool  `json:"converged"`
	ConvergeMS int64 `json:"converge_ms"` // from settled to converged
	Emptied    bool  `json:"emptied"`
}

// ReportConfig echoes the session's parameters.
type ReportConfig struct {
	Clients      int           `json:"clients"`
	Topics       int           `json:"topics"`
	Joins        int           `json:"joins"`
	Duration     time.Duration `json:"duration_ns"`
	KillRate     float64       `json:"kill_rate"`
	Kinds        []chaos.Kind  `json:"kinds"`
	Method       string        `json:"method"`
	Seed         uint64        `json:"seed"`
	PushInterval time.Duration `json:"push_interval_ns"`
	TickInterval time.Duration `json:"tick_interval_ns"`
	CrashPushes  float64       `json:"crash_pushes"`
	Nodes        int           `json:"nodes"`
}

// Latency summarizes the time from kills to serving again.
type Latency struct {
	Count       int           `json:"count"`
	P50         time.Duration `json:"p50_ns"`
	P99         time.Duration `json:"p99_ns"`
	Max         time.Duration `json:"max_ns"`
	Unrecovered int           `json:"unrecovered"` // killed, and never served again: must be 0
}

// PushCounts accounts for every push a client sent.
type PushCounts struct {
	Sent          int            `json:"sent"`
	OK            int            `json:"ok"`
	ChannelCrash  int            `json:"error_channel_crash"`
	OtherErrors   map[string]int `json:"error_other,omitempty"`     // by reason, e.g. "unmatched topic" after phx_error
	LostKilled    int            `json:"lost_with_killed_socket"`   // excused
	LostIntensity int            `json:"lost_with_intensity_close"` // excused
	NoReply       int            `json:"no_reply"`                  // must be 0
	BadEcho       int            `json:"bad_echo"`                  // ok replies carrying another push's seq: must be 0
}

// BroadcastCounts accounts for the ticks.
type BroadcastCounts struct {
	Published     int `json:"published"` // Broadcast calls (one per topic per tick)
	Received      int `json:"received"`  // deliveries to clients
	Required      int `json:"required"`  // deliveries owed: published while joined, outside disruptions
	Gap           int `json:"gap"`       // published between a channel's end and its rejoin, outside any window
	Missed        int `json:"missed"`    // must be 0
	Excused       int `json:"excused"`   // published while joined, inside a disruption window
	ExcusedMissed int `json:"excused_missed"`
	Duplicates    int `json:"duplicates"`     // must be 0
	OutOfOrder    int `json:"out_of_order"`   // must be 0
	ClientDropped int `json:"client_dropped"` // dropped by a full client buffer (harness too slow)
	Unexpected    int `json:"unexpected"`     // other events, or phx_close though nobody left: must be 0
}

// ConnectionCounts accounts for connections and channel ends.
type ConnectionCounts struct {
	Dials          int         `json:"dials"`
	DialErrors     int         `json:"dial_errors"`
	ClosedByKill   int         `json:"closed_by_socket_kill"` // excused
	ClosedByLimit  int         `json:"closed_by_intensity"`   // 1011 attributed to channel kills: excused
	Unexpected     int         `json:"unexpected"`            // must be 0
	UnexpectedCode map[int]int `json:"unexpected_codes,omitempty"`
	PhxErrors      int         `json:"phx_errors"`
	Rejoins        int         `json:"rejoins"`
	JoinErrors     int         `json:"join_errors"`
}

// LeakCheck compares the process before the clients connected with the end, after they closed.
type LeakCheck struct {
	GoroutinesBefore int   `json:"goroutines_before"`
	GoroutinesAfter  int   `json:"goroutines_after"`
	ActorsBefore     int64 `json:"actors_before"`
	ActorsAfter      int64 `json:"actors_after"`
	SocketsAfter     int64 `json:"sockets_after"`
	ChannelsAfter    int64 `json:"channels_after"`
	TopicsBefore     int   `json:"topics_before"`
	TopicsAfter      int   `json:"topics_after"`
	// Clean: goroutines, actors, sockets and channels back to the baseline within the deadline.
	Clean bool `json:"clean"`
	// LeftoverSubscriptions lists pubsub subscriptions still registered after every actor stopped.
	LeftoverSubscriptions []string `json:"leftover_subscriptions,omitempty"`
}

// leftoverSubscriptions starts the violation for pubsub subscriptions that outlive their actors.
const leftoverSubscriptions = "leaked pubsub subscriptions"

// Violations lists every broken invariant; it is empty when the session passed.
func (r *Report) Violations() []string {
	var v []string
	check := func(bad bool, format string, args ...any) {
		if bad {
			v = append(v, fmt.Sprintf(format, args...))
		}
	}
	v = append(v, r.Problems...)
	check(r.Pushes.OK == 0, "no push was answered ok: nothing was exercised")
	check(r.Pushes.NoReply > 0, "%d pushes never got a reply", r.Pushes.NoReply)
	check(r.Pushes.BadEcho > 0, "%d ok replies answered another push", r.Pushes.BadEcho)
	check(r.Broadcasts.Missed > 0, "%d broadcasts missed outside disruption windows", r.Broadcasts.Missed)
	check(r.Broadcasts.Duplicates > 0, "%d broadcasts delivered twice", r.Broadcasts.Duplicates)
	check(r.Broadcasts.OutOfOrder > 0, "%d broadcasts out of order", r.Broadcasts.OutOfOrder)
	check(r.Broadcasts.Unexpected > 0, "%d unexpected channel messages", r.Broadcasts.Unexpected)
	check(r.Connections.Unexpected > 0, "%d connections dropped unexpectedly (close codes %v)", r.Connections.Unexpected, r.Connections.UnexpectedCode)
	for _, kind := range sortedKeys(r.Recovery) {
		l := r.Recovery[kind]
		check(l.Unrecovered > 0, "%d %s kills never followed by serving again", l.Unrecovered, kind)
	}
	check(!r.Settled, "clients did not all serve again after the chaos")
	if p := r.Presence; p != nil {
		check(!p.Converged, "presence lists did not converge on every node after the chaos")
		check(!p.Emptied, "presence lists not empty on every node after the clients closed")
	}
	check(!r.Leak.Clean, "leak: goroutines %d → %d, actors %d → %d, sockets %d, channels %d after the clients closed",
		r.Leak.GoroutinesBefore, r.Leak.GoroutinesAfter, r.Leak.ActorsBefore, r.Leak.ActorsAfter,
		r.Leak.SocketsAfter, r.Leak.ChannelsAfter)
	check(r.Leak.TopicsAfter > r.Leak.TopicsBefore, "%s: topics %d → %d after every actor stopped %v",
		leftoverSubscriptions, r.Leak.TopicsBefore, r.Leak.TopicsAfter, r.Leak.LeftoverSubscriptions)
	return v
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteTable writes the report as an aligned table.
func (r *Report) WriteTable(w io.Writer) error {
	c := r.Config
	fmt.Fprintf(w, "pyre chaos: %d clients × %d joins over %d topics; %v of chaos at %g kills/s (%s; %s; seed %d); elapsed %v\n\n",
		c.Clients, c.Joins, c.Topics, c.Duration, c.KillRate, kindsString(c.Kinds), c.Method, c.Seed, r.Elapsed.Round(time.Millisecond))

	line := func(label, format string, args ...any) {
		fmt.Fprintln(w, strings.TrimRight(fmt.Sprintf("%-16s %s", label, fmt.Sprintf(format, args...)), " "))
	}
	var kills []string
	for _, k := range kindOrder(r.Kills) {
		kills = append(kills, fmt.Sprintf("%s %d", k, r.Kills[k]))
	}
	line("kills", "%s  (strikes %d, already gone %d, idle ticks %d)", strings.Join(kills, "  "), r.Strikes, r.AlreadyGone, r.IdleTicks)
	if c.Nodes > 1 {
		line("nodes", "%d, clients spread over them, ticks published on the first; cluster actors killed %d", c.Nodes, r.ClusterKills)
	}
	line("server restarts", "%d", r.Restarts)
	line("kill → serving", "")
	tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
	fmt.Fprintf(tw, "%-16s kind\tn\tp50\tp99\tmax\tunrecovered\n", "")
	for _, k := range kindOrder(r.Recovery) {
		l := r.Recovery[k]
		if l.Count == 0 {
			fmt.Fprintf(tw, "%-16s %s\t0\t-\t-\t-\t%d\n", "", k, l.Unrecovered)
			continue
		}
		fmt.Fprintf(tw, "%-16s %s\t%d\t%v\t%v\t%v\t%d\n", "", k, l.Count, ms(l.P50), ms(l.P99), ms(l.Max), l.Unrecovered)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	p := r.Pushes
	line("pushes", "sent %d  ok %d  error(channel_crash) %d  error(other) %s", p.Sent, p.OK, p.ChannelCrash, counts(p.OtherErrors))
	line("", "lost with killed socket %d  lost with intensity close %d  no reply %d  bad echo %d", p.LostKilled, p.LostIntensity, p.NoReply, p.BadEcho)
	b := r.Broadcasts
	line("broadcasts", "published %d  received %d  owed %d  missed %d", b.Published, b.Received, b.Required, b.Missed)
	line("", "in disruption windows %d (not received %d)  between end and rejoin %d", b.Excused, b.ExcusedMissed, b.Gap)
	line("", "duplicates %d  out of order %d  client-dropped %d  unexpected %d", b.Duplicates, b.OutOfOrder, b.ClientDropped, b.Unexpected)
	cn := r.Connections
	codes := ""
	if len(cn.UnexpectedCode) > 0 {
		codes = " codes " + counts(cn.UnexpectedCode)
	}
	line("connections", "dials %d (errors %d)  closed by socket kill %d  by intensity %d  unexpected %d%s",
		cn.Dials, cn.DialErrors, cn.ClosedByKill, cn.ClosedByLimit, cn.Unexpected, codes)
	line("channels", "phx_error %d  rejoins %d  join errors %d", cn.PhxErrors, cn.Rejoins, cn.JoinErrors)
	l := r.Leak
	line("leak check", "goroutines %d → %d  actors %d → %d  sockets %d  channels %d  topics %d → %d  clean %v",
		l.GoroutinesBefore, l.GoroutinesAfter, l.ActorsBefore, l.ActorsAfter, l.SocketsAfter, l.ChannelsAfter, l.TopicsBefore, l.TopicsAfter, l.Clean)
	if len(l.LeftoverSubscriptions) > 0 {
		line("", "left subscribed: %s", strings.Join(l.LeftoverSubscriptions, ", "))
	}
	line("settled", "%v", r.Settled)
	if p := r.Presence; p != nil {
		line("presence", "converged on every node %v (%d ms after settling), empty after the clients closed %v", p.Converged, p.ConvergeMS, p.Emptied)
	}
	if len(r.ErrorSamples) > 0 {
		fmt.Fprintf(w, "\nfirst client errors:\n  %s\n", strings.Join(r.ErrorSamples, "\n  "))
	}
	if v := r.Violations(); len(v) > 0 {
		fmt.Fprintf(w, "\nVIOLATIONS:\n  %s\n", strings.Join(v, "\n  "))
	} else {
		fmt.Fprintf(w, "\nviolations: none\n")
	}
	return nil
}

// ms rounds a duration for the table.
func ms(d time.Duration) time.Duration {
	if d >= 10*time.Millisecond {
		return d.Round(time.Millisecond)
	}
	return d.Round(10 * time.Microsecond)
}

func counts[K comparable](m map[K]int) string {
	if len(m) == 0 {
		return "0"
	}
	parts := make([]string, 0, len(m))
	for k, n := range m {
		parts = append(parts, fmt.Sprintf("%v:%d", k, n))
	}
	slices.Sort(parts)
	return "{" + strings.Join(parts, " ") + "}"
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}

// kindOrder lists the kinds of m: socket, channel, infrastructure first, then others by name.
func kindOrder[V any](m map[string]V) []string {
	order := []string{string(chaos.Channel), string(chaos.Socket), string(chaos.Infrastructure)}
	var out []string
	for _, k := range order {
		if _, ok := m[k]; ok {
			out = append(out, k)
		}
	}
	for _, k := range sortedKeys(m) {
		if !slices.Contains(order, k) {
			out = append(out, k)
		}
	}
	return out
}
