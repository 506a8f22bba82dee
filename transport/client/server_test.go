package client

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lxzan/gws"
)

// testServer is a tiny gws server speaking just enough Phoenix V2 for the client's integration tests. It
// decodes client frames with its own code (not the client's codec) and encodes server frames with
// encoding/json and hand-built binary headers.
//
// Topics: "room:*" joins ok (reply {"topic":T,"params":P}; params.pushes = n sends n "tick" pushes after
// the reply); "deny:*" is refused with {"reason":"denied"}; "slow:*" never answers. A second join of a
// joined topic replies to the new join and then closes the old one, as Phoenix does.
//
// Events on a joined topic: echo (reply ok with the payload, or a binary reply for a binary push), error
// (reply error {"reason":"nope"}), push (push "pushed" with the payload), push_binary (binary push
// "pushed_bin"), broadcast (text then binary broadcast "bcast"), flood {"n":n} (n "tick" pushes, then a
// reply), crash (phx_error, no reply), stop (reply, then phx_close), close {"code","reason"} (close the
// connection), noreply (nothing), ping (a WebSocket ping, then a reply), big {"n":n} (a push of n bytes),
// garbage (an invalid text frame, then a reply). Any event on a topic not joined gets the "unmatched
// topic" error reply with a null join_ref.
type testServer struct {
	t       testing.TB
	URL     string // ws://127.0.0.1:port/socket/websocket?vsn=2.0.0
	BaseURL string // the same without the query

	hs      *http.Server
	upPhx   *gws.Upgrader // selects the "phoenix" subprotocol
	upPlain *gws.Upgrader
	wg      sync.WaitGroup

	noSubprotocol    bool
	ignoreHeartbeats atomic.Bool
	heartbeats       atomic.Int64
	pongs            atomic.Int64

	mu          sync.Mutex
	conns       map[*gws.Conn]bool
	tokens      []string
	queries     []url.Values
	headers     []http.Header
	inbound     []Message // every client frame, decoded by the server
	clientClose []int     // close codes received from clients
}

type serverConnState struct {
	mu     sync.Mutex
	joined map[string]string // topic → join_ref
}

func newTestServer(t testing.TB, configure ...func(*testServer)) *testServer {
	t.Helper()
	s := &testServer{t: t, conns: map[*gws.Conn]bool{}}
	for _, f := range configure {
		f(s)
	}
	s.upPhx = gws.NewUpgrader(s, &gws.ServerOption{SubProtocols: []string{"phoenix"}, Recovery: gws.Recovery})
	s.upPlain = gws.NewUpgrader(s, &gws.ServerOption{Recovery: gws.Recovery})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.BaseURL = "ws://" + ln.Addr().String() + "/socket/websocket"
	s.URL = s.BaseURL + "?vsn=2.0.0"
	s.hs = &http.Server{Handler: s, ReadHeaderTimeout: 5 * time.Second}
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = s.hs.Serve(ln)
	}()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.hs.Shutdown(ctx)
		<-served
		s.mu.Lock()
		for ws := range s.conns {
			_ = ws.NetConn().Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return s
}

func (s *testServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.wg.Add(1) // before the hijack, so Shutdown cannot return before it
	upgraded := false
	defer func() {
		if !upgraded {
			s.wg.Done()
		}
	}()
	if r.URL.Path != "/socket/websocket" {
		http.NotFound(w, r)
		return
	}
	q := r.URL.Query()
	switch {
	case q.Get("vsn") != "2.0.0", q.Get("reject") != "":
		w.WriteHeader(http.StatusForbidden)
		return
	case q.Get("busy") != "":
		http.Error(w, "slow down", http.StatusTooManyRequests)
		return
	}
	offered := r.Header.Get("Sec-WebSocket-Protocol")
	s.mu.Lock()
	s.queries = append(s.queries, q)
	s.headers = append(s.headers, r.Header.Clone())
	for _, p := range strings.Split(offered, ",") {
		if tok, ok := strings.CutPrefix(strings.TrimSpace(p), authTokenPrefix); ok {
			b, err := base64.RawStdEncoding.DecodeString(tok)
			if err != nil {
				s.t.Errorf("auth token %q: %v", tok, err)
			}
			s.tokens = append(s.tokens, string(b))
		}
	}
	s.mu.Unlock()
	up := s.upPlain
	if offered != "" && !s.noSubprotocol {
		up = s.upPhx
	}
	ws, err := up.Upgrade(w, r)
	if err != nil {
		return
	}
	ws.Session().Store("state", &serverConnState{joined: map[string]string{}})
	s.mu.Lock()
	s.conns[ws] = true
	s.mu.Unlock()
	upgraded = true
	go func() {
		defer s.wg.Done()
		ws.ReadLoop()
	}()
}

func (s *testServer) OnOpen(*gws.Conn) {}

func (s *testServer) OnClose(ws *gws.Conn, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, ws)
	var ce *gws.CloseError
	if errors.As(err, &ce) {
		s.clientClose = append(s.clientClose, int(ce.Code))
	}
}

func (s *testServer) OnPing(ws *gws.Conn, p []byte) { _ = ws.WritePong(p) }

func (s *testServer) OnPong(*gws.Conn, []byte) { s.pongs.Add(1) }

func (s *testServer) OnMessage(ws *gws.Conn, msg *gws.Message) {
	defer msg.Close()
	m, err := serverDecode(msg.Opcode == gws.OpcodeBinary, msg.Bytes())
	if err != nil {
		_ = ws.WriteClose(1011, nil) // what Phoenix does with a malformed frame
		return
	}
	s.mu.Lock()
	s.inbound = append(s.inbound, m)
	s.mu.Unlock()
	v, _ := ws.Session().Load("state")
	st := v.(*serverConnState)

	if m.Topic == "phoenix" && m.Event == "heartbeat" {
		s.heartbeats.Add(1)
		if !s.ignoreHeartbeats.Load() {
			serverReply(ws, m, "ok", `{}`)
		}
		return
	}
	if m.Event == "phx_join" {
		switch {
		case strings.HasPrefix(m.Topic, "room:"):
			st.mu.Lock()
			old, dup := st.joined[m.Topic]
			st.joined[m.Topic] = m.JoinRef
			st.mu.Unlock()
			serverReply(ws, m, "ok", fmt.Sprintf(`{"topic":%q,"params":%s}`, m.Topic, m.Payload))
			if dup {
				serverText(ws, old, old, m.Topic, "phx_close", `{}`)
			}
			var p struct{ Pushes int }
			_ = json.Unmarshal(m.Payload, &p)
			for i := range p.Pushes {
				serverText(ws, m.JoinRef, "", m.Topic, "tick", fmt.Sprintf(`{"n":%d}`, i))
			}
		case strings.HasPrefix(m.Topic, "deny:"):
			serverReply(ws, m, "error", `{"reason":"denied"}`)
		case strings.HasPrefix(m.Topic, "slow:"):
		default:
			serverText(ws, "", m.Ref, m.Topic, "phx_reply", `{"response":{"reason":"unmatched topic"},"status":"error"}`)
		}
		return
	}
	st.mu.Lock()
	j, joined := st.joined[m.Topic]
	if joined && m.Event == "phx_leave" {
		delete(st.joined, m.Topic)
	}
	st.mu.Unlock()
	if !joined {
		if m.Event == "phx_leave" {
			serverReply(ws, m, "ok", `{}`)
			return
		}
		serverText(ws, "", m.Ref, m.Topic, "phx_reply", `{"response":{"reason":"unmatched topic"},"status":"error"}`)
		return
	}
	var p struct {
		N      int    `json:"n"`
		Code   int    `json:"code"`
		Reason string `json:"reason"`
	}
	if m.Binary == nil {
		_ = json.Unmarshal(m.Payload, &p)
	}
	switch m.Event {
	case "phx_leave":
		serverReply(ws, m, "ok", `{}`)
		serverText(ws, j, j, m.Topic, "phx_close", `{}`)
	case "echo":
		if m.Binary != nil {
			serverBinaryReply(ws, m.JoinRef, m.Ref, m.Topic, "ok", m.Binary)
		} else {
			serverReply(ws, m, "ok", string(m.Payload))
		}
	case "error":
		serverReply(ws, m, "error", `{"reason":"nope"}`)
	case "push":
		serverText(ws, j, "", m.Topic, "pushed", string(m.Payload))
		serverReply(ws, m, "ok", `{}`)
	case "push_binary":
		serverBinaryPush(ws, j, m.Topic, "pushed_bin", []byte{1, 2, 3})
		serverReply(ws, m, "ok", `{}`)
	case "broadcast":
		serverText(ws, "", "", m.Topic, "bcast", string(m.Payload))
		serverBinaryBroadcast(ws, m.Topic, "bcast", []byte("raw"))
		serverReply(ws, m, "ok", `{}`)
	case "flood":
		for i := range p.N {
			serverText(ws, j, "", m.Topic, "tick", fmt.Sprintf(`{"n":%d}`, i))
		}
		serverReply(ws, m, "ok", `{}`)
	case "crash":
		serverText(ws, j, j, m.Topic, "phx_error", `{"reason":"channel_crash"}`)
	case "stop":
		serverReply(ws, m, "ok", `{}`)
		serverText(ws, j, j, m.Topic, "phx_close", `{}`)
	case "close":
		_ = ws.WriteClose(uint16(p.Code), []byte(p.Reason))
	case "noreply":
	case "ping":
		_ = ws.WritePing([]byte("hi"))
		serverReply(ws, m, "ok", `{}`)
	case "big":
		serverText(ws, j, "", m.Topic, "big", fmt.Sprintf(`{"s":%q}`, strings.Repeat("x", p.N)))
	case "garbage":
		_ = ws.WriteString(`["1",nope]`)
		serverReply(ws, m, "ok", `{}`)
	default:
		serverReply(ws, m, "ok", `{}`)
	}
}

func (s *testServer) received() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.inbound...)
}

// serverDecode decodes a client frame: text [J,R,T,E,P] or binary `0,len(J),len(R),len(T),len(E),J,R,T,E,data`.
func serverDecode(binary bool, b []byte) (Message, error) {
	if binary {
		if len(b) < 5 || b[0] != 0 {
			return Message{}, errors.New("bad binary header")
		}
		n := []int{int(b[1]), int(b[2]), int(b[3]), int(b[4])}
		off, f := 5, make([]string, 4)
		for i := range n {
			if off+n[i] > len(b) {
				return Message{}, errors.New("short binary frame")
			}
			f[i], off = string(b[off:off+n[i]]), off+n[i]
		}
		return Message{JoinRef: f[0], Ref: f[1], Topic: f[2], Event: f[3], Binary: append([]byte{}, b[off:]...)}, nil
	}
	var arr []json.RawMessage
	if err := json.Unmarshal(b, &arr); err != nil {
		return Message{}, err
	}
	if len(arr) < 5 {
		return Message{}, errors.New("short array")
	}
	var j, r *string
	var t, e string
	for i, dst := range []any{&j, &r, &t, &e} {
		if err := json.Unmarshal(arr[i], dst); err != nil {
			return Message{}, err
		}
	}
	m := Message{Topic: t, Event: e, Payload: append(json.RawMessage(nil), arr[4]...)}
	if j != nil {
		m.JoinRef = *j
	}
	if r != nil {
		m.Ref = *r
	}
	return m, nil
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func serverText(ws *gws.Conn, j, r, t, e, payload string) {
	b, err := json.Marshal([]any{nullable(j), nullable(r), t, e, json.RawMessage(payload)})
	if err != nil {
		panic(err)
	}
	_ = ws.WriteMessage(gws.OpcodeText, b)
}

func serverReply(ws *gws.Conn, m Message, status, response string) {
	serverText(ws, m.JoinRef, m.Ref, m.Topic, "phx_reply",
		fmt.Sprintf(`{"response":%s,"status":%q}`, response, status))
}

func serverBinaryPush(ws *gws.Conn, j, t, e string, data []byte) {
	_ = ws.WriteMessage(gws.OpcodeBinary, encodeServerPush(j, t, e, data))
}

func serverBinaryReply(ws *gws.Conn, j, r, t, status string, data []byte) {
	_ = ws.WriteMessage(gws.OpcodeBinary, encodeServerReply(j, r, t, status, data))
}

func serverBinaryBroadcast(ws *gws.Conn, t, e string, data []byte) {
	_ = ws.WriteMessage(gws.OpcodeBinary, encodeServerBroadcast(t, e, data))
}

func encodeServerPush(j, t, e string, data []byte) []byte {
	b := []byte{0, byte(len(j)), byte(len(t)), byte(len(e))}
	return append(append(append(append(b, j...), t...), e...), data...)
}

func encodeServerReply(j, r, t, status string, data []byte) []byte {
	b := []byte{1, byte(len(j)), byte(len(r)), byte(len(t)), byte(len(status))}
	return append(append(append(append(append(b, j...), r...), t...), status...), data...)
}

func encodeServerBroadcast(t, e string, data []byte) []byte {
	b := []byte{2, byte(len(t)), byte(len(e))}
	return append(append(append(b, t...), e...), data...)
}

// ---- test helpers ----

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func dial(t testing.TB, s *testServer, opts Options) *Conn {
	t.Helper()
	c, err := Dial(testCtx(t), s.URL, opts)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func join(t testing.TB, c *Conn, topic string, payload any) *Channel {
	t.Helper()
	ch, _, err := c.Join(testCtx(t), topic, payload)
	if err != nil {
		t.Fatalf("Join %s: %v", topic, err)
	}
	return ch
}

func recv(t testing.TB, ch *Channel) Message {
	t.Helper()
	select {
	case m, ok := <-ch.Messages():
		if !ok {
			t.Fatalf("%s: Messages closed", ch.Topic())
		}
		return m
	case <-time.After(5 * time.Second):
		t.Fatalf("%s: no message", ch.Topic())
	}
	return Message{}
}

func recvRaw(t testing.TB, c *Conn) Frame {
	t.Helper()
	select {
	case f, ok := <-c.Raw():
		if !ok {
			t.Fatal("Raw closed")
		}
		return f
	case <-time.After(5 * time.Second):
		t.Fatal("no raw frame")
	}
	return Frame{}
}

func waitClosed(t testing.TB, c *Conn) {
	t.Helper()
	select {
	case <-c.Closed():
	case <-time.After(5 * time.Second):
		t.Fatal("connection did not close")
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
