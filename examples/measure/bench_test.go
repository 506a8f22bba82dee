package main

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestBenchTiny runs every bench scenario on a tiny load against both servers and checks the outputs are
// complete and well formed. It asserts no timing: benchmarks measure, tests check behaviour.
func TestBenchTiny(t *testing.T) {
	out := filepath.Join(t.TempDir(), "bench")
	var stderr bytes.Buffer
	cfg, err := parseBenchFlags([]string{
		"-mem-conns", "10,30", "-mem-channels", "1,3", "-fan-subs", "1,5,20",
		"-many-topics", "4", "-subs-per-topic", "3", "-latency-msgs", "5", "-burst-deliveries", "200",
		"-mem-settle", "10ms", "-quiet", "5s", "-timeout", "40s", "-dial-concurrency", "8", "-size", "16",
		"-out", out,
	}, &stderr)
	if err != nil {
		t.Fatalf("flags: %v: %s", err, stderr.String())
	}
	cfg.exe, cfg.env, cfg.log = os.Args[0], []string{childEnv}, testLog{t}
	var table bytes.Buffer
	res, err := runBench(context.Background(), cfg, &table)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", table.String())

	if len(res.Memory) != 4 || len(res.Fanout) != 8 || len(res.FanSetup) != 2 {
		t.Fatalf("got %d memory, %d fan-out results, %d setups; want 4, 8, 2", len(res.Memory), len(res.Fanout), len(res.FanSetup))
	}
	if res.failed() {
		t.Errorf("a scenario failed: %+v %+v %+v", res.Memory, res.FanSetup, res.Fanout)
	}
	for _, m := range res.Memory {
		if len(m.ByChannels) != 2 {
			t.Errorf("memory %s %d: %d channel steps, want 2", m.Kind, m.Conns, len(m.ByChannels))
			continue
		}
		// Every connection holds one channel, then three: the server must count them (Pyre) or its
		// goroutines must not shrink.
		if m.Kind == "pyre" && m.ByChannels[1].Mem.Channels != int64(3*m.Conns) {
			t.Errorf("pyre %d conns × 3 channels: server counts %d channels", m.Conns, m.ByChannels[1].Mem.Channels)
		}
		if m.Kind == "gws" && m.ByChannels[1].Mem.Topics != 3 {
			t.Errorf("gws: %d topics, want 3", m.ByChannels[1].Mem.Topics)
		}
	}
	for _, s := range res.FanSetup {
		if s.OutOfOrder != 0 || s.OtherFrames != 0 || s.Disconnects != 0 {
			t.Errorf("fan-out %s: %d out of order, %d other frames, %d disconnects %v", s.Kind, s.OutOfOrder, s.OtherFrames, s.Disconnects, s.DisconnectReasons)
		}
	}
	for _, f := range res.Fanout {
		if f.LatencyMsgs != 5 || len(f.LatenciesMS) != 5 || f.LatMaxMS <= 0 || f.LatP50MS > f.LatP99MS || f.LatP99MS > f.LatMaxMS {
			t.Errorf("%s %s: latency msgs %d, samples %d, p50 %v p99 %v max %v", f.Kind, f.Case, f.LatencyMsgs, len(f.LatenciesMS), f.LatP50MS, f.LatP99MS, f.LatMaxMS)
		}
		if f.BurstExpected != int64(f.BurstMsgs*f.Topics*f.Subs) || f.BurstDelivered != f.BurstExpected || f.DeliveriesPerSec <= 0 {
			t.Errorf("%s %s: burst %d/%d delivered (%d msgs), %v/s", f.Kind, f.Case, f.BurstDelivered, f.BurstExpected, f.BurstMsgs, f.DeliveriesPerSec)
		}
	}
	// Every server child was killed and reaped.
	var pids []int
	for _, m := range res.Memory {
		pids = append(pids, m.ServerPID)
	}
	for _, s := range res.FanSetup {
		pids = append(pids, s.ServerPID)
	}
	for _, pid := range pids {
		if err := syscall.Kill(pid, 0); pid == 0 || !errors.Is(err, syscall.ESRCH) {
			t.Errorf("server pid %d still exists after the run (kill -0: %v)", pid, err)
		}
	}

	md, err := os.ReadFile(filepath.Join(out, "results.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(md, table.Bytes()) {
		t.Error("results.md differs from the printed table")
	}
	for _, want := range []string{
		"| scenario | load | figure | pyre | gws | pyre/gws |",
		"| memory | 30 conns | RSS/conn, 1 channel (KB) |",
		"| memory | 10 conns | RSS per extra channel, 3 ch/conn (KB) |",
		"| fan-out | 1 topic × 20 | publish→last subscriber p99 (ms) |",
		"| fan-out | 4 topics × 3 | burst deliveries/s |",
		"| fan-out | 1 topic × 5 | burst frames per write syscall |",
	} {
		if !strings.Contains(string(md), want) {
			t.Errorf("table lacks %q", want)
		}
	}

	var doc struct {
		Rows []benchRow  `json:"rows"`
		Fan  []fanResult `json:"fanout"`
	}
	data, err := os.ReadFile(filepath.Join(out, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatalf("results.json: %v", err)
	}
	if len(doc.Rows) == 0 || len(doc.Fan) != 8 {
		t.Errorf("results.json: %d rows, %d fan-out results", len(doc.Rows), len(doc.Fan))
	}
	for _, r := range doc.Rows {
		if len(r.Values) != 2 {
			t.Errorf("row %s/%s/%s has values %v, want both kinds", r.Scenario, r.Load, r.Metric, r.Values)
		}
	}

	svg, err := os.ReadFile(filepath.Join(out, "chart.svg"))
	if err != nil {
		t.Fatal(err)
	}
	checkXML(t, svg)
	if n := bytes.Count(svg, []byte("<rect ")); n < 1+2+4*2*4-8 {
		t.Errorf("chart.svg has %d rects, want bars for every panel", n)
	}
	if bytes.Contains(svg, []byte("NaN")) || bytes.Contains(svg, []byte("Inf")) {
		t.Error("chart.svg contains NaN or Inf")
	}
}

// checkXML fails unless b is well-formed XML with an <svg> root.
func checkXML(t *testing.T, b []byte) {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(b))
	root := ""
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("chart.svg is not well-formed XML: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok && root == "" {
			root = se.Name.Local
		}
	}
	if root != "svg" {
		t.Errorf("chart.svg root element %q, want svg", root)
	}
}

func TestBenchFlags(t *testing.T) {
	var stderr bytes.Buffer
	cfg, err := parseBenchFlags([]string{"-quick", "-latency-msgs", "7"}, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.Quick || cfg.LatencyMsgs != 7 || len(cfg.MemConns) != 2 || cfg.MemConns[1] != 2000 {
		t.Errorf("quick: %+v", cfg)
	}
	cfg, err = parseBenchFlags(nil, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.MemConns; len(got) != 3 || got[2] != 15000 || cfg.fanConns() != 10000 {
		t.Errorf("defaults: %+v", cfg)
	}
	for _, bad := range [][]string{{"-mem-channels", "5,20"}, {"-kinds", "nope"}, {"-fan-subs", "100,1"}, {"-mem-conns", "25k"}} {
		if _, err := parseBenchFlags(bad, &stderr); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

func TestPercentile(t *testing.T) {
	v := []float64{5, 1, 4, 2, 3}
	for _, tc := range []struct{ p, want float64 }{{50, 3}, {99, 5}, {100, 5}, {0, 1}} {
		if got := percentile(v, tc.p); got != tc.want {
			t.Errorf("percentile(%v) = %v, want %v", tc.p, got, tc.want)
		}
	}
	if percentile(nil, 50) != 0 {
		t.Error("empty")
	}
}
