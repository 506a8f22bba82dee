package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pyrehq/pyre/transport/client"
)

// TestBenchObserve runs fan-out and request/reply with -observe on a tiny load: pyre+metrics runs between
// pyre and gws in every round, its /metrics is scraped without a failure, and the table has its column
// and its ratio to pyre. No timing is asserted.
func TestBenchObserve(t *testing.T) {
	out := filepath.Join(t.TempDir(), "bench")
	cfg, res, table := tinyBench(t, "-observe", "-scenarios", "fanout,reqrep", "-fan-subs", "1,5", "-many-topics", "0",
		"-latency-msgs", "3", "-burst-deliveries", "50", "-out", out)

	kinds := []string{"pyre", observedKind, "gws"}
	if strings.Join(cfg.Kinds, ",") != strings.Join(kinds, ",") {
		t.Fatalf("kinds %v, want %v", cfg.Kinds, kinds)
	}
	if res.failed() || len(res.FanSetup) != 3 || len(res.Fanout) != 6 || len(res.ReqRep) != 6 {
		t.Fatalf("failed %v (scrapes %+v: the table above says why); %d fan-out setups, %d cases, %d request/reply; want 3, 6, 6",
			res.failed(), res.Scrapes, len(res.FanSetup), len(res.Fanout), len(res.ReqRep))
	}
	var pids []int
	for i, s := range res.FanSetup {
		if s.Kind != kinds[i] || s.Error != "" || s.Conns != 5 {
			t.Errorf("fan-out setup #%d: %s, %d conns, error %q; want %s", i, s.Kind, s.Conns, s.Error, kinds[i])
		}
		pids = append(pids, s.ServerPID)
	}
	for i, q := range res.ReqRep {
		if q.Kind != kinds[i%3] || q.failures() != 0 || q.Result == nil || q.Result.Pushes.OK == 0 {
			t.Errorf("request/reply #%d: %s %s, error %q, %d failures; want %s, replies", i, q.Kind, q.Load, q.Error, q.failures(), kinds[i%3])
		}
		pids = append(pids, q.ServerPID)
	}
	// Scraped once as each of its 3 servers started, and on, none failed.
	if s := res.Scrapes; s == nil || s.Scrapes < 3 || s.Failed != 0 || s.LastBytes == 0 {
		t.Errorf("scrapes %+v, want at least 3, none failed", s)
	}
	for _, pid := range pids {
		if err := syscall.Kill(pid, 0); pid == 0 || !errors.Is(err, syscall.ESRCH) {
			t.Errorf("server pid %d still exists after the run (kill -0: %v)", pid, err)
		}
	}

	for _, want := range []string{
		"| scenario | load | figure | pyre | pyre+metrics | gws | pyre/gws | pyre+metrics/pyre |\n|---|---|---|---:|---:|---:|---:|---:|\n",
		"| request/reply | 20 clients, 100 pushes/s | failed conns, joins, pushes (errors, timeouts, skipped) | 0 | 0 | 0 | — | — |\n",
		"- pyre+metrics: Pyre with transport/metrics on its Events, GET /metrics scraped every 1s by the driver: ",
	} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q", want)
		}
	}
	for _, r := range benchRows(cfg, res) {
		if len(r.Values) != 3 {
			t.Errorf("row %s/%s/%s has values %v, want every kind", r.Scenario, r.Load, r.Metric, r.Values)
		}
		if r.Metric == "burst deliveries/s" && (r.Observed <= 0 || r.Observed != r.Values[observedKind]/r.Values["pyre"]) {
			t.Errorf("row %s/%s: %s/pyre = %v, values %v", r.Load, r.Metric, observedKind, r.Observed, r.Values)
		}
	}
	var doc struct {
		Scrapes *scrapeStats `json:"metrics_scrapes"`
	}
	if data, err := os.ReadFile(filepath.Join(out, "results.json")); err != nil || json.Unmarshal(data, &doc) != nil || doc.Scrapes == nil {
		t.Errorf("results.json: %v, scrapes %+v", err, doc.Scrapes)
	}
	svg, err := os.ReadFile(filepath.Join(out, "chart.svg"))
	if err != nil {
		t.Fatal(err)
	}
	checkXML(t, svg)
	if !bytes.Contains(svg, []byte("<title>pyre+metrics 1 topic × 5: ")) {
		t.Error("chart.svg lacks pyre+metrics bars")
	}
}

// TestObservedServer checks that pyre+metrics serves Pyre's metrics of what it did, and that pyre serves
// none (its hot path has no Events).
func TestObservedServer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	metricsOf := func(addr string) (int, string) {
		t.Helper()
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, string(body)
	}
	for _, kind := range []string{"pyre", observedKind} {
		srv, err := startServer(ctx, os.Args[0], []string{childEnv}, testLog{t}, kind, false)
		if err != nil {
			t.Fatal(err)
		}
		defer srv.stop()
		conn, err := client.Dial(ctx, "ws://"+srv.addr+"/socket/websocket?vsn=2.0.0", client.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		ch, _, err := conn.Join(ctx, "room:o", nil)
		if err != nil {
			t.Fatal(err)
		}
		if reply, err := ch.Push(ctx, echoEvent, json.RawMessage(`{"seq":1}`)); err != nil || !reply.OK() {
			t.Fatalf("%s echo: %+v, %v", kind, reply, err)
		}
		code, body := metricsOf(srv.addr)
		if kind == "pyre" {
			if code != http.StatusNotFound {
				t.Errorf("pyre GET /metrics: %d, want 404", code)
			}
			continue
		}
		for _, want := range []string{
			`pyre_connections{transport="websocket"} 1`,
			`pyre_channels{topic_prefix="room:"} 1`,
			`pyre_channel_joins_total{result="ok",topic_prefix="room:"} 1`,
			`pyre_handle_in_duration_seconds_count{topic_prefix="room:"} 1`,
		} {
			if code != http.StatusOK || !strings.Contains(body, want+"\n") {
				t.Errorf("%s GET /metrics: %d, lacks %q:\n%s", kind, code, want, body)
			}
		}
	}
}

// TestObserveFlag checks where -observe puts pyre+metrics: after pyre, once; the default run has none.
func TestObserveFlag(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "pyre,gws"},
		{[]string{"-observe"}, "pyre,pyre+metrics,gws"},
		{[]string{"-observe", "-kinds", "gws,pyre"}, "gws,pyre,pyre+metrics"},
		{[]string{"-observe", "-kinds", "gws"}, "pyre+metrics,gws"},
		{[]string{"-observe", "-kinds", "pyre+metrics,pyre"}, "pyre+metrics,pyre"},
		{[]string{"-kinds", "pyre+metrics"}, "pyre+metrics"},
	} {
		var stderr bytes.Buffer
		cfg, err := parseBenchFlags(c.args, &stderr)
		if err != nil {
			t.Fatalf("%v: %v %s", c.args, err, stderr.String())
		}
		if got := strings.Join(cfg.Kinds, ","); got != c.want {
			t.Errorf("%v: kinds %s, want %s", c.args, got, c.want)
		}
	}
}
