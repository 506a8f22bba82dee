package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// benchConfig is the configuration of `measure bench` (its flags).
type benchConfig struct {
	Kinds     []string `json:"kinds"`
	Scenarios []string `json:"scenarios"` // mem, fanout, reqrep
	// Memory scenario: each count of connections, each joined to 1 channel, then to each count of channels.
	MemConns    []int `json:"mem_conns"`
	MemChannels []int `json:"mem_channels"`
	// Fan-out scenario: one topic with each count of subscribers, then Topics × SubsPerTopic.
	FanSubs      []int `json:"fan_subs"`
	ManyTopics   int   `json:"many_topics"`
	SubsPerTopic int   `json:"subs_per_topic"`
	LatencyMsgs  int   `json:"latency_msgs"`   // messages published one at a time per fan-out case
	BurstTarget  int   `json:"burst_target"`   // deliveries aimed at by each burst
	BurstMaxMsgs int   `json:"burst_max_msgs"` // cap on messages per burst (Pyre's queue holds 1024 per conn)
	Size         int   `json:"size"`
	Rounds       int   `json:"rounds"` // every step repeated, kinds interleaved; the table shows medians
	// Request/reply scenario: each count of clients, one channel each, pushing RRRates[i] pushes/s in all
	// (RRRates[0] for every count when it has one entry) for RRDuration.
	RRConns    []int         `json:"rr_conns"`
	RRRates    []int         `json:"rr_rates"`
	RRDuration time.Duration `json:"rr_duration"`
	// Slow-consumer scenario: SlowSubs subscribers of one topic, one in SlowEvery of them never reading
	// (socket receive buffer SlowRcvBuf); SlowMsgs broadcasts of SlowSize bytes in bursts of SlowBurst,
	// for at most SlowDuration.
	SlowSubs     int           `json:"slow_subs"`
	SlowEvery    int           `json:"slow_every"`
	SlowMsgs     int           `json:"slow_msgs"`
	SlowSize     int           `json:"slow_size"`
	SlowBurst    int           `json:"slow_burst"`
	SlowRcvBuf   int           `json:"slow_rcvbuf"`
	SlowDuration time.Duration `json:"slow_duration"`
	// Churn scenario: ChurnConns connections opened, joined to one topic and closed; then ChurnClients
	// clients each leaving and rejoining their topic ChurnCycles times, then joining it ChurnDups more times.
	ChurnConns   int `json:"churn_conns"`
	ChurnClients int `json:"churn_clients"`
	ChurnCycles  int `json:"churn_cycles"`
	ChurnDups    int `json:"churn_dups"`
	// Attack scenario (Pyre only): the attacks named in Attacks (every one when empty), their connection
	// counts × AttackScale; holds of AttackHold; the server's idle timeout and long-poll window AttackIdle;
	// AttackGap of quiet between attacks; the presence storm waits AttackWait for presence_state.
	Attacks     []string      `json:"attacks,omitempty"`
	AttackScale float64       `json:"attack_scale,omitempty"`
	AttackHold  time.Duration `json:"attack_hold,omitempty"`
	AttackIdle  time.Duration `json:"attack_idle,omitempty"`
	AttackGap   time.Duration `json:"attack_gap,omitempty"`
	AttackWait  time.Duration `json:"attack_wait,omitempty"`
	// Micro scenario: go test -benchtime of each Go benchmark ("" when the scenario does not run).
	MicroBenchtime string `json:"micro_benchtime,omitempty"`
	// Cluster scenario: subscribers of one topic on one node, then spread over three (0: not run).
	ClusterSubs int `json:"cluster_subs,omitempty"`

	Timeout     time.Duration `json:"timeout"`
	DialRate    int           `json:"dial_rate"`
	DialConc    int           `json:"dial_concurrency"`
	DialTimeout time.Duration `json:"dial_timeout"`
	MemSettle   time.Duration `json:"mem_settle"`
	Quiet       time.Duration `json:"quiet"`
	Quick       bool          `json:"quick"`
	OutDir      string        `json:"-"`
	ProfileDir  string        `json:"profile_dir,omitempty"` // heap and CPU profiles of the servers

	exe    string
	env    []string
	log    io.Writer
	scrape *scraper // counts the scrapes of observedKind's /metrics
}

func (c *benchConfig) logf(format string, args ...any) {
	if c.log != nil {
		fmt.Fprintf(c.log, "%s bench: %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
	}
}

// memResult is the memory scenario for one kind and one count of connections.
type memResult struct {
	Kind              string         `json:"kind"`
	Round             int            `json:"round"` // 1-based
	Conns             int            `json:"conns"` // joined
	ConnectErrors     int            `json:"connect_errors"`
	FirstError        string         `json:"first_error,omitempty"`
	ConnectSeconds    float64        `json:"connect_seconds"`
	Before            memStats       `json:"mem_before"`
	ByChannels        []memAtChans   `json:"by_channels"`
	RSSPerConnKB      float64        `json:"rss_per_conn_kb"` // 1 channel
	HeapPerConnKB     float64        `json:"heap_per_conn_kb"`
	StackPerConnKB    float64        `json:"stack_per_conn_kb"`
	GoroutinesPerConn float64        `json:"goroutines_per_conn"`
	Disconnects       int64          `json:"client_disconnects"`
	DisconnectReasons map[string]int `json:"disconnect_reasons,omitempty"`
	ServerPID         int            `json:"server_pid"`
	Error             string         `json:"error,omitempty"`
}

// memAtChans is the server with every connection joined to Channels topics.
type memAtChans struct {
	Channels    int      `json:"channels"`
	Mem         memStats `json:"mem"`
	JoinErrors  int      `json:"join_errors"`
	JoinSeconds float64  `json:"join_seconds"`
	// Per additional channel: (figure at k channels − figure at 1 channel) / (k−1) / conns.
	RSSPerChanKB      float64 `json:"rss_per_extra_channel_kb"`
	HeapPerChanKB     float64 `json:"heap_per_extra_channel_kb"`
	GoroutinesPerChan float64 `json:"goroutines_per_extra_channel"`
}

// fanResult is one fan-out case for one kind.
type fanResult struct {
	Kind   string `json:"kind"`
	Round  int    `json:"round"`
	Case   string `json:"case"`
	Topics int    `json:"topics"`
	Subs   int    `json:"subs_per_topic"`

	LatencyMsgs    int       `json:"latency_msgs"`
	LatencyMissing int64     `json:"latency_missing"` // deliveries that never came in the one-at-a-time phase
	LatenciesMS    []float64 `json:"-"`
	LatP50MS       float64   `json:"latency_p50_ms"`
	LatP99MS       float64   `json:"latency_p99_ms"`
	LatMaxMS       float64   `json:"latency_max_ms"`

	BurstMsgs              int     `json:"burst_msgs"`
	BurstExpected          int64   `json:"burst_expected"`
	BurstDelivered         int64   `json:"burst_delivered"`
	BurstSeconds           float64 `json:"burst_seconds"` // publish request sent → last delivery
	DeliveriesPerSec       float64 `json:"deliveries_per_sec"`
	WriteSyscalls          uint64  `json:"server_write_syscalls"`
	FramesPerWrite         float64 `json:"frames_per_write"`
	ServerCPUPerDeliveryUS float64 `json:"server_cpu_per_delivery_us"`
	Error                  string  `json:"error,omitempty"`
}

// fanSetup is the connection fleet shared by every fan-out case of one kind.
type fanSetup struct {
	Kind              string         `json:"kind"`
	Round             int            `json:"round"`
	Conns             int            `json:"conns"`
	ConnectErrors     int            `json:"connect_errors"`
	FirstError        string         `json:"first_error,omitempty"`
	ConnectSeconds    float64        `json:"connect_seconds"`
	OutOfOrder        int64          `json:"out_of_order"`
	OtherFrames       int64          `json:"other_frames"`
	Disconnects       int64          `json:"client_disconnects"`
	DisconnectReasons map[string]int `json:"disconnect_reasons,omitempty"`
	ServerPID         int            `json:"server_pid"`
	Error             string         `json:"error,omitempty"`
}

type benchResults struct {
	Config   *benchConfig    `json:"config"`
	Started  time.Time       `json:"started"`
	Seconds  float64         `json:"seconds"`
	LoadAvg  string          `json:"loadavg"` // before → after
	Memory   []memResult     `json:"memory"`
	FanSetup []fanSetup      `json:"fanout_setup"`
	Fanout   []fanResult     `json:"fanout"`
	ReqRep   []rrResult      `json:"reqrep"`
	Churn    []churnResult   `json:"churn"`
	Slow     []slowResult    `json:"slow"`
	Micro    []microResult   `json:"micro"`
	Attack   []attackRun     `json:"attack,omitempty"`
	Cluster  []clusterResult `json:"cluster,omitempty"`
	Scrapes  *scrapeStats    `json:"metrics_scrapes,omitempty"` // observedKind only
}

func benchMain(args []string, stdout, stderr io.Writer) int {
	cfg, err := parseBenchFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	cfg.log = stderr
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	res, err := runBench(ctx, cfg, stdout)
	if err != nil {
		fmt.Fprintf(stderr, "measure bench: %v\n", err)
		return 1
	}
	if res.failed() {
		return 1
	}
	return 0
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		mult := 1
		if strings.HasSuffix(f, "k") {
			f, mult = strings.TrimSuffix(f, "k"), 1000
		}
		v, err := strconv.Atoi(f)
		if err != nil || v < 1 {
			return nil, fmt.Errorf("bad count %q", f)
		}
		out = append(out, v*mult)
	}
	return out, nil
}

func parseBenchFlags(args []string, stderr io.Writer) (*benchConfig, error) {
	fs := flag.NewFlagSet("measure bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := &benchConfig{}
	kinds := fs.String("kinds", "pyre,gws", "servers to measure (pyre, gws, "+observedKind+"), each against the same clients and payloads")
	observe := fs.Bool("observe", false, "also measure "+observedKind+" (Pyre with Prometheus metrics, /metrics scraped every second), after pyre")
	scenarios := fs.String("scenarios", strings.Join(defaultScenarios, ","), "scenarios to run (always in this order): mem (memory), fanout, reqrep (request/reply), churn, slow (slow consumers), micro (Go benchmarks, from the source tree), attack (Pyre under attack, ~2 min: not in the default run)")
	quick := fs.Bool("quick", false, "a quick look (~15–30 s): fewer connections and messages; explicit flags still win")
	memConns := fs.String("mem-conns", "1k,5k,15k", "memory scenario: connection counts (each ≤ 15k: one process's fd limit)")
	memChans := fs.String("mem-channels", "1,5,20", "memory scenario: channels joined per connection (first must be 1)")
	fanSubs := fs.String("fan-subs", "1,100,10k", "fan-out scenario: subscribers of the one topic")
	fs.IntVar(&cfg.ManyTopics, "many-topics", 1000, "fan-out scenario: topics of the many-topics case (0: skip it)")
	fs.IntVar(&cfg.SubsPerTopic, "subs-per-topic", 10, "fan-out scenario: subscribers of each of those topics")
	fs.IntVar(&cfg.LatencyMsgs, "latency-msgs", 200, "messages published one at a time per case (each waits for every subscriber)")
	fs.IntVar(&cfg.BurstTarget, "burst-deliveries", 1_000_000, "deliveries aimed at by each burst (messages = this / subscribers)")
	fs.IntVar(&cfg.BurstMaxMsgs, "burst-max-msgs", 1000, "at most this many messages per burst (Pyre disconnects a client with more than 1024 queued)")
	rrConns := fs.String("rr-conns", "1k,10k", "request/reply scenario: connected clients, each joined to one channel and pushing")
	rrRates := fs.String("rr-rates", "2k,5k", "request/reply scenario: pushes/s of all clients together, one per -rr-conns count (or one for all)")
	fs.DurationVar(&cfg.RRDuration, "rr-duration", 10*time.Second, "request/reply scenario: how long the clients push")
	fs.IntVar(&cfg.ChurnConns, "churn-conns", 5000, "churn scenario: connections opened, joined to one topic and closed, -dial-concurrency at a time")
	fs.IntVar(&cfg.ChurnClients, "churn-clients", 1000, "churn scenario: clients of the leave/rejoin storm and of the duplicate joins")
	fs.IntVar(&cfg.ChurnCycles, "churn-cycles", 10, "churn scenario: phx_leave + phx_join cycles per client")
	fs.IntVar(&cfg.ChurnDups, "churn-dups", 3, "churn scenario: duplicate joins (no leave) per client")
	fs.IntVar(&cfg.SlowSubs, "slow-subs", 2000, "slow-consumer scenario: subscribers of the one topic (slow ones included)")
	fs.IntVar(&cfg.SlowEvery, "slow-every", 100, "slow-consumer scenario: one subscriber in this many stops reading after joining")
	fs.IntVar(&cfg.SlowMsgs, "slow-msgs", 10000, "slow-consumer scenario: broadcasts streamed (capped so the baseline's queues stay under 256 MiB)")
	fs.IntVar(&cfg.SlowSize, "slow-size", 1024, "slow-consumer scenario: bytes of the body field of each broadcast")
	fs.IntVar(&cfg.SlowBurst, "slow-burst", 100, "slow-consumer scenario: broadcasts per publish request (two bursts at most in flight to the healthy clients)")
	fs.IntVar(&cfg.SlowRcvBuf, "slow-rcvbuf", 4096, "slow-consumer scenario: SO_RCVBUF of the slow clients' sockets (0: the kernel's default)")
	fs.DurationVar(&cfg.SlowDuration, "slow-duration", 2*time.Minute, "slow-consumer scenario: the stream stops after this long, sent or not")
	attacks := fs.String("attacks", "", "attack scenario: the attacks to run (default every one, in this order): "+strings.Join(attackNames, ","))
	fs.Float64Var(&cfg.AttackScale, "attack-scale", 1, "attack scenario: connection and push counts × this (0 < scale ≤ 1); sizes stay")
	fs.DurationVar(&cfg.AttackHold, "attack-hold", 5*time.Second, "attack scenario: how long attackers hold (heartbeats only, partial frames) and the no-attack baseline window")
	fs.DurationVar(&cfg.AttackIdle, "attack-idle", 5*time.Second, "attack scenario: the server's idle timeout and long-poll window; fragment and long-poll attackers hold 2 of them")
	fs.DurationVar(&cfg.AttackGap, "attack-gap", 3*time.Second, "attack scenario: quiet between two attacks")
	fs.DurationVar(&cfg.AttackWait, "attack-wait", 30*time.Second, "attack scenario: presence storm: how long after the last join every joiner must have presence_state")
	fs.IntVar(&cfg.ClusterSubs, "cluster-subs", 3000, "cluster scenario: subscribers of the one topic, on one node, then spread over three")
	fs.StringVar(&cfg.MicroBenchtime, "micro-benchtime", "1s", "micro scenario: go test -benchtime of each benchmark (a duration, or N\"x\" iterations)")
	fs.IntVar(&cfg.Size, "size", 64, "bytes of the body field of each broadcast and each request/reply push")
	fs.DurationVar(&cfg.Timeout, "timeout", 25*time.Minute, "overall limit; servers are killed when it expires")
	fs.IntVar(&cfg.DialRate, "dial-rate", 4000, "connections started per second")
	fs.IntVar(&cfg.DialConc, "dial-concurrency", 64, "connections (or join batches) in progress at once")
	fs.DurationVar(&cfg.DialTimeout, "dial-timeout", 20*time.Second, "limit for one dial, upgrade and its joins")
	fs.DurationVar(&cfg.MemSettle, "mem-settle", time.Second, "pause before each memory reading")
	fs.DurationVar(&cfg.Quiet, "quiet", 10*time.Second, "stop waiting for deliveries after this long without one")
	fs.StringVar(&cfg.OutDir, "out", "bench-results", "directory for results.md, results.json and chart.svg (\"\": none)")
	fs.IntVar(&cfg.Rounds, "rounds", 1, "run every step this many times, kinds interleaved (pyre, gws, pyre, gws…); the table shows medians")
	fs.StringVar(&cfg.ProfileDir, "profile-dir", "", "save the servers' heap profiles (every connection joined) and CPU profiles (each fan-out burst) here, named KIND-SCENARIO-LOAD-{heap,cpu}.pb.gz")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if *quick {
		cfg.Quick = true
		def := func(name string, apply func()) {
			if !set[name] {
				apply()
			}
		}
		def("mem-conns", func() { *memConns = "500,2k" })
		def("mem-channels", func() { *memChans = "1,5" })
		def("fan-subs", func() { *fanSubs = "1,100,2k" })
		def("many-topics", func() { cfg.ManyTopics = 200 })
		def("latency-msgs", func() { cfg.LatencyMsgs = 50 })
		def("burst-deliveries", func() { cfg.BurstTarget = 200_000 })
		def("mem-settle", func() { cfg.MemSettle = 300 * time.Millisecond })
		def("rr-conns", func() { *rrConns = "200,1k" })
		def("rr-duration", func() { cfg.RRDuration = 3 * time.Second })
		def("slow-subs", func() { cfg.SlowSubs = 500 })
		def("churn-conns", func() { cfg.ChurnConns = 1000 })
		def("churn-clients", func() { cfg.ChurnClients = 200 })
		def("slow-duration", func() { cfg.SlowDuration = 30 * time.Second })
		def("micro-benchtime", func() { cfg.MicroBenchtime = "200ms" })
		def("cluster-subs", func() { cfg.ClusterSubs = 600 })
		def("attack-scale", func() { cfg.AttackScale = 0.25 })
		def("attack-hold", func() { cfg.AttackHold = 2 * time.Second })
		def("attack-idle", func() { cfg.AttackIdle = 2 * time.Second })
		def("attack-gap", func() { cfg.AttackGap = time.Second })
		def("attack-wait", func() { cfg.AttackWait = 10 * time.Second })
	}
	var err error
	cfg.Kinds, cfg.Scenarios, cfg.Attacks = parseNames(*kinds), parseNames(*scenarios), parseNames(*attacks)
	if *observe && !slices.Contains(cfg.Kinds, observedKind) {
		cfg.Kinds = slices.Insert(cfg.Kinds, slices.Index(cfg.Kinds, "pyre")+1, observedKind)
	}
	for _, v := range []struct {
		dst *[]int
		s   string
	}{{&cfg.MemConns, *memConns}, {&cfg.MemChannels, *memChans}, {&cfg.FanSubs, *fanSubs}, {&cfg.RRConns, *rrConns}, {&cfg.RRRates, *rrRates}} {
		if err == nil {
			*v.dst, err = parseInts(v.s)
		}
	}
	// A scenario not selected has no loads.
	runs := func(s string) bool { return slices.Contains(cfg.Scenarios, s) }
	if !runs("mem") {
		cfg.MemConns = nil
	}
	if !runs("fanout") {
		cfg.FanSubs, cfg.ManyTopics = nil, 0
	}
	if !runs("reqrep") {
		cfg.RRConns = nil
	}
	if !runs("churn") {
		cfg.ChurnConns, cfg.ChurnClients = 0, 0
	}
	if !runs("slow") {
		cfg.SlowSubs = 0
	}
	if !runs("attack") {
		cfg.Attacks, cfg.AttackScale, cfg.AttackHold, cfg.AttackIdle, cfg.AttackGap, cfg.AttackWait = nil, 0, 0, 0, 0, 0
	}
	if !runs("micro") {
		cfg.MicroBenchtime = ""
	}
	if !runs("cluster") {
		cfg.ClusterSubs = 0
	}
	if err == nil {
		err = cfg.validate()
	}
	if err != nil {
		fmt.Fprintf(stderr, "measure bench: %v\n", err)
		return nil, err
	}
	return cfg, nil
}

var allScenarios = []string{"mem", "fanout", "reqrep", "churn", "slow", "cluster", "micro", "attack"}

// defaultScenarios are those of a run without -scenarios: all but attack (~2 min, Pyre only).
var defaultScenarios = allScenarios[:len(allScenarios)-1]

// parseNames splits a comma-separated list.
func parseNames(s string) []string {
	var out []string
	for _, k := range strings.Split(s, ",") {
		if k = strings.TrimSpace(k); k != "" {
			out = append(out, k)
		}
	}
	return out
}

// rrRate is the total push rate of the request/reply load with RRConns[i] clients.
func (c *benchConfig) rrRate(i int) int { return c.RRRates[min(i, len(c.RRRates)-1)] }

func (c *benchConfig) validate() error {
	if len(c.Kinds) == 0 || len(c.Scenarios) == 0 {
		return errors.New("no kinds or no scenarios")
	}
	for _, k := range c.Kinds {
		if k != "pyre" && k != "gws" && k != observedKind {
			return fmt.Errorf("unknown kind %q (want pyre, gws or %s)", k, observedKind)
		}
	}
	for _, s := range c.Scenarios {
		if !slices.Contains(allScenarios, s) {
			return fmt.Errorf("unknown scenario %q (want %s)", s, strings.Join(allScenarios, ", "))
		}
	}
	if len(c.RRConns) > 0 && (len(c.RRRates) == 0 || len(c.RRRates) > 1 && len(c.RRRates) != len(c.RRConns) || c.RRDuration <= 0) {
		return errors.New("-rr-rates needs one rate, or one per -rr-conns count, and -rr-duration must be positive")
	}
	if len(c.MemChannels) > 0 && c.MemChannels[0] != 1 {
		return errors.New("-mem-channels must start with 1 (the per-channel cost is measured against it)")
	}
	if !sort.IntsAreSorted(c.MemChannels) || !sort.IntsAreSorted(c.MemConns) || !sort.IntsAreSorted(c.FanSubs) {
		return errors.New("counts must be in increasing order")
	}
	lim := noFileLimit()
	for _, n := range append(append(slices.Clone(c.MemConns), c.RRConns...), c.fanConns(), c.SlowSubs, c.ChurnClients) {
		if lim > 0 && uint64(n)+200 > lim {
			return fmt.Errorf("%d connections do not fit in this process's file descriptor limit %d", n, lim)
		}
	}
	if c.ManyTopics < 0 || c.SubsPerTopic < 0 || c.LatencyMsgs < 0 || c.BurstTarget < 0 || c.BurstMaxMsgs < 1 ||
		c.Size < 0 || c.Size > 1<<20 {
		return errors.New("negative counts, burst-max-msgs < 1 or size out of 0…1 MiB")
	}
	if (c.ChurnConns > 0) != (c.ChurnClients > 0) || c.ChurnCycles < 1 || c.ChurnDups < 1 {
		return errors.New("churn scenario: -churn-conns and -churn-clients must both be set, -churn-cycles and -churn-dups ≥ 1")
	}
	if err := c.validateSlow(); err != nil {
		return err
	}
	if err := c.validateAttack(); err != nil {
		return err
	}
	if c.DialRate < 1 || c.DialConc < 1 || c.DialTimeout <= 0 || c.Timeout <= 0 || c.Quiet <= 0 || c.Rounds < 1 {
		return errors.New("dial-rate, dial-concurrency, dial-timeout, timeout, quiet and rounds must be positive")
	}
	return nil
}

// fanConns is the size of the fan-out fleet: the largest case.
func (c *benchConfig) fanConns() int {
	n := c.ManyTopics * c.SubsPerTopic
	for _, s := range c.FanSubs {
		n = max(n, s)
	}
	return n
}

func (r *benchResults) failed() bool {
	for _, m := range r.Memory {
		if m.Error != "" || m.ConnectErrors != 0 {
			return true
		}
	}
	for _, s := range r.FanSetup {
		if s.Error != "" || s.ConnectErrors != 0 {
			return true
		}
	}
	for _, f := range r.Fanout {
		if f.Error != "" || f.LatencyMissing != 0 || f.BurstDelivered != f.BurstExpected {
			return true
		}
	}
	for _, q := range r.ReqRep {
		if q.Error != "" || q.failures() != 0 {
			return true
		}
	}
	for i := range r.Churn {
		if r.Churn[i].Error != "" || r.Churn[i].failures() != 0 {
			return true
		}
	}
	for i := range r.Slow {
		if r.Slow[i].failed() {
			return true
		}
	}
	for _, m := range r.Micro {
		if m.Error != "" {
			return true
		}
	}
	for _, c := range r.Cluster {
		if c.Error != "" || c.Fan.LatencyMissing != 0 || c.Fan.BurstDelivered != c.Fan.BurstExpected {
			return true
		}
	}
	if r.Scrapes != nil && r.Scrapes.Failed != 0 {
		return true
	}
	// An attack that succeeds is a figure, not a failure: only the tool's own errors count.
	for _, a := range r.Attack {
		if a.Error != "" {
			return true
		}
		for _, x := range a.Attacks {
			if x.Error != "" {
				return true
			}
		}
	}
	return false
}

// runBench runs every scenario for every kind, prints the table to out and writes the files.
func runBench(ctx context.Context, cfg *benchConfig, out io.Writer) (*benchResults, error) {
	if cfg.exe == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, err
		}
		cfg.exe = exe
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	res := &benchResults{Config: cfg, Started: time.Now()}
	if slices.Contains(cfg.Kinds, observedKind) {
		cfg.scrape = &scraper{}
	}
	load0 := loadAvg()
	steps := (len(cfg.MemConns) + min(1, cfg.fanConns()) + len(cfg.RRConns) + min(1, cfg.ChurnConns) + min(1, cfg.SlowSubs)) * cfg.Rounds * len(cfg.Kinds)
	attack := slices.Contains(cfg.Scenarios, "attack") && slices.Contains(cfg.Kinds, "pyre")
	if attack {
		steps += cfg.Rounds
	}
	step := 0
	// each runs fn for every round and kind, interleaved: pyre, gws, pyre, gws…
	each := func(fn func(round int, kind, of string)) {
		for round := 1; round <= cfg.Rounds; round++ {
			for _, kind := range cfg.Kinds {
				if step++; ctx.Err() != nil {
					return
				}
				of := fmt.Sprintf("[%d/%d]", step, steps)
				if cfg.Rounds > 1 {
					of += fmt.Sprintf(" round %d/%d", round, cfg.Rounds)
				}
				fn(round, kind, of)
			}
		}
	}
	for _, conns := range cfg.MemConns {
		each(func(round int, kind, of string) {
			cfg.logf("%s memory: %s, %d connections × %v channels", of, kind, conns, cfg.MemChannels)
			m := benchMemory(ctx, cfg, kind, conns, round)
			if m.Error != "" {
				cfg.logf("memory %s %d: %s", kind, conns, m.Error)
			}
			res.Memory = append(res.Memory, m)
		})
	}
	if cfg.fanConns() > 0 {
		each(func(round int, kind, of string) {
			cfg.logf("%s fan-out: %s, %d connections", of, kind, cfg.fanConns())
			setup, cases := benchFanout(ctx, cfg, kind, round)
			if setup.Error != "" {
				cfg.logf("fan-out %s: %s", kind, setup.Error)
			}
			res.FanSetup = append(res.FanSetup, setup)
			res.Fanout = append(res.Fanout, cases...)
		})
	}
	for i, clients := range cfg.RRConns {
		each(func(round int, kind, of string) {
			cfg.logf("%s request/reply: %s, %s", of, kind, rrLoad(clients, cfg.rrRate(i)))
			r := benchReqRep(ctx, cfg, kind, clients, cfg.rrRate(i), round)
			if r.Error != "" {
				cfg.logf("request/reply %s %d: %s", kind, clients, r.Error)
			}
			res.ReqRep = append(res.ReqRep, r)
		})
	}
	if cfg.ChurnConns > 0 {
		each(func(round int, kind, of string) {
			cfg.logf("%s churn: %s, %d connections, then %d clients", of, kind, cfg.ChurnConns, cfg.ChurnClients)
			r := benchChurn(ctx, cfg, kind, round)
			if r.Error != "" {
				cfg.logf("churn %s: %s", kind, r.Error)
			}
			res.Churn = append(res.Churn, r)
		})
	}
	if cfg.SlowSubs > 0 {
		each(func(round int, kind, of string) {
			cfg.logf("%s slow consumers: %s, %s", of, kind, cfg.slowLoad())
			r := benchSlow(ctx, cfg, kind, round)
			if r.Error != "" {
				cfg.logf("slow consumers %s: %s", kind, r.Error)
			}
			res.Slow = append(res.Slow, r)
		})
	}
	for round := 1; cfg.ClusterSubs > 0 && round <= cfg.Rounds && ctx.Err() == nil; round++ {
		for _, nodes := range []int{1, 3} {
			cfg.logf("[cluster] %d subscribers on %d node(s), round %d", cfg.ClusterSubs, nodes, round)
			c := benchCluster(ctx, cfg, nodes, round)
			if c.Error != "" {
				cfg.logf("cluster %d nodes: %s", nodes, c.Error)
			}
			res.Cluster = append(res.Cluster, c)
		}
	}
	if cfg.MicroBenchtime != "" && ctx.Err() == nil {
		cfg.logf("[micro] Go benchmarks, -benchtime %s, %d round(s)", cfg.MicroBenchtime, cfg.Rounds)
		res.Micro = benchMicro(ctx, cfg)
		for _, m := range res.Micro {
			if m.Error != "" {
				cfg.logf("micro %s %s: %s", m.Kind, m.Case, m.Error)
			}
		}
	}
	for round := 1; attack && round <= cfg.Rounds && ctx.Err() == nil; round++ {
		step++
		cfg.logf("[%d/%d] attack: pyre, %s", step, steps, cfg.attackLoad())
		r := benchAttack(ctx, cfg, "pyre", round)
		if r.Error != "" {
			cfg.logf("attack pyre: %s", r.Error)
		}
		res.Attack = append(res.Attack, r)
	}
	res.Seconds = time.Since(res.Started).Seconds()
	res.LoadAvg = load0 + " → " + loadAvg()
	if cfg.scrape != nil {
		s := cfg.scrape.stats()
		res.Scrapes = &s
	}
	if err := writeBenchOutputs(cfg, res, out); err != nil {
		return res, err
	}
	return res, nil
}

// benchServer starts a server child and returns it with its base URL; the caller stops it.
func benchServer(ctx context.Context, cfg *benchConfig, kind string) (*serverProc, string, error) {
	srv, err := startServer(ctx, cfg.exe, cfg.env, cfg.log, kind, cfg.ProfileDir != "")
	if err != nil {
		return nil, "", err
	}
	base := "http://" + srv.addr
	if kind == observedKind {
		if srv.onStop, err = cfg.scrape.watch(ctx, base); err != nil {
			srv.stop()
			return nil, "", err
		}
	}
	return srv, base, nil
}

// profilePath names a profile file: DIR/KIND-SCENARIO-LOAD[-rROUND]-WHAT.pb.gz.
func (c *benchConfig) profilePath(kind, scenario, load string, round int, what string) string {
	name := kind + "-" + scenario + "-" + load
	if c.Rounds > 1 {
		name += "-r" + strconv.Itoa(round)
	}
	return filepath.Join(c.ProfileDir, name+"-"+what+".pb.gz")
}

// startCPUProfile starts the server's CPU profile when -profile-dir is set; the function it returns stops
// it and saves it as KIND-SCENARIO-LOAD-cpu.pb.gz.
func (c *benchConfig) startCPUProfile(ctx context.Context, hc *http.Client, base, kind, scenario, load string, round int) func() {
	if c.ProfileDir == "" {
		return func() {}
	}
	if err := postJSON(ctx, hc, base+"/debug/cpuprofile/start", nil); err != nil {
		c.logf("  cpu profile: %v", err)
		return func() {}
	}
	path := c.profilePath(kind, scenario, load, round, "cpu")
	return func() { c.saveProfile(ctx, http.MethodPost, base+"/debug/cpuprofile/stop", path) }
}

// saveHeapProfile saves the server's heap profile (after a GC) to path when -profile-dir is set; a
// failure is logged, not fatal.
func (c *benchConfig) saveHeapProfile(ctx context.Context, base, path string) {
	if c.ProfileDir != "" {
		c.saveProfile(ctx, http.MethodGet, base+"/debug/pprof/heap?gc=1", path)
	}
}

func (c *benchConfig) saveProfile(ctx context.Context, method, url, path string) {
	if err := saveURL(ctx, &http.Client{Timeout: time.Minute}, method, url, path); err != nil {
		c.logf("  profile %s: %v", filepath.Base(path), err)
		return
	}
	c.logf("  profile saved to %s", path)
}

func (c *benchConfig) plan(addr string, conns int) dialPlan {
	return dialPlan{
		url:         "ws://" + addr + "/socket/websocket?vsn=2.0.0",
		conns:       conns,
		rate:        c.DialRate,
		concurrency: c.DialConc,
		srcIPs:      min(250, max(1, (conns+999)/1000)),
		timeout:     c.DialTimeout,
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-time.After(d):
	case <-ctx.Done():
	}
}

func memTopic(j int) string { return "room:m" + strconv.Itoa(j) }

// benchMemory: a fresh server; conns connections each joined to room:m0; then to room:m0…m(k-1) for each
// k of MemChannels, reading the server's memory (after GC and FreeOSMemory) at every step.
func benchMemory(ctx context.Context, cfg *benchConfig, kind string, conns, round int) (m memResult) {
	m = memResult{Kind: kind, Round: round}
	srv, base, err := benchServer(ctx, cfg, kind)
	if err != nil {
		m.Error = "start server: " + err.Error()
		return m
	}
	m.ServerPID = srv.cmd.Process.Pid
	f := newBenchFleet()
	defer func() {
		srv.stop()
		if err := f.closeAll(30 * time.Second); err != nil && m.Error == "" {
			m.Error = err.Error()
		}
	}()
	hc := &http.Client{Timeout: time.Minute}
	if err := getJSON(ctx, hc, base+"/mem", &m.Before); err != nil {
		m.Error = "read /mem: " + err.Error()
		return m
	}
	cs := f.connect(ctx, cfg.plan(srv.addr, conns), func(int) []string { return []string{memTopic(0)} })
	m.Conns, m.ConnectErrors, m.FirstError, m.ConnectSeconds = cs.Joined, cs.Errors, cs.FirstError, cs.Elapsed.Seconds()
	cfg.logf("  %s: %d connected and joined, %d failed in %.1fs %s", kind, cs.Joined, cs.Errors, cs.Elapsed.Seconds(), cs.FirstError)
	if cs.Joined == 0 {
		m.Error = "no connection joined: " + cs.FirstError
		return m
	}
	n := float64(m.Conns)
	prev := 1
	for _, k := range cfg.MemChannels {
		step := memAtChans{Channels: k}
		if k > prev {
			from := prev
			js := f.joinMore(ctx, cfg.DialConc, cfg.DialTimeout, func(int) []string {
				t := make([]string, 0, k-from)
				for j := from; j < k; j++ {
					t = append(t, memTopic(j))
				}
				return t
			})
			step.JoinErrors, step.JoinSeconds = js.Errors, js.Elapsed.Seconds()
			if js.Errors > 0 && m.Error == "" {
				m.Error = fmt.Sprintf("%d connections failed to join %d channels: %s", js.Errors, k, js.FirstError)
			}
			prev = k
		}
		sleepCtx(ctx, cfg.MemSettle)
		if err := getJSON(ctx, hc, base+"/mem", &step.Mem); err != nil {
			m.Error = "read /mem: " + err.Error()
			return m
		}
		if k == 1 {
			m.RSSPerConnKB = (float64(step.Mem.RSSBytes) - float64(m.Before.RSSBytes)) / n / 1024
			m.HeapPerConnKB = (float64(step.Mem.HeapInuse) - float64(m.Before.HeapInuse)) / n / 1024
			m.StackPerConnKB = (float64(step.Mem.StackInuse) - float64(m.Before.StackInuse)) / n / 1024
			m.GoroutinesPerConn = float64(step.Mem.Goroutines-m.Before.Goroutines) / n
		} else if len(m.ByChannels) > 0 {
			one := m.ByChannels[0].Mem
			d := n * float64(k-1)
			step.RSSPerChanKB = (float64(step.Mem.RSSBytes) - float64(one.RSSBytes)) / d / 1024
			step.HeapPerChanKB = (float64(step.Mem.HeapInuse) - float64(one.HeapInuse)) / d / 1024
			step.GoroutinesPerChan = float64(step.Mem.Goroutines-one.Goroutines) / d
		}
		m.ByChannels = append(m.ByChannels, step)
		cfg.saveHeapProfile(ctx, base, cfg.profilePath(kind, "mem", count(conns)+"conns-"+strconv.Itoa(k)+"ch", round, "heap"))
		cfg.logf("  %s: %d conns × %d channels: rss %.1f MB, heap %.1f MB, %d goroutines, server channels %d",
			kind, m.Conns, k, mb(step.Mem.RSSBytes), mb(step.Mem.HeapInuse), step.Mem.Goroutines, step.Mem.Channels)
	}
	m.Disconnects, m.DisconnectReasons = f.closedEarly.Load(), f.closeReasons()
	return m
}

func fanTopic(subs int) string { return "room:f" + strconv.Itoa(subs) }

const manyTopicPrefix = "room:t"

// benchFanout: one server and one fleet per kind; connection i joins room:f<S> for every single-topic
// case S with i < S, and room:t<i mod T> when i < T×subs-per-topic. Then every case runs in turn: first
// LatencyMsgs messages one at a time, then one burst.
func benchFanout(ctx context.Context, cfg *benchConfig, kind string, round int) (setup fanSetup, cases []fanResult) {
	setup = fanSetup{Kind: kind, Round: round}
	srv, base, err := benchServer(ctx, cfg, kind)
	if err != nil {
		setup.Error = "start server: " + err.Error()
		return setup, nil
	}
	setup.ServerPID = srv.cmd.Process.Pid
	f := newBenchFleet()
	defer func() {
		srv.stop()
		if err := f.closeAll(30 * time.Second); err != nil && setup.Error == "" {
			setup.Error = err.Error()
		}
	}()
	many := cfg.ManyTopics * cfg.SubsPerTopic
	cs := f.connect(ctx, cfg.plan(srv.addr, cfg.fanConns()), func(i int) []string {
		var t []string
		for _, s := range cfg.FanSubs {
			if i < s {
				t = append(t, fanTopic(s))
			}
		}
		if i < many {
			t = append(t, manyTopicPrefix+strconv.Itoa(i%cfg.ManyTopics))
		}
		return t
	})
	setup.Conns, setup.ConnectErrors, setup.FirstError, setup.ConnectSeconds = cs.Joined, cs.Errors, cs.FirstError, cs.Elapsed.Seconds()
	cfg.logf("  %s: %d connected and joined, %d failed in %.1fs %s", kind, cs.Joined, cs.Errors, cs.Elapsed.Seconds(), cs.FirstError)
	if cs.Errors > 0 {
		setup.Error = fmt.Sprintf("%d connections failed: %s", cs.Errors, cs.FirstError)
		return setup, nil
	}
	cfg.saveHeapProfile(ctx, base, cfg.profilePath(kind, "fanout", count(cs.Joined)+"conns", round, "heap"))
	for _, s := range cfg.FanSubs {
		if ctx.Err() != nil {
			break
		}
		cases = append(cases, fanCase(ctx, cfg, f, base, kind, round, 1, s, fanTopic(s), 0))
	}
	if many > 0 && ctx.Err() == nil {
		cases = append(cases, fanCase(ctx, cfg, f, base, kind, round, cfg.ManyTopics, cfg.SubsPerTopic, manyTopicPrefix, cfg.ManyTopics))
	}
	setup.OutOfOrder, setup.OtherFrames = f.outOfOrder.Load(), f.other.Load()
	setup.Disconnects, setup.DisconnectReasons = f.closedEarly.Load(), f.closeReasons()
	return setup, cases
}

// fanCase publishes to topic (or topic0…topic(nTopics-1) when nTopics > 0): LatencyMsgs rounds one at a
// time, each awaited at every subscriber, then a burst of rounds back to back (CPU-profiled with
// -profile-dir).
func fanCase(ctx context.Context, cfg *benchConfig, f *benchFleet, base, kind string, round, topics, subs int, topic string, nTopics int) fanResult {
	r := fanResult{Kind: kind, Round: round, Topics: topics, Subs: subs}
	if nTopics > 0 {
		r.Case = fmt.Sprintf("%s topics × %s", count(topics), count(subs))
	} else {
		r.Case = fmt.Sprintf("1 topic × %s", count(subs))
	}
	hc := &http.Client{} // bounded by ctx
	perRound := int64(topics * subs)
	url := func(n, seq int) string {
		u := fmt.Sprintf("%s/fanout?topic=%s&n=%d&size=%d&seq=%d", base, topic, n, cfg.Size, seq)
		if nTopics > 0 {
			u += "&topics=" + strconv.Itoa(nTopics)
		}
		return u
	}
	seq := 0
	for range cfg.LatencyMsgs {
		if ctx.Err() != nil {
			break
		}
		f.arm(perRound)
		if err := postJSON(ctx, hc, url(1, seq), nil); err != nil {
			r.Error = "publish: " + err.Error()
			return r
		}
		seq++
		complete := f.wait(ctx, cfg.Quiet)
		r.LatencyMsgs++
		if !complete {
			r.LatencyMissing += perRound - f.deliveries.Load()
			continue
		}
		r.LatenciesMS = append(r.LatenciesMS, float64(f.maxLatNS.Load())/1e6)
	}
	r.LatP50MS, r.LatP99MS, r.LatMaxMS = percentile(r.LatenciesMS, 50), percentile(r.LatenciesMS, 99), percentile(r.LatenciesMS, 100)

	r.BurstMsgs = min(cfg.BurstMaxMsgs, max(1, cfg.BurstTarget/int(perRound)))
	if cfg.BurstTarget > 0 && ctx.Err() == nil {
		r.BurstExpected = int64(r.BurstMsgs) * perRound
		f.arm(r.BurstExpected)
		if cfg.ProfileDir != "" {
			// Started before the first /cpu reading and stopped after the second, so neither answer
			// falls inside the measured span (their writes would count as write syscalls).
			if err := postJSON(ctx, hc, base+"/debug/cpuprofile/start", nil); err != nil {
				cfg.logf("  cpu profile: %v", err)
			} else {
				path := cfg.profilePath(kind, "fanout", count(topics)+"x"+count(subs), round, "cpu")
				defer cfg.saveProfile(ctx, http.MethodPost, base+"/debug/cpuprofile/stop", path)
			}
		}
		var cpu0, cpu1 cpuStats
		if err := getJSON(ctx, hc, base+"/cpu", &cpu0); err != nil {
			r.Error = "read /cpu: " + err.Error()
			return r
		}
		sent := time.Now().UnixNano()
		if err := postJSON(ctx, hc, url(r.BurstMsgs, seq), nil); err != nil {
			r.Error = "publish: " + err.Error()
			return r
		}
		f.wait(ctx, cfg.Quiet)
		if err := getJSON(ctx, hc, base+"/cpu", &cpu1); err != nil {
			r.Error = "read /cpu: " + err.Error()
		}
		r.BurstDelivered = f.deliveries.Load()
		if last := f.lastNS.Load(); r.BurstDelivered > 0 && last > sent {
			r.BurstSeconds = float64(last-sent) / 1e9
			r.DeliveriesPerSec = float64(r.BurstDelivered) / r.BurstSeconds
			r.ServerCPUPerDeliveryUS = (cpu1.total() - cpu0.total()) / float64(r.BurstDelivered) * 1e6
		}
		if cpu1.WriteSyscalls > cpu0.WriteSyscalls {
			r.WriteSyscalls = cpu1.WriteSyscalls - cpu0.WriteSyscalls
			r.FramesPerWrite = float64(r.BurstDelivered) / float64(r.WriteSyscalls)
		}
	}
	cfg.logf("  %s %s: latency p50 %.2f ms p99 %.2f ms max %.2f ms (%d msgs, %d missing); burst %d msgs: %d/%d delivered, %.0f/s, %.2f frames/write, %.2f µs CPU/delivery",
		kind, r.Case, r.LatP50MS, r.LatP99MS, r.LatMaxMS, r.LatencyMsgs, r.LatencyMissing, r.BurstMsgs,
		r.BurstDelivered, r.BurstExpected, r.DeliveriesPerSec, r.FramesPerWrite, r.ServerCPUPerDeliveryUS)
	return r
}

// percentile is the nearest-rank percentile of v (p = 100: the maximum); 0 for no values.
func percentile(v []float64, p float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	i := int(float64(len(s))*p/100+0.999999) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// count formats 10000 as 10k.
func count(n int) string {
	if n >= 1000 && n%1000 == 0 {
		return strconv.Itoa(n/1000) + "k"
	}
	return strconv.Itoa(n)
}
