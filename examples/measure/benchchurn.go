package main

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"
)

// The churn scenario: connections opened, joined and closed as fast as the driver can; then a fleet of
// clients leaving and rejoining their channel, and joining it again without leaving (duplicate joins).

const churnTopic = "room:c" // + connection index (or index mod churnTopics in the connect churn)

const churnTopics = 100

// churnResult is the churn scenario for one kind.
type churnResult struct {
	Kind  string `json:"kind"`
	Round int    `json:"round"`

	// Connect churn: ChurnConns connections opened, each joined to one topic, then closed.
	Connects       int     `json:"connects"` // opened and joined
	ConnectErrors  int     `json:"connect_errors"`
	FirstError     string  `json:"first_error,omitempty"`
	ConnectSeconds float64 `json:"connect_seconds"`
	ConnectsPerSec float64 `json:"connects_per_sec"` // connect + join + close
	// Server CPU time (getrusage) per connect + join + close, µs: unlike connects/s, it does not depend on
	// what else the machine runs.
	ConnectCPUus float64 `json:"connect_cpu_us"`
	// What the server still holds once every churned connection is closed (after up to 10 s): sockets
	// and channels (Pyre) or connections and topics (gws). Must be 0.
	LeftSockets  int64 `json:"left_sockets"`
	LeftChannels int64 `json:"left_channels"`

	// Leave/rejoin storm: ChurnClients clients, each ChurnCycles times phx_leave then phx_join.
	Clients         int     `json:"clients"`
	ClientErrors    int     `json:"client_connect_errors"`
	Rejoins         int64   `json:"rejoins"` // leave + join cycles answered ok
	RejoinErrors    int     `json:"rejoin_errors"`
	RejoinFirstErr  string  `json:"rejoin_first_error,omitempty"`
	RejoinSeconds   float64 `json:"rejoin_seconds"`
	RejoinsPerSec   float64 `json:"rejoins_per_sec"`
	RejoinCPUus     float64 `json:"rejoin_cpu_us"`     // server CPU per leave + rejoin cycle, µs
	RejoinPhxCloses int64   `json:"rejoin_phx_closes"` // Pyre: one per leave
	// phx_close frames repeating one already received for the same join ref (any phase): should be 0.
	RepeatedPhxCloses int64 `json:"repeated_phx_closes"`

	// Duplicate joins: each client joins its topic ChurnDups more times without leaving.
	DupJoins      int64   `json:"dup_joins"` // answered ok
	DupErrors     int     `json:"dup_errors"`
	DupFirstErr   string  `json:"dup_first_error,omitempty"`
	DupSeconds    float64 `json:"dup_seconds"`
	DupsPerSec    float64 `json:"dup_joins_per_sec"`
	DupPhxCloses  int64   `json:"dup_phx_closes"` // Pyre: one per duplicate join (the replaced channel)
	AfterExpected int64   `json:"after_expected"` // one broadcast to every client's topic afterwards
	AfterGot      int64   `json:"after_delivered"`

	OtherFrames int64  `json:"other_frames"` // neither reply, broadcast nor phx_close (phx_error…)
	Disconnects int64  `json:"client_disconnects"`
	ServerPID   int    `json:"server_pid"`
	Error       string `json:"error,omitempty"`
}

func (r *churnResult) failures() int64 {
	return int64(r.ConnectErrors+r.ClientErrors+r.RejoinErrors+r.DupErrors) + r.LeftSockets + r.LeftChannels +
		abs64(r.AfterGot-r.AfterExpected) + r.OtherFrames + r.Disconnects
}

func abs64(v int64) int64 { return max(v, -v) }

func (c *benchConfig) churnLoads() (conns, storm, dups string) {
	return count(c.ChurnConns) + " conns opened, joined, closed",
		fmt.Sprintf("%s clients × %d leave+rejoin", count(c.ChurnClients), c.ChurnCycles),
		fmt.Sprintf("%s clients × %d duplicate joins", count(c.ChurnClients), c.ChurnDups)
}

// benchChurn: a fresh server; the connect churn, then the storm and the duplicate joins on one fleet.
func benchChurn(ctx context.Context, cfg *benchConfig, kind string, round int) (r churnResult) {
	r = churnResult{Kind: kind, Round: round}
	f := newBenchFleet()
	srv, base, err := benchServer(ctx, cfg, kind)
	if err != nil {
		r.Error = "start server: " + err.Error()
		return r
	}
	r.ServerPID = srv.cmd.Process.Pid
	defer func() {
		srv.stop()
		if err := f.closeAll(30 * time.Second); err != nil && r.Error == "" {
			r.Error = err.Error()
		}
	}()
	hc := &http.Client{Timeout: time.Minute}

	// Connect churn: open, join, close, cfg.DialConc at a time, unpaced (CPU-profiled with -profile-dir).
	plan := cfg.plan(srv.addr, cfg.ChurnConns)
	stopProfile := cfg.startCPUProfile(ctx, hc, base, kind, "churn", count(cfg.ChurnConns)+"conns", round)
	cpu0 := serverCPU(ctx, hc, base)
	start := time.Now()
	cs := f.parallel(ctx, cfg.ChurnConns, cfg.DialConc, func(i int) error {
		c, err := f.dial(ctx, plan, i, []string{churnTopic + strconv.Itoa(i%churnTopics)})
		if err != nil {
			return err
		}
		c.abandoned.Store(true) // its close is ours, not the server's
		return c.conn.NetConn().Close()
	})
	r.Connects, r.ConnectErrors, r.FirstError = cs.Joined, cs.Errors, cs.FirstError
	r.ConnectSeconds = time.Since(start).Seconds()
	r.ConnectsPerSec = float64(r.Connects) / r.ConnectSeconds
	if r.Connects > 0 {
		r.ConnectCPUus = (serverCPU(ctx, hc, base) - cpu0) * 1e6 / float64(r.Connects)
	}
	stopProfile()
	var m memStats
	for deadline := time.Now().Add(10 * time.Second); ; {
		if err := getJSON(ctx, hc, base+"/mem", &m); err != nil {
			r.Error = "read /mem: " + err.Error()
			return r
		}
		r.LeftSockets, r.LeftChannels = m.Conns, m.Channels+int64(m.Topics)
		if r.LeftSockets+r.LeftChannels == 0 || time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		sleepCtx(ctx, 200*time.Millisecond)
	}
	cfg.logf("  %s: %d connects (+join, close) in %.1fs, %.0f/s, %d failed %s; server left with %d sockets, %d channels/topics",
		kind, r.Connects, r.ConnectSeconds, r.ConnectsPerSec, r.ConnectErrors, r.FirstError, r.LeftSockets, r.LeftChannels)

	// The fleet: client i joins room:c<i>.
	cs = f.connect(ctx, cfg.plan(srv.addr, cfg.ChurnClients), func(i int) []string { return []string{churnTopic + strconv.Itoa(i)} })
	r.Clients, r.ClientErrors = cs.Joined, cs.Errors
	if cs.Errors > 0 {
		r.Error = fmt.Sprintf("%d clients failed: %s", cs.Errors, cs.FirstError)
		return r
	}
	f.mu.Lock()
	conns := f.conns[len(f.conns)-r.Clients:]
	f.mu.Unlock()
	// storm runs step reps times on every client at once (each step awaits its replies), then awaits one
	// phx_close per step done (Pyre's); it returns the steps done, the clients' failures and the phx_close
	// frames received.
	storm := func(reps int, step func(c *benchConn, topic string) error) (done int64, st connectStats, closes int64) {
		var n atomic.Int64
		f.phxCloses.Store(0)
		start := time.Now()
		st = f.parallel(ctx, len(conns), len(conns), func(i int) error {
			c := conns[i] // in the order they joined, not by index
			for range reps {
				if err := step(c, c.topics[0]); err != nil {
					return err
				}
				n.Add(1)
			}
			return nil
		})
		st.Elapsed = time.Since(start)
		awaitCount(ctx, &f.phxCloses, n.Load(), time.Second, time.Now().Add(cfg.Quiet))
		return n.Load(), st, f.phxCloses.Load()
	}
	cpu0 = serverCPU(ctx, hc, base)
	r.Rejoins, cs, r.RejoinPhxCloses = storm(cfg.ChurnCycles, func(c *benchConn, topic string) error {
		c.ref++
		leave := `["` + strconv.Itoa(c.ref-1) + `","` + strconv.Itoa(c.ref) + `",` + strconv.Quote(topic) + `,"phx_leave",{}]`
		if err := c.request(ctx, []string{leave}, cfg.DialTimeout); err != nil {
			return fmt.Errorf("leave: %w", err)
		}
		if err := c.join(ctx, []string{topic}, cfg.DialTimeout); err != nil {
			return fmt.Errorf("rejoin: %w", err)
		}
		return nil
	})
	r.RejoinErrors, r.RejoinFirstErr, r.RejoinSeconds = cs.Errors, cs.FirstError, cs.Elapsed.Seconds()
	r.RejoinsPerSec = float64(r.Rejoins) / r.RejoinSeconds
	if r.Rejoins > 0 {
		r.RejoinCPUus = (serverCPU(ctx, hc, base) - cpu0) * 1e6 / float64(r.Rejoins)
	}
	cfg.logf("  %s: %d leave+rejoin cycles in %.1fs, %.0f/s, %d clients failed %s; %d phx_close",
		kind, r.Rejoins, r.RejoinSeconds, r.RejoinsPerSec, r.RejoinErrors, r.RejoinFirstErr, r.RejoinPhxCloses)

	r.DupJoins, cs, r.DupPhxCloses = storm(cfg.ChurnDups, func(c *benchConn, topic string) error {
		if err := c.join(ctx, []string{topic}, cfg.DialTimeout); err != nil {
			return fmt.Errorf("duplicate join: %w", err)
		}
		return nil
	})
	r.DupErrors, r.DupFirstErr, r.DupSeconds = cs.Errors, cs.FirstError, cs.Elapsed.Seconds()
	r.DupsPerSec = float64(r.DupJoins) / r.DupSeconds

	// Afterwards, one broadcast to every client's topic: each client must get it exactly once.
	r.AfterExpected = int64(r.Clients)
	f.arm(r.AfterExpected)
	u := fmt.Sprintf("%s/fanout?topic=%s&topics=%d&n=1&size=%d&seq=0", base, churnTopic, r.Clients, cfg.Size)
	if err := postJSON(ctx, hc, u, nil); err != nil {
		r.Error = "publish: " + err.Error()
		return r
	}
	f.wait(ctx, cfg.Quiet)
	sleepCtx(ctx, 200*time.Millisecond) // duplicates, if any, come with the rest
	r.AfterGot = f.deliveries.Load()
	r.OtherFrames, r.Disconnects, r.RepeatedPhxCloses = f.other.Load(), f.closedEarly.Load(), f.phxReclose.Load()
	cfg.logf("  %s: %d duplicate joins in %.1fs, %.0f/s, %d clients failed %s; %d phx_close (%d repeating an earlier one); then %d/%d deliveries; %d other frames, %d disconnects",
		kind, r.DupJoins, r.DupSeconds, r.DupsPerSec, r.DupErrors, r.DupFirstErr, r.DupPhxCloses, r.RepeatedPhxCloses, r.AfterGot, r.AfterExpected, r.OtherFrames, r.Disconnects)
	return r
}

// serverCPU is the server's CPU seconds so far (0 if unreadable).
func serverCPU(ctx context.Context, hc *http.Client, base string) float64 {
	var c cpuStats
	if err := getJSON(ctx, hc, base+"/cpu", &c); err != nil {
		return 0
	}
	return c.total()
}
