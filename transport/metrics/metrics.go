package metrics

import (
	"errors"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pyrehq/pyre/actors/channel"
	"github.com/pyrehq/pyre/actors/telemetry"
	"github.com/pyrehq/pyre/supervisor"
)

// Config configures Metrics. The zero value works.
type Config struct {
	// Namespace prefixes every metric name. Zero value means "pyre" (pyre_connections, ...).
	Namespace string
	// MaxTopicPrefixes bounds the values of the topic_prefix label: prefixes seen after that many are
	// counted under "other". Routes bound prefixes already ("room:*" gives "room:"), but a catch-all route
	// ("*") or broadcasts to ad-hoc topics would not. Zero value means 64.
	MaxTopicPrefixes int
	// ConstLabels are added to every metric (a node name, say). Zero value means none.
	ConstLabels prometheus.Labels
}

// Metrics keeps Pyre's Prometheus metrics, fed by telemetry events (Events). Its methods are safe for
// concurrent use.
type Metrics struct {
	maxPrefixes int
	prefixes    sync.Map // string → *prefixMetrics
	nPrefixes   atomic.Int64

	connections     *prometheus.GaugeVec
	connects        *prometheus.CounterVec
	connectDuration *prometheus.HistogramVec
	disconnects     *prometheus.CounterVec
	channels        *prometheus.GaugeVec
	joins           *prometheus.CounterVec
	joinDuration    *prometheus.HistogramVec
	handleIn        *prometheus.HistogramVec
	leaves          *prometheus.CounterVec
	crashes         *prometheus.CounterVec
	restarts        *prometheus.CounterVec
	escalations     *prometheus.CounterVec
	received        *prometheus.CounterVec
	sent            *sentCounters // messages_sent_total and sent_bytes_total
	slow            *prometheus.CounterVec
	broadcasts      *prometheus.CounterVec
	deliveries      *prometheus.CounterVec
	presences       *prometheus.GaugeVec
	drained         prometheus.Counter
	gaveUp          prometheus.Counter
	infraRestarts   *prometheus.CounterVec
	members         prometheus.Gauge

	// Pre-resolved children of the hot paths, by transport.
	ws, lp transportMetrics
}

type transportMetrics struct {
	received prometheus.Counter
}

// prefixMetrics are the children of one topic_prefix value.
type prefixMetrics struct {
	channels     prometheus.Gauge
	joinDuration prometheus.Observer
	handleIn     prometheus.Observer
	crashes      prometheus.Counter
	restarts     prometheus.Counter
	broadcasts   prometheus.Counter
	deliveries   prometheus.Counter
	presences    prometheus.Gauge
	joins        map[string]prometheus.Counter // by result
}

// Errors of New.
var (
	// ErrNoRegisterer is returned for a nil Registerer: Metrics never fall back to Prometheus's global one.
	ErrNoRegisterer = errors.New("metrics: nil prometheus.Registerer")
)

// Buckets of the duration histograms, in seconds: 100 µs to 6.5 s, ×4 each.
var durationBuckets = prometheus.ExponentialBuckets(0.0001, 4, 9)

// New makes Pyre's metrics and registers them on reg, and nowhere else (never on Prometheus's global
// registry). It fails when reg refuses one (a name registered twice: give each Metrics a registry of its
// own, or a Namespace), registering none then.
func New(reg prometheus.Registerer, cfg Config) (*Metrics, error) {
	if reg == nil {
		return nil, ErrNoRegisterer
	}
	ns := cfg.Namespace
	if ns == "" {
		ns = "pyre"
	}
	m := &Metrics{maxPrefixes: cfg.MaxTopicPrefixes}
	if m.maxPrefixes <= 0 {
		m.maxPrefixes = 64
	}
	cl := cfg.ConstLabels
	gauge := func(name, help string, labels ...string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: name, Help: help, ConstLabels: cl}, labels)
	}
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: name, Help: help, ConstLabels: cl}, labels)
	}
	histogram := func(name, help string, labels ...string) *prometheus.HistogramVec {
		return prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: name, Help: help, ConstLabels: cl, Buckets: durationBuckets}, labels)
	}
	m.connections = gauge("connections", "Open connections.", "transport")
	m.connects = counter("connects_total", "Connection attempts that reached the socket handler, by result (ok, error, crash).", "transport", "result")
	m.connectDuration = histogram("connect_duration_seconds", "Time the socket handler's Connect took.", "transport")
	m.disconnects = counter("disconnects_total", "Connections ended, by close code (the server's, else the client's; 1006 none; other: a code outside 1000-1015).", "code")
	m.channels = gauge("channels", "Joined channels.", "topic_prefix")
	m.joins = counter("channel_joins_total", "Joins handled by a channel's Join, by result (ok, error, crash).", "topic_prefix", "result")
	m.joinDuration = histogram("join_duration_seconds", "Time a channel's Join took.", "topic_prefix")
	m.handleIn = histogram("handle_in_duration_seconds", "Time a channel's HandleIn took.", "topic_prefix")
	m.leaves = counter("channel_leaves_total", "Joined channels ended, by reason (left, closed, duplicate_join, shutdown, normal, crash, error, too_many_restarts).", "reason")
	m.crashes = counter("channel_crashes_total", "Channel incarnations that failed (a panic, an error returned, a kill).", "topic_prefix")
	m.restarts = counter("channel_restarts_total", "In-place channel restarts that succeeded.", "topic_prefix")
	m.escalations = counter("channel_escalations_total", "Restart intensities exceeded, by scope (channel: it ended; connection: it closed with 1011).", "scope")
	m.received = counter("messages_received_total", "Messages received from clients (heartbeats, joins, pushes, leaves).", "transport")
	m.sent = newSentCounters(
		prometheus.CounterOpts{Namespace: ns, Name: "messages_sent_total", Help: "Messages written to clients (pushes, replies, broadcasts; not close frames).", ConstLabels: cl},
		prometheus.CounterOpts{Namespace: ns, Name: "sent_bytes_total", Help: "Bytes written to clients (WebSocket: frames with their headers; long-poll: messages).", ConstLabels: cl})
	m.slow = counter("slow_consumer_disconnects_total", "Connections cut as slow consumers (1013), by cause (queue, handle_out, join).", "cause")
	m.broadcasts = counter("broadcasts_total", "Broadcasts delivered on this node.", "topic_prefix")
	m.deliveries = counter("broadcast_deliveries_total", "Local subscribers broadcasts reached (the fan-out).", "topic_prefix")
	m.presences = gauge("presences", "Presences (keys with at least one meta) on this node.", "topic_prefix")
	m.drained = prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "drained_connections_total", Help: "Connections ended by drains (shutdown).", ConstLabels: cl})
	m.gaveUp = prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "endpoint_give_ups_total", Help: "Times the endpoint supervisor gave up (every connection closed).", ConstLabels: cl})
	m.infraRestarts = counter("infrastructure_restarts_total", "Infrastructure actors restarted by the endpoint supervisor.", "child")
	m.members = prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "cluster_members", Help: "Nodes in the cluster, this one included (SetClusterMembers).", ConstLabels: cl})

	all := []prometheus.Collector{m.connections, m.connects, m.connectDuration, m.disconnects, m.channels, m.joins,
		m.joinDuration, m.handleIn, m.leaves, m.crashes, m.restarts, m.escalations, m.received, m.sent,
		m.slow, m.broadcasts, m.deliveries, m.presences, m.drained, m.gaveUp, m.infraRestarts, m.members}
	for i, c := range all {
		if err := reg.Register(c); err != nil {
			for _, done := range all[:i] {
				reg.Unregister(done)
			}
			return nil, err
		}
	}
	m.ws = m.transport("websocket")
	m.lp = m.transport("longpoll")
	for _, t := range []string{"websocket", "longpoll"} {
		m.connections.WithLabelValues(t) // 0 from the start, not absent
	}
	return m, nil
}

func (m *Metrics) transport(name string) transportMetrics {
	return transportMetrics{
		received: m.received.WithLabelValues(name),
	}
}

func (m *Metrics) byTransport(name string) transportMetrics {
	switch name {
	case "websocket":
		return m.ws
	case "longpoll":
		return m.lp
	}
	return m.transport(name)
}

// prefix returns the children of topic's prefix label (telemetry.TopicPrefix), "other" past
// MaxTopicPrefixes.
func (m *Metrics) prefix(topic string) *prefixMetrics {
	p := telemetry.TopicPrefix(topic)
	if pm, ok := m.prefixes.Load(p); ok {
		return pm.(*prefixMetrics)
	}
	if p != "other" && m.nPrefixes.Add(1) > int64(m.maxPrefixes) {
		m.nPrefixes.Add(-1)
		p = "other"
		if pm, ok := m.prefixes.Load(p); ok {
			return pm.(*prefixMetrics)
		}
	}
	pm := &prefixMetrics{
		channels:     m.channels.WithLabelValues(p),
		joinDuration: m.joinDuration.WithLabelValues(p),
		handleIn:     m.handleIn.WithLabelValues(p),
		crashes:      m.crashes.WithLabelValues(p),
		restarts:     m.restarts.WithLabelValues(p),
		broadcasts:   m.broadcasts.WithLabelValues(p),
		deliveries:   m.deliveries.WithLabelValues(p),
		presences:    m.presences.WithLabelValues(p),
		joins: map[string]prometheus.Counter{
			telemetry.ResultOK:    m.joins.WithLabelValues(p, telemetry.ResultOK),
			telemetry.ResultError: m.joins.WithLabelValues(p, telemetry.ResultError),
			telemetry.ResultCrash: m.joins.WithLabelValues(p, telemetry.ResultCrash),
		},
	}
	actual, loaded := m.prefixes.LoadOrStore(p, pm)
	if loaded && p != "other" {
		m.nPrefixes.Add(-1) // another goroutine made it first
	}
	return actual.(*prefixMetrics)
}

// SetClusterMembers sets pyre_cluster_members: call it from the cluster's membership (or use Events'
// MemberJoined and MemberLeft, which set it from Member.Members).
func (m *Metrics) SetClusterMembers(n int) { m.members.Set(float64(n)) }

// Events returns the observer that keeps the metrics: give it to transport.Config.Events (with
// telemetry.Combine beside your own). Each func does a few atomic adds; the hot ones (messages, pushes,
// broadcasts) find their metric without a label lookup.
func (m *Metrics) Events() telemetry.Events {
	return telemetry.Events{
		SocketConnected: func(e telemetry.SocketConnected) {
			m.connects.WithLabelValues(e.Transport, e.Result).Inc()
			m.connectDuration.WithLabelValues(e.Transport).Observe(e.Duration.Seconds())
			if e.Result == telemetry.ResultOK {
				m.connections.WithLabelValues(e.Transport).Inc()
			}
		},
		SocketDisconnected: func(e telemetry.SocketDisconnected) {
			m.connections.WithLabelValues(e.Transport).Dec()
			m.disconnects.WithLabelValues(codeLabel(e.Code)).Inc()
		},
		SocketDrain: func(e telemetry.SocketDrain) { m.drained.Add(float64(e.Count)) },
		ChannelJoined: func(e telemetry.ChannelJoined) {
			pm := m.prefix(e.Topic)
			pm.joinDuration.Observe(e.Duration.Seconds())
			if c := pm.joins[e.Result]; c != nil {
				c.Inc()
			}
			if e.Result == telemetry.ResultOK {
				pm.channels.Inc()
			}
		},
		ChannelHandledIn: func(e telemetry.ChannelHandledIn) {
			m.prefix(e.Topic).handleIn.Observe(e.Duration.Seconds())
		},
		ChannelLeft: func(e telemetry.ChannelLeft) {
			m.prefix(e.Topic).channels.Dec()
			m.leaves.WithLabelValues(ReasonLabel(e.Reason)).Inc()
		},
		ChannelCrashed:   func(e telemetry.ChannelCrashed) { m.prefix(e.Topic).crashes.Inc() },
		ChannelRestarted: func(e telemetry.ChannelRestarted) { m.prefix(e.Topic).restarts.Inc() },
		ChannelEscalated: func(e telemetry.ChannelEscalated) { m.escalations.WithLabelValues(e.Scope).Inc() },
		SlowConsumer:     func(e telemetry.SlowConsumer) { m.slow.WithLabelValues(e.Cause).Inc() },
		EndpointGaveUp:   func(telemetry.EndpointGaveUp) { m.gaveUp.Inc() },
		InfrastructureRestarted: func(e telemetry.InfrastructureRestarted) {
			m.infraRestarts.WithLabelValues(e.Child).Inc()
		},
		MessageReceived: func(e telemetry.MessageReceived) { m.byTransport(e.Transport).received.Inc() },
		MessagesSent:    func(e telemetry.MessagesSent) { m.sent.add(e.Transport, e.Frames, e.Bytes) },
		Broadcast: func(e telemetry.Broadcast) {
			pm := m.prefix(e.Topic)
			pm.broadcasts.Inc()
			pm.deliveries.Add(float64(e.Subscribers))
		},
		PresenceJoined: func(e telemetry.Presence) { m.prefix(e.Topic).presences.Inc() },
		PresenceLeft:   func(e telemetry.Presence) { m.prefix(e.Topic).presences.Dec() },
		MemberJoined:   func(e telemetry.Member) { m.SetClusterMembers(e.Members) },
		MemberLeft:     func(e telemetry.Member) { m.SetClusterMembers(e.Members) },
	}
}

// codeLabel bounds the code label: the codes of RFC 6455 and its registry (1000-1015) as themselves, any
// other (a client may send 3000-4999) as "other".
func codeLabel(code uint16) string {
	if code >= 1000 && code <= 1015 {
		return strconv.Itoa(int(code))
	}
	return "other"
}

// ReasonLabel is the bounded reason label of pyre_channel_leaves_total for a channel's end reason: left,
// closed, duplicate_join, shutdown, too_many_restarts, normal (StopNormal), crash (a panic), error (any
// other error a callback returned).
func ReasonLabel(reason error) string {
	var crash *channel.CrashError
	switch {
	case errors.Is(reason, channel.ErrLeft):
		return "left"
	case errors.Is(reason, channel.ErrClosed):
		return "closed"
	case errors.Is(reason, channel.ErrDuplicateJoin):
		return "duplicate_join"
	case errors.Is(reason, channel.ErrShutdown):
		return "shutdown"
	case errors.Is(reason, channel.ErrTooManyRestarts):
		return "too_many_restarts"
	case errors.As(reason, &crash):
		return "crash"
	case supervisor.IsNormal(reason):
		return "normal"
	}
	return "error"
}
