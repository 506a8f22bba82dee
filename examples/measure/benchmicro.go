package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// The micro scenario runs Go benchmarks (go test -bench -benchmem) of the steps every message goes
// through, and of the baseline's code for the same step where it has one. It needs the Pyre source tree
// (the current directory or a parent of it) and the go command.

// microCase is one group of rows: a benchmark of Pyre's code and, if any, of the baseline's same step.
// A benchmark is "package:Name" or "package:Name/Sub".
type microCase struct {
	Name   string
	Pyre   string
	Gws    string
	Metric string // an extra unit the benchmark reports, shown too ("" none)
}

var microCases = []microCase{
	{Name: "V2 frame decode (86 B push)", Pyre: "./transport/serializer:BenchmarkDecodeV2", Gws: "./examples/measure:BenchmarkBaselineDecode"},
	{Name: "V2 reply encode", Pyre: "./transport/serializer:BenchmarkEncodeV2Reply", Gws: "./examples/measure:BenchmarkBaselineReply"},
	{Name: "V2 broadcast encode (once per broadcast)", Pyre: "./transport/serializer:BenchmarkEncodeBroadcast/V2", Gws: "./examples/measure:BenchmarkBaselineBroadcast"},
	{Name: "fastlane dispatch, 10k subscribers", Pyre: "./actors/host:BenchmarkFastlaneFanout/subscribers=10000", Metric: "ns/delivery"},
	{Name: "join + leave through the actors", Pyre: "./actors/host:BenchmarkJoinLeave"},
	{Name: "push → reply through the actors", Pyre: "./actors/host:BenchmarkPushReply"},
}

// microResult is one benchmark run (one -count) of one case and kind.
type microResult struct {
	Case        string             `json:"case"`
	Kind        string             `json:"kind"`
	Bench       string             `json:"bench"`
	NsPerOp     float64            `json:"ns_per_op"`
	BytesPerOp  float64            `json:"bytes_per_op"`
	AllocsPerOp float64            `json:"allocs_per_op"`
	Extra       map[string]float64 `json:"extra,omitempty"`
	Error       string             `json:"error,omitempty"`
}

// benchMicro runs every case's benchmarks cfg.Rounds times each.
func benchMicro(ctx context.Context, cfg *benchConfig) []microResult {
	type want struct {
		c    microCase
		kind string
		name string // Name or Name/Sub
	}
	byPkg := map[string][]want{}
	var pkgs []string
	for _, c := range microCases {
		for _, kind := range cfg.Kinds {
			spec := map[string]string{"pyre": c.Pyre, "gws": c.Gws}[kind]
			if spec == "" {
				continue
			}
			pkg, name, _ := strings.Cut(spec, ":")
			if _, ok := byPkg[pkg]; !ok {
				pkgs = append(pkgs, pkg)
			}
			byPkg[pkg] = append(byPkg[pkg], want{c, kind, name})
		}
	}
	fail := func(ws []want, err error) (out []microResult) {
		for _, w := range ws {
			out = append(out, microResult{Case: w.c.Name, Kind: w.kind, Bench: w.name, Error: err.Error()})
		}
		return out
	}
	var res []microResult
	root, err := moduleRoot()
	for _, pkg := range pkgs {
		ws := byPkg[pkg]
		if err != nil {
			res = append(res, fail(ws, err)...)
			continue
		}
		for _, w := range ws {
			cfg.logf("micro: go test -bench %s %s", pkg, w.name)
			runs, err := runGoBench(ctx, root, pkg, w.name, cfg.MicroBenchtime, cfg.Rounds)
			if err == nil && len(runs) == 0 {
				err = fmt.Errorf("%s: no result", w.name)
			}
			if err != nil {
				res = append(res, fail([]want{w}, err)...)
				continue
			}
			for _, r := range runs {
				r.Case, r.Kind, r.Bench = w.c.Name, w.kind, w.name
				res = append(res, r)
			}
		}
	}
	return res
}

// moduleRoot is the directory of Pyre's go.mod, from the current directory up.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && bytes.Contains(b, []byte("module github.com/pyrehq/pyre\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("micro: run from the Pyre source tree (no go.mod of github.com/pyrehq/pyre here or above)")
		}
		dir = parent
	}
}

// runGoBench runs the benchmark name (Name or Name/Sub) of pkg count times and parses its lines.
func runGoBench(ctx context.Context, root, pkg, name string, benchtime string, count int) ([]microResult, error) {
	// go test matches each level of a slash-separated pattern separately.
	levels := strings.Split(name, "/")
	for i, l := range levels {
		levels[i] = "^" + regexp.QuoteMeta(l) + "$"
	}
	cmd := exec.CommandContext(ctx, "go", "test", "-run", "^$", "-bench", strings.Join(levels, "/"), "-benchmem",
		"-benchtime", benchtime, "-count", strconv.Itoa(count), pkg)
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go test -bench %s: %v: %s%s", pkg, err, lastLines(out, 5), lastLines(stderr.Bytes(), 5))
	}
	return parseGoBench(out)[name], nil
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], " | ")
}

// parseGoBench reads the result lines of go test -bench -benchmem: "BenchmarkX/sub-2  N  v unit  v unit…".
func parseGoBench(out []byte) map[string][]microResult {
	res := map[string][]microResult{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") || len(f)%2 != 0 {
			continue
		}
		if _, err := strconv.Atoi(f[1]); err != nil {
			continue
		}
		name := f[0]
		if i := strings.LastIndexByte(name, '-'); i > 0 {
			if _, err := strconv.Atoi(name[i+1:]); err == nil {
				name = name[:i]
			}
		}
		var r microResult
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			switch unit := f[i+1]; unit {
			case "ns/op":
				r.NsPerOp = v
			case "B/op":
				r.BytesPerOp = v
			case "allocs/op":
				r.AllocsPerOp = v
			default:
				if r.Extra == nil {
					r.Extra = map[string]float64{}
				}
				r.Extra[unit] = v
			}
		}
		res[name] = append(res[name], r)
	}
	return res
}
