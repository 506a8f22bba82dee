package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pyrehq/pyre/actors/pubsub"
	"github.com/pyrehq/pyre/supervisor/chaos"
	"github.com/pyrehq/pyre/supervisor/chaos/pyrechaos"
	"github.com/pyrehq/pyre/transport"
)

// Run runs one chaos session against an in-process server and reports what the clients saw. It returns
// an error only for a bad configuration or a server that cannot start; broken invariants are in
// Report.Violations.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	started := time.Now()
	progress := func(format string, args ...any) {
		fmt.Fprintf(cfg.Progress, "chaos: %6.2fs  "+format+"\n", append([]any{time.Since(started).Seconds()}, args...)...)
	}
	var srvs []*server
	if cfg.Nodes > 1 {
		var err error
		if srvs, err = startNodes(cfg.Nodes, cfg.ChannelIntensity, cfg.ConnIntensity, cfg.ServerLog, cfg.JoinTimeout); err != nil {
			return nil, err
		}
	} else {
		srv, err := startServer(cfg.ChannelIntensity, cfg.ConnIntensity, cfg.ServerLog)
		if err != nil {
			return nil, err
		}
		srvs = []*server{srv}
	}
	r := &Report{Config: ReportConfig{
		Clients: cfg.Clients, Topics: cfg.Topics, Joins: cfg.Joins, Duration: cfg.Duration, KillRate: cfg.KillRate,
		Kinds: cfg.Kinds, Method: cfg.Method, Seed: cfg.Seed, PushInterval: cfg.PushInterval,
		TickInterval: cfg.TickInterval, CrashPushes: cfg.CrashPushes, Nodes: max(cfg.Nodes, 1),
	}}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := shutdownAll(sctx, srvs); err != nil {
			r.Problems = append(r.Problems, "server shutdown: "+err.Error())
		}
	}()

	base := stats(srvs)
	r.Leak.GoroutinesBefore, r.Leak.ActorsBefore, r.Leak.TopicsBefore = baselineGoroutines(), base.Actors, base.Topics

	topics := make([]string, cfg.Topics)
	for i := range topics {
		topics[i] = topicPrefix + strconv.Itoa(i)
	}
	// The ticks are published on the first node: with several, they reach the others' clients through the
	// cluster, in order per publisher.
	pub := &publisher{broadcast: srvs[0].ep.Broadcast, topics: topics, interval: cfg.TickInterval, ticks: make(map[string][]span)}
	s := &session{cfg: cfg, urls: urls(srvs), byID: make(map[string]*chaosClient), stop: make(chan struct{}), published: pub.published}
	for i := range cfg.Clients {
		joined := make([]string, cfg.Joins)
		for k := range joined {
			joined[k] = topics[(i*cfg.Joins+k)%cfg.Topics]
		}
		c := newClient(s, i, joined)
		s.clients = append(s.clients, c)
		s.byID[c.socketID()] = c
	}

	stopPub := make(chan struct{})
	var pubDone, clientsDone sync.WaitGroup
	pubDone.Go(func() { pub.run(stopPub) })
	for _, c := range s.clients {
		clientsDone.Go(c.run)
	}
	stopAll := func() {
		close(stopPub)
		pubDone.Wait()
		close(s.stop)
		clientsDone.Wait()
	}

	// Everyone joined and served once before the first kill; then chaos, then everyone served again.
	cr := chaos.Report{ByKind: map[chaos.Kind]int{}}
	var err error
	if poll(ctx, cfg.JoinTimeout, func() bool { return s.servedSince(started) }) {
		progress("%d clients joined %d channels; chaos for %v at %g kills/s (%s, %s)",
			cfg.Clients, cfg.Clients*cfg.Joins, cfg.Duration, cfg.KillRate, cfg.Method, kindsString(cfg.Kinds))
		s.chaosOn.Store(true)
		cr, err = runMonkeys(ctx, population(srvs), cfg, s.nudge)
		s.chaosOn.Store(false)
		if err != nil {
			stopAll()
			return nil, err
		}
		progress("monkey done: %d strikes; settling", len(cr.Kills))
		r.Settled = settle(ctx, s, cr.Ended, cfg.SettleTimeout)
		if cfg.Nodes > 1 {
			r.Presence = &PresenceCheck{}
			t0 := time.Now()
			r.Presence.Converged = poll(ctx, cfg.SettleTimeout, func() bool { return presenceIs(srvs, s.expectedPresence()) })
			r.Presence.ConvergeMS = time.Since(t0).Milliseconds()
		}
	} else {
		r.Problems = append(r.Problems, fmt.Sprintf("clients did not all join within %v", cfg.JoinTimeout))
	}
	stopAll()
	progress("clients closed; checking for leaks")
	if r.Presence != nil {
		r.Presence.Emptied = poll(context.Background(), cfg.LeakTimeout, func() bool { return presenceIs(srvs, map[string][]string{}) })
	}

	poll(context.Background(), cfg.LeakTimeout, func() bool {
		st := stats(srvs)
		r.Leak.GoroutinesAfter, r.Leak.ActorsAfter, r.Leak.TopicsAfter = runtime.NumGoroutine(), st.Actors, st.Topics
		r.Leak.SocketsAfter, r.Leak.ChannelsAfter = st.Sockets, st.Channels
		r.Leak.Clean = r.Leak.GoroutinesAfter <= r.Leak.GoroutinesBefore && st.Actors <= base.Actors &&
			st.Sockets == 0 && st.Channels == 0
		return r.Leak.Clean && st.Topics <= base.Topics
	})
	if r.Leak.TopicsAfter > r.Leak.TopicsBefore {
		for _, srv := range srvs {
			srv.ep.PubSub().Each(func(topic string, subs []pubsub.Subscriber) {
				for _, sub := range subs {
					r.Leak.LeftoverSubscriptions = append(r.Leak.LeftoverSubscriptions, fmt.Sprintf("%s (%T)", topic, sub))
				}
			})
		}
	}
	r.Restarts = stats(srvs).Restarts
	fill(r, s, pub, cr, cfg)
	r.Elapsed = time.Since(started)
	progress("done")
	return r, nil
}

// settleQuiet is how long every subscription must keep serving, with no new disruption, before the
// session counts as settled: a socket killed by panic closes its connection a moment after the kill.
const settleQuiet = 250 * time.Millisecond

// settle waits until every subscription has served again after the end of the chaos and the last
// disruption any client saw, and has kept serving for settleQuiet.
func settle(ctx context.Context, s *session, chaosEnd time.Time, timeout time.Duration) bool {
	var quietSince time.Time
	return poll(ctx, timeout, func() bool {
		s.mu.Lock()
		since := chaosEnd
		if s.lastBlow.After(since) {
			since = s.lastBlow
		}
		s.mu.Unlock()
		if !s.servedSince(since) {
			quietSince = time.Time{}
			return false
		}
		if quietSince.IsZero() {
			quietSince = time.Now()
		}
		return time.Since(quietSince) >= settleQuiet
	})
}

// baselineGoroutines counts goroutines, ignoring short-lived ones of the server's start: the lowest of
// a few samples.
func baselineGoroutines() int {
	n := runtime.NumGoroutine()
	for range 10 {
		time.Sleep(5 * time.Millisecond)
		n = min(n, runtime.NumGoroutine())
	}
	return n
}

// runMonkeys kills at cfg.KillRate for cfg.Duration: one monkey per method, each at its share of the rate
// and with its own seed, started a fraction of a period apart so that kills stay evenly spaced; their
// reports merged. With several nodes, infrastructure (each endpoint's janitor and presence tracker, each
// node's cluster actors) has a monkey of its own at a tenth of the rate (at least 1/s): they are a few
// targets among thousands, and an endpoint gives up, by design, past host.EndpointIntensity (3 in 5 s).
func runMonkeys(ctx context.Context, pop chaos.Population, cfg Config, onKill func(chaos.Kill)) (chaos.Report, error) {
	ms, _ := methods(cfg.Method)
	period := time.Duration(float64(time.Second) / cfg.KillRate) // between kills of all monkeys together
	kinds, infra := cfg.Kinds, false
	if cfg.Nodes > 1 && slices.Contains(kinds, chaos.Infrastructure) {
		kinds = slices.DeleteFunc(slices.Clone(kinds), func(k chaos.Kind) bool { return k == chaos.Infrastructure })
		infra = true
	}
	var monkeys []*chaos.Monkey
	for i, m := range ms {
		if len(kinds) == 0 {
			break
		}
		monkey, err := chaos.New(pop, chaos.Config{
			Select: chaos.Selector{Kinds: kinds}, Method: m, Seed: cfg.Seed + uint64(i),
			Rate: cfg.KillRate / float64(len(ms)), Duration: max(cfg.Duration-time.Duration(i)*period, time.Nanosecond), OnKill: onKill,
		})
		if err != nil {
			return chaos.Report{}, err
		}
		monkeys = append(monkeys, monkey)
	}
	if infra {
		m, err := chaos.New(pop, chaos.Config{
			Select: chaos.Selector{Kinds: []chaos.Kind{chaos.Infrastructure}},
			Method: ms[0], Seed: cfg.Seed + uint64(len(ms)), Rate: max(cfg.KillRate/10, 1), Duration: cfg.Duration, OnKill: onKill,
		})
		if err != nil {
			return chaos.Report{}, err
		}
		monkeys = append(monkeys, m)
	}
	reports := make([]chaos.Report, len(monkeys))
	errs := make([]error, len(monkeys))
	var wg sync.WaitGroup
	for i, monkey := range monkeys {
		wg.Go(func() {
			t := time.NewTimer(time.Duration(i) * period)
			defer t.Stop()
			select {
			case <-t.C:
				reports[i], errs[i] = monkey.Run(ctx)
			case <-ctx.Done():
				reports[i] = chaos.Report{ByKind: map[chaos.Kind]int{}, Started: time.Now(), Ended: time.Now()}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return chaos.Report{}, err
	}
	merged := chaos.Report{ByKind: make(map[chaos.Kind]int), Started: reports[0].Started, Ended: reports[0].Ended}
	for _, r := range reports {
		merged.Kills = append(merged.Kills, r.Kills...)
		merged.Idle += r.Idle
		for k, n := range r.ByKind {
			merged.ByKind[k] += n
		}
		if r.Ended.After(merged.Ended) {
			merged.Ended = r.Ended
		}
	}
	slices.SortStableFunc(merged.Kills, func(a, b chaos.Kill) int { return a.At.Compare(b.At) })
	return merged, nil
}

// fill computes the report's figures from what the run recorded.
func fill(r *Report, s *session, pub *publisher, cr chaos.Report, cfg Config) {
	o := observation{Ticks: pub.ticks, Kills: cr.Kills, ConnIntensity: cfg.ConnIntensity}
	if cfg.Nodes > 1 {
		o.Hop = hopSlack
	}
	for _, c := range s.clients {
		o.SocketIDs = append(o.SocketIDs, c.socketID())
		o.Conns = append(o.Conns, c.conns...)
		for _, sb := range c.subs {
			o.Subs = append(o.Subs, sb.record())
		}
	}
	a := analyze(o)

	r.Strikes, r.IdleTicks = len(cr.Kills), cr.Idle
	r.Kills = make(map[string]int)
	r.Recovery = make(map[string]Latency)
	for _, k := range cfg.Kinds {
		r.Kills[string(k)] = cr.ByKind[k]
		r.Recovery[string(k)] = summarize(a.Recovery[k], a.Unrecovered[k])
	}
	for _, k := range cr.Kills {
		if !k.Done {
			r.AlreadyGone++
		}
		if k.Done && isClusterActor(chaos.Target{Labels: k.Labels}) {
			r.ClusterKills++
		}
	}
	if a.Unattributed > 0 {
		r.Problems = append(r.Problems, fmt.Sprintf("%d kills name no client or topic of this run", a.Unattributed))
	}
	for _, e := range pub.errors {
		r.Problems = append(r.Problems, "broadcast failed: "+e)
	}

	t := &s.tally
	r.Pushes = PushCounts{
		Sent: int(t.sent.Load()), OK: int(t.ok.Load()), ChannelCrash: int(t.channelCrash.Load()),
		OtherErrors: t.otherErrors, LostKilled: a.LostKilled, LostIntensity: a.LostIntense,
		NoReply: int(t.noReply.Load()) + a.LostOther, BadEcho: int(t.badEcho.Load()),
	}
	for _, ticks := range pub.ticks {
		r.Broadcasts.Published += len(ticks)
	}
	r.Broadcasts.Received = int(t.received.Load())
	r.Broadcasts.Required, r.Broadcasts.Missed = a.Ticks.Required, a.Ticks.Missed
	r.Broadcasts.Excused, r.Broadcasts.ExcusedMissed, r.Broadcasts.Gap = a.Ticks.Excused, a.Ticks.ExcusedMissed, a.Ticks.Gap
	r.Broadcasts.Duplicates, r.Broadcasts.OutOfOrder = int(t.duplicates.Load()), int(t.outOfOrder.Load())
	r.Broadcasts.ClientDropped, r.Broadcasts.Unexpected = int(t.dropped.Load()), int(t.unexpected.Load())
	r.Connections = ConnectionCounts{
		Dials: int(t.dials.Load()), DialErrors: int(t.dialErrors.Load()),
		ClosedByKill: a.Closed[connKilled], ClosedByLimit: a.Closed[connIntensity],
		Unexpected: a.Closed[connUnexpected], PhxErrors: int(t.phxErrors.Load()),
		Rejoins: int(t.rejoins.Load()), JoinErrors: int(t.joinErrors.Load()),
	}
	if len(a.Unexpected) > 0 {
		r.Connections.UnexpectedCode = a.Unexpected
	}
	r.ErrorSamples = t.samples
}

// poll calls cond every 10 ms until it is true (true), or timeout or ctx ends (false).
func poll(ctx context.Context, timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		select {
		case <-time.After(10 * time.Millisecond):
		case <-ctx.Done():
		}
	}
}

func kindsString(kinds []chaos.Kind) string {
	s := make([]string, len(kinds))
	for i, k := range kinds {
		s[i] = string(k)
	}
	return strings.Join(s, ",")
}

// stats sums the servers' endpoint statistics.
func stats(srvs []*server) transport.Stats {
	var sum transport.Stats
	for _, s := range srvs {
		st := s.ep.Stats()
		sum.Actors += st.Actors
		sum.Topics += st.Topics
		sum.Sockets += st.Sockets
		sum.Channels += st.Channels
		sum.Restarts += st.Restarts
	}
	return sum
}

// urls are the servers' socket URLs; client i dials the (i mod n)th.
func urls(srvs []*server) []string {
	out := make([]string, len(srvs))
	for i, s := range srvs {
		out[i] = s.url
	}
	return out
}

// population is every server's actors and, for cluster nodes, their cluster actors.
func population(srvs []*server) chaos.Population {
	var ps []chaos.Population
	for _, s := range srvs {
		ps = append(ps, pyrechaos.Population(s.ep))
		if s.node != nil {
			ps = append(ps, pyrechaos.Cluster(s.node))
		}
	}
	return pyrechaos.Merge(ps...)
}

// isClusterActor tells a node's cluster actor (pyrechaos.Cluster) from the endpoint's infrastructure.
func isClusterActor(t chaos.Target) bool {
	return strings.HasPrefix(t.Labels[chaos.LabelChild], "pyre-cluster-")
}

// expectedPresence is, per topic, the users of the clients joined to it (sorted).
func (s *session) expectedPresence() map[string][]string {
	want := map[string][]string{}
	for _, c := range s.clients {
		for _, sb := range c.subs {
			want[sb.topic] = append(want[sb.topic], c.userID)
		}
	}
	for _, users := range want {
		slices.Sort(users)
	}
	return want
}

// presenceIs reports whether every node's tracker lists exactly want's users in each of the topics
// (room:0 … up to the highest seen), and nothing elsewhere.
func presenceIs(srvs []*server, want map[string][]string) bool {
	for _, srv := range srvs {
		if srv.tracker == nil {
			continue
		}
		for i := range 1000 {
			topic := topicPrefix + strconv.Itoa(i)
			got := slices.Sorted(maps.Keys(srv.tracker.List(topic)))
			if !slices.Equal(got, want[topic]) {
				return false
			}
			if i >= len(want) && len(got) == 0 {
				break
			}
		}
	}
	return true
}
