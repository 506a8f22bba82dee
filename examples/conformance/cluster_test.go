//go:build unix

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pyrehq/pyre/actors/cluster/clustertest"
	"github.com/pyrehq/pyre/examples/internal/testlog"
	"github.com/pyrehq/pyre/transport/client"
)

// clusterNode is one conformance server process run as a cluster node on its own loopback address.
type clusterNode struct {
	name, host  string
	httpPort    int
	clusterAddr string
	base        string
	proc        *exec.Cmd
	exited      chan error
	logs        *jsSyncBuffer
	peers       []string
}

// freePortOn returns a port for a node's listener on host (see clustertest: why not port 0).
func freePortOn(t *testing.T, host string) int {
	t.Helper()
	a, err := clustertest.Addr(host)
	if err != nil {
		t.Fatalf("%v (Linux answers all of 127.0.0.0/8)", err)
	}
	_, p, _ := net.SplitHostPort(a)
	port, _ := strconv.Atoi(p)
	return port
}

func (n *clusterNode) start(t *testing.T, bin string) {
	t.Helper()
	n.exited, n.logs = make(chan error, 1), &jsSyncBuffer{}
	n.proc = exec.Command(bin)
	n.proc.Env = append(os.Environ(), "HOST="+n.host, fmt.Sprintf("PORT=%d", n.httpPort), "PYRE_NODE="+n.name,
		"PYRE_CLUSTER_ADDR="+n.clusterAddr, "PYRE_CLUSTER_PEERS="+strings.Join(n.peers, ","))
	n.proc.Stdout, n.proc.Stderr = n.logs, n.logs
	if err := n.proc.Start(); err != nil {
		t.Fatalf("start %s: %v", n.name, err)
	}
	go func() { n.exited <- n.proc.Wait() }()
}

// stop sends SIGTERM and waits for the exit (a SIGKILLed node has exited already).
func (n *clusterNode) stop(t *testing.T) {
	_ = n.proc.Process.Signal(syscall.SIGCONT)
	_ = n.proc.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-n.exited:
		if err != nil && !strings.Contains(err.Error(), "killed") {
			t.Errorf("%s exited: %v", n.name, err)
		}
		n.exited <- err
	case <-time.After(20 * time.Second):
		t.Errorf("%s still running 20 s after SIGTERM: killed", n.name)
		_ = n.proc.Process.Kill()
	}
	out := n.logs.String()
	if races := unknownRaces(out); races > 0 {
		t.Errorf("the race detector fired in %s (%d reports)", n.name, races)
	}
	if t.Failed() {
		t.Logf("%s output:\n%s", n.name, out)
	}
}

// unknownRaces counts the race reports in out but protoactor-go's own on shutdown (knownProtoactorRace).
func unknownRaces(out string) int {
	n := 0
	for _, r := range strings.Split(out, "WARNING: DATA RACE")[1:] {
		r, _, _ = strings.Cut(r, "==================")
		if !knownProtoactorRace(r) {
			n++
		}
	}
	return n
}

func (n *clusterNode) kill(sig syscall.Signal) {
	_ = n.proc.Process.Signal(sig)
	if sig == syscall.SIGKILL {
		n.exited <- <-n.exited // reaped
	}
}

// members is GET /cluster's answer, or nil while the node does not answer.
func (n *clusterNode) members() []string {
	c := &http.Client{Timeout: 500 * time.Millisecond}
	resp, err := c.Get(n.base + "/cluster")
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	var v struct {
		Node    string   `json:"node"`
		Members []string `json:"members"`
	}
	if json.NewDecoder(resp.Body).Decode(&v) != nil || v.Node != n.name {
		return nil
	}
	return v.Members
}

// waitMembers polls /cluster on every node of on until each answers want, and returns how long it took.
func waitMembers(t *testing.T, what string, on []*clusterNode, want []string) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := start.Add(15 * time.Second)
	for _, n := range on {
		for !slices.Equal(n.members(), want) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: %s answers members %v, want %v", what, n.name, n.members(), want)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	return time.Since(start)
}

// waitMetric polls GET /metrics on n until it has the exact line want.
func (n *clusterNode) waitMetric(t *testing.T, want string) {
	t.Helper()
	c := &http.Client{Timeout: 500 * time.Millisecond}
	deadline := time.Now().Add(15 * time.Second)
	var last string
	for {
		if resp, err := c.Get(n.base + "/metrics"); err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			last = string(b)
			if slices.Contains(strings.Split(last, "\n"), want) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no %q in /metrics:\n%s", n.name, want, last)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (n *clusterNode) get(t *testing.T, path string) {
	t.Helper()
	resp, err := http.Get(n.base + path)
	if err != nil {
		t.Fatalf("%s GET %s: %v", n.name, path, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s GET %s: %d", n.name, path, resp.StatusCode)
	}
}

// dialJoin connects a Go client to n and joins topic.
func (n *clusterNode) dialJoin(t *testing.T, user, topic string) *client.Channel {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	u := "ws" + strings.TrimPrefix(n.base, "http") + "/socket/websocket?vsn=2.0.0"
	c, err := client.Dial(ctx, u, client.Options{Params: url.Values{"user_id": {user}}, MessageBuffer: 1024})
	if err != nil {
		t.Fatalf("dial %s: %v", n.name, err)
	}
	t.Cleanup(func() { c.Close() })
	ch, reply, err := c.Join(ctx, topic, map[string]any{})
	if err != nil || !reply.OK() {
		t.Fatalf("join %s on %s: %v %+v", topic, n.name, err, reply)
	}
	return ch
}

// awaitBroadcast reads ch until a broadcast of event with exactly payload arrives (others are skipped and
// returned; echo:*'s welcome push is ignored), failing after 10 s.
func awaitBroadcast(t *testing.T, who string, ch *client.Channel, event, payload string) []client.Message {
	t.Helper()
	var skipped []client.Message
	timeout := time.After(10 * time.Second)
	for {
		select {
		case m, ok := <-ch.Messages():
			if !ok {
				t.Fatalf("%s: channel ended", who)
			}
			if m.Event == "welcome" {
				continue // echo:* pushes it after the join
			}
			if m.Event == event && string(m.Payload) == payload && m.JoinRef == "" && m.Ref == "" && m.Topic == ch.Topic() {
				return skipped
			}
			skipped = append(skipped, m)
		case <-timeout:
			t.Fatalf("%s: no %s %s within 10 s (got %d others)", who, event, payload, len(skipped))
		}
	}
}

// latencies pushes n broadcasts one at a time from the channel pub and returns, for each, the time until
// pub's client had it and until other's had it.
func latencies(t *testing.T, pub, other *client.Channel, n int) (same, hop []time.Duration) {
	t.Helper()
	wait := func(ch *client.Channel, i int, at *time.Time, wg *sync.WaitGroup) {
		defer wg.Done()
		timeout := time.After(10 * time.Second)
		for {
			select {
			case m := <-ch.Messages():
				var v struct{ I int }
				if m.Event == "broadcast" && json.Unmarshal(m.Payload, &v) == nil && v.I == i {
					*at = time.Now()
					return
				}
			case <-timeout:
				t.Errorf("broadcast %d did not arrive", i)
				return
			}
		}
	}
	for i := 1; i <= n && !t.Failed(); i++ {
		var a, b time.Time
		var wg sync.WaitGroup
		wg.Add(2)
		go wait(pub, i, &a, &wg)
		go wait(other, i, &b, &wg)
		start := time.Now()
		if err := pub.PushNoReply("broadcast", map[string]int{"i": i}); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		same = append(same, a.Sub(start))
		hop = append(hop, b.Sub(start))
	}
	if t.Failed() {
		t.FailNow()
	}
	return same, hop
}

// pct is the p-th percentile of d (sorted in place), rounded to 10 µs.
func pct(d []time.Duration, p int) time.Duration {
	slices.Sort(d)
	return d[min(len(d)-1, len(d)*p/100)].Round(10 * time.Microsecond)
}

// TestClusterProcesses runs examples/conformance as three OS processes on 127.0.0.1, .2 and .3 forming
// one cluster (PYRE_NODE, PYRE_CLUSTER_ADDR, PYRE_CLUSTER_PEERS), with Go clients and phoenix.js clients
// on different nodes: broadcasts, LocalBroadcast, broadcast_from, disconnect; a node SIGKILLed under load
// (the others go on, it leaves their /cluster: time logged), restarted (it rejoins); a netsplit by SIGSTOP
// (its peers drop it) and its heal by SIGCONT (time logged).
func TestClusterProcesses(t *testing.T) {
	nodeBin, jsDir := jsRequire(t)
	if _, err := os.ReadFile(filepath.Join(jsDir, "cluster", "cluster.mjs")); err != nil {
		t.Fatal(err)
	}
	bin := jsBuildServer(t)
	began := time.Now()
	var nodes []*clusterNode
	var peers []string
	for i := range 3 {
		host := fmt.Sprintf("127.0.0.%d", i+1)
		n := &clusterNode{name: fmt.Sprintf("n%d", i+1), host: host, httpPort: freePortOn(t, host)}
		n.clusterAddr = fmt.Sprintf("%s:%d", host, freePortOn(t, host))
		n.base = fmt.Sprintf("http://%s:%d", host, n.httpPort)
		nodes = append(nodes, n)
		peers = append(peers, n.clusterAddr)
	}
	for _, n := range nodes {
		n.peers = peers
		n.start(t, bin)
	}
	t.Cleanup(func() {
		for _, n := range nodes {
			n.stop(t)
		}
	})
	n1, n2, n3 := nodes[0], nodes[1], nodes[2]
	all := []string{"n1", "n2", "n3"}
	t.Logf("cluster formed in %v", waitMembers(t, "start", nodes, all).Round(time.Millisecond))
	for _, n := range nodes {
		n.waitMetric(t, "pyre_cluster_members 3")
	}

	// Go clients on every node: an endpoint broadcast from n1 reaches all of them, exact frame; a
	// LocalBroadcast on n1 stays there (the marker after it, same publisher, is the barrier).
	topic := "echo:go-cluster"
	chans := []*client.Channel{n1.dialJoin(t, "1", topic), n2.dialJoin(t, "2", topic), n3.dialJoin(t, "3", topic)}
	n1.get(t, "/broadcast?topic="+topic+"&event=hello&msg=everyone")
	for i, ch := range chans {
		if s := awaitBroadcast(t, nodes[i].name, ch, "hello", `{"msg":"everyone"}`); len(s) != 0 {
			t.Fatalf("%s: unexpected %+v", nodes[i].name, s)
		}
	}
	n1.get(t, "/broadcast?local=1&topic="+topic+"&event=local&msg=n1")
	n1.get(t, "/broadcast?topic="+topic+"&event=marker&msg=1")
	if s := awaitBroadcast(t, "n1", chans[0], "marker", `{"msg":"1"}`); len(s) != 1 || s[0].Event != "local" {
		t.Fatalf("n1 before the marker: %+v, want the local broadcast", s)
	}
	for i, ch := range chans[1:] {
		if s := awaitBroadcast(t, nodes[i+1].name, ch, "marker", `{"msg":"1"}`); len(s) != 0 {
			t.Fatalf("%s got %+v before the marker: a LocalBroadcast crossed", nodes[i+1].name, s)
		}
	}

	// phoenix.js clients, one per node.
	var spec []string
	for _, n := range nodes {
		spec = append(spec, "ws"+strings.TrimPrefix(n.base, "http")+"/socket "+n.base)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	js := testlog.NodeCommand(ctx, nodeBin, jsDir, []string{"PYRE_NODES=" + strings.Join(spec, ",")}, "cluster/cluster.mjs")
	out := testlog.Lines(t, "node: ")
	js.Stdout, js.Stderr = out, out
	err := js.Run()
	out.Flush()
	if err != nil {
		t.Fatalf("phoenix.js across nodes: %v", err)
	}

	// A long-poll client hopping nodes: opened on n1, its join posted to n2, the reply read from n3.
	lp := func(n *clusterNode, method, tok, body string) (int, string, []string) {
		t.Helper()
		req, _ := http.NewRequest(method, n.base+"/socket/longpoll?vsn=2.0.0", strings.NewReader(body))
		if tok != "" {
			req.Header.Set("X-Phoenix-Longpoll-Token", tok)
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/x-ndjson")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var v struct {
			Status   int      `json:"status"`
			Token    string   `json:"token"`
			Messages []string `json:"messages"`
		}
		if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&v) != nil {
			t.Fatalf("long-poll %s on %s: HTTP %d", method, n.name, resp.StatusCode)
		}
		return v.Status, v.Token, v.Messages
	}
	_, tok, _ := lp(n1, http.MethodGet, "", "")
	if status, _, _ := lp(n2, http.MethodPost, tok, `["1","1","echo:lp","phx_join",{}]`+"\n"); status != http.StatusOK {
		t.Fatalf("long-poll POST on n2 for n1's session: %d", status)
	}
	for i := 0; ; i++ {
		status, _, msgs := lp(nodes[2-i%2], http.MethodGet, tok, "")
		if status != http.StatusOK && status != http.StatusNoContent {
			t.Fatalf("long-poll GET: %d", status)
		}
		if len(msgs) > 0 {
			if want := `["1","1","echo:lp","phx_reply",{"response":{"joined":"echo:lp"},"status":"ok"}]`; msgs[0] != want {
				t.Fatalf("long-poll join reply %s, want %s", msgs[0], want)
			}
			break
		}
	}

	// Publish → delivery, one broadcast at a time: a channel's broadcast from a client of n1 reaches that
	// client (same node) and a client of n2 (one hop).
	same, hop := latencies(t, chans[0], chans[1], 300)
	t.Logf("publish → delivery over %d broadcasts: same node p50 %v p99 %v; other node p50 %v p99 %v",
		len(same), pct(same, 50), pct(same, 99), pct(hop, 50), pct(hop, 99))

	// SIGKILL n3 under load: a publisher on n1 broadcasts until the end of this phase.
	loadCtx, stopLoad := context.WithCancel(context.Background())
	loadDone := make(chan int)
	go func() {
		sent := 0
		c := &http.Client{Timeout: 2 * time.Second}
		for i := 0; loadCtx.Err() == nil && i < 100_000; i++ {
			if resp, err := c.Get(fmt.Sprintf("%s/broadcast?topic=%s&event=load&msg=%d", n1.base, topic, i)); err == nil {
				resp.Body.Close()
				sent++
			}
		}
		loadDone <- sent
	}()
	killed := time.Now()
	n3.kill(syscall.SIGKILL)
	left := waitMembers(t, "after SIGKILL of n3", []*clusterNode{n1, n2}, []string{"n1", "n2"})
	t.Logf("SIGKILL of n3 → it left n1's and n2's /cluster in %d ms", time.Since(killed).Milliseconds())
	n1.waitMetric(t, "pyre_cluster_members 2")
	_ = left
	n1.get(t, "/broadcast?topic="+topic+"&event=after_kill&msg=1")
	awaitBroadcast(t, "n2 after the kill", chans[1], "after_kill", `{"msg":"1"}`)
	stopLoad()
	t.Logf("load during the kill: %d broadcasts from n1", <-loadDone)

	// Restart n3 (same addresses): it joins again as a new member.
	restarted := time.Now()
	n3.start(t, bin)
	waitMembers(t, "after the restart of n3", nodes, all)
	t.Logf("n3 restarted → member of every node's /cluster in %d ms (process start included)", time.Since(restarted).Milliseconds())
	ch3 := n3.dialJoin(t, "3b", topic)
	n1.get(t, "/broadcast?topic="+topic+"&event=after_restart&msg=1")
	awaitBroadcast(t, "n3 after its restart", ch3, "after_restart", `{"msg":"1"}`)

	// A netsplit: n2 stops answering (SIGSTOP); n1 and n3 drop it; SIGCONT heals it.
	split := time.Now()
	n2.kill(syscall.SIGSTOP)
	waitMembers(t, "n2 silent", []*clusterNode{n1, n3}, []string{"n1", "n3"})
	t.Logf("SIGSTOP of n2 → it left n1's and n3's /cluster in %d ms", time.Since(split).Milliseconds())
	healed := time.Now()
	n2.kill(syscall.SIGCONT)
	waitMembers(t, "healed", nodes, all)
	t.Logf("SIGCONT of n2 → every node lists all three again in %d ms", time.Since(healed).Milliseconds())
	n2.get(t, "/broadcast?topic="+topic+"&event=after_heal&msg=1")
	awaitBroadcast(t, "n3 after the heal", ch3, "after_heal", `{"msg":"1"}`)
	awaitBroadcast(t, "n1 after the heal", chans[0], "after_heal", `{"msg":"1"}`)
	if d := time.Since(began); d > 60*time.Second {
		t.Errorf("the cluster test took %v, over its 60 s budget", d)
	}
}

// knownProtoactorRace reports whether a race report is one of protoactor-go's remote.Shutdown with its
// own stream goroutines: a peer's message read while remote shuts down (endpointReader.Receive reads the
// flag suspend writes; peers ping a node until it has left), or an endpoint writer stopped by Shutdown
// whose stream goroutine reads the connections map Shutdown then clears (endpointManager.stop vs
// removeEndpoint).
func knownProtoactorRace(report string) bool {
	has := func(s ...string) bool {
		for _, x := range s {
			if !strings.Contains(report, x) {
				return false
			}
		}
		return true
	}
	return has("remote.(*endpointReader).suspend", "remote.(*endpointReader).Receive") ||
		has("remote.(*endpointManager).stop", "remote.(*endpointManager).removeEndpoint")
}
