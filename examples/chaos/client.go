package main

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pyrehq/pyre/transport/client"
)

// Client timings. Reconnects follow phoenix.js (10 ms … 5 s); rejoins after phx_error use a tenth of its
// schedule (1 s, 2 s, 5 s, then 10 s) so that short sessions see them complete.
var (
	reconnectBackoff = []time.Duration{10 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond,
		150 * time.Millisecond, 200 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond,
		time.Second, 2 * time.Second, 5 * time.Second}
	rejoinBackoff = []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 500 * time.Millisecond, time.Second}
)

const (
	callTimeout = 10 * time.Second // phoenix.js's push and join timeout
	dialTimeout = 10 * time.Second
)

func backoff(schedule []time.Duration, attempt int) time.Duration {
	return schedule[min(attempt, len(schedule)-1)]
}

// tickPayload is what the publisher broadcasts.
type tickPayload struct {
	Seq int `json:"seq"`
}

// tally counts what every client saw. Safe for concurrent use.
type tally struct {
	sent, ok, channelCrash, noReply, badEcho              atomic.Int64
	received, duplicates, outOfOrder, unexpected, dropped atomic.Int64
	dials, dialErrors, phxErrors, rejoins, joinErrors     atomic.Int64

	mu          sync.Mutex
	otherErrors map[string]int // error replies other than channel_crash, by reason
	samples     []string       // the first unexplained errors, for the report
}

func (t *tally) otherError(reason string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.otherErrors == nil {
		t.otherErrors = make(map[string]int)
	}
	t.otherErrors[reason]++
}

func (t *tally) sample(err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.samples) < 5 {
		t.samples = append(t.samples, err.Error())
	}
}

// chaosClient is one user: one connection at a time (reconnected when it drops), joined to its topics.
type chaosClient struct {
	s      *session
	idx    int
	userID string
	subs   []*sub

	mu    sync.Mutex
	conns []connRecord // by generation
}

// sub is one client's subscription to one topic, across every join of it.
type sub struct {
	c     *chaosClient
	topic string
	nudge chan struct{} // a kill hit this channel: push now, to time the recovery
	rng   *rand.Rand    // owned by the serving goroutine
	seq   int64         // last push sequence number; owned by the serving goroutine

	mu     sync.Mutex
	rec    subRecord
	open   bool // an instance is joined
	maxSeq int  // highest tick received
}

func newClient(s *session, idx int, topics []string) *chaosClient {
	c := &chaosClient{s: s, idx: idx, userID: strconv.Itoa(idx)}
	for k, t := range topics {
		c.subs = append(c.subs, &sub{
			c: c, topic: t, nudge: make(chan struct{}, 1),
			rng: rand.New(rand.NewPCG(s.cfg.Seed, uint64(idx)<<8|uint64(k))),
			rec: subRecord{Client: idx, Topic: t},
		})
	}
	return c
}

func (c *chaosClient) socketID() string { return idPrefix + c.userID }

// run keeps the client connected until the session stops, as phoenix.js would: reconnect with backoff
// after a close, then rejoin every topic.
func (c *chaosClient) run() {
	s := c.s
	failed := 0 // dials failed in a row
	for {
		if s.stopping() {
			return
		}
		dialStart := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), dialTimeout)
		conn, err := client.Dial(ctx, s.urls[c.idx%len(s.urls)], client.Options{Params: url.Values{"user_id": {c.userID}}})
		cancel()
		s.tally.dials.Add(1)
		if err != nil {
			s.tally.dialErrors.Add(1)
			s.tally.sample(err)
			if !s.sleep(backoff(reconnectBackoff, failed), nil) {
				return
			}
			failed++
			continue
		}
		failed = 0
		gen := c.opened(dialStart)
		var serving, readers sync.WaitGroup
		for _, sb := range c.subs {
			serving.Add(1)
			go func() {
				defer serving.Done()
				sb.serve(conn, gen, &readers)
			}()
		}
		select {
		case <-conn.Closed():
			serving.Wait()
			readers.Wait()
			c.closed(gen, conn, time.Now())
			s.disrupted()
			if !s.sleep(backoff(reconnectBackoff, 0), nil) {
				return
			}
		case <-s.stop:
			serving.Wait() // each ended with a final push
			_ = conn.Close()
			readers.Wait()
			c.closed(gen, conn, time.Now())
			return
		}
	}
}

func (c *chaosClient) opened(dialStart time.Time) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.conns = append(c.conns, connRecord{Client: c.idx, DialStart: dialStart})
	return len(c.conns) - 1
}

func (c *chaosClient) closed(gen int, conn *client.Conn, at time.Time) {
	var ce *client.CloseError
	errors.As(conn.Err(), &ce)
	c.s.tally.dropped.Add(int64(conn.Stats().Dropped))
	c.mu.Lock()
	defer c.mu.Unlock()
	r := &c.conns[gen]
	r.ClosedAt = at
	if ce != nil {
		r.Code = ce.Code
		r.Local = !ce.Remote && ce.Code == 1000 && ce.Reason == ""
	}
}

func (c *chaosClient) lost(gen int) {
	c.mu.Lock()
	c.conns[gen].Lost++
	c.mu.Unlock()
}

// Outcomes of a joined channel's push loop.
type loopEnd int

const (
	endStopped loopEnd = iota
	endClosed
	endPhxError
)

// serve joins the topic on conn and keeps it joined (rejoining after phx_error) until conn closes or the
// session stops.
func (sb *sub) serve(conn *client.Conn, gen int, readers *sync.WaitGroup) {
	s := sb.c.s
	for attempt, rejoin := 0, false; ; {
		if s.stopping() {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		ch, _, err := conn.Join(ctx, sb.topic, nil)
		cancel()
		if err != nil {
			if errors.Is(err, client.ErrClosed) {
				return
			}
			s.tally.joinErrors.Add(1)
			s.tally.sample(err)
			if !s.sleep(backoff(rejoinBackoff, attempt), conn) {
				return
			}
			attempt++
			continue
		}
		if rejoin {
			s.tally.rejoins.Add(1)
		}
		attempt, rejoin = 0, true
		inst := sb.begin(time.Now())
		ended := make(chan loopEnd, 1)
		readers.Add(1)
		go sb.read(ch, inst, ended, readers)
		switch sb.pushLoop(conn, ch, gen, ended) {
		case endStopped:
			sb.push(conn, ch, gen, false) // its ok reply comes after every tick queued before it
			return
		case endClosed:
			return
		case endPhxError:
			if !s.sleep(backoff(rejoinBackoff, 0), conn) {
				return
			}
		}
	}
}

// pushLoop pushes ping at the session's rate (at once after a join or a nudge) until the channel ends or
// the session stops.
func (sb *sub) pushLoop(conn *client.Conn, ch *client.Channel, gen int, ended <-chan loopEnd) loopEnd {
	s := sb.c.s
	t := time.NewTicker(s.cfg.PushInterval)
	defer t.Stop()
	for {
		crash := s.chaosOn.Load() && s.cfg.CrashPushes > 0 && sb.rng.Float64() < s.cfg.CrashPushes
		sb.push(conn, ch, gen, crash)
		select {
		case <-t.C:
		case <-sb.nudge:
		case e := <-ended:
			return e
		case <-s.stop:
			return endStopped
		}
	}
}

// push sends one ping (or crash) with a fresh sequence number and accounts for its outcome. It uses
// Conn.Request rather than Channel.Push so that the server's own answer is awaited even after phx_error
// (Channel.Push gives up on its own when the channel ends).
func (sb *sub) push(conn *client.Conn, ch *client.Channel, gen int, crash bool) {
	t := &sb.c.s.tally
	sb.seq++
	event := "ping"
	sent := time.Now()
	if crash {
		event = "crash"
		sb.mu.Lock()
		sb.rec.Crashes = append(sb.rec.Crashes, sent)
		sb.mu.Unlock()
		sb.c.s.disrupted()
	}
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	reply, err := conn.Request(ctx, client.Message{JoinRef: ch.JoinRef(), Topic: sb.topic, Event: event,
		Payload: json.RawMessage(`{"seq":` + strconv.FormatInt(sb.seq, 10) + `}`)})
	cancel()
	replied := time.Now()
	t.sent.Add(1)
	var re *client.ReplyError
	switch {
	case err == nil:
		t.ok.Add(1)
		var pong pongPayload
		if reply.Unmarshal(&pong) != nil || pong.Seq != sb.seq {
			t.badEcho.Add(1)
		}
		sb.mu.Lock()
		sb.rec.OKs = append(sb.rec.OKs, okEvent{Sent: sent, Replied: replied})
		sb.mu.Unlock()
	case errors.As(err, &re):
		if re.Reason() == "channel_crash" {
			t.channelCrash.Add(1)
		} else {
			t.otherError(re.Reason())
		}
	case errors.Is(err, client.ErrClosed):
		sb.c.lost(gen)
	default:
		t.noReply.Add(1)
		t.sample(err)
	}
}

// read records what one joined channel receives until it ends, and reports how it ended.
func (sb *sub) read(ch *client.Channel, inst int, ended chan<- loopEnd, readers *sync.WaitGroup) {
	defer readers.Done()
	t := &sb.c.s.tally
	end, last := endClosed, 0
	for m := range ch.Messages() {
		switch m.Event {
		case "tick":
			var p tickPayload
			if m.Unmarshal(&p) != nil || p.Seq < 1 {
				t.unexpected.Add(1)
				continue
			}
			t.received.Add(1)
			if p.Seq <= last {
				t.outOfOrder.Add(1)
			}
			last = max(last, p.Seq)
			sb.mu.Lock()
			if sb.rec.Received.add(p.Seq) {
				t.duplicates.Add(1)
			}
			sb.maxSeq = max(sb.maxSeq, p.Seq)
			sb.mu.Unlock()
		case "phx_error":
			end = endPhxError
			t.phxErrors.Add(1)
			sb.mu.Lock()
			sb.rec.PhxErrors = append(sb.rec.PhxErrors, time.Now())
			sb.mu.Unlock()
			sb.c.s.disrupted()
		case "presence_diff", "presence_state":
			// With several nodes the rooms track presence: checked on the servers (PresenceCheck).
		default: // phx_close (nobody leaves) or anything else
			t.unexpected.Add(1)
		}
	}
	sb.mu.Lock()
	sb.rec.Instances[inst].To = time.Now()
	sb.open = false
	sb.mu.Unlock()
	ended <- end
}

func (sb *sub) begin(at time.Time) int {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	sb.rec.Instances = append(sb.rec.Instances, span{From: at, To: forever})
	sb.open = true
	return len(sb.rec.Instances) - 1
}

// servedSince reports whether the subscription is joined, has had a push sent after t answered ok, and
// has received a tick published after t.
func (sb *sub) servedSince(t time.Time, published func(topic string, seq int) time.Time) bool {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	n := len(sb.rec.OKs)
	return sb.open && n > 0 && sb.rec.OKs[n-1].Sent.After(t) && published(sb.topic, sb.maxSeq).After(t)
}

func (sb *sub) record() subRecord {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	return sb.rec
}
