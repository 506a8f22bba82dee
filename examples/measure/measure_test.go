package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// childEnv makes the test binary act as `measure server` (the driver starts the server as a child process
// of its own binary; under `go test` that binary is the test binary).
const childEnv = "PYRE_MEASURE_CHILD=1"

func TestMain(m *testing.M) {
	if os.Getenv("PYRE_MEASURE_CHILD") == "1" {
		os.Exit(cliMain(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// testLog forwards progress lines to t.Log.
type testLog struct{ t testing.TB }

func (w testLog) Write(b []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

func TestMeasureTiny(t *testing.T) {
	jsonPath := filepath.Join(t.TempDir(), "out.json")
	cfg := &runConfig{
		Conns: 50, Msgs: 20, Size: 16, Kinds: []string{"pyre", "gws"},
		Timeout: 25 * time.Second, DialRate: 2000, DialConc: 16, DialTimeout: 10 * time.Second,
		MemSettle: 10 * time.Millisecond, Quiet: 5 * time.Second, JSONPath: jsonPath,
		exe: os.Args[0], env: []string{childEnv}, log: testLog{t},
	}
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	results, err := measure(context.Background(), cfg, &out)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", out.String())

	if len(results) != 2 {
		t.Fatalf("got %d results, want 2", len(results))
	}
	for _, r := range results {
		if r.Error != "" {
			t.Errorf("%s: %s", r.Kind, r.Error)
		}
		if r.Conns != cfg.Conns || r.ConnectErrors != 0 {
			t.Errorf("%s: %d joined, %d connect errors (%s), want %d joined", r.Kind, r.Conns, r.ConnectErrors, r.FirstConnectError, cfg.Conns)
		}
		if want := int64(cfg.Conns * cfg.Msgs); r.Expected != want || r.Delivered != want || r.Missing != 0 {
			t.Errorf("%s: delivered %d of %d (expected %d), missing %d", r.Kind, r.Delivered, r.Expected, want, r.Missing)
		}
		if r.OutOfOrder != 0 || r.OtherFrames != 0 || r.ClientDisconnects != 0 {
			t.Errorf("%s: %d out of order, %d other frames, %d disconnects %v", r.Kind, r.OutOfOrder, r.OtherFrames, r.ClientDisconnects, r.DisconnectReasons)
		}
		if r.MemJoined.Conns != int64(cfg.Conns) || r.MemAfterPublish.Conns != int64(cfg.Conns) {
			t.Errorf("%s: server counts %d connections joined, %d after the fan-out, want %d", r.Kind, r.MemJoined.Conns, r.MemAfterPublish.Conns, cfg.Conns)
		}
		if r.MemJoined.RSSBytes == 0 || r.MemJoined.Goroutines <= r.MemBefore.Goroutines {
			t.Errorf("%s: implausible /mem readings: before %+v, joined %+v", r.Kind, r.MemBefore, r.MemJoined)
		}
		if r.ServerExitedEarly {
			t.Errorf("%s: server exited before the driver stopped it: %s", r.Kind, r.ServerExit)
		}
		// The child was killed and reaped: its pid no longer names a process (or names a stranger's,
		// which signal 0 cannot tell apart; pids are not reused that quickly).
		if err := syscall.Kill(r.ServerPID, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("%s: server pid %d still exists after the run (kill -0: %v)", r.Kind, r.ServerPID, err)
		}
	}

	table := out.String()
	for _, want := range []string{
		"| kind | conns | RSS/conn (KB) | heap/conn (KB) | goroutines/conn | deliveries/s | publish→last delivery | missing deliveries |",
		"| pyre | 50 |", "| gws | 50 |", "| pyre/gws |",
	} {
		if !strings.Contains(table, want) {
			t.Errorf("report lacks %q", want)
		}
	}

	var doc struct {
		Results []result  `json:"results"`
		Ratios  *ratioSet `json:"ratios"`
	}
	data, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatalf("JSON output: %v", err)
	}
	if len(doc.Results) != 2 || doc.Ratios == nil || doc.Ratios.RSSPerConn == 0 {
		t.Errorf("JSON output lacks results or ratios: %s", data)
	}
}

func TestParseSeq(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
	}{
		{`[null,null,"room:bench","msg",{"body":"xx","seq":0}]`, 0},
		{`[null,null,"room:bench","msg",{"body":"xx","seq":12345}]`, 12345},
		{`[null,null,"room:bench","msg",{"body":"xx"}]`, -1},
		{`{"seq":}`, -1},
	} {
		if got := parseSeq([]byte(tc.in)); got != tc.want {
			t.Errorf("parseSeq(%s) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

func TestBenchPayload(t *testing.T) {
	p := benchPayload(nil, 5, 7)
	var v struct {
		Body string `json:"body"`
		Seq  int    `json:"seq"`
	}
	if err := json.Unmarshal(p, &v); err != nil || v.Body != "xxxxx" || v.Seq != 7 {
		t.Fatalf("benchPayload = %s (%v)", p, err)
	}
}

func TestRunFlagsValidate(t *testing.T) {
	var stderr bytes.Buffer
	if _, err := parseRunFlags([]string{"-kinds", "pyre,nope"}, &stderr); err == nil {
		t.Error("unknown kind accepted")
	}
	if lim := noFileLimit(); lim > 0 && lim < 1<<30 {
		if _, err := parseRunFlags([]string{"-conns", strconv.FormatUint(lim, 10)}, &stderr); err == nil {
			t.Errorf("-conns %d accepted with a file descriptor limit of %d", lim, lim)
		}
	}
	cfg, err := parseRunFlags([]string{"-conns", "2500"}, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.SrcIPs != 3 || cfg.Rounds != 1 || len(cfg.Kinds) != 2 {
		t.Errorf("defaults: %+v", cfg)
	}
}
