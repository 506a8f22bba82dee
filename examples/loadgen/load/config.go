package load

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Defaults applied to zero Config fields.
const (
	DefaultConnectConcurrency = 64
	DefaultPushTimeout        = 10 * time.Second // phoenix.js's default timeout
	DefaultConnectTimeout     = 2 * time.Minute
	DefaultHeartbeat          = 30 * time.Second // phoenix.js's heartbeatIntervalMs
	DefaultMaxInFlight        = 10000
	// DialTimeout bounds each connection's TCP connect and WebSocket handshake.
	DialTimeout = 10 * time.Second
	// ConnsPerSourceAddr is how many connections share one default source address.
	ConnsPerSourceAddr = 1000
)

const (
	messageBuffer  = 16   // per joined channel; the reader drains it at once
	readBufferSize = 1024 // per connection; larger frames are still read whole
	maxReasons     = 32   // distinct error reasons kept per map; the rest count as "other"
)

// Config describes one load run. Conns and Duration are required; every other zero value has a default,
// documented on its field.
type Config struct {
	// URL is the socket endpoint, e.g. ws://127.0.0.1:4000/socket. "/websocket" is appended to the path
	// and vsn=2.0.0 to the query unless present (http and https are taken as ws and wss).
	URL string
	// Params are the connect params sent with every connection; "{i}" in a value is replaced by the
	// connection's index (0 … Conns-1), for user ids.
	Params url.Values
	// Conns is the number of connections to open (required).
	Conns int
	// ConnectRate is new connections per second. Zero means as fast as ConnectConcurrency allows.
	ConnectRate float64
	// ConnectConcurrency is how many connections may be dialing and joining at once. Zero means 64.
	ConnectConcurrency int
	// SourceAddrs are the local IPs connections are bound to, round-robin (connection i uses
	// SourceAddrs[i % len]), so that each address gets its own ephemeral port range toward the server.
	// An empty string entry leaves the choice to the kernel. Empty means one address per 1,000
	// connections starting at 127.0.0.2 when the URL's host is IPv4 loopback (or localhost), else none.
	SourceAddrs []string

	// Topics lists the topics to join explicitly; or TopicPattern with TopicCount builds them, "{n}" in
	// the pattern being replaced by 0 … TopicCount-1 (e.g. "room:{n}").
	Topics       []string
	TopicPattern string
	TopicCount   int
	// JoinsPerConn is how many topics each connection joins: connection i joins topics
	// (i*JoinsPerConn + j) % len(topics) for j < JoinsPerConn, so the distribution is exact and
	// reproducible. Zero means 1 when there are topics, none otherwise (connections only).
	JoinsPerConn int
	// JoinPayload is the join params; "{i}" is replaced by the connection index. Nil means {}.
	JoinPayload json.RawMessage

	// PushEvent is the event pushed on every joined channel. Empty means no pushes.
	PushEvent string
	// PushPayload is the payload of each push; "{seq}" is replaced by the channel's push sequence number
	// (1, 2, …) and "{i}" by the connection index. Nil means {}.
	PushPayload json.RawMessage
	// PushRate is pushes per second per joined channel. Each channel starts at a random phase and each
	// interval carries ±10 % jitter, so connections do not push in lockstep. Required with PushEvent.
	PushRate float64
	// PushTimeout bounds each push (and each join): one without a reply by then counts as a timeout.
	// Zero means 10 s, phoenix.js's default.
	PushTimeout time.Duration
	// MaxInFlight bounds the pushes awaiting their reply; a push due while the bound is reached is
	// skipped and counted (Pushes.Skipped). Zero means 10,000.
	MaxInFlight int

	// BroadcastEvent is the event counted as a broadcast; empty means every message that is not a reply,
	// phx_close or phx_error. If its payload is a JSON object with a numeric "ts" field (Unix time in
	// nanoseconds, set by the publisher) the publish→delivery latency is recorded.
	BroadcastEvent string

	// Duration is how long the load is held once every connection has been attempted (required, > 0).
	Duration time.Duration
	// ConnectTimeout bounds the whole connect and join phase. Zero means 2 min.
	ConnectTimeout time.Duration
	// Heartbeat is the interval of Phoenix heartbeats on every connection (Phoenix servers close idle
	// sockets after 60 s). Zero means 30 s; negative means none.
	Heartbeat time.Duration

	// Progress receives a one-line report every second. Nil means none.
	Progress io.Writer
}

// plan is a validated Config with its defaults applied and its templates compiled.
type plan struct {
	Config
	url         string     // normalized endpoint URL
	topics      []string   // every topic, indexed by topic number
	params      []paramTpl // connect params with their templates
	paramsFixed url.Values // the params when no value has a placeholder
	joinTpl     template
	pushTpl     template
}

type paramTpl struct {
	key    string
	values []template
}

// newPlan validates cfg and applies the defaults.
func newPlan(cfg Config) (*plan, error) {
	p := &plan{Config: cfg}
	u, err := normalizeURL(cfg.URL)
	if err != nil {
		return nil, err
	}
	p.url = u.String()
	switch {
	case cfg.Conns < 1:
		return nil, fmt.Errorf("%w: Conns must be at least 1", ErrConfig)
	case cfg.Duration <= 0:
		return nil, fmt.Errorf("%w: Duration must be positive", ErrConfig)
	case cfg.ConnectRate < 0 || cfg.PushRate < 0:
		return nil, fmt.Errorf("%w: rates must not be negative", ErrConfig)
	case cfg.ConnectConcurrency < 0 || cfg.JoinsPerConn < 0 || cfg.TopicCount < 0 || cfg.MaxInFlight < 0:
		return nil, fmt.Errorf("%w: counts must not be negative", ErrConfig)
	case cfg.PushEvent != "" && cfg.PushRate == 0:
		return nil, fmt.Errorf("%w: PushEvent needs a PushRate", ErrConfig)
	case cfg.PushEvent == "" && cfg.PushRate > 0:
		return nil, fmt.Errorf("%w: PushRate needs a PushEvent", ErrConfig)
	}
	if p.ConnectConcurrency == 0 {
		p.ConnectConcurrency = DefaultConnectConcurrency
	}
	if p.PushTimeout <= 0 {
		p.PushTimeout = DefaultPushTimeout
	}
	if p.ConnectTimeout <= 0 {
		p.ConnectTimeout = DefaultConnectTimeout
	}
	if p.Heartbeat == 0 {
		p.Heartbeat = DefaultHeartbeat
	}
	if p.MaxInFlight == 0 {
		p.MaxInFlight = DefaultMaxInFlight
	}
	if p.Progress == nil {
		p.Progress = io.Discard
	}

	if p.topics, err = buildTopics(cfg.Topics, cfg.TopicPattern, cfg.TopicCount); err != nil {
		return nil, err
	}
	if p.JoinsPerConn == 0 && len(p.topics) > 0 {
		p.JoinsPerConn = 1
	}
	switch {
	case p.JoinsPerConn > len(p.topics):
		return nil, fmt.Errorf("%w: JoinsPerConn (%d) exceeds the %d topics (a connection joins each topic once)",
			ErrConfig, p.JoinsPerConn, len(p.topics))
	case p.PushEvent != "" && p.JoinsPerConn == 0:
		return nil, fmt.Errorf("%w: pushes need topics to join", ErrConfig)
	}

	if p.SourceAddrs, err = checkSourceAddrs(cfg.SourceAddrs, u.Hostname(), cfg.Conns); err != nil {
		return nil, err
	}

	if p.joinTpl, err = compileJSON("JoinPayload", cfg.JoinPayload); err != nil {
		return nil, err
	}
	if p.pushTpl, err = compileJSON("PushPayload", cfg.PushPayload); err != nil {
		return nil, err
	}
	templated := false
	for k, vs := range cfg.Params {
		pt := paramTpl{key: k}
		for _, v := range vs {
			t := compile(v)
			templated = templated || t.dynamic()
			pt.values = append(pt.values, t)
		}
		p.params = append(p.params, pt)
	}
	if !templated && len(cfg.Params) > 0 {
		p.paramsFixed = p.paramsFor(0)
	}
	return p, nil
}

// paramsFor returns the connect params of connection i.
func (p *plan) paramsFor(i int) url.Values {
	if p.paramsFixed != nil {
		return p.paramsFixed
	}
	if len(p.params) == 0 {
		return nil
	}
	v := make(url.Values, len(p.params))
	for _, pt := range p.params {
		for _, t := range pt.values {
			v[pt.key] = append(v[pt.key], string(t.expand(nil, vars{i: int64(i)})))
		}
	}
	return v
}

// topicsFor returns the topics connection i joins.
func (p *plan) topicsFor(i int) []string {
	out := make([]string, p.JoinsPerConn)
	for j := range out {
		out[j] = p.topics[topicIndex(i, j, p.JoinsPerConn, len(p.topics))]
	}
	return out
}

// topicIndex is the topic number of connection i's j-th join: consecutive joins walk the topics
// round-robin, so every topic gets Conns*joins/topics joins (±1).
func topicIndex(i, j, joins, topics int) int {
	return int((int64(i)*int64(joins) + int64(j)) % int64(topics))
}

// normalizeURL parses a socket endpoint and completes it to …/websocket?vsn=2.0.0.
func normalizeURL(raw string) (*url.URL, error) {
	if raw == "" {
		return nil, fmt.Errorf("%w: URL is required", ErrConfig)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: URL: %v", ErrConfig, err)
	}
	switch u.Scheme {
	case "ws", "wss":
	case "http":
		u.Scheme = "ws"
	case "https":
		u.Scheme = "wss"
	default:
		return nil, fmt.Errorf("%w: URL %q: scheme must be ws, wss, http or https", ErrConfig, raw)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("%w: URL %q has no host", ErrConfig, raw)
	}
	if !strings.HasSuffix(u.Path, "/websocket") {
		u.Path = strings.TrimSuffix(u.Path, "/") + "/websocket"
	}
	q := u.Query()
	switch vsn := q.Get("vsn"); {
	case vsn == "":
		q.Set("vsn", "2.0.0")
		u.RawQuery = q.Encode()
	case !strings.HasPrefix(vsn, "2."):
		return nil, fmt.Errorf("%w: URL %q: vsn %s (the client speaks the V2 protocol only)", ErrConfig, raw, vsn)
	}
	return u, nil
}

// buildTopics returns the explicit topics, or the pattern expanded TopicCount times.
func buildTopics(explicit []string, pattern string, count int) ([]string, error) {
	switch {
	case len(explicit) > 0 && pattern != "":
		return nil, fmt.Errorf("%w: set Topics or TopicPattern, not both", ErrConfig)
	case len(explicit) > 0:
		seen := make(map[string]bool, len(explicit))
		for _, t := range explicit {
			if t == "" || seen[t] {
				return nil, fmt.Errorf("%w: topic %q is empty or repeated", ErrConfig, t)
			}
			seen[t] = true
		}
		return append([]string(nil), explicit...), nil
	case pattern == "":
		if count > 0 {
			return nil, fmt.Errorf("%w: TopicCount needs a TopicPattern", ErrConfig)
		}
		return nil, nil
	}
	if count == 0 {
		count = 1
	}
	t := compile(pattern)
	if count > 1 && !t.uses(varN) {
		return nil, fmt.Errorf("%w: TopicPattern %q needs {n} for %d distinct topics", ErrConfig, pattern, count)
	}
	out := make([]string, count)
	for n := range out {
		out[n] = string(t.expand(nil, vars{n: int64(n)}))
	}
	return out, nil
}

// checkSourceAddrs validates explicit source addresses or derives the default ones.
func checkSourceAddrs(addrs []string, host string, conns int) ([]string, error) {
	if len(addrs) == 0 {
		return defaultSourceAddrs(host, conns), nil
	}
	for _, a := range addrs {
		if a != "" && net.ParseIP(a) == nil {
			return nil, fmt.Errorf("%w: source address %q is not an IP address", ErrConfig, a)
		}
	}
	return append([]string(nil), addrs...), nil
}

// defaultSourceAddrs is one address per ConnsPerSourceAddr connections from 127.0.0.2 when host is IPv4
// loopback (every 127.0.0.0/8 address is local on Linux), else nil.
func defaultSourceAddrs(host string, conns int) []string {
	ip := net.ParseIP(host)
	if host != "localhost" && (ip == nil || ip.To4() == nil || !ip.IsLoopback()) {
		return nil
	}
	n := min(max((conns+ConnsPerSourceAddr-1)/ConnsPerSourceAddr, 1), 253)
	out := make([]string, n)
	for k := range out {
		out[k] = "127.0.0." + strconv.Itoa(2+k)
	}
	return out
}

// ParseSourceAddrs parses the CLI form of Config.SourceAddrs: a comma-separated list of IPv4 addresses
// and ranges ("127.0.0.2-127.0.0.9" or "127.0.0.2-9"), a count ("8" means 127.0.0.2 … 127.0.0.9), or
// "none" (no binding: one entry "", the kernel chooses). The empty string returns nil (the default).
func ParseSourceAddrs(s string) ([]string, error) {
	s = strings.TrimSpace(s)
	switch s {
	case "":
		return nil, nil
	case "none":
		return []string{""}, nil
	}
	if n, err := strconv.Atoi(s); err == nil {
		if n < 1 || n > 253 {
			return nil, fmt.Errorf("load: source address count %d: want 1 … 253", n)
		}
		return defaultSourceAddrs("127.0.0.1", n*ConnsPerSourceAddr), nil
	}
	var out []string
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		lo, hi, isRange := strings.Cut(item, "-")
		first := net.ParseIP(lo).To4()
		if first == nil {
			return nil, fmt.Errorf("load: source address %q is not an IPv4 address", lo)
		}
		if !isRange {
			out = append(out, first.String())
			continue
		}
		if !strings.Contains(hi, ".") { // 127.0.0.2-9: the last octet
			hi = lo[:strings.LastIndexByte(lo, '.')+1] + hi
		}
		last := net.ParseIP(hi).To4()
		if last == nil {
			return nil, fmt.Errorf("load: source address range %q: bad end %q", item, hi)
		}
		a, b := ipv4Int(first), ipv4Int(last)
		if b < a || b-a >= 1<<16 {
			return nil, fmt.Errorf("load: source address range %q: want first ≤ last, at most 65,536 addresses", item)
		}
		for v := a; v <= b; v++ {
			out = append(out, net.IPv4(byte(v>>24), byte(v>>16), byte(v>>8), byte(v)).String())
		}
	}
	return out, nil
}

func ipv4Int(ip net.IP) uint32 {
	return uint32(ip[0])<<24 | uint32(ip[1])<<16 | uint32(ip[2])<<8 | uint32(ip[3])
}

// ---- placeholders ----

// vars are the values placeholders expand to.
type vars struct{ i, n, seq int64 }

type varKind uint8

const (
	varNone varKind = iota
	varI            // {i}: connection index
	varN            // {n}: topic number
	varSeq          // {seq}: push sequence number on the channel
)

var placeholders = []struct {
	text string
	kind varKind
}{{"{i}", varI}, {"{n}", varN}, {"{seq}", varSeq}}

// template is a string cut at its placeholders, expanded without parsing again.
type template []segment

type segment struct {
	lit string
	v   varKind // varNone: lit only
}

// compile cuts s at every {i}, {n} and {seq}; any other brace is literal text.
func compile(s string) template {
	var t template
	start := 0
	for k := 0; k < len(s); k++ {
		if s[k] != '{' {
			continue
		}
		for _, ph := range placeholders {
			if strings.HasPrefix(s[k:], ph.text) {
				t = append(t, segment{lit: s[start:k], v: ph.kind})
				k += len(ph.text) - 1
				start = k + 1
				break
			}
		}
	}
	if start < len(s) || len(t) == 0 {
		t = append(t, segment{lit: s[start:]})
	}
	return t
}

// compileJSON compiles a JSON payload template (nil means {}) and checks that it expands to JSON.
func compileJSON(field string, raw json.RawMessage) (template, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		raw = json.RawMessage("{}")
	}
	t := compile(string(raw))
	if b := t.expand(nil, vars{}); !json.Valid(b) {
		return nil, fmt.Errorf("%w: %s is not JSON once its placeholders are replaced: %s", ErrConfig, field, b)
	}
	return t, nil
}

func (t template) dynamic() bool {
	for _, s := range t {
		if s.v != varNone {
			return true
		}
	}
	return false
}

func (t template) uses(v varKind) bool {
	for _, s := range t {
		if s.v == v {
			return true
		}
	}
	return false
}

// expand appends t with its placeholders replaced to dst.
func (t template) expand(dst []byte, v vars) []byte {
	for _, s := range t {
		dst = append(dst, s.lit...)
		switch s.v {
		case varI:
			dst = strconv.AppendInt(dst, v.i, 10)
		case varN:
			dst = strconv.AppendInt(dst, v.n, 10)
		case varSeq:
			dst = strconv.AppendInt(dst, v.seq, 10)
		}
	}
	return dst
}
