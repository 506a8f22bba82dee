package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// runConfig is the driver's configuration (the flags of `measure run`).
type runConfig struct {
	Conns       int           `json:"conns"`
	Msgs        int           `json:"msgs"`
	Size        int           `json:"size"`
	Kinds       []string      `json:"kinds"`
	Rounds      int           `json:"rounds"`
	Timeout     time.Duration `json:"timeout"`
	DialRate    int           `json:"dial_rate"`
	DialConc    int           `json:"dial_concurrency"`
	DialTimeout time.Duration `json:"dial_timeout"`
	SrcIPs      int           `json:"src_ips"`
	MemSettle   time.Duration `json:"mem_settle"`
	Quiet       time.Duration `json:"quiet"`
	Pprof       bool          `json:"pprof"`
	ProfileDir  string        `json:"profile_dir,omitempty"`
	JSONPath    string        `json:"-"`

	// exe and env start the server child: exe defaults to this binary. Tests point exe at the test
	// binary and set an environment variable that makes it act as `measure server`.
	exe string
	env []string
	log io.Writer // progress lines; nil means none
}

func (c *runConfig) logf(format string, args ...any) {
	if c.log != nil {
		fmt.Fprintf(c.log, "%s measure: %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
	}
}

// result is the measurement of one server kind.
type result struct {
	Kind  string `json:"kind"`
	Round int    `json:"round"` // 1-based; 0 for a median over rounds
	Conns int    `json:"conns"` // connections joined

	ConnectErrors     int     `json:"connect_errors"`
	FirstConnectError string  `json:"first_connect_error,omitempty"`
	ConnectSeconds    float64 `json:"connect_seconds"`

	MemBefore       memStats `json:"mem_before"`        // server with no connection
	MemJoined       memStats `json:"mem_joined"`        // server with every connection joined, idle
	MemAfterPublish memStats `json:"mem_after_publish"` // server after the fan-out

	RSSPerConnKB      float64 `json:"rss_per_conn_kb"`
	HeapPerConnKB     float64 `json:"heap_per_conn_kb"`
	StackPerConnKB    float64 `json:"stack_per_conn_kb"`
	GoroutinesPerConn float64 `json:"goroutines_per_conn"`

	Msgs                   int            `json:"msgs"`
	Size                   int            `json:"size"`
	Expected               int64          `json:"expected_deliveries"`
	Delivered              int64          `json:"delivered"`
	Missing                int64          `json:"missing"` // negative: more deliveries than expected
	OutOfOrder             int64          `json:"out_of_order"`
	OtherFrames            int64          `json:"other_frames"`
	ClientDisconnects      int64          `json:"client_disconnects"`
	DisconnectReasons      map[string]int `json:"disconnect_reasons,omitempty"`
	PublishCallSeconds     float64        `json:"publish_call_seconds"`    // server-side time to hand every broadcast over
	FirstToLastSeconds     float64        `json:"first_to_last_seconds"`   // first to last delivery at the clients
	PublishToLastSeconds   float64        `json:"publish_to_last_seconds"` // POST /publish sent to last delivery
	DeliveriesPerSec       float64        `json:"deliveries_per_sec"`      // Delivered / FirstToLastSeconds
	ServerCPUSeconds       float64        `json:"server_cpu_seconds"`      // server CPU (user+sys) from publish to last delivery
	ServerCPUPerDeliveryUS float64        `json:"server_cpu_per_delivery_us"`
	DriverCPUSeconds       float64        `json:"driver_cpu_seconds"` // this process (the clients) over the same span
	LoadAvg                string         `json:"loadavg"`            // /proc/loadavg before and after the fan-out
	TimedOut               bool           `json:"timed_out,omitempty"`
	ServerPID              int            `json:"server_pid"`
	ServerExit             string         `json:"server_exit,omitempty"`
	ServerExitedEarly      bool           `json:"server_exited_early,omitempty"`
	Error                  string         `json:"error,omitempty"`
}

func runMain(args []string, stdout, stderr io.Writer) int {
	cfg, err := parseRunFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	cfg.log = stderr
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	results, err := measure(ctx, cfg, stdout)
	if err != nil {
		fmt.Fprintf(stderr, "measure: %v\n", err)
		return 1
	}
	for _, r := range results {
		if r.Error != "" || r.Missing != 0 || r.ConnectErrors != 0 {
			return 1
		}
	}
	return 0
}

func parseRunFlags(args []string, stderr io.Writer) (*runConfig, error) {
	fs := flag.NewFlagSet("measure run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := &runConfig{}
	kinds := fs.String("kinds", "pyre,gws", "servers to measure, in order (pyre, gws)")
	fs.IntVar(&cfg.Conns, "conns", 10000, "client connections, each joined to "+benchTopic+" (at most ~19,000: one process's fd limit)")
	fs.IntVar(&cfg.Rounds, "rounds", 1, "measure every kind this many times, interleaved (pyre, gws, pyre, gws…); the table shows medians")
	fs.IntVar(&cfg.Msgs, "msgs", 200, "broadcasts published to "+benchTopic)
	fs.IntVar(&cfg.Size, "size", 64, "bytes of the body field of each broadcast")
	fs.DurationVar(&cfg.Timeout, "timeout", 5*time.Minute, "overall time limit; the servers are killed when it expires")
	fs.IntVar(&cfg.DialRate, "dial-rate", 4000, "connections started per second")
	fs.IntVar(&cfg.DialConc, "dial-concurrency", 64, "connections being opened and joined at once")
	fs.DurationVar(&cfg.DialTimeout, "dial-timeout", 10*time.Second, "limit for one dial, upgrade and join")
	fs.IntVar(&cfg.SrcIPs, "src-ips", 0, "source addresses 127.0.0.2…; 0 means one per 1,000 connections")
	fs.DurationVar(&cfg.MemSettle, "mem-settle", time.Second, "pause after the last join before reading server memory")
	fs.DurationVar(&cfg.Quiet, "quiet", 10*time.Second, "stop waiting for deliveries after this long without one")
	fs.BoolVar(&cfg.Pprof, "pprof", false, "run the servers with net/http/pprof on (implied by -profile-dir)")
	fs.StringVar(&cfg.ProfileDir, "profile-dir", "", "save each server's heap profile (all connections joined) as DIR/KIND-heap.pb.gz and its CPU profile of the fan-out as DIR/KIND-cpu-fanout.pb.gz")
	fs.StringVar(&cfg.JSONPath, "json", "", "also write the results as JSON to this file")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	for _, k := range strings.Split(*kinds, ",") {
		if k = strings.TrimSpace(k); k != "" {
			cfg.Kinds = append(cfg.Kinds, k)
		}
	}
	if err := cfg.validate(); err != nil {
		fmt.Fprintf(stderr, "measure run: %v\n", err)
		return nil, err
	}
	return cfg, nil
}

func (c *runConfig) validate() error {
	if len(c.Kinds) == 0 {
		return errors.New("no kinds")
	}
	for _, k := range c.Kinds {
		if k != "pyre" && k != "gws" {
			return fmt.Errorf("unknown kind %q (want pyre or gws)", k)
		}
	}
	if c.Conns < 1 || c.Msgs < 0 || c.Size < 0 || c.Size > 1<<20 {
		return errors.New("want conns >= 1, msgs >= 0, 0 <= size <= 1 MiB")
	}
	// The driver holds every client connection and the server every server-side one: each process needs
	// conns descriptors plus a few dozen of its own.
	if lim := noFileLimit(); lim > 0 && uint64(c.Conns)+200 > lim {
		return fmt.Errorf("-conns %d does not fit in this process's file descriptor limit %d (keep conns <= limit - 200; run several drivers for more)", c.Conns, lim)
	}
	if c.Rounds < 1 {
		c.Rounds = 1
	}
	if c.DialRate < 1 || c.DialConc < 1 || c.DialTimeout <= 0 || c.Timeout <= 0 {
		return errors.New("dial-rate, dial-concurrency, dial-timeout and timeout must be positive")
	}
	if c.SrcIPs <= 0 {
		c.SrcIPs = max(1, (c.Conns+999)/1000)
	}
	if c.SrcIPs > 250 {
		c.SrcIPs = 250
	}
	if c.ProfileDir != "" {
		c.Pprof = true
	}
	if c.MemSettle < 0 {
		c.MemSettle = 0
	}
	if c.Quiet <= 0 {
		c.Quiet = 10 * time.Second
	}
	return nil
}

// measure runs every kind in order, prints the table to out, writes the JSON file if asked, and returns
// the results. An error means the run could not be made at all; a failed kind is reported in its result.
func measure(ctx context.Context, cfg *runConfig, out io.Writer) ([]result, error) {
	if cfg.exe == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, err
		}
		cfg.exe = exe
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	var results []result
	for round := 1; round <= cfg.Rounds; round++ {
		for _, kind := range cfg.Kinds {
			if ctx.Err() != nil {
				break
			}
			r := measureKind(ctx, cfg, kind)
			r.Round = round
			if r.Error != "" {
				cfg.logf("%s: %s", kind, r.Error)
			}
			results = append(results, r)
		}
	}
	if _, err := io.WriteString(out, formatReport(cfg, results)); err != nil {
		return results, err
	}
	if cfg.JSONPath != "" {
		data, err := json.MarshalIndent(map[string]any{
			"config": cfg, "results": results, "summary": summarize(cfg, results), "ratios": ratios(summarize(cfg, results)),
		}, "", "  ")
		if err != nil {
			return results, err
		}
		if err := os.WriteFile(cfg.JSONPath, append(data, '\n'), 0o644); err != nil {
			return results, err
		}
	}
	return results, nil
}

// measureKind starts the server of kind, connects, measures memory, fans out, and always kills the server.
func measureKind(ctx context.Context, cfg *runConfig, kind string) (r result) {
	r = result{Kind: kind, Msgs: cfg.Msgs, Size: cfg.Size}
	srv, err := startServer(ctx, cfg, kind)
	if err != nil {
		r.Error = "start server: " + err.Error()
		return r
	}
	r.ServerPID = srv.cmd.Process.Pid
	f := newFleet()
	defer func() {
		// Server first: its side closes, so TIME_WAIT lands on the server's sockets and the client source
		// ports are free again for the next kind.
		r.ServerExitedEarly, r.ServerExit = srv.stop()
		if err := f.closeAll(30 * time.Second); err != nil && r.Error == "" {
			r.Error = err.Error()
		}
	}()
	hc := &http.Client{Timeout: time.Minute}
	longHC := &http.Client{} // for /publish, bounded by ctx only
	base := "http://" + srv.addr

	if err := getJSON(ctx, hc, base+"/mem", &r.MemBefore); err != nil {
		r.Error = "read /mem: " + err.Error()
		return r
	}
	cfg.logf("%s: server pid %d on %s, rss %.1f MB; opening %d connections", kind, r.ServerPID, srv.addr,
		mb(r.MemBefore.RSSBytes), cfg.Conns)

	cs := f.connect(ctx, dialPlan{
		url:         "ws://" + srv.addr + "/socket/websocket?vsn=2.0.0",
		conns:       cfg.Conns,
		rate:        cfg.DialRate,
		concurrency: cfg.DialConc,
		srcIPs:      cfg.SrcIPs,
		timeout:     cfg.DialTimeout,
	})
	r.Conns, r.ConnectErrors, r.FirstConnectError = cs.Joined, cs.Errors, cs.FirstError
	r.ConnectSeconds = cs.Elapsed.Seconds()
	cfg.logf("%s: %d joined, %d failed in %.1fs %s", kind, cs.Joined, cs.Errors, cs.Elapsed.Seconds(), cs.FirstError)
	if ctx.Err() != nil {
		r.Error, r.TimedOut = "timeout while connecting", true
		return r
	}
	if cs.Joined == 0 {
		r.Error = "no connection joined"
		return r
	}

	select {
	case <-time.After(cfg.MemSettle):
	case <-ctx.Done():
	}
	if err := getJSON(ctx, hc, base+"/mem", &r.MemJoined); err != nil {
		r.Error = "read /mem: " + err.Error()
		return r
	}
	n := float64(r.Conns)
	r.RSSPerConnKB = (float64(r.MemJoined.RSSBytes) - float64(r.MemBefore.RSSBytes)) / n / 1024
	r.HeapPerConnKB = (float64(r.MemJoined.HeapInuse) - float64(r.MemBefore.HeapInuse)) / n / 1024
	r.StackPerConnKB = (float64(r.MemJoined.StackInuse) - float64(r.MemBefore.StackInuse)) / n / 1024
	r.GoroutinesPerConn = float64(r.MemJoined.Goroutines-r.MemBefore.Goroutines) / n
	cfg.logf("%s: joined: rss %.1f MB (%.2f KB/conn), heap %.2f KB/conn, %.2f goroutines/conn, server conns %d",
		kind, mb(r.MemJoined.RSSBytes), r.RSSPerConnKB, r.HeapPerConnKB, r.GoroutinesPerConn, r.MemJoined.Conns)
	if cfg.ProfileDir != "" {
		path := filepath.Join(cfg.ProfileDir, kind+"-heap.pb.gz")
		if err := saveURL(ctx, hc, http.MethodGet, base+"/debug/pprof/heap?gc=1", path); err != nil {
			cfg.logf("%s: heap profile: %v", kind, err)
		} else {
			cfg.logf("%s: heap profile saved to %s", kind, path)
		}
	}

	// Fan-out.
	r.Expected = int64(r.Conns) * int64(cfg.Msgs)
	f.expected.Store(r.Expected)
	if r.Expected == 0 {
		return r
	}
	var cpu0, cpu1 cpuStats
	if err := getJSON(ctx, hc, base+"/cpu", &cpu0); err != nil {
		r.Error = "read /cpu: " + err.Error()
		return r
	}
	profiling := false
	if cfg.ProfileDir != "" {
		if err := postJSON(ctx, hc, base+"/debug/cpuprofile/start", nil); err != nil {
			cfg.logf("%s: cpu profile: %v", kind, err)
		} else {
			profiling = true
		}
	}
	load0, drv0 := loadAvg(), readCPU()
	sent := f.now()
	var pa publishAnswer
	publishErr := make(chan error, 1)
	go func() {
		publishErr <- postJSON(ctx, longHC, fmt.Sprintf("%s/publish?n=%d&size=%d", base, cfg.Msgs, cfg.Size), &pa)
	}()
	r.TimedOut = waitDeliveries(ctx, f, cfg.Quiet)
	drv1 := readCPU()
	if err := getJSON(ctx, hc, base+"/cpu", &cpu1); err != nil {
		r.Error = "read /cpu: " + err.Error()
	}
	r.LoadAvg = load0 + " → " + loadAvg()
	if profiling {
		path := filepath.Join(cfg.ProfileDir, kind+"-cpu-fanout.pb.gz")
		if err := saveURL(ctx, hc, http.MethodPost, base+"/debug/cpuprofile/stop", path); err != nil {
			cfg.logf("%s: cpu profile: %v", kind, err)
		} else {
			cfg.logf("%s: fan-out CPU profile saved to %s", kind, path)
		}
	}
	if err := <-publishErr; err != nil && r.Error == "" {
		r.Error = "publish: " + err.Error()
	}
	r.ServerCPUSeconds = cpu1.total() - cpu0.total()
	r.DriverCPUSeconds = drv1.total() - drv0.total()
	r.PublishCallSeconds = time.Duration(pa.ElapsedNS).Seconds()
	r.Delivered = f.deliveries.Load()
	r.Missing = r.Expected - r.Delivered
	r.OutOfOrder = f.outOfOrder.Load()
	r.OtherFrames = f.other.Load()
	r.ClientDisconnects = f.closedEarly.Load()
	r.DisconnectReasons = f.closeReasons()
	if r.Delivered > 0 {
		first, last := f.first.Load(), f.last.Load()
		r.FirstToLastSeconds = time.Duration(last - first).Seconds()
		r.PublishToLastSeconds = time.Duration(last - sent).Seconds()
		if r.FirstToLastSeconds > 0 {
			r.DeliveriesPerSec = float64(r.Delivered) / r.FirstToLastSeconds
		}
		r.ServerCPUPerDeliveryUS = r.ServerCPUSeconds / float64(r.Delivered) * 1e6
	}
	cfg.logf("%s: %d/%d delivered (%d missing, %d out of order, %d disconnects) in %.2fs: %.0f deliveries/s, server CPU %.2fs (%.2f µs/delivery), load %s",
		kind, r.Delivered, r.Expected, r.Missing, r.OutOfOrder, r.ClientDisconnects, r.FirstToLastSeconds, r.DeliveriesPerSec,
		r.ServerCPUSeconds, r.ServerCPUPerDeliveryUS, r.LoadAvg)
	if err := getJSON(ctx, hc, base+"/mem", &r.MemAfterPublish); err != nil && r.Error == "" {
		r.Error = "read /mem after publish: " + err.Error()
	}
	return r
}

// waitDeliveries waits until every expected delivery arrived, or none arrived for quiet, or ctx ends
// (then it reports true).
func waitDeliveries(ctx context.Context, f *fleet, quiet time.Duration) (timedOut bool) {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	lastCount, lastChange := int64(-1), time.Now()
	for {
		select {
		case <-f.done:
			return false
		case <-ctx.Done():
			return true
		case now := <-tick.C:
			if n := f.deliveries.Load(); n != lastCount {
				lastCount, lastChange = n, now
			} else if now.Sub(lastChange) >= quiet {
				return false
			}
		}
	}
}

// loadAvg returns the 1-minute load average ("?" if unknown): the machine is shared, so the report says
// how busy it was.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	if f := strings.Fields(string(b)); len(f) > 0 {
		return f[0]
	}
	return "?"
}

func mb(b uint64) float64 { return float64(b) / (1 << 20) }

func getJSON(ctx context.Context, hc *http.Client, url string, v any) error {
	return doJSON(ctx, hc, http.MethodGet, url, v)
}

func postJSON(ctx context.Context, hc *http.Client, url string, v any) error {
	return doJSON(ctx, hc, http.MethodPost, url, v)
}

func doJSON(ctx context.Context, hc *http.Client, method, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %s: %s", method, url, resp.Status, strings.TrimSpace(string(body)))
	}
	if v == nil {
		return nil
	}
	return json.Unmarshal(body, v)
}

func saveURL(ctx context.Context, hc *http.Client, method, url, path string) error {
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %s", method, url, resp.Status)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	fh, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(fh, resp.Body); err != nil {
		fh.Close()
		return err
	}
	return fh.Close()
}

// ---- the server child process ----

type serverProc struct {
	cmd   *exec.Cmd
	addr  string
	stdin io.WriteCloser

	waited  chan struct{} // closed when cmd.Wait returned
	waitErr error
	once    sync.Once
	exited  bool // reported by stop: the child had ended before stop was called
}

// startServer runs `<exe> server -kind kind` and waits for its LISTEN line. The child dies with the
// driver three ways: stop (also deferred on panic), SIGKILL from the kernel when the driver's thread dies
// (Pdeathsig), and EOF on its stdin when the driver's end of the pipe closes.
func startServer(ctx context.Context, cfg *runConfig, kind string) (*serverProc, error) {
	args := []string{"server", "-kind", kind, "-addr", "127.0.0.1:0", "-exit-on-stdin-eof"}
	if cfg.Pprof {
		args = append(args, "-pprof")
	}
	cmd := exec.Command(cfg.exe, args...)
	cmd.Env = append(os.Environ(), cfg.env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if cfg.log != nil {
		cmd.Stderr = &prefixWriter{w: cfg.log, prefix: kind + " server: "}
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &serverProc{cmd: cmd, stdin: stdin, waited: make(chan struct{})}
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		first := true
		for sc.Scan() {
			if first {
				lines <- sc.Text()
				first = false
			}
		}
		if first {
			close(lines)
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	go func() {
		p.waitErr = cmd.Wait()
		close(p.waited)
	}()
	timer := time.NewTimer(20 * time.Second)
	defer timer.Stop()
	select {
	case line, ok := <-lines:
		addr, found := strings.CutPrefix(line, listenPrefix)
		if !ok || !found {
			p.stop()
			return nil, fmt.Errorf("server printed %q, want %q", line, listenPrefix+"host:port")
		}
		p.addr = addr
		return p, nil
	case <-timer.C:
		p.stop()
		return nil, errors.New("server did not start within 20s")
	case <-ctx.Done():
		p.stop()
		return nil, ctx.Err()
	}
}

// stop kills the child and reaps it. It reports whether the child had already exited, and how it exited.
func (p *serverProc) stop() (exitedEarly bool, exit string) {
	p.once.Do(func() {
		select {
		case <-p.waited:
			p.exited = true
		default:
		}
		_ = p.stdin.Close()
		_ = p.cmd.Process.Kill()
		select {
		case <-p.waited:
		case <-time.After(10 * time.Second):
		}
	})
	if p.exited && p.waitErr != nil {
		exit = p.waitErr.Error()
	}
	return p.exited, exit
}

// prefixWriter writes each line with a prefix (the server's stderr into the driver's log).
type prefixWriter struct {
	mu     sync.Mutex
	w      io.Writer
	prefix string
	buf    []byte
}

func (pw *prefixWriter) Write(b []byte) (int, error) {
	pw.mu.Lock()
	defer pw.mu.Unlock()
	pw.buf = append(pw.buf, b...)
	for {
		i := strings.IndexByte(string(pw.buf), '\n')
		if i < 0 {
			break
		}
		_, _ = fmt.Fprintf(pw.w, "%s%s\n", pw.prefix, pw.buf[:i])
		pw.buf = pw.buf[i+1:]
	}
	if len(pw.buf) > 64<<10 { // no newline for too long: flush as is
		_, _ = fmt.Fprintf(pw.w, "%s%s\n", pw.prefix, pw.buf)
		pw.buf = pw.buf[:0]
	}
	return len(b), nil
}
