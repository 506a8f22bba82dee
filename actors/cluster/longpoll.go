package cluster

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/pyrehq/pyre/actors/cluster/clusterpb"
)

// longPollName is the per-node actor that serves long-poll requests forwarded by other nodes.
const longPollName = "pyre-cluster-longpoll"

// forwardTimeout bounds a forwarded long-poll request: a GET waits at most the owner's LongPollWindow
// (10 s by default) before it answers.
const forwardTimeout = time.Minute

// pollHeaders are the request headers the long-poll transport reads; the answer's headers all cross.
var pollHeaders = []string{"X-Phoenix-Longpoll-Token", "X-Phoenix-Authtoken", "Content-Type", "Origin"}

// LongPoll makes long-poll sessions reachable from every node: give it to transport.Config.LongPollPeers
// (with the same SecretKeyBase on every node), then Handle the endpoint. A request whose session another
// node owns is sent there as a clusterpb.PollRequest and answered with its PollResponse.
type LongPoll struct {
	n *Node
	h atomic.Pointer[http.Handler]
}

// LongPoll returns the node's long-poll forwarder (one per node).
func (n *Node) LongPoll() *LongPoll { return n.lp }

// Handle sets the handler that answers requests forwarded to this node: the endpoint. Until then they
// answer 503.
func (l *LongPoll) Handle(h http.Handler) { l.h.Store(&h) }

// Name is this node's Config.Name, as tokens carry it.
func (l *LongPoll) Name() string { return l.n.cfg.Name }

// Forward sends r to the live member named node and writes its answer to w; false when there is none.
func (l *LongPoll) Forward(w http.ResponseWriter, r *http.Request, node string) bool {
	var target *actor.PID
	for _, m := range l.n.Members() {
		if m.Name == node && m.ID != l.n.id {
			target = actor.NewPID(m.Address, longPollName)
		}
	}
	if target == nil || !l.n.running.Load() {
		return false
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, int64(l.n.cfg.MaxPayload)+1))
	if err != nil || len(body) > l.n.cfg.MaxPayload {
		http.Error(w, "long-poll body not read", http.StatusRequestTimeout)
		return true
	}
	req := &clusterpb.PollRequest{Method: r.Method, Target: r.URL.RequestURI(), Header: map[string]string{"Host": r.Host}, Body: body}
	for _, k := range pollHeaders {
		if v := r.Header.Get(k); v != "" {
			req.Header[k] = v
		}
	}
	res, err := l.n.sys.Root.RequestFuture(target, req, forwardTimeout).Result()
	resp, ok := res.(*clusterpb.PollResponse)
	if err != nil || !ok {
		l.n.cfg.Logger.Warn("cluster: long-poll forward failed", "node", node, "error", err)
		http.Error(w, "the session's node did not answer", http.StatusBadGateway)
		return true
	}
	for k, v := range resp.Header {
		w.Header().Set(k, v)
	}
	w.WriteHeader(int(resp.Status))
	_, _ = w.Write(resp.Body)
	return true
}

// longPollServer answers forwarded requests, each in a goroutine of its own (a GET waits for frames): the
// node owns them and Stop cancels and waits for them.
type longPollServer struct {
	l      *LongPoll
	ctx    context.Context
	cancel context.CancelFunc
	wg     *sync.WaitGroup
}

func (s *longPollServer) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *clusterpb.PollRequest:
		sender, root := ctx.Sender(), ctx.ActorSystem().Root
		if sender == nil {
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			root.Send(sender, s.serve(m))
		}()
	case *actor.Stopping:
		s.cancel()
	}
}

func (s *longPollServer) serve(m *clusterpb.PollRequest) *clusterpb.PollResponse {
	hp := s.l.h.Load()
	if hp == nil {
		return &clusterpb.PollResponse{Status: http.StatusServiceUnavailable}
	}
	r, err := http.NewRequestWithContext(s.ctx, m.Method, m.Target, bytes.NewReader(m.Body))
	if err != nil {
		return &clusterpb.PollResponse{Status: http.StatusBadRequest}
	}
	for k, v := range m.Header {
		if k == "Host" {
			r.Host = v
			continue
		}
		r.Header.Set(k, v)
	}
	rec := &pollRecorder{header: http.Header{}}
	(*hp).ServeHTTP(rec, r)
	resp := &clusterpb.PollResponse{Status: int32(rec.status), Header: map[string]string{}, Body: rec.body.Bytes()}
	if resp.Status == 0 {
		resp.Status = http.StatusOK
	}
	for k := range rec.header {
		resp.Header[k] = rec.header.Get(k)
	}
	return resp
}

// pollRecorder is the http.ResponseWriter of a forwarded request.
type pollRecorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *pollRecorder) Header() http.Header { return r.header }

func (r *pollRecorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
}

func (r *pollRecorder) Write(b []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	return r.body.Write(b)
}
