package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lxzan/gws"
)

// The bench clients: lean gws connections (one read goroutine each) that join any number of topics and
// time every broadcast against the publisher's stamp. Counters are atomics shared by the whole fleet; a
// phase is "armed" with the number of deliveries it awaits, and signals when the last one arrives.

var (
	nullPrefix = []byte(`[null,null,"`) // every broadcast frame of both servers
	phxReply   = []byte(`"phx_reply"`)
	phxClose   = []byte(`"phx_close"`)
	statusOK   = []byte(`"status":"ok"`)
	tsKey      = []byte(`"ts":`)
	seqKey     = []byte(`"seq":`)
)

// dialPlan says how to open the connections.
type dialPlan struct {
	url         string
	conns       int
	rate        int // connections started per second
	concurrency int // connections being opened (dial + handshake + joins) at once
	srcIPs      int // source addresses 127.0.0.2 … 127.0.0.(1+srcIPs), round-robin
	timeout     time.Duration
}

// connectStats reports a connect or join phase.
type connectStats struct {
	Joined     int
	Errors     int
	FirstError string
	Elapsed    time.Duration
}

type benchFleet struct {
	deliveries atomic.Int64
	expected   atomic.Int64 // deliveries the armed phase awaits (0: not armed)
	firstNS    atomic.Int64 // unix ns of the phase's first delivery
	lastNS     atomic.Int64 // unix ns of the phase's latest delivery
	maxLatNS   atomic.Int64 // largest arrival − publisher stamp in the phase
	lat        *latHist     // every arrival − stamp, when set (slow-consumer scenario)
	done       chan struct{}

	outOfOrder  atomic.Int64 // a topic's seq not above the previous one on that connection
	other       atomic.Int64 // frames neither a broadcast nor a reply nor phx_close (phx_error…)
	phxCloses   atomic.Int64 // phx_close frames (a channel ended by a leave or a duplicate join)
	phxReclose  atomic.Int64 // phx_close frames for a join ref that already had one on that connection
	closing     atomic.Bool
	closedEarly atomic.Int64
	errMu       sync.Mutex
	closeErrs   map[string]int

	wg    sync.WaitGroup // one per read loop
	mu    sync.Mutex
	conns []*benchConn
}

func newBenchFleet() *benchFleet {
	return &benchFleet{done: make(chan struct{}, 1), closeErrs: make(map[string]int)}
}

// arm resets the phase counters and awaits n deliveries.
func (f *benchFleet) arm(n int64) {
	select {
	case <-f.done:
	default:
	}
	f.deliveries.Store(0)
	f.firstNS.Store(0)
	f.lastNS.Store(0)
	f.maxLatNS.Store(0)
	f.expected.Store(n)
}

// wait returns when the armed phase has all its deliveries, none arrived for quiet, or ctx ended.
func (f *benchFleet) wait(ctx context.Context, quiet time.Duration) (complete bool) {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	last, lastChange := int64(-1), time.Now()
	for {
		if f.deliveries.Load() >= f.expected.Load() {
			return true
		}
		select {
		case <-f.done:
			return true
		case <-ctx.Done():
			return false
		case now := <-tick.C:
			if n := f.deliveries.Load(); n != last {
				last, lastChange = n, now
			} else if now.Sub(lastChange) >= quiet {
				return false
			}
		}
	}
}

func atomicMax(a *atomic.Int64, v int64) {
	for {
		old := a.Load()
		if v <= old || a.CompareAndSwap(old, v) {
			return
		}
	}
}

type benchConn struct {
	f         *benchFleet
	conn      *gws.Conn
	replies   chan error       // one per reply (join, leave)
	lastSeq   map[string]int64 // by topic; read loop only
	topics    []string         // joined when dialed
	closed    map[string]bool  // join refs that got a phx_close; read loop only
	abandoned atomic.Bool
	ref       int // join refs sent so far; joiner only
}

func (*benchConn) OnOpen(*gws.Conn)         {}
func (*benchConn) OnPing(*gws.Conn, []byte) {}
func (*benchConn) OnPong(*gws.Conn, []byte) {}

func (c *benchConn) OnClose(_ *gws.Conn, err error) {
	f := c.f
	if f.closing.Load() || c.abandoned.Load() {
		return
	}
	f.closedEarly.Add(1)
	text := "<nil>"
	if err != nil {
		text = err.Error()
	}
	f.errMu.Lock()
	f.closeErrs[text]++
	f.errMu.Unlock()
	select {
	case c.replies <- fmt.Errorf("closed: %s", text):
	default:
	}
}

func (c *benchConn) OnMessage(_ *gws.Conn, msg *gws.Message) {
	defer msg.Close()
	b := msg.Bytes()
	f := c.f
	if bytes.HasPrefix(b, nullPrefix) {
		now := time.Now().UnixNano()
		if ts := parseIntAfter(b, tsKey); ts > 0 {
			atomicMax(&f.maxLatNS, now-ts)
			if f.lat != nil {
				f.lat.record(now - ts)
			}
		}
		if f.firstNS.Load() == 0 {
			f.firstNS.CompareAndSwap(0, now)
		}
		atomicMax(&f.lastNS, now)
		rest := b[len(nullPrefix):]
		if end := bytes.IndexByte(rest, '"'); end > 0 {
			seq := parseIntAfter(b, seqKey)
			if prev, ok := c.lastSeq[string(rest[:end])]; ok && seq <= prev {
				f.outOfOrder.Add(1)
			}
			c.lastSeq[string(rest[:end])] = seq
		}
		if n := f.deliveries.Add(1); n == f.expected.Load() {
			select {
			case f.done <- struct{}{}:
			default:
			}
		}
		return
	}
	if bytes.Contains(b, phxReply) {
		var err error
		if !bytes.Contains(b, statusOK) {
			err = fmt.Errorf("join refused: %.200s", b)
		}
		select {
		case c.replies <- err:
		default:
		}
		return
	}
	if bytes.Contains(b, phxClose) {
		f.phxCloses.Add(1)
		// ["<join_ref>",…: a second phx_close for the same join ref is counted apart.
		if end := bytes.IndexByte(b[min(2, len(b)):], '"'); bytes.HasPrefix(b, []byte(`["`)) && end >= 0 {
			ref := string(b[2 : 2+end])
			if c.closed == nil {
				c.closed = make(map[string]bool)
			}
			if c.closed[ref] {
				f.phxReclose.Add(1)
			}
			c.closed[ref] = true
		}
		return
	}
	f.other.Add(1)
}

// parseIntAfter reads the integer after the last key in b (-1 if none).
func parseIntAfter(b, key []byte) int64 {
	i := bytes.LastIndex(b, key)
	if i < 0 {
		return -1
	}
	var n int64
	digits := 0
	for _, ch := range b[i+len(key):] {
		if ch < '0' || ch > '9' {
			break
		}
		n = n*10 + int64(ch-'0')
		digits++
	}
	if digits == 0 {
		return -1
	}
	return n
}

// join sends one phx_join per topic (pipelined) and waits for every reply. Each join's ref is its join ref.
func (c *benchConn) join(ctx context.Context, topics []string, timeout time.Duration) error {
	frames := make([]string, len(topics))
	for i, t := range topics {
		c.ref++
		r := strconv.Itoa(c.ref)
		frames[i] = `["` + r + `","` + r + `",` + strconv.Quote(t) + `,"phx_join",{}]`
	}
	return c.request(ctx, frames, timeout)
}

// request sends frames (pipelined) and waits for one ok reply to each.
func (c *benchConn) request(ctx context.Context, frames []string, timeout time.Duration) error {
	for _, frame := range frames {
		if err := c.conn.WriteString(frame); err != nil {
			return fmt.Errorf("send: %w", err)
		}
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	for range frames {
		select {
		case err := <-c.replies:
			if err != nil {
				return err
			}
		case <-t.C:
			return errors.New("no reply within " + timeout.String())
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// dial opens connection i and joins topics.
func (f *benchFleet) dial(ctx context.Context, plan dialPlan, i int, topics []string) (*benchConn, error) {
	src := net.IPv4(127, 0, 0, byte(2+i%max(plan.srcIPs, 1)))
	dialer := &net.Dialer{Timeout: plan.timeout, LocalAddr: &net.TCPAddr{IP: src}}
	c := &benchConn{f: f, replies: make(chan error, 64), lastSeq: make(map[string]int64, len(topics)), topics: topics}
	conn, _, err := gws.NewClient(c, &gws.ClientOption{
		Addr:             plan.url,
		ReadBufferSize:   1 << 10,
		HandshakeTimeout: plan.timeout,
		NewDialer:        func() (gws.Dialer, error) { return dialer, nil },
		NewSession:       func() gws.SessionStorage { return &gwsSession{} }, // stores nothing, unlike gws's default map
	})
	if err != nil {
		return nil, err
	}
	c.conn = conn
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		conn.ReadLoop()
	}()
	if err := c.join(ctx, topics, plan.timeout); err != nil {
		c.abandoned.Store(true)
		_ = conn.NetConn().Close()
		return nil, err
	}
	f.mu.Lock()
	f.conns = append(f.conns, c)
	f.mu.Unlock()
	return c, nil
}

// connect opens plan.conns connections (paced, plan.concurrency at a time); connection i joins
// topicsFor(i). Failed connections are counted and closed.
func (f *benchFleet) connect(ctx context.Context, plan dialPlan, topicsFor func(i int) []string) connectStats {
	start := time.Now()
	interval := time.Second / time.Duration(max(plan.rate, 1))
	st := f.parallel(ctx, plan.conns, plan.concurrency, func(i int) error {
		if wait := time.Until(start.Add(time.Duration(i) * interval)); wait > time.Millisecond {
			select {
			case <-time.After(wait):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		_, err := f.dial(ctx, plan, i, topicsFor(i))
		return err
	})
	st.Elapsed = time.Since(start)
	return st
}

// joinMore makes every connection join topicsFor(i) too.
func (f *benchFleet) joinMore(ctx context.Context, concurrency int, timeout time.Duration, topicsFor func(i int) []string) connectStats {
	f.mu.Lock()
	conns := f.conns
	f.mu.Unlock()
	start := time.Now()
	st := f.parallel(ctx, len(conns), concurrency, func(i int) error {
		return conns[i].join(ctx, topicsFor(i), timeout)
	})
	st.Elapsed = time.Since(start)
	return st
}

// parallel runs fn(0…n-1) on concurrency workers and counts successes and failures.
func (f *benchFleet) parallel(ctx context.Context, n, concurrency int, fn func(i int) error) connectStats {
	idx := make(chan int)
	var ok, failed atomic.Int64
	var errOnce sync.Once
	var firstErr string
	var workers sync.WaitGroup
	for range max(concurrency, 1) {
		workers.Add(1)
		go func() {
			defer workers.Done()
			for i := range idx {
				if err := fn(i); err != nil {
					failed.Add(1)
					errOnce.Do(func() { firstErr = fmt.Sprintf("#%d: %v", i, err) })
					continue
				}
				ok.Add(1)
			}
		}()
	}
feed:
	for i := range n {
		select {
		case idx <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(idx)
	workers.Wait()
	st := connectStats{Joined: int(ok.Load()), Errors: int(failed.Load()), FirstError: firstErr}
	if rest := n - st.Joined - st.Errors; rest > 0 {
		st.Errors += rest
		if st.FirstError == "" {
			st.FirstError = fmt.Sprintf("%d not attempted: %v", rest, ctx.Err())
		}
	}
	return st
}

// closeAll closes every connection and waits up to wait for the read loops to end.
func (f *benchFleet) closeAll(wait time.Duration) error {
	f.closing.Store(true)
	f.mu.Lock()
	conns := f.conns
	f.conns = nil
	f.mu.Unlock()
	for _, c := range conns {
		_ = c.conn.NetConn().Close()
	}
	done := make(chan struct{})
	go func() { f.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-time.After(wait):
		return fmt.Errorf("client read loops still running after %v", wait)
	}
}

func (f *benchFleet) closeReasons() map[string]int {
	f.errMu.Lock()
	defer f.errMu.Unlock()
	out := make(map[string]int, len(f.closeErrs))
	for k, v := range f.closeErrs {
		out[k] = v
	}
	return out
}
