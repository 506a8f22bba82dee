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
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// The slow-consumer scenario: subscribers of one topic, one in SlowEvery of them a raw WebSocket client
// (small socket receive buffer) that joins and then never reads, while the publisher streams SlowMsgs
// broadcasts in bursts at the pace of the healthy clients.

const slowTopic = "room:slow"

// slowResult is the slow-consumer scenario for one kind.
type slowResult struct {
	Kind          string `json:"kind"`
	Round         int    `json:"round"`
	Load          string `json:"load"`
	Healthy       int    `json:"healthy"` // joined healthy subscribers
	Slow          int    `json:"slow"`    // joined slow subscribers
	ConnectErrors int    `json:"connect_errors"`
	FirstError    string `json:"first_error,omitempty"`

	MsgsSent      int     `json:"msgs_sent"`
	StreamSeconds float64 `json:"stream_seconds"` // first publish → last healthy delivery
	TimedOut      bool    `json:"timed_out"`      // -slow-duration ended the stream before every message was sent

	Expected         int64   `json:"healthy_expected"` // MsgsSent × Healthy
	Delivered        int64   `json:"healthy_delivered"`
	DeliveriesPerSec float64 `json:"healthy_deliveries_per_sec"`
	LatP50MS         float64 `json:"healthy_latency_p50_ms"`
	LatP99MS         float64 `json:"healthy_latency_p99_ms"`
	LatMaxMS         float64 `json:"healthy_latency_max_ms"`
	OutOfOrder       int64   `json:"healthy_out_of_order"`
	OtherFrames      int64   `json:"healthy_other_frames"`
	// Healthy clients closed by the server (or the network) before the end.
	HealthyDisconnects int64          `json:"healthy_disconnects"`
	HealthyReasons     map[string]int `json:"healthy_disconnect_reasons,omitempty"`

	// What each slow client found when it finally read its socket after the stream: a close frame
	// ("close 1013"), the TCP connection closed without one ("EOF", "reset"), or the connection still
	// open ("open": nothing more within the drain's quiet time).
	SlowDisconnected int            `json:"slow_disconnected"`
	SlowHow          map[string]int `json:"slow_how"`
	SlowFrames       []int64        `json:"slow_frames_received"` // broadcasts each slow client got in all

	RSSBeforeMB float64 `json:"server_rss_before_mb"` // VmRSS with every client joined
	RSSPeakMB   float64 `json:"server_rss_peak_mb"`   // VmHWM at the end of the stream
	RSSEndMB    float64 `json:"server_rss_end_mb"`    // VmRSS at the end, slow clients not yet read
	ServerPID   int     `json:"server_pid"`
	Error       string  `json:"error,omitempty"`
}

func (r *slowResult) missing() int64 { return r.Expected - r.Delivered }

func (r *slowResult) failed() bool {
	return r.Error != "" || r.ConnectErrors != 0 || r.missing() != 0
}

// slowCount is how many of subs subscribers are slow.
func (c *benchConfig) slowCount() int { return c.SlowSubs / c.SlowEvery }

func (c *benchConfig) slowLoad() string {
	return fmt.Sprintf("%s subs, %d slow, %s msgs × %s B", count(c.SlowSubs), c.slowCount(), count(c.SlowMsgs), count(c.SlowSize))
}

// slowQueueCap bounds what an unprotected server could have to queue for the slow clients (each frame
// counted for each slow client, though gws's Broadcaster shares it): the stream is refused above it.
const slowQueueCap = 256 << 20

func (c *benchConfig) validateSlow() error {
	if c.SlowSubs == 0 {
		return nil
	}
	if c.SlowEvery < 2 || c.slowCount() < 1 || c.SlowMsgs < 1 || c.SlowSize < 0 || c.SlowSize > 64<<10 ||
		c.SlowBurst < 1 || c.SlowBurst > 500 || c.SlowDuration <= 0 || c.SlowRcvBuf < 0 {
		return errors.New("slow scenario: need slow-every ≥ 2 and ≤ slow-subs, slow-msgs ≥ 1, slow-size ≤ 64 KiB, 1 ≤ slow-burst ≤ 500 (two bursts stay below Pyre's 1024-frame queue), slow-duration > 0")
	}
	if q := int64(c.slowCount()) * int64(c.SlowMsgs) * int64(c.SlowSize+64); q > slowQueueCap {
		return fmt.Errorf("slow scenario: %d slow clients × %d msgs × %d B = %d MiB could pile up in the baseline's unbounded queues; keep it under %d MiB",
			c.slowCount(), c.SlowMsgs, c.SlowSize+64, q>>20, slowQueueCap>>20)
	}
	return nil
}

// latHist counts latencies in 20 µs buckets up to 10 s (one overflow bucket); safe for concurrent use.
type latHist struct {
	buckets [500_001]atomic.Int64
	max     atomic.Int64
}

const latBucketNS = 20_000

func (h *latHist) record(ns int64) {
	ns = max(ns, 0)
	h.buckets[min(ns/latBucketNS, int64(len(h.buckets)-1))].Add(1)
	atomicMax(&h.max, ns)
}

// percentileMS is the upper edge of the bucket holding the p-th percentile (p = 100: the maximum), in ms.
func (h *latHist) percentileMS(p float64) float64 {
	var total int64
	for i := range h.buckets {
		total += h.buckets[i].Load()
	}
	if total == 0 {
		return 0
	}
	if p >= 100 {
		return float64(h.max.Load()) / 1e6
	}
	rank := int64(float64(total)*p/100 + 0.999999)
	var seen int64
	for i := range h.buckets {
		if seen += h.buckets[i].Load(); seen >= rank {
			return min(float64((int64(i)+1)*latBucketNS), float64(h.max.Load())) / 1e6
		}
	}
	return float64(h.max.Load()) / 1e6
}

// procStatusMB reads a field of /proc/PID/status given in kB (VmRSS, VmHWM), in MB (0 if unavailable).
func procStatusMB(pid int, field string) float64 {
	return mb(procStatusBytes("/proc/"+strconv.Itoa(pid)+"/status", field))
}

// benchSlow: a fresh server; SlowSubs−slow healthy bench clients and slow raw clients join slowTopic;
// SlowMsgs broadcasts of SlowSize bytes are published in bursts of SlowBurst, each burst once the healthy
// clients have the one before the last (at most two bursts in flight), for at most SlowDuration. Then the
// slow clients read their sockets to find out whether, and how, the server cut them.
func benchSlow(ctx context.Context, cfg *benchConfig, kind string, round int) (r slowResult) {
	slow := cfg.slowCount()
	r = slowResult{Kind: kind, Round: round, Load: cfg.slowLoad(), SlowHow: map[string]int{}}
	f := newBenchFleet()
	f.lat = new(latHist) // every healthy delivery's latency
	srv, base, err := benchServer(ctx, cfg, kind)
	if err != nil {
		r.Error = "start server: " + err.Error()
		return r
	}
	var slowConns []*slowConn
	r.ServerPID = srv.cmd.Process.Pid
	defer func() {
		for _, c := range slowConns {
			_ = c.nc.Close()
		}
		srv.stop()
		if err := f.closeAll(30 * time.Second); err != nil && r.Error == "" {
			r.Error = err.Error()
		}
	}()
	cs := f.connect(ctx, cfg.plan(srv.addr, cfg.SlowSubs-slow), func(int) []string { return []string{slowTopic} })
	r.Healthy, r.ConnectErrors, r.FirstError = cs.Joined, cs.Errors, cs.FirstError
	for i := range slow {
		c, err := dialSlow(ctx, srv.addr, i, slowTopic, cfg.SlowRcvBuf, cfg.DialTimeout)
		if err != nil {
			r.ConnectErrors++
			if r.FirstError == "" {
				r.FirstError = fmt.Sprintf("slow #%d: %v", i, err)
			}
			continue
		}
		slowConns = append(slowConns, c)
	}
	r.Slow = len(slowConns)
	cfg.logf("  %s: %d healthy and %d slow clients joined, %d failed %s", kind, r.Healthy, r.Slow, r.ConnectErrors, r.FirstError)
	if r.ConnectErrors > 0 || r.Healthy == 0 {
		r.Error = fmt.Sprintf("%d connections failed: %s", r.ConnectErrors, r.FirstError)
		return r
	}
	r.RSSBeforeMB = procStatusMB(r.ServerPID, "VmRSS")

	healthy := int64(r.Healthy)
	f.arm(int64(cfg.SlowMsgs) * healthy)
	hc := &http.Client{} // bounded by ctx
	start := time.Now()
	stop := start.Add(cfg.SlowDuration)
	for r.MsgsSent < cfg.SlowMsgs && ctx.Err() == nil {
		if time.Now().After(stop) {
			r.TimedOut = true
			break
		}
		n := min(cfg.SlowBurst, cfg.SlowMsgs-r.MsgsSent)
		u := fmt.Sprintf("%s/fanout?topic=%s&n=%d&size=%d&seq=%d", base, slowTopic, n, cfg.SlowSize, r.MsgsSent)
		if err := postJSON(ctx, hc, u, nil); err != nil {
			r.Error = "publish: " + err.Error()
			break
		}
		r.MsgsSent += n
		if !awaitCount(ctx, &f.deliveries, int64(r.MsgsSent-n)*healthy, cfg.Quiet, stop) {
			break
		}
	}
	r.Expected = int64(r.MsgsSent) * healthy
	f.expected.Store(r.Expected)
	f.wait(ctx, cfg.Quiet)
	r.Delivered = f.deliveries.Load()
	if last := f.lastNS.Load(); r.Delivered > 0 && last > start.UnixNano() {
		r.StreamSeconds = float64(last-start.UnixNano()) / 1e9
		r.DeliveriesPerSec = float64(r.Delivered) / r.StreamSeconds
	}
	r.LatP50MS, r.LatP99MS, r.LatMaxMS = f.lat.percentileMS(50), f.lat.percentileMS(99), f.lat.percentileMS(100)
	r.RSSPeakMB, r.RSSEndMB = procStatusMB(r.ServerPID, "VmHWM"), procStatusMB(r.ServerPID, "VmRSS")
	r.OutOfOrder, r.OtherFrames = f.outOfOrder.Load(), f.other.Load()
	r.HealthyDisconnects, r.HealthyReasons = f.closedEarly.Load(), f.closeReasons()

	// Now the slow clients read what reached them, until the server's close or a quiet spell.
	r.SlowFrames = make([]int64, len(slowConns))
	how := make([]string, len(slowConns))
	var wg sync.WaitGroup
	for i, c := range slowConns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.SlowFrames[i], how[i] = c.drain(2*time.Second, cfg.Quiet+30*time.Second)
		}()
	}
	wg.Wait()
	for _, h := range how {
		r.SlowHow[h]++
		if h != "open" {
			r.SlowDisconnected++
		}
	}
	if r.Error == "" && ctx.Err() != nil {
		r.Error = ctx.Err().Error()
	}
	cfg.logf("  %s: %d msgs in %.1fs%s: healthy %d/%d delivered, %.0f/s, p50 %.2f ms p99 %.2f ms max %.2f ms, %d disconnected %v; slow: %d/%d disconnected %v, frames %v; server RSS %.0f → peak %.0f, end %.0f MB",
		kind, r.MsgsSent, r.StreamSeconds, map[bool]string{true: " (duration limit)", false: ""}[r.TimedOut], r.Delivered, r.Expected, r.DeliveriesPerSec,
		r.LatP50MS, r.LatP99MS, r.LatMaxMS, r.HealthyDisconnects, r.HealthyReasons, r.SlowDisconnected, r.Slow, r.SlowHow, r.SlowFrames,
		r.RSSBeforeMB, r.RSSPeakMB, r.RSSEndMB)
	return r
}

// awaitCount returns true once n reaches want; false when it did not move for quiet, deadline passed or
// ctx ended.
func awaitCount(ctx context.Context, n *atomic.Int64, want int64, quiet time.Duration, deadline time.Time) bool {
	last, lastChange := int64(-1), time.Now()
	for {
		v := n.Load()
		if v >= want {
			return true
		}
		now := time.Now()
		if v != last {
			last, lastChange = v, now
		} else if now.Sub(lastChange) >= quiet || now.After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(500 * time.Microsecond)
	}
}

// slowConn is a raw WebSocket client that joins one topic and then reads nothing until drain.
type slowConn struct {
	nc net.Conn
	br *bufio.Reader
}

// dialSlow connects with a receive buffer of rcvbuf bytes (0: the kernel's default), upgrades, joins
// topic and waits for the join's ok.
func dialSlow(ctx context.Context, addr string, i int, topic string, rcvbuf int, timeout time.Duration) (*slowConn, error) {
	d := &net.Dialer{Timeout: timeout, LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+i%250))}}
	if rcvbuf > 0 {
		d.Control = func(_, _ string, rc syscall.RawConn) error {
			var serr error
			if err := rc.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, rcvbuf)
			}); err != nil {
				return err
			}
			return serr
		}
	}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	c := &slowConn{nc: nc, br: bufio.NewReaderSize(nc, 4<<10)}
	if err := c.handshake(addr, topic, timeout); err != nil {
		_ = nc.Close()
		return nil, err
	}
	return c, nil
}

func (c *slowConn) handshake(addr, topic string, timeout time.Duration) error {
	_ = c.nc.SetDeadline(time.Now().Add(timeout))
	defer c.nc.SetDeadline(time.Time{})
	key := make([]byte, 16)
	_, _ = rand.Read(key)
	req := "GET /socket/websocket?vsn=2.0.0 HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + base64.StdEncoding.EncodeToString(key) + "\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := io.WriteString(c.nc, req); err != nil {
		return err
	}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		return fmt.Errorf("upgrade: %w", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		return fmt.Errorf("upgrade: %s", resp.Status)
	}
	if _, err := c.nc.Write(maskedText([]byte(`["1","1",` + strconv.Quote(topic) + `,"phx_join",{}]`))); err != nil {
		return err
	}
	for {
		op, payload, err := readFrame(c.br, true)
		if err != nil {
			return fmt.Errorf("join: %w", err)
		}
		if op == 1 && bytes.Contains(payload, phxReply) {
			if !bytes.Contains(payload, statusOK) {
				return fmt.Errorf("join refused: %.200s", payload)
			}
			return nil
		}
	}
}

// maskedText is a client text frame carrying p.
func maskedText(p []byte) []byte {
	out := []byte{0x81}
	switch {
	case len(p) < 126:
		out = append(out, 0x80|byte(len(p)))
	case len(p) <= 0xffff:
		out = append(out, 0x80|126, byte(len(p)>>8), byte(len(p)))
	default:
		out = append(out, 0x80|127)
		out = binary.BigEndian.AppendUint64(out, uint64(len(p)))
	}
	var mask [4]byte
	_, _ = rand.Read(mask[:])
	out = append(out, mask[:]...)
	for i, b := range p {
		out = append(out, b^mask[i%4])
	}
	return out
}

// readFrame reads one server frame (unmasked); its payload only when keep (or for a close frame).
func readFrame(br *bufio.Reader, keep bool) (op byte, payload []byte, err error) {
	var h [2]byte
	if _, err = io.ReadFull(br, h[:]); err != nil {
		return 0, nil, err
	}
	op = h[0] & 0x0f
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var e [2]byte
		if _, err = io.ReadFull(br, e[:]); err != nil {
			return 0, nil, err
		}
		n = uint64(binary.BigEndian.Uint16(e[:]))
	case 127:
		var e [8]byte
		if _, err = io.ReadFull(br, e[:]); err != nil {
			return 0, nil, err
		}
		n = binary.BigEndian.Uint64(e[:])
	}
	if h[1]&0x80 != 0 || n > 64<<20 {
		return 0, nil, errors.New("bad frame header")
	}
	if keep || op == 8 {
		payload = make([]byte, n)
		_, err = io.ReadFull(br, payload)
		return op, payload, err
	}
	_, err = io.CopyN(io.Discard, br, int64(n))
	return op, nil, err
}

// drain reads the socket until the server closes it (how: "close <code>" when a close frame came first,
// else "EOF" or "reset"), nothing arrives for quiet ("open") or limit passes ("open"). It returns the
// text frames read.
func (c *slowConn) drain(quiet, limit time.Duration) (frames int64, how string) {
	end := time.Now().Add(limit)
	for {
		dl := time.Now().Add(quiet)
		if dl.After(end) {
			dl = end
		}
		_ = c.nc.SetReadDeadline(dl)
		op, payload, err := readFrame(c.br, false)
		if err != nil {
			var ne net.Error
			switch {
			case how != "":
			case errors.As(err, &ne) && ne.Timeout():
				how = "open"
			case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
				how = "EOF"
			case errors.Is(err, syscall.ECONNRESET):
				how = "reset"
			default:
				how = "error: " + err.Error()
			}
			return frames, how
		}
		switch op {
		case 1:
			frames++
		case 8:
			if how == "" {
				how = "close frame"
				if len(payload) >= 2 {
					how = "close " + strconv.Itoa(int(binary.BigEndian.Uint16(payload)))
				}
			}
		}
	}
}
