package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// The attack scenario's clients: raw WebSocket connections (and long-poll POSTs) whose every write has a
// deadline and whose one reader records how they ended, and the control client timing its echo pushes.

// ---- raw connections: every write with a deadline, one reader goroutine recording the outcome ----

// attackIOTimeout bounds every write of an attacker (a server that stops reading must not hang the run).
const attackIOTimeout = 20 * time.Second

type rawConn struct {
	nc      net.Conn
	br      *bufio.Reader
	wmu     sync.Mutex
	closing atomic.Bool
	done    chan struct{} // closed when the reader ended
	how     string        // the reader's outcome, set before done closes

	replies   atomic.Int64      // phx_reply frames
	okReplies atomic.Int64      // of which "status":"ok"
	states    atomic.Int64      // presence_state frames
	big       atomic.Int64      // text frames over 1 MB
	onText    func(head []byte) // called by the reader with the head of each text frame, when set
}

// dialTCP connects from 127.0.0.(2+i%250), without reading.
func dialTCP(ctx context.Context, addr string, i int, timeout time.Duration) (*rawConn, error) {
	d := &net.Dialer{Timeout: timeout, LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+i%250))}}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	return &rawConn{nc: nc, br: bufio.NewReaderSize(nc, 4<<10), done: make(chan struct{})}, nil
}

// dialRaw connects, upgrades at path and starts the frame reader.
func dialRaw(ctx context.Context, addr, path string, i int, timeout time.Duration) (*rawConn, error) {
	return dialRawWith(ctx, addr, path, i, timeout, nil)
}

// dialRawWith is dialRaw with a reader hook for text frames.
func dialRawWith(ctx context.Context, addr, path string, i int, timeout time.Duration, onText func(head []byte)) (*rawConn, error) {
	c, err := dialTCP(ctx, addr, i, timeout)
	if err != nil {
		return nil, err
	}
	c.onText = onText
	_ = c.nc.SetDeadline(time.Now().Add(timeout))
	key := make([]byte, 16)
	_, _ = rand.Read(key)
	req := "GET " + path + " HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + base64.StdEncoding.EncodeToString(key) + "\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := io.WriteString(c.nc, req); err != nil {
		_ = c.nc.Close()
		return nil, err
	}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		_ = c.nc.Close()
		return nil, fmt.Errorf("upgrade: %w", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		_ = c.nc.Close()
		return nil, fmt.Errorf("upgrade: %s", resp.Status)
	}
	_ = c.nc.SetDeadline(time.Time{})
	go c.readFrames()
	return c, nil
}

// frameHeader is a masked client frame header with the mask key 0 (the payload goes as it is: the key's
// value is the client's choice, RFC 6455 §5.3).
func frameHeader(op byte, fin bool, n uint64) []byte {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	var h []byte
	switch {
	case n < 126:
		h = []byte{b0, 0x80 | byte(n)}
	case n <= 0xffff:
		h = []byte{b0, 0x80 | 126, byte(n >> 8), byte(n)}
	default:
		h = binary.BigEndian.AppendUint64([]byte{b0, 0x80 | 127}, n)
	}
	return append(h, 0, 0, 0, 0)
}

// patchLen rewrites the 2-byte header (+ mask) that frameHeader(…, 0) put just before start so that it
// carries the payload buf[start:] (which must be < 126 bytes… or it is re-encoded).
func patchLen(buf []byte, start int) []byte {
	n := len(buf) - start
	if n < 126 {
		buf[start-5] = 0x80 | byte(n)
		return buf
	}
	payload := append([]byte(nil), buf[start:]...)
	buf = append(buf[:start-6], frameHeader(0x1, true, uint64(n))...)
	return append(buf, payload...)
}

// write sends parts in one writev, within attackIOTimeout.
func (c *rawConn) write(parts ...[]byte) error { return c.writeWithin(attackIOTimeout, parts...) }

// writeWithin sends parts in one writev, within d.
func (c *rawConn) writeWithin(d time.Duration, parts ...[]byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.nc.SetWriteDeadline(time.Now().Add(d))
	bufs := net.Buffers(parts)
	_, err := bufs.WriteTo(c.nc)
	return err
}

// writeText sends one text frame carrying the concatenation of parts.
func (c *rawConn) writeText(parts ...[]byte) error {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	return c.write(append([][]byte{frameHeader(0x1, true, uint64(n))}, parts...)...)
}

func (c *rawConn) ended() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// outcome is what the connection saw so far: how it ended, or "open".
func (c *rawConn) outcome() string {
	if c.ended() {
		return c.how
	}
	return "open"
}

// close closes the connection and waits for its reader (which the close unblocks).
func (c *rawConn) close() {
	c.closing.Store(true)
	_ = c.nc.Close()
	<-c.done
}

// endWith records how the connection ended, from the read error (a close frame seen earlier wins).
func (c *rawConn) endWith(err error) {
	var ne net.Error
	switch {
	case c.how != "":
	case c.closing.Load():
		c.how = "open"
	case errors.As(err, &ne) && ne.Timeout():
		c.how = "open"
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		c.how = "EOF"
	case errors.Is(err, syscall.ECONNRESET):
		c.how = "reset"
	default:
		c.how = "error: " + err.Error()
	}
	close(c.done)
}

// readFrames reads server frames until the connection ends: close frames give the outcome, text frames
// are counted by their head.
func (c *rawConn) readFrames() {
	for {
		op, head, n, err := readFrameHead(c.br, 160)
		if err != nil {
			c.endWith(err)
			return
		}
		switch op {
		case 0x1:
			if c.onText != nil {
				c.onText(head)
			}
			if n > 1<<20 {
				c.big.Add(1)
			}
			if bytes.Contains(head, phxReply) {
				c.replies.Add(1)
				if bytes.Contains(head, statusOK) {
					c.okReplies.Add(1)
				}
			}
			if bytes.Contains(head, []byte(`"presence_state"`)) {
				c.states.Add(1)
			}
		case 0x8:
			if c.how == "" {
				c.how = "close frame"
				if len(head) >= 2 {
					c.how = "close " + strconv.Itoa(int(binary.BigEndian.Uint16(head)))
				}
			}
		}
	}
}

// readFrameHead reads one server frame and returns its opcode, its first keep bytes (the whole payload
// of a close frame) and its length; the rest is discarded.
func readFrameHead(br *bufio.Reader, keep int) (op byte, head []byte, n uint64, err error) {
	var h [2]byte
	if _, err = io.ReadFull(br, h[:]); err != nil {
		return 0, nil, 0, err
	}
	op = h[0] & 0x0f
	n = uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var e [2]byte
		if _, err = io.ReadFull(br, e[:]); err != nil {
			return 0, nil, 0, err
		}
		n = uint64(binary.BigEndian.Uint16(e[:]))
	case 127:
		var e [8]byte
		if _, err = io.ReadFull(br, e[:]); err != nil {
			return 0, nil, 0, err
		}
		n = binary.BigEndian.Uint64(e[:])
	}
	if h[1]&0x80 != 0 || n > 1<<30 {
		return 0, nil, 0, errors.New("bad frame header")
	}
	k := min(n, uint64(keep))
	if op == 0x8 {
		k = n
	}
	head = make([]byte, k)
	if _, err = io.ReadFull(br, head); err != nil {
		return 0, nil, 0, err
	}
	_, err = io.CopyN(io.Discard, br, int64(n-k))
	return op, head, n, err
}

// readHTTP reads the one HTTP answer of a long-poll POST in the background: "HTTP 200 {…}" (its body's
// start) or how the connection ended.
func (c *rawConn) readHTTP() {
	go func() {
		resp, err := http.ReadResponse(c.br, nil)
		if err != nil {
			c.endWith(err)
			return
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
		resp.Body.Close()
		c.how = "HTTP " + strconv.Itoa(resp.StatusCode) + " " + strings.TrimSpace(string(body))
		close(c.done)
	}()
}

// ---- the control client ----

// echoControl is a client joined to room:control that pushes echo every echoInterval, whatever the
// replies (a stalled server does not slow the pushes, so a stall shows in the latencies), and records
// each push: when sent, and its reply's latency or that it was lost. When its connection dies it
// reconnects to the current server address.
type echoControl struct {
	addr atomic.Pointer[string]
	isUp atomic.Bool

	mu      sync.Mutex
	pending map[int64]time.Time // ref → sent
	samples []echoSample
}

type echoSample struct {
	at   time.Time
	lat  time.Duration
	lost bool
}

const (
	echoInterval = 20 * time.Millisecond
	echoTimeout  = 5 * time.Second
)

func newEchoControl() *echoControl { return &echoControl{pending: map[int64]time.Time{}} }

func (e *echoControl) setAddr(a string) { e.addr.Store(&a) }
func (e *echoControl) up() bool         { return e.isUp.Load() }

// run connects, joins and pushes until ctx ends; on any failure it loses the pending pushes and
// reconnects (every 200 ms at most).
func (e *echoControl) run(ctx context.Context) {
	ref := int64(1)
	for ctx.Err() == nil {
		got := make(chan []byte, 1024)
		c, err := dialRawWith(ctx, *e.addr.Load(), "/socket/websocket?vsn=2.0.0", 249, 5*time.Second, func(head []byte) {
			select {
			case got <- head:
			default:
			}
		})
		if err != nil {
			e.tickLost(ctx, 200*time.Millisecond)
			continue
		}
		e.session(ctx, c, got, &ref)
		c.close()
		e.isUp.Store(false)
		e.mu.Lock()
		for r, at := range e.pending {
			e.samples = append(e.samples, echoSample{at: at, lat: time.Since(at), lost: true})
			delete(e.pending, r)
		}
		e.mu.Unlock()
	}
}

// tickLost records the pushes that could not be sent during d.
func (e *echoControl) tickLost(ctx context.Context, d time.Duration) {
	end := time.Now().Add(d)
	for time.Now().Before(end) && ctx.Err() == nil {
		e.mu.Lock()
		e.samples = append(e.samples, echoSample{at: time.Now(), lost: true})
		e.mu.Unlock()
		sleepCtx(ctx, echoInterval)
	}
}

// session joins and pushes on c until it fails or ctx ends. Replies are matched by ref in c's reader.
func (e *echoControl) session(ctx context.Context, c *rawConn, got <-chan []byte, ref *int64) {
	if c.writeText([]byte(`["1","0","room:control","phx_join",{}]`)) != nil {
		return
	}
	joinBy := time.NewTimer(5 * time.Second)
	defer joinBy.Stop()
	select {
	case <-got: // the join reply (nothing else is sent to it before)
	case <-c.done:
		return
	case <-joinBy.C:
		return
	case <-ctx.Done():
		return
	}
	e.isUp.Store(true)
	tick := time.NewTicker(echoInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.done:
			return
		case head := <-got:
			// ["1","<ref>","room:control","phx_reply",…
			if f := bytes.SplitN(head, []byte(`"`), 5); len(f) == 5 {
				if r, err := strconv.ParseInt(string(f[3]), 10, 64); err == nil {
					e.mu.Lock()
					if at, ok := e.pending[r]; ok {
						delete(e.pending, r)
						e.samples = append(e.samples, echoSample{at: at, lat: time.Since(at)})
					}
					e.mu.Unlock()
				}
			}
		case now := <-tick.C:
			*ref++
			e.mu.Lock()
			for r, at := range e.pending {
				if now.Sub(at) > echoTimeout {
					e.samples = append(e.samples, echoSample{at: at, lat: now.Sub(at), lost: true})
					delete(e.pending, r)
				}
			}
			e.pending[*ref] = now
			e.mu.Unlock()
			if c.writeText([]byte(`["1","`+strconv.FormatInt(*ref, 10)+`","room:control","echo",{"body":"control"}]`)) != nil {
				return
			}
		}
	}
}

// window summarises the pushes sent in [from, to), once their fate is known (it waits up to echoTimeout
// for the last ones).
func (e *echoControl) window(from, to time.Time) echoWindow {
	waitUntil(context.Background(), time.Now().Add(echoTimeout+time.Second), func() bool {
		e.mu.Lock()
		defer e.mu.Unlock()
		for _, at := range e.pending {
			if at.Before(to) {
				return false
			}
		}
		return true
	})
	e.mu.Lock()
	defer e.mu.Unlock()
	var w echoWindow
	var lat []float64
	for _, s := range e.samples {
		if s.at.Before(from) || !s.at.Before(to) {
			continue
		}
		w.Pushes++
		if s.lost {
			w.Lost++
			continue
		}
		lat = append(lat, float64(s.lat)/1e6)
	}
	for _, at := range e.pending {
		if !at.Before(from) && at.Before(to) {
			w.Pushes++
			w.Lost++
		}
	}
	sort.Float64s(lat)
	w.P50MS, w.P99MS, w.MaxMS = percentile(lat, 50), percentile(lat, 99), percentile(lat, 100)
	return w
}
