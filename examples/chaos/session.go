package main

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/pyrehq/pyre/supervisor/chaos"
	"github.com/pyrehq/pyre/transport/client"
)

// session is the client side of a run.
type session struct {
	cfg     Config
	urls    []string // client i dials urls[i%len(urls)]
	clients []*chaosClient
	byID    map[string]*chaosClient
	tally   tally
	chaosOn atomic.Bool   // crash pushes only while the monkey runs
	stop    chan struct{} // closed: make a final push, close, return

	mu        sync.Mutex
	lastBlow  time.Time // latest disruption a client saw (close, phx_error, crash push)
	published func(topic string, seq int) time.Time
}

func (s *session) stopping() bool {
	select {
	case <-s.stop:
		return true
	default:
		return false
	}
}

// sleep waits d; false if the session stopped or conn (when non-nil) closed meanwhile.
func (s *session) sleep(d time.Duration, conn *client.Conn) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	var closed <-chan struct{}
	if conn != nil {
		closed = conn.Closed()
	}
	select {
	case <-t.C:
		return true
	case <-s.stop:
		return false
	case <-closed:
		return false
	}
}

func (s *session) disrupted() {
	s.mu.Lock()
	s.lastBlow = time.Now()
	s.mu.Unlock()
}

// nudge makes the subscriptions a kill disrupted push at once, so that the time to serving again measures
// the recovery rather than the push interval. A killed socket needs none: its client sees the close.
func (s *session) nudge(k chaos.Kill) {
	if k.Kind == chaos.Socket {
		return
	}
	topic, hasTopic := k.Labels[chaos.LabelTopic]
	clients := s.clients
	if c := s.byID[k.Labels[chaos.LabelSocketID]]; c != nil {
		clients = []*chaosClient{c}
	}
	for _, c := range clients {
		for _, sb := range c.subs {
			if !hasTopic || sb.topic == topic {
				select {
				case sb.nudge <- struct{}{}:
				default:
				}
			}
		}
	}
}

// servedSince reports whether every subscription served (ok reply, tick received) after t.
func (s *session) servedSince(t time.Time) bool {
	for _, c := range s.clients {
		for _, sb := range c.subs {
			if !sb.servedSince(t, s.published) {
				return false
			}
		}
	}
	return true
}

// publisher broadcasts tick {seq} on every topic at a steady rate and records when each was published.
type publisher struct {
	broadcast func(topic, event string, payload any) error
	topics    []string
	interval  time.Duration

	mu     sync.Mutex
	ticks  map[string][]span
	errors []string
}

func (p *publisher) run(stop <-chan struct{}) {
	t := time.NewTicker(p.interval)
	defer t.Stop()
	for seq := 1; ; seq++ {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		for _, topic := range p.topics {
			from := time.Now()
			err := p.broadcast(topic, "tick", tickPayload{Seq: seq})
			to := time.Now()
			p.mu.Lock()
			p.ticks[topic] = append(p.ticks[topic], span{from, to}) // seq n at [n-1], even if it failed
			if err != nil && len(p.errors) < 5 {
				p.errors = append(p.errors, err.Error())
			}
			p.mu.Unlock()
		}
	}
}

// published returns when tick seq of topic started being published; zero if not yet.
func (p *publisher) published(topic string, seq int) time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	if seq < 1 || seq > len(p.ticks[topic]) {
		return time.Time{}
	}
	return p.ticks[topic][seq-1].From
}
