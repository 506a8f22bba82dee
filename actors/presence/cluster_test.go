package presence

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/pyrehq/pyre/actors/cluster"
	"github.com/pyrehq/pyre/actors/cluster/clustertest"
	"github.com/pyrehq/pyre/actors/pubsub"
	"github.com/pyrehq/pyre/supervisor/chaos"
	"github.com/pyrehq/pyre/supervisor/chaos/pyrechaos"
	"github.com/pyrehq/pyre/transport"
)

const nodeEnv = "PYRE_PRESENCE_TEST_NODE" // "user,address,peer,peer..." runs TestHelperPresenceNode

// clusterNode is a cluster node with an endpoint and a clustered tracker, in this process.
type clusterNode struct {
	sys  *actor.ActorSystem
	node *cluster.Node
	f    *fixture
}

// startClusterNode starts a node at addr with peers, default membership timings (500 ms heartbeats, dead
// after 2 s) and the tracker's default period, unless tweak changes them.
func startClusterNode(tb testing.TB, addr string, peers []string, tweak func(*cluster.Config)) *clusterNode {
	tb.Helper()
	sys := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return quiet }),
		actor.WithDeadLetterThrottleInterval(time.Millisecond)) // its goroutine ends within the test (goleak)
	ccfg := cluster.Config{System: sys, Address: addr, Provider: cluster.Static(peers), Logger: quiet}
	if tweak != nil {
		tweak(&ccfg)
	}
	node := cluster.New(ccfg)
	ps := pubsub.New(pubsub.Config{Adapter: node})
	if err := node.Start(ps); err != nil {
		tb.Fatal(err)
	}
	n := &clusterNode{sys: sys, node: node}
	tb.Cleanup(func() { // after the fixture's cleanup (registered later, run earlier): the endpoint first
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		_ = node.Stop(ctx)
		sys.Shutdown()
	})
	n.f = newFixtureOn(tb, Config{Cluster: node, Logger: quiet}, transport.Config{System: sys, PubSub: ps, Logger: quiet})
	return n
}

// TestHelperPresenceNode is a node in its own process for TestPresenceAcrossProcesses (not a test by
// itself): it joins its user to room:1 on its own endpoint, prints "ready <member id>", then serves stdin
// until it closes (a graceful drain: the endpoint shuts down, then the node) or the process is killed:
// "list" prints room:1 as the tracker lists it, "update" has its user update its meta.
func TestHelperPresenceNode(t *testing.T) {
	spec := os.Getenv(nodeEnv)
	if spec == "" {
		t.Skip("helper process only")
	}
	parts := strings.Split(spec, ",")
	n := startClusterNode(t, parts[1], parts[2:], nil)
	m := n.f.join(parts[0], "room:1")
	fmt.Println("ready", n.node.ID())
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		switch in.Text() {
		case "list":
			fmt.Println(n.f.listed("room:1"))
		case "update":
			m.push("update", map[string]string{"status": "away"})
			fmt.Println("updated")
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.f.ep.Shutdown(ctx); err != nil { // the tracker stops last, and sends its last delta
		fmt.Println("shutdown", err)
	}
	if err := n.node.Stop(ctx); err != nil {
		fmt.Println("stop", err)
	}
	os.Exit(0)
}

type presenceProcess struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Reader
	id    string
}

func spawnPresenceNode(tb testing.TB, user, addr string, peers []string) *presenceProcess {
	tb.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperPresenceNode$", "-test.count=1")
	cmd.Env = append(os.Environ(), nodeEnv+"="+strings.Join(append([]string{user, addr}, peers...), ","))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	p := &presenceProcess{cmd: cmd, stdin: stdin, out: bufio.NewReader(out)}
	tb.Cleanup(p.kill)
	line, err := p.out.ReadString('\n')
	if id, ok := strings.CutPrefix(strings.TrimSpace(line), "ready "); ok && err == nil {
		p.id = id
		return p
	}
	tb.Fatalf("node process: %q %v", line, err)
	return nil
}

func (p *presenceProcess) do(tb testing.TB, cmd string) string {
	tb.Helper()
	if _, err := fmt.Fprintln(p.stdin, cmd); err != nil {
		tb.Fatal(err)
	}
	line, err := p.out.ReadString('\n')
	if err != nil {
		tb.Fatal(err)
	}
	return strings.TrimSpace(line)
}

func (p *presenceProcess) kill() {
	if p.cmd.ProcessState == nil {
		p.cmd.Process.Kill()
		p.cmd.Wait()
	}
}

func loopbackAddrs(tb testing.TB, n int) []string { return clustertest.Addrs(tb, "127.0.0.1", n) }

// nextPresence waits for m's next presence_diff or presence_state and returns it with its arrival time.
func (m *member) nextPresence(tb testing.TB) (event string, payload string, at time.Time) {
	tb.Helper()
	timeout := time.After(waitLimit)
	for {
		select {
		case msg := <-m.ch.Messages():
			if msg.Event != "presence_diff" && msg.Event != "presence_state" {
				continue
			}
			return msg.Event, string(msg.Payload), time.Now()
		case <-timeout:
			tb.Fatal("no presence message")
		}
	}
}

func (m *member) expect(tb testing.TB, event, payload string) time.Time {
	tb.Helper()
	ev, got, at := m.nextPresence(tb)
	if ev != event || got != payload {
		tb.Fatalf("got %s %s\nwant %s %s", ev, got, event, payload)
	}
	return at
}

// expectJoined expects what a client that tracked itself in Join gets: its own diff, then state; or state
// alone. Join runs before the channel subscribes to its topic (as in Phoenix, which subscribes once join/3
// has returned), so the tracker's worker may broadcast that diff before the channel can receive it; state
// then lists the joiner. The diff cannot come after state: both leave the topic's queue in order, and state
// is asked for after the subscription is open. (A diff arriving later fails the test's next expect.)
func (m *member) expectJoined(tb testing.TB, own, state string) {
	tb.Helper()
	ev, got, _ := m.nextPresence(tb)
	if ev == "presence_diff" && got == own {
		ev, got, _ = m.nextPresence(tb)
	}
	if ev != "presence_state" || got != state {
		tb.Fatalf("got %s %s\nwant presence_state %s (after the joiner's own diff %s, or alone)", ev, got, state, own)
	}
}

func presenceJSON(tb testing.TB, ps map[string]Presence) string {
	raw, err := json.Marshal(ps)
	if err != nil {
		tb.Fatal(err)
	}
	return string(raw)
}

func diffOf(tb testing.TB, joins, leaves map[string]Presence) string {
	if joins == nil {
		joins = map[string]Presence{}
	}
	if leaves == nil {
		leaves = map[string]Presence{}
	}
	raw, err := json.Marshal(struct {
		Joins  map[string]Presence `json:"joins"`
		Leaves map[string]Presence `json:"leaves"`
	}{joins, leaves})
	if err != nil {
		tb.Fatal(err)
	}
	return string(raw)
}

func (f *fixture) waitListed(tb testing.TB, want string) {
	tb.Helper()
	for deadline := time.Now().Add(waitLimit); f.listed("room:1") != want; time.Sleep(2 * time.Millisecond) {
		if time.Now().After(deadline) {
			tb.Fatalf("listed %q, want %q", f.listed("room:1"), want)
		}
	}
}

// Presence across processes, this one a node with a client and another process a node with its own: the
// exact frames this node's client gets for a join on the other node, a netsplit (SIGSTOP) and its heal, a
// kill of this node's tracker actor (nothing), an update there, a SIGKILL, a restarted node and its graceful
// drain, with the milliseconds each takes logged.
func TestPresenceAcrossProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process, ~10 s")
	}
	if !isolated(t) {
		return
	}
	addrs := loopbackAddrs(t, 2)
	b := spawnPresenceNode(t, "bob", addrs[1], addrs)
	a := startClusterNode(t, addrs[0], addrs, nil)
	bobRef := func() string {
		if p, ok := a.f.tr.List("room:1")["bob"]; ok {
			return refOf(p.Metas[0])
		}
		return ""
	}
	for deadline := time.Now().Add(waitLimit); len(a.f.tr.List("room:1")) == 0; time.Sleep(2 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("bob never listed here")
		}
	}
	a.f.tr.wg.Wait() // bob's join diff is out before alice subscribes
	bob := a.f.tr.List("room:1")["bob"]
	alice := a.f.join("alice", "room:1")
	aliceP := a.f.tr.List("room:1")["alice"]
	alice.expectJoined(t, diffOf(t, map[string]Presence{"alice": aliceP}, nil),
		presenceJSON(t, map[string]Presence{"alice": aliceP, "bob": bob}))
	want := "alice:" + refOf(aliceP.Metas[0]) + ";bob:" + bobRef()
	for deadline := time.Now().Add(waitLimit); b.do(t, "list") != want; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the other node lists %q, want %q", b.do(t, "list"), want)
		}
	}

	// A netsplit: bob leaves here within the membership's bound, and comes back once when it heals.
	if err := b.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	at := alice.expect(t, "presence_diff", diffOf(t, nil, map[string]Presence{"bob": bob}))
	t.Logf("netsplit (SIGSTOP) → leave diff here: %d ms", at.Sub(t0).Milliseconds())
	if err := b.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	t0 = time.Now()
	for deadline := time.Now().Add(waitLimit); len(a.node.Members()) < 2; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the other node never came back")
		}
	}
	t.Logf("heal (SIGCONT) → member again here: %d ms", time.Since(t0).Milliseconds())
	at = alice.expect(t, "presence_diff", diffOf(t, map[string]Presence{"bob": bob}, nil))
	t.Logf("heal (SIGCONT) → join diff here: %d ms", at.Sub(t0).Milliseconds())
	a.f.waitListed(t, want)
	if got := b.do(t, "list"); got != want {
		t.Fatalf("after the heal the other node lists %q, want %q", got, want)
	}

	// This node's tracker actor is killed: it restarts, and neither client nor other node sees a change.
	// The next frame alice gets is bob's update, made after the restart.
	old := a.f.tr.pid.Load()
	var target *chaos.Target
	for _, tg := range pyrechaos.Population(a.f.ep).Targets() {
		if tg.Kind == chaos.Infrastructure && tg.ID == old.Id {
			target = &tg
		}
	}
	if target == nil || !target.Exit(nil) {
		t.Fatal("no tracker to kill")
	}
	for deadline := time.Now().Add(waitLimit); a.f.tr.pid.Load() == nil || a.f.tr.pid.Load().Id == old.Id; time.Sleep(2 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the tracker did not restart")
		}
	}
	if got := b.do(t, "update"); got != "updated" {
		t.Fatal(got)
	}
	for deadline := time.Now().Add(waitLimit); bobRef() == refOf(bob.Metas[0]); time.Sleep(2 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the update never arrived")
		}
	}
	bob2 := a.f.tr.List("room:1")["bob"]
	alice.expect(t, "presence_diff", diffOf(t, map[string]Presence{"bob": bob2}, map[string]Presence{"bob": bob}))
	want = "alice:" + refOf(aliceP.Metas[0]) + ";bob:" + bobRef()
	for deadline := time.Now().Add(waitLimit); b.do(t, "list") != want; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the other node lists %q, want %q", b.do(t, "list"), want)
		}
	}

	// SIGKILL: bob leaves here within the membership's bound.
	t0 = time.Now()
	b.kill()
	at = alice.expect(t, "presence_diff", diffOf(t, nil, map[string]Presence{"bob": bob2}))
	t.Logf("SIGKILL → leave diff here: %d ms", at.Sub(t0).Milliseconds())

	// A node started again at that address is a new member; carol joins there, then it drains.
	c := spawnPresenceNode(t, "carol", addrs[1], addrs)
	ev, got, _ := alice.nextPresence(t)
	carol := a.f.tr.List("room:1")["carol"]
	if ev != "presence_diff" || got != diffOf(t, map[string]Presence{"carol": carol}, nil) || c.id == b.id {
		t.Fatalf("after the restart: %s %s (ids %s %s)", ev, got, b.id, c.id)
	}
	t0 = time.Now()
	if err := c.stdin.Close(); err != nil {
		t.Fatal(err)
	}
	at = alice.expect(t, "presence_diff", diffOf(t, nil, map[string]Presence{"carol": carol}))
	t.Logf("graceful drain → leave diff here: %d ms", at.Sub(t0).Milliseconds())
	if err := c.cmd.Wait(); err != nil {
		t.Fatalf("drained node: %v", err)
	}
	a.f.waitListed(t, "alice:"+refOf(aliceP.Metas[0]))
}

const isolateEnv = "PYRE_PRESENCE_TEST_ISOLATED"

// isolated runs the calling test in a child process of its own and reports whether this is that child (run
// the body) or the parent (return): protoactor's remote.Start writes grpc's global logger, which a gRPC
// goroutine of an earlier test may be reading (see package cluster's tests). The child runs under goleak.
func isolated(t *testing.T) bool {
	t.Helper()
	if os.Getenv(isolateEnv) == t.Name() {
		return true
	}
	cmd := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), isolateEnv+"="+t.Name())
	out, err := cmd.CombinedOutput()
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if l := strings.TrimSpace(line); strings.HasPrefix(l, "=== RUN") || l == "PASS" || strings.HasPrefix(l, "ok") {
			continue
		}
		t.Log(line)
	}
	if err != nil {
		t.Fatalf("isolated run failed: %v", err)
	}
	return false
}

// gate is a provider that lists its addresses only when opened: every in-process node starts its remote
// before any of them talks (remote.Start writes grpc's global logger).
type gate struct {
	addrs  []string
	update chan func([]string)
}

func (g *gate) Start(_ string, update func([]string)) error { g.update <- update; return nil }
func (g *gate) Stop()                                       {}

// Three nodes in this process, a client on each: every client sees every node's presences with Phoenix's
// exact frames; a node that drains has its presences leave at once on the others; a node whose cluster
// membership stops (as if dead) has them leave within the membership's bound.
func TestPresenceThreeNodesInProcess(t *testing.T) {
	if !isolated(t) {
		return
	}
	addrs := loopbackAddrs(t, 3)
	var nodes []*clusterNode
	var updates []func([]string)
	for _, addr := range addrs {
		g := &gate{addrs: addrs, update: make(chan func([]string), 1)}
		nodes = append(nodes, startClusterNode(t, addr, nil, func(c *cluster.Config) {
			c.Provider = g
			c.HeartbeatInterval, c.DeadAfter = 100*time.Millisecond, 600*time.Millisecond
		}))
		updates = append(updates, <-g.update)
	}
	for _, u := range updates {
		u(addrs)
	}
	for _, n := range nodes {
		for deadline := time.Now().Add(waitLimit); len(n.node.Members()) < 3; time.Sleep(2 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("no cluster")
			}
		}
	}
	a, b, c := nodes[0], nodes[1], nodes[2]
	users := []string{"alice", "bob", "carol"}
	var ms []*member
	var ps []Presence
	want := map[string]Presence{}
	for i, n := range nodes {
		m := n.f.join(users[i], "room:1")
		p := n.f.tr.List("room:1")[users[i]]
		own := diffOf(t, map[string]Presence{users[i]: p}, nil)
		want[users[i]] = p
		for _, n := range nodes {
			n.f.waitListed(t, listedOf(want))
			n.f.tr.wg.Wait() // this join's diff is out on n before the next client subscribes there
		}
		m.expectJoined(t, own, presenceJSON(t, want))
		for _, earlier := range ms { // the earlier clients get this join as one diff, on every node
			earlier.expect(t, "presence_diff", own)
		}
		ms = append(ms, m)
		ps = append(ps, p)
	}

	st := a.f.tr.ReplicationStats()
	t.Logf("node a so far: %+v (%.0f bytes per message)", st, float64(st.Bytes)/float64(st.Heartbeats+st.Transfers+st.TransferReqs))

	// c drains: carol leaves on a and b at once (its tracker sends its last delta as it stops).
	// A liveness bound only: on a loaded machine the drain and two Stops (each waits for its gRPC
	// handlers) outlasted waitLimit.
	ctx, cancel := context.WithTimeout(context.Background(), 4*waitLimit)
	defer cancel()
	t0 := time.Now()
	if err := c.f.ep.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	left := diffOf(t, nil, map[string]Presence{"carol": ps[2]})
	at := ms[0].expect(t, "presence_diff", left)
	ms[1].expect(t, "presence_diff", left)
	t.Logf("drain → leave diff on another node: %d ms", at.Sub(t0).Milliseconds())
	if err := c.node.Stop(ctx); err != nil {
		t.Fatal(err)
	}

	// b's membership stops (its endpoint and tracker run on): bob leaves on a within DeadAfter +
	// HeartbeatInterval, and a leaves on b.
	t0 = time.Now()
	if err := b.node.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	at = ms[0].expect(t, "presence_diff", diffOf(t, nil, map[string]Presence{"bob": ps[1]}))
	t.Logf("node stopped → leave diff on another node: %d ms", at.Sub(t0).Milliseconds())
	ms[1].expect(t, "presence_diff", diffOf(t, nil, map[string]Presence{"alice": ps[0]}))
	a.f.waitListed(t, listedOf(map[string]Presence{"alice": ps[0]}))
	b.f.waitListed(t, listedOf(map[string]Presence{"bob": ps[1]}))
}

func listedOf(ps map[string]Presence) string {
	v := map[string][]string{}
	for k, p := range ps {
		for _, m := range p.Metas {
			v[k] = append(v[k], refOf(m))
		}
	}
	return listed(v)
}

// A node that meets another holding 30,000 presences gets them by transfer (in parts of transferChunk),
// over the real transport: the time and bytes are logged.
func TestPresenceLargeStateTransfer(t *testing.T) {
	if !isolated(t) {
		return
	}
	const n = 30_000
	addrs := loopbackAddrs(t, 2)
	var nodes []*clusterNode
	var updates []func([]string)
	for _, addr := range addrs {
		g := &gate{addrs: addrs, update: make(chan func([]string), 1)}
		nodes = append(nodes, startClusterNode(t, addr, nil, func(c *cluster.Config) { c.Provider = g }))
		updates = append(updates, <-g.update)
	}
	a, b := nodes[0], nodes[1]
	for i := range n {
		meta := withRefs(json.RawMessage(`{"online_at":"1732600000"}`), fmt.Sprintf("F%07d", i), "")
		a.f.tr.apply(op{kind: opTrack, owner: fmt.Sprintf("$%d", i), topic: fmt.Sprintf("room:%d", i%100), key: fmt.Sprintf("user:%d", i), meta: meta})
	}
	t0 := time.Now()
	for _, u := range updates {
		u(addrs)
	}
	count := func() (c int) {
		b.f.tr.mu.RLock()
		defer b.f.tr.mu.RUnlock()
		return b.f.tr.state.Online()
	}
	var met time.Duration
	for deadline := time.Now().Add(waitLimit); count() < n; time.Sleep(time.Millisecond) {
		if met == 0 && len(a.node.Members()) == 2 && len(b.node.Members()) == 2 {
			met = time.Since(t0)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d presences arrived", count(), n)
		}
	}
	st := a.f.tr.ReplicationStats()
	t.Logf("%d presences on a node met: members of each other %d ms after the gate opened, all listed on the other %d ms after; sent %+v",
		n, met.Milliseconds(), (time.Since(t0) - met).Milliseconds(), st)
	if count() != n || len(b.f.tr.List("room:7")) != n/100 {
		t.Fatalf("listed %d, room:7 %d", count(), len(b.f.tr.List("room:7")))
	}
}
