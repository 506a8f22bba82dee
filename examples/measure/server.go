package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/url"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	rpprof "runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/lxzan/gws"

	"github.com/pyrehq/pyre/actors/channel"
	"github.com/pyrehq/pyre/actors/cluster"
	"github.com/pyrehq/pyre/actors/presence"
	"github.com/pyrehq/pyre/actors/pubsub"
	"github.com/pyrehq/pyre/actors/telemetry"
	"github.com/pyrehq/pyre/examples/internal/chat"
	"github.com/pyrehq/pyre/transport"
)

// benchTopic is the topic every client joins and /publish broadcasts to.
const (
	benchTopic = "room:bench"
	benchEvent = "msg"
	// echoEvent is the push both servers answer with {"status":"ok","response":<the push's payload>}.
	echoEvent = "echo"
	// gwsReadBufferSize is the baseline's per-connection read buffer: gws's default. Pyre runs with its
	// own default (transport.Config.ReadBufferSize): each server as its users get it.
	gwsReadBufferSize = 4 << 10
	// listenPrefix starts the line the server prints on stdout once it accepts connections.
	listenPrefix = "LISTEN "
)

// backend is one of the two servers under test.
type backend interface {
	// socket answers the WebSocket upgrade at /socket/websocket.
	socket() http.Handler
	// publish performs n broadcasts on benchTopic, one at a time, as fast as possible.
	publish(n, size int) error
	// stats adds backend-specific counts to a /mem answer.
	stats(m *memStats)
	// broadcast sends one "msg" broadcast with this JSON payload to every subscriber of topic
	// (used by POST /fanout, the bench subcommand's publisher).
	broadcast(topic string, payload []byte) error
}

// memStats is the answer of GET /mem, read after runtime.GC and debug.FreeOSMemory.
type memStats struct {
	RSSBytes   uint64 `json:"rss_bytes"`
	HeapInuse  uint64 `json:"heap_inuse"`
	HeapAlloc  uint64 `json:"heap_alloc"` // live heap: bytes of reachable objects, right after the GC
	StackInuse uint64 `json:"stack_inuse"`
	Goroutines int    `json:"goroutines"`
	Conns      int64  `json:"conns"`
	Channels   int64  `json:"channels,omitempty"` // Pyre only: running channel actors
	Topics     int    `json:"topics,omitempty"`
	cpuStats
}

// cpuStats is the CPU time the server process used so far (getrusage), the answer of GET /cpu. CPU time per
// delivery does not depend on what else runs on the machine, unlike deliveries per second.
type cpuStats struct {
	CPUUserSec float64 `json:"cpu_user_s"`
	CPUSysSec  float64 `json:"cpu_sys_s"`
	// WriteSyscalls is syscw from /proc/self/io: write-family system calls made so far (0 if unknown).
	// Write syscalls per delivery during a fan-out show how many frames each write carries.
	WriteSyscalls uint64 `json:"syscw"`
}

func (c cpuStats) total() float64 { return c.CPUUserSec + c.CPUSysSec }

func readCPU() cpuStats {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return cpuStats{}
	}
	sec := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return cpuStats{CPUUserSec: sec(ru.Utime), CPUSysSec: sec(ru.Stime), WriteSyscalls: procIOField("syscw")}
}

// procIOField reads one counter of /proc/self/io (0 if unavailable).
func procIOField(name string) uint64 {
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, name+":"); ok {
			v, _ := strconv.ParseUint(strings.TrimSpace(rest), 10, 64)
			return v
		}
	}
	return 0
}

// publishAnswer is the answer of POST /publish.
type publishAnswer struct {
	N         int   `json:"n"`
	ElapsedNS int64 `json:"elapsed_ns"` // time to hand every broadcast over (not to deliver it)
}

func serverMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("measure server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	kind := fs.String("kind", "pyre", "server to run: pyre, gws or "+observedKind+" (pyre with Prometheus metrics at GET /metrics)")
	addr := fs.String("addr", "127.0.0.1:0", "listen address (port 0 picks a free port, printed on stdout as \"LISTEN host:port\")")
	withPprof := fs.Bool("pprof", false, "serve net/http/pprof under /debug/pprof/")
	exitOnStdinEOF := fs.Bool("exit-on-stdin-eof", false, "exit when stdin reaches EOF (the driver's pipe: the server dies with its driver)")
	idle := fs.Duration("idle-timeout", time.Hour, "pyre: transport.Config.IdleTimeout (the bench clients send no heartbeats)")
	lpWindow := fs.Duration("longpoll-window", 0, "pyre: transport.Config.LongPollWindow (0: Pyre's default, 10 s)")
	var cc clusterOpts
	fs.StringVar(&cc.name, "node", "", "pyre: run as this node of a cluster (with -cluster-addr and -cluster-peers)")
	fs.StringVar(&cc.addr, "cluster-addr", "", "pyre: this node's cluster listener, host:port")
	fs.StringVar(&cc.peers, "cluster-peers", "", "pyre: every member's cluster address, comma separated")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var b backend
	var metricsHandler http.Handler // observedKind only
	switch *kind {
	case "pyre", observedKind:
		var ev telemetry.Events
		var err error
		if *kind == observedKind {
			ev, metricsHandler, err = serverMetrics()
		}
		if err == nil {
			b, err = newPyreBackend(*idle, *lpWindow, cc, ev)
		}
		if err != nil {
			fmt.Fprintf(stderr, "measure server: %v\n", err)
			return 1
		}
	case "gws":
		b = newGwsBackend(gwsReadBufferSize)
	default:
		fmt.Fprintf(stderr, "measure server: unknown kind %q (want pyre, gws or %s)\n", *kind, observedKind)
		return 2
	}

	mux := http.NewServeMux()
	mux.Handle("/socket/websocket", b.socket())
	if p, ok := b.(*pyreBackend); ok {
		mux.Handle("/socket/longpoll", p.ep)
		mux.HandleFunc("GET /cluster", p.clusterStats)
	}
	if metricsHandler != nil {
		mux.Handle("GET /metrics", metricsHandler)
	}
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })
	mux.HandleFunc("GET /mem", func(w http.ResponseWriter, _ *http.Request) {
		m := readMem()
		b.stats(&m)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(m)
	})
	mux.HandleFunc("GET /cpu", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(readCPU())
	})
	mux.HandleFunc("POST /publish", func(w http.ResponseWriter, r *http.Request) {
		n, err1 := strconv.Atoi(r.URL.Query().Get("n"))
		size, err2 := strconv.Atoi(r.URL.Query().Get("size"))
		if err1 != nil || err2 != nil || n < 0 || size < 0 || size > 1<<20 {
			http.Error(w, "want n>=0 and 0<=size<=1MiB", http.StatusBadRequest)
			return
		}
		start := time.Now()
		if err := b.publish(n, size); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(publishAnswer{N: n, ElapsedNS: time.Since(start).Nanoseconds()})
	})
	mux.HandleFunc("POST /fanout", func(w http.ResponseWriter, r *http.Request) { fanoutHandler(b, w, r) })
	if *withPprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		var cpu cpuProfile
		mux.HandleFunc("POST /debug/cpuprofile/start", cpu.start)
		mux.HandleFunc("POST /debug/cpuprofile/stop", cpu.stop)
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintf(stderr, "measure server: %v\n", err)
		return 1
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	fmt.Fprintf(stdout, "%s%s\n", listenPrefix, ln.Addr())

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(stop)
	stdinEOF := make(chan struct{})
	if *exitOnStdinEOF {
		go func() { _, _ = io.Copy(io.Discard, os.Stdin); close(stdinEOF) }()
	}
	code := 0
	select {
	case <-stop:
	case <-stdinEOF:
	case err := <-serveErr:
		if !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintf(stderr, "measure server: %v\n", err)
			code = 1
		}
	}
	// A measurement server has nothing to drain: close the listener and leave; the kernel closes the
	// connections with the process.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = srv.Shutdown(ctx)
	return code
}

// cpuProfile records a CPU profile between two requests, so the driver can profile exactly the fan-out.
type cpuProfile struct {
	mu  sync.Mutex
	buf *bytes.Buffer
}

func (c *cpuProfile) start(w http.ResponseWriter, _ *http.Request) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.buf != nil {
		http.Error(w, "already profiling", http.StatusConflict)
		return
	}
	buf := new(bytes.Buffer)
	if err := rpprof.StartCPUProfile(buf); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	c.buf = buf
}

func (c *cpuProfile) stop(w http.ResponseWriter, _ *http.Request) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.buf == nil {
		http.Error(w, "not profiling", http.StatusConflict)
		return
	}
	rpprof.StopCPUProfile()
	w.Header().Set("Content-Type", "application/octet-stream")
	_, _ = w.Write(c.buf.Bytes())
	c.buf = nil
}

// readMem collects garbage, returns freed memory to the OS, then reads RSS and the runtime's figures
// (CPU time is read first, so it excludes this collection).
func readMem() memStats {
	cpu := readCPU()
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return memStats{
		RSSBytes:   procStatusBytes("/proc/self/status", "VmRSS"),
		HeapInuse:  ms.HeapInuse,
		HeapAlloc:  ms.HeapAlloc,
		StackInuse: ms.StackInuse,
		Goroutines: runtime.NumGoroutine(),
		cpuStats:   cpu,
	}
}

// procStatusBytes reads a field given in kB (VmRSS, VmHWM) from a /proc/…/status file, in bytes (0 if
// unavailable).
func procStatusBytes(path, field string) uint64 {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			fields := strings.Fields(rest) // "123456 kB"
			if len(fields) >= 1 {
				kb, err := strconv.ParseUint(fields[0], 10, 64)
				if err == nil {
					return kb << 10
				}
			}
		}
	}
	return 0
}

// benchPayload appends the JSON object {"body":"<size bytes>","seq":seq} to dst.
func benchPayload(dst []byte, size, seq int) []byte {
	dst = append(dst, `{"body":"`...)
	for range size {
		dst = append(dst, 'x')
	}
	dst = append(dst, `","seq":`...)
	dst = strconv.AppendInt(dst, int64(seq), 10)
	return append(dst, '}')
}

// fanoutAnswer is the answer of POST /fanout.
type fanoutAnswer struct {
	Broadcasts int   `json:"broadcasts"`
	ElapsedNS  int64 `json:"elapsed_ns"`
}

// fanoutHandler serves POST /fanout?topic=T[&topics=K]&n=N&size=S&seq=Q: n rounds, each one broadcast to
// T (or, with topics=K, one to each of T0…T(K-1)), back to back. Every payload is
// {"body":"<S bytes>","seq":Q+round,"ts":<unix ns when this broadcast was built>}: the publisher's stamp,
// from which the clients compute publish→delivery latency (same machine, same clock).
func fanoutHandler(b backend, w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	topic := q.Get("topic")
	n, err1 := strconv.Atoi(q.Get("n"))
	size, err2 := strconv.Atoi(q.Get("size"))
	topics, seq := 0, 0
	var err3, err4 error
	if v := q.Get("topics"); v != "" {
		topics, err3 = strconv.Atoi(v)
	}
	if v := q.Get("seq"); v != "" {
		seq, err4 = strconv.Atoi(v)
	}
	if topic == "" || err1 != nil || err2 != nil || err3 != nil || err4 != nil || n < 0 || n > 1e6 ||
		size < 0 || size > 1<<20 || topics < 0 || topics > 1e5 {
		http.Error(w, "want topic, 0<=n<=1e6, 0<=size<=1MiB, 0<=topics<=1e5, seq", http.StatusBadRequest)
		return
	}
	names := []string{topic}
	if topics > 0 {
		names = make([]string, topics)
		for i := range names {
			names[i] = topic + strconv.Itoa(i)
		}
	}
	start := time.Now()
	count := 0
	for i := range n {
		for _, t := range names {
			p := benchPayload(make([]byte, 0, size+64), size, seq+i)
			p = append(p[:len(p)-1], `,"ts":`...)
			p = strconv.AppendInt(p, time.Now().UnixNano(), 10)
			p = append(p, '}')
			if err := b.broadcast(t, p); err != nil {
				http.Error(w, fmt.Sprintf("broadcast %d to %s: %v", i, t, err), http.StatusInternalServerError)
				return
			}
			count++
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(fanoutAnswer{Broadcasts: count, ElapsedNS: time.Since(start).Nanoseconds()})
}

// ---- Pyre ----

// pyreBackend is a Pyre endpoint with the route room:*, whose channels join and reply ok to anything
// (with the push's payload to echoEvent), and for the attack scenario chat:* (the examples' chat room:
// every push rebroadcast to the room) and presence:* (the same with presence), and long-poll.
type pyreBackend struct {
	ep   *transport.Endpoint
	node *cluster.Node // nil unless a cluster node
}

// clusterOpts makes the Pyre server a cluster node; the zero value is a single node.
type clusterOpts struct{ name, addr, peers string }

// clusterAnswer is GET /cluster: the live members and the node's counters.
type clusterAnswer struct {
	Members int           `json:"members"`
	Stats   cluster.Stats `json:"stats"`
}

func (p *pyreBackend) clusterStats(w http.ResponseWriter, _ *http.Request) {
	a := clusterAnswer{Members: 1}
	if p.node != nil {
		a.Members, a.Stats = len(p.node.Members()), p.node.Stats()
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(a)
}

type roomChannel struct{}

func (roomChannel) Join(*channel.Socket, string, channel.Payload) (any, error) { return nil, nil }
func (roomChannel) HandleIn(_ *channel.Socket, event string, payload channel.Payload) (channel.Reply, error) {
	if event == echoEvent {
		return channel.ReplyOK(payload), nil
	}
	return channel.ReplyOK(nil), nil
}

// newPyreBackend makes the Pyre server; ev are its endpoint's Events (the zero value: none).
func newPyreBackend(idle, lpWindow time.Duration, cc clusterOpts, ev telemetry.Events) (*pyreBackend, error) {
	var sys *actor.ActorSystem
	var ps *pubsub.PubSub
	var node *cluster.Node
	if cc.addr != "" {
		sys = actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
			return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
		}))
		node = cluster.New(cluster.Config{System: sys, Address: cc.addr, Name: cc.name,
			Provider: cluster.Static(strings.Split(cc.peers, ","))})
		ps = pubsub.New(pubsub.Config{Adapter: node, MaxPayloadSize: 10 << 20})
		if err := node.Start(ps); err != nil {
			return nil, err
		}
	}
	router := channel.NewRouter(channel.ConnectFunc(func(url.Values, channel.ConnectInfo) (channel.Assigns, error) {
		return nil, nil
	}))
	router.Channel("room:*", func() channel.Channel { return roomChannel{} })
	router.Channel("chat:*", chat.New)
	var tracker *presence.Tracker // started with the endpoint below, before any join
	router.Channel("presence:*", func() channel.Channel { return chat.WithPresence(tracker)() })
	ep := transport.NewEndpoint(transport.Config{
		CheckOrigin: transport.AllowAllOrigins(),
		// The clients send no heartbeats: a 10k-connection run can leave the first connections silent
		// for longer than the 60 s default before the fan-out ends (-idle-timeout, 1 h). Idle timeout
		// costs no memory.
		IdleTimeout:    idle,
		LongPollWindow: lpWindow,
		System:         sys,
		PubSub:         ps,
		Events:         ev,
	})
	ep.Socket("/socket", router)
	var err error
	if tracker, err = presence.Start(context.Background(), ep, presence.Config{}); err != nil {
		panic(err)
	}
	return &pyreBackend{ep: ep, node: node}, nil
}

func (p *pyreBackend) socket() http.Handler { return p.ep }

func (p *pyreBackend) publish(n, size int) error {
	for i := range n {
		payload := benchPayload(make([]byte, 0, size+32), size, i)
		if err := p.ep.Broadcast(benchTopic, benchEvent, json.RawMessage(payload)); err != nil {
			return fmt.Errorf("broadcast %d: %w", i, err)
		}
	}
	return nil
}

func (p *pyreBackend) broadcast(topic string, payload []byte) error {
	return p.ep.Broadcast(topic, benchEvent, json.RawMessage(payload))
}

func (p *pyreBackend) stats(m *memStats) {
	s := p.ep.Stats()
	m.Conns, m.Channels, m.Topics = s.Sockets, s.Channels, s.Topics
}

// ---- raw gws ----

// gwsBackend is the baseline: gws with a hand-written Phoenix V2 join, a set of joined connections per
// topic, and a fan-out that encodes each frame once (gws.Broadcaster) and queues one write per subscriber.
type gwsBackend struct {
	up    *gws.Upgrader
	conns atomic.Int64

	mu     sync.Mutex
	topics map[string]*gwsTopic
}

type gwsTopic struct {
	set  map[*gws.Conn]struct{}
	snap []*gws.Conn // rebuilt by the first broadcast after a change
}

// gwsSession is the per-connection state: the topics it joined (guarded by gwsBackend.mu). It replaces
// gws's default map-based session storage, which would cost a map per connection (the bench clients use
// it for that too, with no topics).
type gwsSession struct{ topics []string }

func (*gwsSession) Len() int                     { return 0 }
func (*gwsSession) Load(string) (any, bool)      { return nil, false }
func (*gwsSession) Delete(string)                {}
func (*gwsSession) Store(string, any)            {}
func (*gwsSession) Range(func(string, any) bool) {}

// newGwsBackend returns the baseline with this per-connection read buffer (gwsReadBufferSize for the bench).
func newGwsBackend(readBuf int) *gwsBackend {
	g := &gwsBackend{topics: make(map[string]*gwsTopic)}
	g.up = gws.NewUpgrader(gwsHandler{g}, &gws.ServerOption{
		ReadBufferSize: readBuf,
		Recovery:       gws.Recovery,
		NewSession:     func() gws.SessionStorage { return &gwsSession{} },
	})
	return g
}

func (g *gwsBackend) socket() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		socket, err := g.up.Upgrade(w, r)
		if err != nil {
			return
		}
		g.conns.Add(1)
		go socket.ReadLoop()
	})
}

func (g *gwsBackend) join(c *gws.Conn, topic string) {
	s := c.Session().(*gwsSession)
	g.mu.Lock()
	defer g.mu.Unlock()
	t := g.topics[topic]
	if t == nil {
		t = &gwsTopic{set: make(map[*gws.Conn]struct{})}
		g.topics[topic] = t
	}
	if _, ok := t.set[c]; !ok {
		t.set[c] = struct{}{}
		t.snap = nil
		s.topics = append(s.topics, topic)
	}
}

func (g *gwsBackend) leave(c *gws.Conn, topic string) {
	s := c.Session().(*gwsSession)
	g.mu.Lock()
	defer g.mu.Unlock()
	g.leaveLocked(c, topic)
	for i, t := range s.topics {
		if t == topic {
			s.topics = append(s.topics[:i], s.topics[i+1:]...)
			break
		}
	}
}

func (g *gwsBackend) leaveLocked(c *gws.Conn, topic string) {
	if t := g.topics[topic]; t != nil {
		if _, ok := t.set[c]; ok {
			delete(t.set, c)
			t.snap = nil
			if len(t.set) == 0 {
				delete(g.topics, topic)
			}
		}
	}
}

// joined reports whether c has joined topic.
func (g *gwsBackend) joined(c *gws.Conn, topic string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Contains(c.Session().(*gwsSession).topics, topic)
}

func (g *gwsBackend) subscribers(topic string) []*gws.Conn {
	g.mu.Lock()
	defer g.mu.Unlock()
	t := g.topics[topic]
	if t == nil {
		return nil
	}
	if t.snap == nil {
		t.snap = make([]*gws.Conn, 0, len(t.set))
		for c := range t.set {
			t.snap = append(t.snap, c)
		}
	}
	return t.snap
}

func (g *gwsBackend) publish(n, size int) error {
	for i := range n {
		frame := append(make([]byte, 0, size+64), `[null,null,"`+benchTopic+`","`+benchEvent+`",`...)
		frame = append(benchPayload(frame, size, i), ']')
		b := gws.NewBroadcaster(gws.OpcodeText, frame)
		for _, c := range g.subscribers(benchTopic) {
			_ = b.Broadcast(c)
		}
		_ = b.Close()
	}
	return nil
}

func (g *gwsBackend) broadcast(topic string, payload []byte) error {
	b := gws.NewBroadcaster(gws.OpcodeText, baselineBroadcast(topic, payload))
	for _, c := range g.subscribers(topic) {
		_ = b.Broadcast(c)
	}
	return b.Close()
}

func (g *gwsBackend) stats(m *memStats) {
	m.Conns = g.conns.Load()
	g.mu.Lock()
	m.Topics = len(g.topics)
	g.mu.Unlock()
}

type gwsHandler struct{ g *gwsBackend }

func (gwsHandler) OnOpen(*gws.Conn) {}

func (h gwsHandler) OnClose(c *gws.Conn, _ error) {
	defer func() { _ = recover() }() // gws 1.8.9 does not recover panics in OnClose
	h.g.conns.Add(-1)
	s := c.Session().(*gwsSession)
	h.g.mu.Lock()
	for _, t := range s.topics {
		h.g.leaveLocked(c, t)
	}
	s.topics = nil
	h.g.mu.Unlock()
}

func (gwsHandler) OnPing(c *gws.Conn, payload []byte) {
	defer func() { _ = recover() }()
	_ = c.WritePong(payload)
}

func (gwsHandler) OnPong(*gws.Conn, []byte) {}

// OnMessage answers every V2 text frame [J,R,T,E,P] with an ok reply; phx_join also subscribes the
// connection to T (after writing the reply, so the reply precedes every broadcast), phx_leave
// unsubscribes; echoEvent on a joined topic is answered with P as the response (on any other topic with
// Phoenix's "unmatched topic" error). Anything else closes the connection with 1011, as Phoenix does on
// a malformed frame.
func (h gwsHandler) OnMessage(c *gws.Conn, msg *gws.Message) {
	defer msg.Close()
	if msg.Opcode != gws.OpcodeText {
		return
	}
	f, topic, event, ok := baselineDecode(msg.Bytes())
	if !ok {
		_ = c.WriteClose(1011, nil)
		return
	}
	reply := baselineReply(f, event, event == echoEvent && h.g.joined(c, topic))
	if err := c.WriteMessage(gws.OpcodeText, reply); err != nil {
		return
	}
	switch event {
	case "phx_join":
		h.g.join(c, topic)
	case "phx_leave":
		h.g.leave(c, topic)
	}
}

// baselineDecode is the baseline's frame decoder: encoding/json into the five elements of [J,R,T,E,P].
func baselineDecode(frame []byte) (f []json.RawMessage, topic, event string, ok bool) {
	if json.Unmarshal(frame, &f) != nil || len(f) < 5 ||
		json.Unmarshal(f[2], &topic) != nil || json.Unmarshal(f[3], &event) != nil {
		return nil, "", "", false
	}
	return f, topic, event, true
}

// baselineReply is the baseline's reply to the decoded frame f: ok with an empty response, or for
// echoEvent the pushed payload (joined) or Phoenix's "unmatched topic" error.
func baselineReply(f []json.RawMessage, event string, joined bool) []byte {
	reply := make([]byte, 0, 96+len(f[4]))
	reply = append(reply, '[')
	reply = append(reply, f[0]...)
	reply = append(reply, ',')
	reply = append(reply, f[1]...)
	reply = append(reply, ',')
	reply = append(reply, f[2]...)
	switch {
	case event != echoEvent:
		reply = append(reply, `,"phx_reply",{"response":{},"status":"ok"}]`...)
	case joined:
		reply = append(reply, `,"phx_reply",{"response":`...)
		reply = append(append(reply, f[4]...), `,"status":"ok"}]`...)
	default:
		reply = append(reply, `,"phx_reply",{"response":{"reason":"unmatched topic"},"status":"error"}]`...)
	}
	return reply
}

// baselineBroadcast is the baseline's broadcast frame, built once per broadcast.
func baselineBroadcast(topic string, payload []byte) []byte {
	frame := make([]byte, 0, len(topic)+len(payload)+32)
	frame = append(frame, `[null,null,`...)
	frame = strconv.AppendQuote(frame, topic)
	frame = append(frame, `,"`+benchEvent+`",`...)
	return append(append(frame, payload...), ']')
}
