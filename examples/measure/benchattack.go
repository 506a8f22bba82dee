package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The attack scenario: a short soak of a Pyre server by hostile clients (issue 11), one attack after the
// other with a quiet gap, while a control client pushes echo at a steady rate and times every reply.
// Each attack is bounded in count, size and time, and every read, write and dial has a deadline, so the
// scenario ends even when the server misbehaves. It measures; it asserts nothing about the server (the
// regression tests elsewhere do): an attack that succeeds is a row of the report, not a failure.

// attackNames lists the attacks in the order they run (-attacks selects some of them).
var attackNames = []string{"frame-len", "join-params", "burst-close", "big-chat", "partial-frames", "big-frames", "fragment", "pipeline", "longpoll", "presence"}

// attackResult is one attack: one row of the attack table.
type attackResult struct {
	Name string `json:"name"`
	Load string `json:"load"` // what was sent (counts scaled by -attack-scale)

	PeakRSSMB float64 `json:"server_rss_peak_mb"` // during the attack (VmHWM reset at its start, and sampled VmRSS)
	// Live heap (HeapAlloc right after a forced GC) while the attackers were still connected, when the
	// attack has a hold phase (-1: not measured), and after they were all closed.
	HeapDuringMB  float64 `json:"live_heap_during_mb"`
	HeapAfterMB   float64 `json:"live_heap_after_mb"`
	SocketsAfter  int64   `json:"sockets_after"` // sockets the server still counts after (the control client's included)
	ChannelsAfter int64   `json:"channels_after"`

	Echo echoWindow `json:"control_echo"`

	Alive    string         `json:"server_alive"` // "yes", "crashed (…)", "unresponsive"
	Saw      map[string]int `json:"attacker_saw"` // attacker connections by outcome: close code, EOF, reset, open…
	Detail   string         `json:"detail,omitempty"`
	Seconds  float64        `json:"seconds"`
	Restarts int            `json:"server_restarted_before,omitempty"` // the server was dead at the start: a fresh one ran this attack
	Error    string         `json:"error,omitempty"`
}

// attackRun is the attack scenario for one kind.
type attackRun struct {
	Kind       string         `json:"kind"`
	Round      int            `json:"round"`
	Idle       string         `json:"server_idle_timeout"` // and long-poll window
	Baseline   echoWindow     `json:"control_echo_baseline"`
	Attacks    []attackResult `json:"attacks"`
	ServerPIDs []int          `json:"server_pids"`
	Error      string         `json:"error,omitempty"`
}

// echoWindow is the control client's push→reply latency over a span of time.
type echoWindow struct {
	Pushes int     `json:"pushes"` // sent in the window
	Lost   int     `json:"lost"`   // no reply within the timeout, or the connection died first, or not even sent
	P50MS  float64 `json:"p50_ms"` // of the answered pushes
	P99MS  float64 `json:"p99_ms"`
	MaxMS  float64 `json:"max_ms"`
}

// attackScaled is n scaled by -attack-scale, at least lo.
func (c *benchConfig) attackScaled(n, lo int) int { return max(lo, int(float64(n)*c.AttackScale+0.5)) }

func (c *benchConfig) validateAttack() error {
	if !slices.Contains(c.Scenarios, "attack") {
		return nil
	}
	if c.AttackScale <= 0 || c.AttackScale > 1 || c.AttackHold <= 0 || c.AttackIdle <= 0 || c.AttackGap < 0 || c.AttackWait <= 0 {
		return errors.New("attack scenario: need 0 < attack-scale ≤ 1, attack-hold, attack-idle and attack-wait > 0, attack-gap ≥ 0")
	}
	for _, a := range c.Attacks {
		if !slices.Contains(attackNames, a) {
			return fmt.Errorf("unknown attack %q (want %s)", a, strings.Join(attackNames, ", "))
		}
	}
	if lim := noFileLimit(); lim > 0 && uint64(c.attackScaled(5000, 2))+200 > lim {
		return fmt.Errorf("attack scenario: %d presence clients do not fit in the file descriptor limit %d", c.attackScaled(5000, 2), lim)
	}
	return nil
}

func (c *benchConfig) attackLoad() string {
	return fmt.Sprintf("attacks × %.2f, holds %s, idle timeout %s, gaps %s", c.AttackScale, c.AttackHold, c.AttackIdle, c.AttackGap)
}

// attackEnv is what every attack works with.
type attackEnv struct {
	cfg  *benchConfig
	ctx  context.Context
	kind string
	srv  *serverProc
	base string
	hc   *http.Client
	ctl  *echoControl
	pids *[]int
}

func (e *attackEnv) addr() string { return e.srv.addr }

// start (re)starts the server with the scenario's flags and points the control client at it.
func (e *attackEnv) start() error {
	srv, err := startServer(e.ctx, e.cfg.exe, e.cfg.env, e.cfg.log, e.kind, false,
		"-idle-timeout", e.cfg.AttackIdle.String(), "-longpoll-window", e.cfg.AttackIdle.String())
	if err != nil {
		return err
	}
	e.srv, e.base = srv, "http://"+srv.addr
	*e.pids = append(*e.pids, srv.cmd.Process.Pid)
	e.ctl.setAddr(srv.addr)
	return nil
}

// mem reads the server's /mem (after a forced GC), with its own deadline.
func (e *attackEnv) mem() (memStats, error) {
	var m memStats
	ctx, cancel := context.WithTimeout(e.ctx, 15*time.Second)
	defer cancel()
	err := getJSON(ctx, e.hc, e.base+"/mem", &m)
	return m, err
}

// alive reports "yes" when the server process runs and answers /health within 5 s.
func (e *attackEnv) alive() string {
	if gone, how := e.srv.exitedYet(); gone {
		return "crashed (" + how + ")"
	}
	ctx, cancel := context.WithTimeout(e.ctx, 5*time.Second)
	defer cancel()
	if _, err := call(ctx, e.hc, http.MethodGet, e.base+"/health"); err != nil {
		if gone, how := e.srv.exitedYet(); gone {
			return "crashed (" + how + ")"
		}
		return "unresponsive"
	}
	return "yes"
}

// rssSampler keeps the largest VmRSS of pid seen every 20 ms, next to VmHWM reset at its start.
type rssSampler struct {
	pid   int
	reset bool
	peak  atomic.Int64
	stop  chan struct{}
	done  chan struct{}
}

func startRSSSampler(pid int) *rssSampler {
	s := &rssSampler{pid: pid, stop: make(chan struct{}), done: make(chan struct{})}
	// "5" resets the peak RSS (VmHWM) to the current RSS (Linux ≥ 4.0).
	s.reset = os.WriteFile("/proc/"+strconv.Itoa(pid)+"/clear_refs", []byte("5"), 0) == nil
	go func() {
		defer close(s.done)
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			atomicMax(&s.peak, int64(procStatusBytes("/proc/"+strconv.Itoa(pid)+"/status", "VmRSS")))
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

// end stops sampling and returns the peak in MB.
func (s *rssSampler) end() float64 {
	if s.reset {
		atomicMax(&s.peak, int64(procStatusBytes("/proc/"+strconv.Itoa(s.pid)+"/status", "VmHWM")))
	}
	close(s.stop)
	<-s.done
	return mb(uint64(s.peak.Load()))
}

// benchAttack: a fresh Pyre server with a short idle timeout (and long-poll window) of -attack-idle, a
// control client pushing echo, a baseline window, then each attack in turn, a quiet gap apart. A server
// found dead before an attack is restarted (the row says so).
func benchAttack(ctx context.Context, cfg *benchConfig, kind string, round int) (run attackRun) {
	run = attackRun{Kind: kind, Round: round, Idle: cfg.AttackIdle.String()}
	e := &attackEnv{cfg: cfg, ctx: ctx, kind: kind, hc: &http.Client{Timeout: 20 * time.Second}, pids: &run.ServerPIDs}
	e.ctl = newEchoControl()
	if err := e.start(); err != nil {
		run.Error = "start server: " + err.Error()
		return run
	}
	ctlDone := make(chan struct{})
	ctlCtx, ctlStop := context.WithCancel(ctx)
	go func() { defer close(ctlDone); e.ctl.run(ctlCtx) }()
	defer func() {
		ctlStop()
		<-ctlDone
		e.srv.stop()
	}()
	if !waitUntil(ctx, time.Now().Add(10*time.Second), e.ctl.up) {
		run.Error = "control client did not join within 10 s"
		return run
	}
	from := time.Now()
	sleepCtx(ctx, cfg.AttackHold)
	run.Baseline = e.ctl.window(from, time.Now())
	cfg.logf("  %s: control echo baseline: %d pushes, p50 %.2f ms p99 %.2f ms, %d lost", kind, run.Baseline.Pushes, run.Baseline.P50MS, run.Baseline.P99MS, run.Baseline.Lost)
	for _, name := range attackNames {
		if ctx.Err() != nil {
			break
		}
		if len(cfg.Attacks) > 0 && !slices.Contains(cfg.Attacks, name) {
			continue
		}
		r := attackResult{Name: name, HeapDuringMB: -1, Saw: map[string]int{}}
		if gone, _ := e.srv.exitedYet(); gone || e.alive() != "yes" {
			e.srv.stop()
			if err := e.start(); err != nil {
				r.Error = "restart server: " + err.Error()
				run.Attacks = append(run.Attacks, r)
				break
			}
			r.Restarts = 1
			waitUntil(ctx, time.Now().Add(10*time.Second), e.ctl.up)
		}
		rss := startRSSSampler(e.srv.cmd.Process.Pid)
		start := time.Now()
		attackFuncs[name](e, &r)
		r.Seconds = time.Since(start).Seconds()
		// The window lasts at least minAttackWindow, so that the control client's pushes right after a
		// short burst count for it.
		sleepCtx(ctx, time.Until(start.Add(minAttackWindow)))
		r.Echo = e.ctl.window(start, time.Now())
		r.PeakRSSMB = rss.end()
		r.Alive = e.alive()
		if r.Alive == "yes" {
			// Every attacker is closed by now: wait (10 s at most) for the server to let go of their
			// sockets and channels (the control client keeps one of each).
			waitUntil(ctx, time.Now().Add(10*time.Second), func() bool {
				m, err := e.mem()
				return err == nil && m.Conns <= 1 && m.Channels <= 1
			})
			if m, err := e.mem(); err == nil {
				r.HeapAfterMB, r.SocketsAfter, r.ChannelsAfter = mb(m.HeapAlloc), m.Conns, m.Channels
			} else if r.Error == "" {
				r.Error = "read /mem: " + err.Error()
			}
		}
		cfg.logf("  %s %s (%s): peak RSS %.0f MB, live heap during %.1f after %.1f MB (%d sockets, %d channels), echo p99 %.2f ms (%d/%d lost), alive %s, attackers saw %v; %s%s",
			kind, r.Name, r.Load, r.PeakRSSMB, r.HeapDuringMB, r.HeapAfterMB, r.SocketsAfter, r.ChannelsAfter, r.Echo.P99MS, r.Echo.Lost, r.Echo.Pushes, r.Alive, r.Saw, r.Detail, errSuffix(r.Error))
		run.Attacks = append(run.Attacks, r)
		sleepCtx(ctx, cfg.AttackGap)
	}
	return run
}

// minAttackWindow is the shortest window of control pushes an attack is measured over.
const minAttackWindow = 500 * time.Millisecond

var attackFuncs = map[string]func(e *attackEnv, r *attackResult){
	"frame-len":      attackFrameLen,
	"join-params":    attackJoinParams,
	"burst-close":    attackBurstClose,
	"big-chat":       attackBigChat,
	"partial-frames": attackPartialFrames,
	"big-frames":     attackBigFrames,
	"fragment":       attackFragment,
	"pipeline":       attackPipeline,
	"longpoll":       attackLongPoll,
	"presence":       attackPresence,
}

// waitUntil polls cond every 20 ms until it holds (true), deadline passes or ctx ends (false).
func waitUntil(ctx context.Context, deadline time.Time, cond func() bool) bool {
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// holdFor sleeps d, sending every interval on each connection what beat writes (heartbeats, pings).
func holdFor(ctx context.Context, d, interval time.Duration, conns []*rawConn, beat func(c *rawConn, i int) error) {
	end := time.Now().Add(d)
	for i := 0; time.Now().Before(end) && ctx.Err() == nil; i++ {
		sleepCtx(ctx, min(interval, time.Until(end)))
		if beat != nil && time.Now().Before(end) {
			beatAll(ctx, conns, i, beat)
		}
	}
}

// beatAll calls beat on every open connection, 64 at a time (one slow write must not delay the others).
func beatAll(ctx context.Context, conns []*rawConn, i int, beat func(c *rawConn, i int) error) {
	(&benchFleet{}).parallel(ctx, len(conns), 64, func(k int) error {
		if c := conns[k]; !c.ended() {
			return beat(c, i)
		}
		return nil
	})
}

// closeAndCount records every connection's outcome (its reader's, or "open") into saw, then closes them
// all and waits for their readers.
func closeAndCount(conns []*rawConn, saw map[string]int) {
	for _, c := range conns {
		saw[c.outcome()]++
	}
	for _, c := range conns {
		c.close()
	}
}

// heartbeat sends a Phoenix heartbeat; within 1 s, so that one connection the server does not read
// cannot hold up the heartbeats of the others.
func heartbeat(c *rawConn, i int) error {
	p := []byte(`[null,"hb` + strconv.Itoa(i) + `","phoenix","heartbeat",{}]`)
	return c.writeWithin(time.Second, frameHeader(0x1, true, uint64(len(p))), p)
}

// dialMany opens n raw WebSocket connections, concurrency at a time, paced at the bench's dial rate.
func (e *attackEnv) dialMany(n int, path string) (conns []*rawConn, failed int, firstErr string) {
	var mu sync.Mutex
	st := (&benchFleet{}).parallel(e.ctx, n, e.cfg.DialConc, func(i int) error {
		c, err := dialRaw(e.ctx, e.addr(), path, i, e.cfg.DialTimeout)
		if err != nil {
			return err
		}
		mu.Lock()
		conns = append(conns, c)
		mu.Unlock()
		return nil
	})
	return conns, st.Errors, st.FirstError
}

func dialNote(failed int, firstErr string) string {
	if failed == 0 {
		return ""
	}
	return fmt.Sprintf("; %d dials failed (%s)", failed, firstErr)
}

// 1. A frame header claiming 2^64−1 bytes after a normal upgrade.
func attackFrameLen(e *attackEnv, r *attackResult) {
	r.Load = "1 conn: 0x81 0xFF + length 0xFFFFFFFFFFFFFFFF + mask (14 bytes)"
	c, err := dialRaw(e.ctx, e.addr(), "/socket/websocket?vsn=2.0.0", 0, e.cfg.DialTimeout)
	if err != nil {
		r.Error = "dial: " + err.Error()
		return
	}
	hdr := []byte{0x81, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x12, 0x34, 0x56, 0x78}
	sent := time.Now()
	if err := c.write(hdr); err != nil {
		r.Detail = "write: " + err.Error()
	}
	// The server closes the connection, or dies, or waits for 2^64 bytes: hold at most -attack-hold.
	waitUntil(e.ctx, time.Now().Add(e.cfg.AttackHold), func() bool { gone, _ := e.srv.exitedYet(); return gone || c.ended() })
	// The process may take a moment more to be reaped after closing its sockets.
	waitUntil(e.ctx, time.Now().Add(time.Second), func() bool { gone, _ := e.srv.exitedYet(); return gone })
	if gone, _ := e.srv.exitedYet(); gone {
		r.Detail = fmt.Sprintf("the server process ended within %s of the 14 bytes", time.Since(sent).Round(time.Millisecond))
	} else if c.ended() {
		r.Detail = "the server closed the connection"
	} else {
		r.Detail = fmt.Sprintf("connection still open after %s", e.cfg.AttackHold)
	}
	closeAndCount([]*rawConn{c}, r.Saw)
}

// 2. Join params retained: conns × channels × (2 MB join params + a 2 MB push), then heartbeats only.
func attackJoinParams(e *attackEnv, r *attackResult) {
	n, chans, size := e.cfg.attackScaled(2, 1), 20, 2<<20
	r.Load = fmt.Sprintf("%d conns × %d channels × (2 MB join params + 2 MB push), then heartbeats every %s for %s", n, chans, (e.cfg.AttackIdle / 3).Round(time.Millisecond), e.cfg.AttackHold)
	conns, failed, first := e.dialMany(n, "/socket/websocket?vsn=2.0.0")
	defer closeAndCount(conns, r.Saw)
	big := bytes.Repeat([]byte{'x'}, size)
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range chans {
				t := strconv.Quote("room:jp" + strconv.Itoa(j))
				ref := strconv.Itoa(j + 1)
				if c.writeText([]byte(`["`+ref+`","`+ref+`",`+t+`,"phx_join",{"p":"`), big, []byte(`"}]`)) != nil ||
					c.writeText([]byte(`["`+ref+`","p`+ref+`",`+t+`,"big",{"body":"`), big, []byte(`"}]`)) != nil {
					return
				}
			}
		}()
	}
	wg.Wait()
	want := int64(2 * chans)
	waitUntil(e.ctx, time.Now().Add(e.cfg.AttackHold+20*time.Second), func() bool { return allDone(conns, func(c *rawConn) bool { return c.replies.Load() >= want }) })
	ok := sumConns(conns, func(c *rawConn) int64 { return c.okReplies.Load() })
	holdFor(e.ctx, e.cfg.AttackHold, e.cfg.AttackIdle/3, conns, heartbeat)
	if m, err := e.mem(); err == nil {
		r.HeapDuringMB = mb(m.HeapAlloc)
	}
	r.Detail = fmt.Sprintf("%d/%d joins+pushes answered ok%s", ok, int64(len(conns))*want, dialNote(failed, first))
}

// 3. Burst and close: conns × one 1 MB frame at once, then every connection closed.
func attackBurstClose(e *attackEnv, r *attackResult) {
	n, size := e.cfg.attackScaled(200, 2), 1<<20
	r.Load = fmt.Sprintf("%d conns × one 1 MB push at once, all closed", n)
	conns, failed, first := e.dialMany(n, "/socket/websocket?vsn=2.0.0")
	big := bytes.Repeat([]byte{'x'}, size)
	var wg sync.WaitGroup
	var werr atomic.Int64
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if c.writeText([]byte(`["1","1","room:burst","big",{"body":"`), big, []byte(`"}]`)) != nil {
				werr.Add(1)
			}
		}()
	}
	wg.Wait()
	closeAndCount(conns, r.Saw)
	r.Detail = fmt.Sprintf("%d writes failed%s; live heap after = with 0 attacker sockets", werr.Load(), dialNote(failed, first))
}

// 4. One 4.3 MB chat message broadcast into a room of members (the examples' chat channel).
func attackBigChat(e *attackEnv, r *attackResult) {
	n, size := e.cfg.attackScaled(20, 2), 4_300_000
	r.Load = fmt.Sprintf("1 chat message of 4.3 MB into a room of %d members", n)
	conns, failed, first := e.dialMany(n, "/socket/websocket?vsn=2.0.0")
	defer closeAndCount(conns, r.Saw)
	for _, c := range conns {
		_ = c.writeText([]byte(`["1","1","chat:big","phx_join",{}]`))
	}
	waitUntil(e.ctx, time.Now().Add(e.cfg.DialTimeout), func() bool { return allDone(conns, func(c *rawConn) bool { return c.replies.Load() >= 1 }) })
	if len(conns) > 0 {
		_ = conns[0].writeText([]byte(`["1","2","chat:big","new_msg",{"body":"`), bytes.Repeat([]byte{'x'}, size), []byte(`"}]`))
	}
	waitUntil(e.ctx, time.Now().Add(e.cfg.AttackHold+10*time.Second), func() bool {
		return allDone(conns, func(c *rawConn) bool { return c.big.Load() >= 1 })
	})
	got := sumConns(conns, func(c *rawConn) int64 { return min(c.big.Load(), 1) })
	cut := sumConns(conns, func(c *rawConn) int64 {
		if c.outcome() == "close 1013" {
			return 1
		}
		return 0
	})
	r.Detail = fmt.Sprintf("members that got it: %d/%d, cut with 1013: %d/%d%s", got, len(conns), cut, len(conns), dialNote(failed, first))
}

// 5a. Connections each sending a max-size frame but its last byte, held (the live heap is read halfway
// through the idle timeout, which may end them before the hold does).
func attackPartialFrames(e *attackEnv, r *attackResult) {
	n, size := e.cfg.attackScaled(100, 1), 10<<20
	early := min(e.cfg.AttackHold, e.cfg.AttackIdle/2)
	r.Load = fmt.Sprintf("%d conns × a 10 MiB frame minus its last byte, held %s (live heap read after %s)", n, e.cfg.AttackHold, early)
	conns, failed, first := e.dialMany(n, "/socket/websocket?vsn=2.0.0")
	defer closeAndCount(conns, r.Saw)
	big := bytes.Repeat([]byte{'x'}, size-1)
	var wg sync.WaitGroup
	var werr atomic.Int64
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if c.write(frameHeader(0x1, true, uint64(size)), big) != nil {
				werr.Add(1)
			}
		}()
	}
	wg.Wait()
	t0 := time.Now()
	sleepCtx(e.ctx, early)
	if m, err := e.mem(); err == nil {
		r.HeapDuringMB = mb(m.HeapAlloc)
	}
	sleepCtx(e.ctx, e.cfg.AttackHold-time.Since(t0))
	r.Detail = fmt.Sprintf("%d writes did not complete%s", werr.Load(), dialNote(failed, first))
}

// 5b. Connections each sending 3 frames of 5 MB, all at once.
func attackBigFrames(e *attackEnv, r *attackResult) {
	n, frames, size := e.cfg.attackScaled(200, 2), 3, 5<<20
	r.Load = fmt.Sprintf("%d conns × %d pushes of 5 MB, concurrently", n, frames)
	conns, failed, first := e.dialMany(n, "/socket/websocket?vsn=2.0.0")
	defer closeAndCount(conns, r.Saw)
	big := bytes.Repeat([]byte{'x'}, size)
	var wg sync.WaitGroup
	var werr atomic.Int64
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range frames {
				if c.writeText([]byte(`["1","`+strconv.Itoa(k+1)+`","room:bigf","big",{"body":"`), big, []byte(`"}]`)) != nil {
					werr.Add(1)
					return
				}
			}
		}()
	}
	wg.Wait()
	waitUntil(e.ctx, time.Now().Add(e.cfg.AttackHold+10*time.Second), func() bool {
		return allDone(conns, func(c *rawConn) bool { return c.replies.Load() >= int64(frames) })
	})
	r.Detail = fmt.Sprintf("%d/%d pushes answered, %d connections' writes failed%s",
		sumConns(conns, func(c *rawConn) int64 { return c.replies.Load() }), len(conns)*frames, werr.Load(), dialNote(failed, first))
}

// 6. A 9.9 MB first fragment, then only pings: still open after 2 idle timeouts?
func attackFragment(e *attackEnv, r *attackResult) {
	n, size := e.cfg.attackScaled(20, 1), 9_900_000
	hold := 2 * e.cfg.AttackIdle
	r.Load = fmt.Sprintf("%d conns × a 9.9 MB first fragment, then pings every %s for %s (2 idle timeouts)", n, (e.cfg.AttackIdle / 3).Round(time.Millisecond), hold)
	conns, failed, first := e.dialMany(n, "/socket/websocket?vsn=2.0.0")
	defer closeAndCount(conns, r.Saw)
	big := bytes.Repeat([]byte{'x'}, size)
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = c.write(frameHeader(0x1, false, uint64(size)), big)
		}()
	}
	wg.Wait()
	holdFor(e.ctx, hold, e.cfg.AttackIdle/3, conns, func(c *rawConn, _ int) error { return c.writeWithin(time.Second, frameHeader(0x9, true, 0)) })
	if m, err := e.mem(); err == nil {
		r.HeapDuringMB = mb(m.HeapAlloc)
	}
	open := sumConns(conns, func(c *rawConn) int64 {
		if c.ended() {
			return 0
		}
		return 1
	})
	r.Detail = fmt.Sprintf("still open after %s: %d/%d%s", hold, open, len(conns), dialNote(failed, first))
}

// 7. One client pipelining pushes in one write while reading at full speed.
func attackPipeline(e *attackEnv, r *attackResult) {
	n := e.cfg.attackScaled(20000, 50)
	r.Load = fmt.Sprintf("1 conn pipelining %d echo pushes in one write, reading at full speed", n)
	conns, failed, first := e.dialMany(1, "/socket/websocket?vsn=2.0.0")
	defer closeAndCount(conns, r.Saw)
	if len(conns) == 0 {
		r.Error = "dial: " + first
		return
	}
	c := conns[0]
	_ = c.writeText([]byte(`["1","1","room:pipe","phx_join",{}]`))
	if !waitUntil(e.ctx, time.Now().Add(e.cfg.DialTimeout), func() bool { return c.replies.Load() >= 1 || c.ended() }) || c.ended() {
		r.Detail = "join not answered"
		return
	}
	var buf []byte
	for i := range n {
		buf = append(buf, frameHeader(0x1, true, 0)...) // length patched below
		start := len(buf)
		buf = append(buf, `["1","`...)
		buf = strconv.AppendInt(buf, int64(i+2), 10)
		buf = append(buf, `","room:pipe","echo",{"body":"0123456789abcdef"}]`...)
		buf = patchLen(buf, start)
	}
	werr := c.write(buf)
	// Done when every reply came, the connection ended, or nothing came for 5 s.
	last, lastChange := int64(-1), time.Now()
	waitUntil(e.ctx, time.Now().Add(60*time.Second), func() bool {
		v := c.replies.Load()
		if v != last {
			last, lastChange = v, time.Now()
		}
		return v >= int64(n)+1 || c.ended() || time.Since(lastChange) > 5*time.Second
	})
	r.Detail = fmt.Sprintf("replies %d/%d%s", c.replies.Load()-1, n, dialNote(failed, first))
	if werr != nil {
		r.Detail += "; write: " + werr.Error()
	}
}

// 8. Long-poll POSTs whose bodies never finish.
func attackLongPoll(e *attackEnv, r *attackResult) {
	n, hold := e.cfg.attackScaled(20, 1), 2*e.cfg.AttackIdle
	r.Load = fmt.Sprintf("%d long-poll POSTs declaring 1 MB, sending 100 B, held %s (2 long-poll windows)", n, hold)
	var conns []*rawConn
	var mu sync.Mutex
	st := (&benchFleet{}).parallel(e.ctx, n, e.cfg.DialConc, func(i int) error {
		// A session first: GET without a token answers 410 with one.
		var sess struct {
			Status int    `json:"status"`
			Token  string `json:"token"`
		}
		ctx, cancel := context.WithTimeout(e.ctx, e.cfg.DialTimeout)
		defer cancel()
		if err := getJSON(ctx, e.hc, e.base+"/socket/longpoll?vsn=2.0.0", &sess); err != nil {
			return err
		}
		if sess.Token == "" {
			return fmt.Errorf("no token (status %d)", sess.Status)
		}
		c, err := dialTCP(e.ctx, e.addr(), i, e.cfg.DialTimeout)
		if err != nil {
			return err
		}
		req := "POST /socket/longpoll?vsn=2.0.0&token=" + sess.Token + " HTTP/1.1\r\nHost: " + e.addr() +
			"\r\nContent-Type: application/x-ndjson\r\nContent-Length: 1000000\r\n\r\n" + `["1","1","room:lp","phx_join",{"p":"` + strings.Repeat("x", 60) + `"}`
		if err := c.write([]byte(req)); err != nil {
			_ = c.nc.Close() // no reader yet
			return err
		}
		c.readHTTP()
		mu.Lock()
		conns = append(conns, c)
		mu.Unlock()
		return nil
	})
	defer closeAndCount(conns, r.Saw)
	holdFor(e.ctx, hold, hold, conns, nil)
	if m, err := e.mem(); err == nil {
		r.HeapDuringMB = mb(m.HeapAlloc)
	}
	open := sumConns(conns, func(c *rawConn) int64 {
		if c.ended() {
			return 0
		}
		return 1
	})
	r.Detail = fmt.Sprintf("still open after %s: %d/%d%s", hold, open, len(conns), dialNote(st.Errors, st.FirstError))
}

// 9. A presence storm: clients joining one presence topic at the bench's dial rate, each heartbeating
// (the idle timeout is short), waiting for its presence_state.
func attackPresence(e *attackEnv, r *attackResult) {
	n := e.cfg.attackScaled(5000, 2)
	r.Load = fmt.Sprintf("%d clients joining presence:storm (each its own key) at %d/s, heartbeating, waiting %s after the last join for presence_state", n, e.cfg.DialRate, e.cfg.AttackWait)
	var conns []*rawConn
	var mu sync.Mutex
	snapshot := func() []*rawConn {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(conns)
	}
	beatCtx, stopBeat := context.WithCancel(e.ctx)
	beaten := make(chan struct{})
	go func() {
		defer close(beaten)
		for i := 0; beatCtx.Err() == nil; i++ {
			sleepCtx(beatCtx, e.cfg.AttackIdle/3)
			beatAll(beatCtx, snapshot(), i, heartbeat)
		}
	}()
	start := time.Now()
	interval := time.Second / time.Duration(max(e.cfg.DialRate, 1))
	st := (&benchFleet{}).parallel(e.ctx, n, e.cfg.DialConc, func(i int) error {
		if wait := time.Until(start.Add(time.Duration(i) * interval)); wait > time.Millisecond {
			sleepCtx(e.ctx, wait)
		}
		c, err := dialRaw(e.ctx, e.addr(), "/socket/websocket?vsn=2.0.0", i, e.cfg.DialTimeout)
		if err != nil {
			return err
		}
		mu.Lock()
		conns = append(conns, c)
		mu.Unlock()
		return c.writeText([]byte(`["1","1","presence:storm","phx_join",{"user":"u` + strconv.Itoa(i) + `"}]`))
	})
	all := waitUntil(e.ctx, time.Now().Add(e.cfg.AttackWait), func() bool {
		return allDone(conns, func(c *rawConn) bool { return c.states.Load() >= 1 })
	})
	took := time.Since(start)
	if m, err := e.mem(); err == nil {
		r.HeapDuringMB = mb(m.HeapAlloc)
	}
	stopBeat()
	<-beaten
	defer closeAndCount(conns, r.Saw)
	count := func(f func(c *rawConn) bool) int64 {
		return sumConns(conns, func(c *rawConn) int64 {
			if f(c) {
				return 1
			}
			return 0
		})
	}
	joined := count(func(c *rawConn) bool { return c.okReplies.Load() >= 1 })
	without := count(func(c *rawConn) bool { return c.states.Load() == 0 })
	if all && without == 0 {
		r.Detail = fmt.Sprintf("joins ok %d/%d, every joiner had presence_state %.1f s after the first dial", joined, len(conns), took.Seconds())
	} else {
		r.Detail = fmt.Sprintf("joins ok %d/%d, joiners without presence_state %s after the last join: %d", joined, len(conns), e.cfg.AttackWait, without)
	}
	r.Detail += dialNote(st.Errors, st.FirstError)
}

func allDone(conns []*rawConn, ok func(c *rawConn) bool) bool {
	for _, c := range conns {
		if !c.ended() && !ok(c) {
			return false
		}
	}
	return true
}

func sumConns(conns []*rawConn, f func(c *rawConn) int64) int64 {
	var n int64
	for _, c := range conns {
		n += f(c)
	}
	return n
}
