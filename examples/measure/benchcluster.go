package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/pyrehq/pyre/actors/cluster/clustertest"
)

// The cluster scenario: the same subscribers on one Pyre node, then spread over three node processes of
// one cluster (package actors/cluster) on this machine, the publisher on the first. It measures what the
// hop adds: publish → delivery latency, deliveries/s of a burst, and broadcasts sent to peer nodes per
// broadcast (one per peer, as Phoenix.PubSub).

const clusterTopic = "room:c"

// clusterResult is one run of the cluster scenario.
type clusterResult struct {
	Nodes int       `json:"nodes"`
	Fan   fanResult `json:"fanout"`
	// PeerMsgsPerBroadcast is broadcasts queued to peer nodes per broadcast published (0 on one node).
	PeerMsgsPerBroadcast float64 `json:"peer_messages_per_broadcast"`
	// HeapPerConnKB and RSSPerConnKB are the first node's growth per connection it holds, one channel each
	// (as the memory scenario): a cluster node should cost what a single node does.
	HeapPerConnKB float64 `json:"heap_per_conn_kb"`
	RSSPerConnKB  float64 `json:"rss_per_conn_kb"`
	Error         string  `json:"error,omitempty"`
}

func benchCluster(ctx context.Context, cfg *benchConfig, nodes, round int) (r clusterResult) {
	r.Nodes = nodes
	var peers []string
	for range nodes {
		a, err := clustertest.Addr("127.0.0.1")
		if err != nil {
			r.Error = err.Error()
			return r
		}
		peers = append(peers, a)
	}
	var srvs []*serverProc
	defer func() {
		for _, s := range srvs {
			s.stop()
		}
	}()
	for i := range nodes {
		var extra []string
		if nodes > 1 {
			extra = []string{"-node", fmt.Sprintf("n%d", i+1), "-cluster-addr", peers[i], "-cluster-peers", strings.Join(peers, ",")}
		}
		srv, err := startServer(ctx, cfg.exe, cfg.env, cfg.log, "pyre", false, extra...)
		if err != nil {
			r.Error = "start server: " + err.Error()
			return r
		}
		srvs = append(srvs, srv)
	}
	hc := &http.Client{Timeout: 5 * time.Second}
	stats := func(s *serverProc) (clusterAnswer, error) {
		var a clusterAnswer
		err := getJSON(ctx, hc, "http://"+s.addr+"/cluster", &a)
		return a, err
	}
	deadline := time.Now().Add(20 * time.Second)
	for _, s := range srvs {
		for {
			a, err := stats(s)
			if err == nil && a.Members == nodes {
				break
			}
			if time.Now().After(deadline) || ctx.Err() != nil {
				r.Error = fmt.Sprintf("cluster of %d did not form: %v", nodes, err)
				return r
			}
			sleepCtx(ctx, 20*time.Millisecond)
		}
	}
	f := newBenchFleet()
	defer func() {
		if err := f.closeAll(30 * time.Second); err != nil && r.Error == "" {
			r.Error = err.Error()
		}
	}()
	per := cfg.ClusterSubs / nodes
	var memBefore, memAfter memStats
	if err := getJSON(ctx, hc, "http://"+srvs[0].addr+"/mem", &memBefore); err != nil {
		r.Error = "read /mem: " + err.Error()
		return r
	}
	for _, s := range srvs {
		cs := f.connect(ctx, cfg.plan(s.addr, per), func(int) []string { return []string{clusterTopic} })
		if cs.Errors > 0 {
			r.Error = fmt.Sprintf("%d connections failed: %s", cs.Errors, cs.FirstError)
			return r
		}
	}
	sleepCtx(ctx, cfg.MemSettle)
	if err := getJSON(ctx, hc, "http://"+srvs[0].addr+"/mem", &memAfter); err != nil {
		r.Error = "read /mem: " + err.Error()
		return r
	}
	r.HeapPerConnKB = (float64(memAfter.HeapInuse) - float64(memBefore.HeapInuse)) / float64(per) / 1024
	r.RSSPerConnKB = (float64(memAfter.RSSBytes) - float64(memBefore.RSSBytes)) / float64(per) / 1024
	before, _ := stats(srvs[0])
	kind := fmt.Sprintf("pyre, %d node", nodes)
	if nodes > 1 {
		kind += "s"
	}
	r.Fan = fanCase(ctx, cfg, f, "http://"+srvs[0].addr, kind, round, 1, per*nodes, clusterTopic, 0)
	after, _ := stats(srvs[0])
	if sent := r.Fan.LatencyMsgs + r.Fan.BurstMsgs; sent > 0 {
		r.PeerMsgsPerBroadcast = float64(after.Stats.Queued-before.Stats.Queued) / float64(sent)
	}
	if r.Error == "" {
		r.Error = r.Fan.Error
	}
	return r
}

// writeClusterTable adds the cluster scenario's table to a report.
func writeClusterTable(b *strings.Builder, res *benchResults) {
	if len(res.Cluster) == 0 {
		return
	}
	b.WriteString("\n#### Several nodes (cluster scenario): one publisher, the same subscribers on one node or spread over three\n\n")
	b.WriteString("| nodes | subscribers | publish → delivery p50 | p99 | burst deliveries/s | broadcasts to peers per broadcast | heap/conn on the first node | RSS/conn |\n|---|---|---|---|---|---|---|---|\n")
	for _, c := range res.Cluster {
		fmt.Fprintf(b, "| %d | %d | %.2f ms | %.2f ms | %s | %.2f | %.1f KB | %.1f KB |%s\n", c.Nodes, c.Fan.Subs, c.Fan.LatP50MS, c.Fan.LatP99MS,
			thousands(c.Fan.DeliveriesPerSec), c.PeerMsgsPerBroadcast, c.HeapPerConnKB, c.RSSPerConnKB, errSuffix(c.Error))
	}
}
