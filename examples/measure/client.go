package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lxzan/gws"
)

// joinFrame is what every client sends once connected.
const joinFrame = `["1","1","` + benchTopic + `","phx_join",{}]`

var (
	// broadcastPrefix starts every broadcast frame of both servers.
	broadcastPrefix = []byte(`[null,null,"` + benchTopic + `","` + benchEvent + `",`)
	joinReplyPrefix = []byte(`["1","1","` + benchTopic + `","phx_reply",`)
	statusOK        = []byte(`"status":"ok"`)
	seqKey          = []byte(`"seq":`)
)

// fleet is every client connection of one measurement. Clients are lean: one gws client connection and
// its read goroutine each; inbound frames are classified by prefix and counted with atomics.
type fleet struct {
	base time.Time // deliveries are timed as offsets from base

	expected   atomic.Int64 // deliveries awaited; set before publishing
	deliveries atomic.Int64
	first      atomic.Int64 // ns since base of the first delivery (0: none yet)
	last       atomic.Int64 // ns since base of the latest delivery
	outOfOrder atomic.Int64 // deliveries whose seq is not the previous one + 1 on that connection
	other      atomic.Int64 // frames neither a broadcast nor the join reply (phx_close, phx_error...)
	done       chan struct{}
	doneOnce   sync.Once

	closing     atomic.Bool  // set before the driver closes connections on purpose
	closedEarly atomic.Int64 // connections closed while the measurement was running
	errMu       sync.Mutex
	closeErrs   map[string]int // why connections closed early, by error text

	wg    sync.WaitGroup // one per read loop
	mu    sync.Mutex
	conns []*gws.Conn
}

func newFleet() *fleet {
	return &fleet{base: time.Now(), done: make(chan struct{}), closeErrs: make(map[string]int)}
}

func (f *fleet) now() int64 { return int64(time.Since(f.base)) }

// client is the gws event handler of one connection.
type client struct {
	f         *fleet
	joined    chan error // receives the join outcome once
	lastSeq   int64      // read loop only
	abandoned atomic.Bool
}

func (*client) OnOpen(*gws.Conn)         {}
func (*client) OnPing(*gws.Conn, []byte) {}
func (*client) OnPong(*gws.Conn, []byte) {}
func (cl *client) OnClose(_ *gws.Conn, err error) {
	f := cl.f
	if f.closing.Load() || cl.abandoned.Load() {
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
	case cl.joined <- fmt.Errorf("closed before the join reply: %s", text):
	default:
	}
}

func (cl *client) OnMessage(_ *gws.Conn, msg *gws.Message) {
	defer msg.Close()
	b := msg.Bytes()
	f := cl.f
	if bytes.HasPrefix(b, broadcastPrefix) {
		t := f.now()
		n := f.deliveries.Add(1)
		if f.first.Load() == 0 {
			f.first.CompareAndSwap(0, t)
		}
		for {
			old := f.last.Load()
			if t <= old || f.last.CompareAndSwap(old, t) {
				break
			}
		}
		if seq := parseSeq(b); seq != cl.lastSeq+1 {
			f.outOfOrder.Add(1)
			cl.lastSeq = seq
		} else {
			cl.lastSeq = seq
		}
		if exp := f.expected.Load(); exp > 0 && n == exp {
			f.doneOnce.Do(func() { close(f.done) })
		}
		return
	}
	if bytes.HasPrefix(b, joinReplyPrefix) {
		var err error
		if !bytes.Contains(b, statusOK) {
			err = fmt.Errorf("join refused: %.200s", b)
		}
		select {
		case cl.joined <- err:
		default:
		}
		return
	}
	f.other.Add(1)
}

// parseSeq reads the integer after the last "seq": in b (-1 if none).
func parseSeq(b []byte) int64 {
	i := bytes.LastIndex(b, seqKey)
	if i < 0 {
		return -1
	}
	var n int64
	digits := 0
	for _, c := range b[i+len(seqKey):] {
		if c < '0' || c > '9' {
			break
		}
		n = n*10 + int64(c-'0')
		digits++
	}
	if digits == 0 {
		return -1
	}
	return n
}

// noSession replaces gws's default map-based session storage on the client side.
type noSession struct{}

func (noSession) Len() int                     { return 0 }
func (noSession) Load(string) (any, bool)      { return nil, false }
func (noSession) Delete(string)                {}
func (noSession) Store(string, any)            {}
func (noSession) Range(func(string, any) bool) {}

// dialPlan says how to open the connections.
type dialPlan struct {
	url         string
	conns       int
	rate        int // connections started per second
	concurrency int // connections being opened (dial + handshake + join) at once
	srcIPs      int // source addresses 127.0.0.2 … 127.0.0.(1+srcIPs), round-robin
	timeout     time.Duration
}

// connectStats reports the connect phase.
type connectStats struct {
	Joined     int
	Errors     int
	FirstError string
	Elapsed    time.Duration
}

// connect opens and joins plan.conns connections, paced at plan.rate with plan.concurrency workers.
// A connection that fails to dial, upgrade or join is counted and left closed.
func (f *fleet) connect(ctx context.Context, plan dialPlan) connectStats {
	start := time.Now()
	idx := make(chan int)
	var joined, failed atomic.Int64
	var errOnce sync.Once
	var firstErr string
	var workers sync.WaitGroup
	for range plan.concurrency {
		workers.Add(1)
		go func() {
			defer workers.Done()
			for i := range idx {
				if err := f.dialOne(ctx, plan, i); err != nil {
					failed.Add(1)
					errOnce.Do(func() { firstErr = fmt.Sprintf("conn %d: %v", i, err) })
					continue
				}
				joined.Add(1)
			}
		}()
	}
	interval := time.Second / time.Duration(max(plan.rate, 1))
feed:
	for i := range plan.conns {
		if wait := time.Until(start.Add(time.Duration(i) * interval)); wait > time.Millisecond {
			select {
			case <-time.After(wait):
			case <-ctx.Done():
				break feed
			}
		}
		select {
		case idx <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(idx)
	workers.Wait()
	st := connectStats{Joined: int(joined.Load()), Errors: int(failed.Load()), Elapsed: time.Since(start)}
	st.FirstError = firstErr
	if n := plan.conns - st.Joined - st.Errors; n > 0 { // never started: ctx ended
		st.Errors += n
		if st.FirstError == "" {
			st.FirstError = fmt.Sprintf("%d connections not attempted: %v", n, ctx.Err())
		}
	}
	return st
}

func (f *fleet) dialOne(ctx context.Context, plan dialPlan, i int) error {
	src := net.IPv4(127, 0, 0, byte(2+i%max(plan.srcIPs, 1)))
	dialer := &net.Dialer{Timeout: plan.timeout, LocalAddr: &net.TCPAddr{IP: src}}
	cl := &client{f: f, joined: make(chan error, 1), lastSeq: -1}
	conn, _, err := gws.NewClient(cl, &gws.ClientOption{
		Addr:             plan.url,
		ReadBufferSize:   1 << 10,
		HandshakeTimeout: plan.timeout,
		NewDialer:        func() (gws.Dialer, error) { return dialer, nil },
		NewSession:       func() gws.SessionStorage { return noSession{} },
	})
	if err != nil {
		return err
	}
	f.mu.Lock()
	f.conns = append(f.conns, conn)
	f.mu.Unlock()
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		conn.ReadLoop()
	}()
	err = conn.WriteString(joinFrame)
	if err != nil {
		err = fmt.Errorf("send join: %w", err)
	} else {
		t := time.NewTimer(plan.timeout)
		select {
		case err = <-cl.joined:
		case <-t.C:
			err = errors.New("no join reply within " + plan.timeout.String())
		case <-ctx.Done():
			err = ctx.Err()
		}
		t.Stop()
	}
	if err != nil { // not part of the measurement: close it without counting it as a disconnect
		cl.abandoned.Store(true)
		_ = conn.NetConn().Close()
	}
	return err
}

// closeAll closes every connection and waits up to wait for the read loops to end.
func (f *fleet) closeAll(wait time.Duration) error {
	f.closing.Store(true)
	f.mu.Lock()
	conns := f.conns
	f.conns = nil
	f.mu.Unlock()
	for _, c := range conns {
		_ = c.NetConn().Close()
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

// closeReasons summarises why connections closed early.
func (f *fleet) closeReasons() map[string]int {
	f.errMu.Lock()
	defer f.errMu.Unlock()
	out := make(map[string]int, len(f.closeErrs))
	for k, v := range f.closeErrs {
		out[k] = v
	}
	return out
}
