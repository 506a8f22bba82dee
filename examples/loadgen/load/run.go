package load

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pyrehq/pyre/transport/client"
)

// Phases of a run, in order; the phase decides where a broadcast is counted.
const (
	phaseConnect int32 = iota
	phaseHold
	phaseDrain
	phaseClose
)

// runner holds one run's state. Counters are atomics; conns[i] is written once by the connect worker of
// connection i and read by others only after the connect phase (ordered by its WaitGroup).
type runner struct {
	p       *plan
	dialers []func(ctx context.Context, network, addr string) (net.Conn, error)
	conns   []*connState
	phase   atomic.Int32

	attempted, connected, connErr  atomic.Int64
	joinAttempted, sent, skipped   atomic.Int64
	joins, pushes                  calls
	inFlight                       atomic.Int64
	bcastHold, bcastOutside, other atomic.Int64
	connErrs, ended                reasons
	hConnect, hDelivery            *hist
	pushing                        sync.WaitGroup // push goroutines
}

// calls counts the outcomes of one kind of request (joins, pushes) and times the answered ones.
type calls struct {
	ok, failed, timedOut atomic.Int64
	reasons              reasons
	h                    *hist
}

// record files a call that took d and ended with err; it reports whether the call succeeded.
func (c *calls) record(err error, d time.Duration) bool {
	var re *client.ReplyError
	switch {
	case err == nil:
		c.ok.Add(1)
		c.h.record(d)
		return true
	case errors.As(err, &re):
		c.failed.Add(1)
		c.reasons.add(callReason(err))
		c.h.record(d) // an error reply is an answer
	case errors.Is(err, context.DeadlineExceeded):
		c.timedOut.Add(1)
	default:
		c.failed.Add(1)
		c.reasons.add(callReason(err))
	}
	return false
}

type connState struct {
	conn    *client.Conn
	chans   []*chanState          // joined; complete before the push scheduler starts
	byTopic map[string]*chanState // every planned join; read-only once the connection is dialled
}

type chanState struct {
	ch    *client.Channel
	conn  int   // connection index, for {i}
	topic int   // topic number, for {n}
	seq   int64 // pushes sent; the scheduler's only
	dead  atomic.Bool
}

// ended reports whether the channel can no longer be pushed to: closed by the server, or its connection gone.
func (c *chanState) ended() bool {
	if c.dead.Load() {
		return true
	}
	if c.ch == nil { // not joined (or a scheduler test's stand-in)
		return false
	}
	select {
	case <-c.ch.Conn().Closed():
		return true
	default:
		return false
	}
}

// Run opens cfg.Conns connections (joining their topics), holds the load for cfg.Duration while pushing
// and receiving, closes every connection and returns what it measured. It returns a nil Result only for
// an invalid Config (wrapping ErrConfig). When ctx ends first, the run stops early: every connection is
// closed and Run returns the partial Result (Interrupted set) with ctx's error. Run does not fail because
// connections or joins failed: see Result.Err.
//
// Run is bounded in time by ConnectTimeout + Duration + PushTimeout plus the time to close the
// connections, and leaves no goroutine behind.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	p, err := newPlan(cfg)
	if err != nil {
		return nil, err
	}
	r := &runner{
		p: p, conns: make([]*connState, p.Conns),
		hConnect: newHist(), hDelivery: newHist(),
	}
	r.joins.h, r.pushes.h = newHist(), newHist()
	for _, a := range p.SourceAddrs {
		d := &net.Dialer{}
		if a != "" {
			d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(a)}
		}
		r.dialers = append(r.dialers, d.DialContext)
	}
	res := &Result{Setup: Setup{
		URL: p.url, Conns: p.Conns, JoinsPerConn: p.JoinsPerConn, Topics: len(p.topics),
		SourceAddrs: p.SourceAddrs, ConnectRate: p.ConnectRate, PushEvent: p.PushEvent, PushRate: p.PushRate,
		Duration: p.Duration,
	}}

	start := time.Now()
	stopProgress := r.startProgress(start)
	defer stopProgress()

	r.connectAll(ctx)
	res.Phases.Connect = time.Since(start)

	pushesDone := make(chan struct{})
	if ctx.Err() == nil {
		holdStart := time.Now()
		r.phase.Store(phaseHold)
		stopPushing := r.startScheduler()
		timer := time.NewTimer(p.Duration)
		select {
		case <-timer.C:
		case <-ctx.Done():
		}
		timer.Stop()
		r.phase.Store(phaseDrain)
		stopPushing()
		res.Phases.Hold = time.Since(holdStart)

		drainStart := time.Now()
		go func() { r.pushing.Wait(); close(pushesDone) }() // each push is bounded by PushTimeout
		select {
		case <-pushesDone:
		case <-ctx.Done(): // closing the connections below fails the pending pushes
		}
		res.Phases.Drain = time.Since(drainStart)
	} else {
		close(pushesDone)
	}

	r.phase.Store(phaseClose)
	closeStart := time.Now()
	r.closeAll() // returns once every read goroutine, hence every OnMessage, has ended
	<-pushesDone
	res.Phases.Close = time.Since(closeStart)
	stopProgress()

	r.fill(res)
	if err := ctx.Err(); err != nil {
		res.Interrupted = true
		return res, err
	}
	return res, nil
}

// ---- connect phase ----

// connectAll starts the connections at ConnectRate with at most ConnectConcurrency in progress, and
// returns when every started connection has dialed and joined, or failed.
func (r *runner) connectAll(ctx context.Context) {
	p := r.p
	ctx, cancel := context.WithTimeout(ctx, p.ConnectTimeout)
	defer cancel()
	idx := make(chan int)
	var workers sync.WaitGroup
	for range min(p.ConnectConcurrency, p.Conns) {
		workers.Go(func() {
			for i := range idx {
				r.connectOne(ctx, i)
			}
		})
	}
	defer workers.Wait()
	defer close(idx)

	start := time.Now()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for i := range p.Conns {
		if p.ConnectRate > 0 {
			due := start.Add(time.Duration(float64(i) / p.ConnectRate * float64(time.Second)))
			if wait := time.Until(due); wait > 0 {
				timer.Reset(wait)
				select {
				case <-timer.C:
				case <-ctx.Done():
					return
				}
			}
		}
		select {
		case idx <- i:
		case <-ctx.Done():
			return
		}
	}
}

// connectOne dials connection i and joins its topics, then starts its reader.
func (r *runner) connectOne(ctx context.Context, i int) {
	p := r.p
	r.attempted.Add(1)
	opts := client.Options{
		Params:         p.paramsFor(i),
		MessageBuffer:  messageBuffer,
		ReadBufferSize: readBufferSize,
	}
	if p.Heartbeat > 0 {
		opts.HeartbeatInterval = p.Heartbeat
	}
	if len(r.dialers) > 0 {
		opts.DialContext = r.dialers[i%len(r.dialers)]
	}
	// Messages are counted and timestamped on the connection's own read goroutine as they arrive.
	cs := &connState{byTopic: make(map[string]*chanState, p.JoinsPerConn)}
	planned := make([]*chanState, p.JoinsPerConn)
	for j := range planned {
		n := topicIndex(i, j, p.JoinsPerConn, len(p.topics))
		planned[j] = &chanState{conn: i, topic: n}
		cs.byTopic[p.topics[n]] = planned[j]
	}
	opts.OnMessage = func(_ *client.Channel, m client.Message) {
		if c := cs.byTopic[m.Topic]; c != nil {
			r.onMessage(c, m)
		}
	}
	dctx, cancel := context.WithTimeout(ctx, DialTimeout)
	t0 := time.Now()
	conn, err := client.Dial(dctx, p.url, opts)
	cancel()
	if err != nil {
		r.connErr.Add(1)
		r.connErrs.add(dialReason(err))
		return
	}
	r.hConnect.record(time.Since(t0))
	r.connected.Add(1)
	cs.conn = conn
	r.conns[i] = cs

	var payload []byte
	for _, c := range planned {
		payload = p.joinTpl.expand(payload[:0], vars{i: int64(i), n: int64(c.topic)})
		r.joinAttempted.Add(1)
		jctx, cancel := context.WithTimeout(ctx, p.PushTimeout)
		t := time.Now()
		ch, _, err := conn.Join(jctx, p.topics[c.topic], json.RawMessage(payload))
		cancel()
		if r.joins.record(err, time.Since(t)) {
			c.ch = ch
			cs.chans = append(cs.chans, c)
		} else {
			c.dead.Store(true)
		}
	}
}

// ---- receiving ----

func (r *runner) onMessage(c *chanState, m client.Message) {
	now := time.Now()
	switch m.Event {
	case "phx_close", "phx_error":
		c.dead.Store(true)
		r.ended.add(m.Event)
		return
	}
	if r.p.BroadcastEvent != "" && m.Event != r.p.BroadcastEvent {
		r.other.Add(1)
		return
	}
	if r.phase.Load() != phaseHold {
		r.bcastOutside.Add(1)
		return
	}
	r.bcastHold.Add(1)
	if ts, ok := payloadTS(m.Payload); ok {
		r.hDelivery.record(now.Sub(ts))
	}
}

// ---- pushing ----

// startScheduler starts the push scheduler when pushes are configured; the returned func stops it and
// waits for it.
func (r *runner) startScheduler() (stop func()) {
	if r.p.PushEvent == "" {
		return func() {}
	}
	var chans []*chanState
	for _, cs := range r.conns {
		if cs != nil {
			chans = append(chans, cs.chans...)
		}
	}
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		schedule(chans, r.p.PushRate, quit, r.fire)
	}()
	return func() { close(quit); <-done }
}

// fire sends the next push of c, unless MaxInFlight pushes are awaiting their reply. Scheduler only.
func (r *runner) fire(c *chanState) {
	if r.inFlight.Add(1) > int64(r.p.MaxInFlight) {
		r.inFlight.Add(-1)
		r.skipped.Add(1)
		return
	}
	c.seq++
	payload := r.p.pushTpl.expand(nil, vars{i: int64(c.conn), n: int64(c.topic), seq: c.seq})
	r.sent.Add(1)
	r.pushing.Add(1)
	go r.push(c, payload)
}

// push sends one push and waits for its reply, at most PushTimeout.
func (r *runner) push(c *chanState, payload []byte) {
	defer r.pushing.Done()
	defer r.inFlight.Add(-1)
	ctx, cancel := context.WithTimeout(context.Background(), r.p.PushTimeout)
	defer cancel()
	t := time.Now()
	_, err := c.ch.Push(ctx, r.p.PushEvent, json.RawMessage(payload))
	r.pushes.record(err, time.Since(t))
}

// ---- closing and results ----

// closeAll closes every connection, ConnectConcurrency at a time.
func (r *runner) closeAll() {
	idx := make(chan int)
	var workers sync.WaitGroup
	for range min(r.p.ConnectConcurrency, len(r.conns)) {
		workers.Go(func() {
			for i := range idx {
				_ = r.conns[i].conn.Close()
				<-r.conns[i].conn.Closed()
			}
		})
	}
	for i, cs := range r.conns {
		if cs != nil {
			idx <- i
		}
	}
	close(idx)
	workers.Wait()
}

// fill copies the counters into res, once every goroutine has finished.
func (r *runner) fill(res *Result) {
	closedBy := reasons{}
	var closed int64
	var dropped uint64
	for _, cs := range r.conns {
		if cs == nil {
			continue
		}
		dropped += cs.conn.Stats().Dropped
		var ce *client.CloseError
		if errors.As(cs.conn.Err(), &ce) && !(ce.Code == 1000 && !ce.Remote && ce.Reason == "") {
			closed++
			closedBy.add(closeReason(ce))
		}
	}
	res.Conns = ConnStats{
		Target: r.p.Conns, Attempted: r.attempted.Load(), Connected: r.connected.Load(),
		Errors: r.connErr.Load(), ErrorsBy: r.connErrs.snapshot(),
		ClosedEarly: closed, ClosedEarlyBy: closedBy.snapshot(),
	}
	res.Joins = JoinStats{
		Expected: int64(r.p.Conns) * int64(r.p.JoinsPerConn), Attempted: r.joinAttempted.Load(),
		OK: r.joins.ok.Load(), Error: r.joins.failed.Load(), ErrorsBy: r.joins.reasons.snapshot(),
		Timeout: r.joins.timedOut.Load(), Ended: r.ended.snapshot(),
	}
	res.Pushes = PushStats{
		Sent: r.sent.Load(), OK: r.pushes.ok.Load(), Error: r.pushes.failed.Load(), ErrorsBy: r.pushes.reasons.snapshot(),
		Timeout: r.pushes.timedOut.Load(), Skipped: r.skipped.Load(),
		PerSecond: perSecond(r.sent.Load(), res.Phases.Hold),
	}
	res.Broadcasts = BroadcastStats{
		Received: r.bcastHold.Load(), PerSecond: perSecond(r.bcastHold.Load(), res.Phases.Hold),
		Outside: r.bcastOutside.Load(), Dropped: dropped, Other: r.other.Load(),
	}
	res.Latency = Latencies{
		Connect: r.hConnect.summary(), Join: r.joins.h.summary(),
		Push: r.pushes.h.summary(), Delivery: r.hDelivery.summary(),
	}
	res.Phases.ConnectsPerSec = perSecond(res.Conns.Connected, res.Phases.Connect)
	res.Phases.JoinsPerSec = perSecond(res.Joins.OK, res.Phases.Connect)
}

func perSecond(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// startProgress prints a line every second until the returned func is called (idempotent).
func (r *runner) startProgress(start time.Time) (stop func()) {
	if r.p.Progress == io.Discard {
		return func() {}
	}
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-t.C:
				fmt.Fprintln(r.p.Progress, r.progressLine(time.Since(start)))
			}
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { close(quit); <-done }) }
}

func (r *runner) progressLine(elapsed time.Duration) string {
	head := fmt.Sprintf("[%4.0fs] ", elapsed.Seconds())
	switch r.phase.Load() {
	case phaseConnect:
		return head + fmt.Sprintf("connect: %d/%d attempted, %d connected, %d errors; joins %d ok, %d errors, %d timeouts",
			r.attempted.Load(), r.p.Conns, r.connected.Load(), r.connErr.Load(),
			r.joins.ok.Load(), r.joins.failed.Load(), r.joins.timedOut.Load())
	case phaseHold:
		return head + fmt.Sprintf("hold: pushes %d sent, %d ok, %d errors, %d timeouts, %d in flight; %d broadcasts",
			r.sent.Load(), r.pushes.ok.Load(), r.pushes.failed.Load(), r.pushes.timedOut.Load(), r.inFlight.Load(),
			r.bcastHold.Load())
	case phaseDrain:
		return head + fmt.Sprintf("drain: %d pushes awaiting replies", r.inFlight.Load())
	}
	return head + "closing connections"
}

// ---- classification ----

// dialReason names why a connection could not be made, from a small set of reasons.
func dialReason(err error) string {
	var he *client.HandshakeError
	var ne net.Error
	switch {
	case errors.As(err, &he):
		return "http " + strconv.Itoa(he.StatusCode)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded),
		errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "cancelled"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return "address not available (source address or ephemeral ports)"
	case errors.Is(err, syscall.EADDRINUSE):
		return "address in use (ephemeral ports exhausted)"
	case errors.Is(err, syscall.EMFILE), errors.Is(err, syscall.ENFILE):
		return "too many open files"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "closed during handshake"
	case errors.Is(err, client.ErrSubprotocol):
		return "subprotocol not selected"
	}
	return innermost(err)
}

// callReason names why a join or push failed (timeouts are counted apart).
func callReason(err error) string {
	var re *client.ReplyError
	switch {
	case errors.As(err, &re):
		s := "reply " + re.Status
		if reason := re.Reason(); reason != "" {
			s += ": " + reason
		}
		return truncate(s)
	case errors.Is(err, client.ErrChannelClosed):
		return "channel closed"
	case errors.Is(err, client.ErrClosed):
		return "connection closed"
	case errors.Is(err, context.Canceled):
		return "cancelled"
	}
	return innermost(err)
}

// closeReason names how a connection ended early.
func closeReason(ce *client.CloseError) string {
	code := strconv.Itoa(ce.Code)
	switch {
	case ce.Remote:
		return code
	case ce.Code == 1006:
		return code + " (no close frame)"
	case ce.Reason != "":
		return code + " " + truncate(ce.Reason) + " (client)"
	}
	return code + " (client)"
}

// innermost returns the text of the innermost wrapped error, which carries no addresses or ports.
func innermost(err error) string {
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return truncate(err.Error())
		}
		err = u
	}
}

func truncate(s string) string {
	const n = 80
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
