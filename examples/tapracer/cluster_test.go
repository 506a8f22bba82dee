//go:build unix

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pyrehq/pyre/transport/client"
)

// TestClusterRace runs TapRacer as two node processes (as `make cluster` does, on 127.0.0.1 and .2):
// players on both nodes are in one race, held by the first node; a console on the second node starts a
// new race; the chat spans the nodes; each node says which it is.
func TestClusterRace(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "tapracer")
	args := []string{"build", "-o", bin}
	if raceEnabled() {
		args = append(args, "-race")
	}
	if out, err := exec.Command("go", append(args, ".")...).CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	type node struct {
		name, base string
		proc       *exec.Cmd
		logs       *bytes.Buffer
		mu         *sync.Mutex
	}
	free := func(host string) int {
		l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return l.Addr().(*net.TCPAddr).Port
	}
	hosts := []string{"127.0.0.1", "127.0.0.2"}
	var peers []string
	var httpPorts []int
	for _, h := range hosts {
		peers = append(peers, fmt.Sprintf("%s:%d", h, free(h)))
		httpPorts = append(httpPorts, free(h))
	}
	var nodes []*node
	for i, h := range hosts {
		n := &node{name: fmt.Sprintf("n%d", i+1), base: fmt.Sprintf("http://%s:%d", h, httpPorts[i]), logs: &bytes.Buffer{}, mu: &sync.Mutex{}}
		n.proc = exec.Command(bin, "-addr", fmt.Sprintf("%s:%d", h, httpPorts[i]), "-dir", ".")
		n.proc.Env = append(os.Environ(), "PYRE_NODE="+n.name, "PYRE_CLUSTER_ADDR="+peers[i], "PYRE_CLUSTER_PEERS="+strings.Join(peers, ","))
		w := &lockedWriter{b: n.logs, mu: n.mu}
		n.proc.Stdout, n.proc.Stderr = w, w
		if err := n.proc.Start(); err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, n)
	}
	t.Cleanup(func() {
		for _, n := range nodes {
			_ = n.proc.Process.Signal(syscall.SIGTERM)
			done := make(chan error, 1)
			go func() { done <- n.proc.Wait() }()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("%s exited: %v", n.name, err)
				}
			case <-time.After(20 * time.Second):
				_ = n.proc.Process.Kill()
				t.Errorf("%s still running 20 s after SIGTERM", n.name)
			}
			n.mu.Lock()
			out := n.logs.String()
			n.mu.Unlock()
			if strings.Contains(out, "WARNING: DATA RACE") && !protoactorShutdownRace(out) {
				t.Errorf("the race detector fired in %s", n.name)
			}
			if t.Failed() {
				t.Logf("%s output:\n%s", n.name, out)
			}
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for _, n := range nodes {
		for {
			var v struct {
				Node    string   `json:"node"`
				Members []string `json:"members"`
			}
			if resp, err := http.Get(n.base + "/cluster"); err == nil {
				_ = json.NewDecoder(resp.Body).Decode(&v)
				resp.Body.Close()
			}
			if v.Node == n.name && slices.Equal(v.Members, []string{"n1", "n2"}) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: /cluster %+v", n.name, v)
			}
			time.Sleep(10 * time.Millisecond)
		}
		resp, err := http.Get(n.base + "/node")
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		resp.Body.Close()
		if b.String() != n.name {
			t.Fatalf("GET /node on %s: %q", n.name, b.String())
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	join := func(n *node, topic string, params any) (*client.Channel, client.Reply) {
		t.Helper()
		u := "ws" + strings.TrimPrefix(n.base, "http") + "/socket/websocket?vsn=2.0.0"
		c, err := client.Dial(ctx, u, client.Options{Params: url.Values{}, MessageBuffer: 1024})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		ch, r, err := c.Join(ctx, topic, params)
		if err != nil || !r.OK() {
			t.Fatalf("join %s on %s: %v %+v", topic, n.name, err, r)
		}
		return ch, r
	}
	// until reads ch's race_state and winner pushes until one satisfies ok.
	until := func(who string, ch *client.Channel, ok func(raceState) bool) raceState {
		t.Helper()
		for {
			select {
			case m := <-ch.Messages():
				var st raceState
				if (m.Event == eventRaceState || m.Event == eventWinner) && json.Unmarshal(m.Payload, &st) == nil && ok(st) {
					return st
				}
			case <-ctx.Done():
				t.Fatalf("%s: no such race_state", who)
			}
		}
	}
	taps := func(st raceState, name string) int {
		for _, p := range st.Players {
			if p.Name == name {
				return p.Taps
			}
		}
		return -1
	}

	// ann plays on n2 (the race is on n1), bob on n1; both see both.
	annCh, annJoin := join(nodes[1], "play", map[string]string{"name": "ann"})
	bobCh, _ := join(nodes[0], "play", map[string]string{"name": "bob"})
	var joined joinResult
	if err := json.Unmarshal(annJoin.Response, &joined); err != nil || joined.ID != "n2-p1" {
		t.Fatalf("ann's join on n2: %s", annJoin.Response)
	}
	for range 3 {
		if _, err := annCh.Push(ctx, "tap", map[string]any{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := bobCh.Push(ctx, "tap", map[string]any{}); err != nil {
		t.Fatal(err)
	}
	until("bob on n1", bobCh, func(st raceState) bool { return taps(st, "ann") == 3 && taps(st, "bob") == 1 })
	st := until("ann on n2", annCh, func(st raceState) bool { return taps(st, "ann") == 3 && taps(st, "bob") == 1 })

	// A console on n2 starts the next race: everyone's taps go back to zero.
	console, _ := join(nodes[1], "console", map[string]any{})
	if r, err := console.Push(ctx, "new_race", map[string]int{"target": 5}); err != nil || !r.OK() {
		t.Fatalf("new_race: %v %+v", err, r)
	}
	next := func(s raceState) bool {
		return s.Race == st.Race+1 && s.Target == 5 && taps(s, "ann") == 0 && taps(s, "bob") == 0
	}
	until("bob on n1", bobCh, next)
	until("ann on n2", annCh, next)

	// The chat spans the nodes (new_msg has no reply).
	c1, _ := join(nodes[0], "chat:lobby", map[string]string{"user": "bob"})
	c2, _ := join(nodes[1], "chat:lobby", map[string]string{"user": "ann"})
	if err := c2.PushNoReply("new_msg", map[string]string{"body": "hi from n2", "user": "ann"}); err != nil {
		t.Fatal(err)
	}
	for {
		select {
		case m := <-c1.Messages():
			if m.Event == "new_msg" && strings.Contains(string(m.Payload), "hi from n2") {
				return
			}
		case <-ctx.Done():
			t.Fatal("n1's chat did not get n2's message")
		}
	}
}

type lockedWriter struct {
	b  *bytes.Buffer
	mu *sync.Mutex
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// protoactorShutdownRace: every race report in out is protoactor-go's own in remote.Shutdown (a peer's
// message read while remote shuts down, or a writer's stream goroutine reading the map Shutdown clears;
// see examples/conformance's knownProtoactorRace).
func protoactorShutdownRace(out string) bool {
	for _, r := range strings.Split(out, "WARNING: DATA RACE")[1:] {
		suspend := strings.Contains(r, "remote.(*endpointReader).suspend") && strings.Contains(r, "remote.(*endpointReader).Receive")
		stop := strings.Contains(r, "remote.(*endpointManager).stop") && strings.Contains(r, "remote.(*endpointManager).removeEndpoint")
		if !suspend && !stop {
			return false
		}
	}
	return true
}

// raceEnabled reports whether this test binary was built with -race (the nodes get it too).
func raceEnabled() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}
