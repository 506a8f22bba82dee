package transport

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pyrehq/pyre/actors/channel"
	"github.com/pyrehq/pyre/actors/host"
	"github.com/pyrehq/pyre/supervisor"
	"github.com/pyrehq/pyre/transport/serializer"
	"github.com/pyrehq/pyre/transport/token"
)

// Long-poll, transport/PROTOCOL.md §7. Unless a test says otherwise the window is lpWindow: a GET that expects
// frames gets them at once, and no connection expires during a test.
const lpWindow = 5 * time.Second

// lpReply is a long-poll JSON body, with the HTTP response it came in.
type lpReply struct {
	Status   int      `json:"status"`
	Token    *string  `json:"token"`
	Messages []string `json:"messages"`
	raw      string
	resp     *http.Response
}

// lpDo sends one request and decodes the JSON body; every long-poll answer is HTTP 200 with the headers
// of §7.
func lpDo(t testing.TB, method, u string, header http.Header, body string) lpReply {
	t.Helper()
	r, err := lpTry(context.Background(), method, u, header, body)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func lpTry(ctx context.Context, method, u string, header http.Header, body string) (lpReply, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return lpReply{}, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return lpReply{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return lpReply{}, err
	}
	r := lpReply{raw: string(b), resp: resp}
	if resp.StatusCode != http.StatusOK {
		return r, fmt.Errorf("%s %s: HTTP %d, want 200", method, u, resp.StatusCode)
	}
	for k, want := range map[string]string{
		"Content-Type": "application/json; charset=utf-8", "Cache-Control": "no-store", "Access-Control-Allow-Origin": "*",
	} {
		if got := resp.Header.Get(k); got != want {
			return r, fmt.Errorf("%s %s: %s %q, want %q", method, u, k, got, want)
		}
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("%s %s: body %q: %v", method, u, b, err)
	}
	return r, nil
}

// lpClient is one long-poll connection driven by hand.
type lpClient struct {
	t      testing.TB
	base   string // http://.../socket/longpoll
	params string // connect params, e.g. "vsn=2.0.0"
	token  string
	header bool     // token in the X-Phoenix-Longpoll-Token header, else as the last query parameter
	frames []string // received, not yet expected
}

const lpParams = "vsn=2.0.0"

// lpOpen starts a connection: {"messages":[],"status":410,"token":T}.
func lpOpen(t testing.TB, srv *httptest.Server, params string) *lpClient {
	t.Helper()
	c := &lpClient{t: t, base: srv.URL + "/socket/longpoll", params: params, header: true}
	r := lpDo(t, http.MethodGet, c.base+"?"+params, nil, "")
	if r.Status != http.StatusGone || r.Token == nil || *r.Token == "" || r.Messages == nil || len(r.Messages) != 0 {
		t.Fatalf("new connection: %s, want status 410, a token and no messages", r.raw)
	}
	c.token = *r.Token
	return c
}

func (c *lpClient) url() string {
	if c.header {
		return c.base + "?" + c.params
	}
	return c.base + "?" + c.params + "&token=" + url.QueryEscape(c.token)
}

func (c *lpClient) hdr(contentType string) http.Header {
	h := http.Header{}
	if c.header {
		h.Set("X-Phoenix-Longpoll-Token", c.token)
	}
	if contentType != "" {
		h.Set("Content-Type", contentType)
	}
	return h
}

// post sends frames as one application/x-ndjson body and returns the status.
func (c *lpClient) post(frames ...string) int {
	c.t.Helper()
	return lpDo(c.t, http.MethodPost, c.url(), c.hdr("application/x-ndjson"), strings.Join(frames, "\n")).Status
}

func (c *lpClient) mustPost(frames ...string) {
	c.t.Helper()
	if s := c.post(frames...); s != http.StatusOK {
		c.t.Fatalf("POST %v: status %d, want 200", frames, s)
	}
}

func (c *lpClient) get() lpReply {
	c.t.Helper()
	return lpDo(c.t, http.MethodGet, c.url(), c.hdr(""), "")
}

// next returns the next frame, polling as needed.
func (c *lpClient) next() string {
	c.t.Helper()
	deadline := time.Now().Add(waitLimit)
	for len(c.frames) == 0 {
		if time.Now().After(deadline) {
			c.t.Fatalf("no long-poll frame within %v", waitLimit)
		}
		r := c.get()
		switch r.Status {
		case http.StatusOK:
			if len(r.Messages) == 0 || r.Token == nil || *r.Token != c.token {
				c.t.Fatalf("poll: %s, want messages and the connection's token", r.raw)
			}
			c.frames = append(c.frames, r.Messages...)
		case http.StatusNoContent:
		default:
			c.t.Fatalf("poll: %s", r.raw)
		}
	}
	f := c.frames[0]
	c.frames = c.frames[1:]
	return f
}

func (c *lpClient) expect(want string) {
	c.t.Helper()
	if got := c.next(); !jsonEqual([]byte(got), []byte(want)) {
		c.t.Fatalf("frame mismatch\n got: %s\nwant: %s", got, want)
	}
}

// sync sends a heartbeat and waits for its reply, so every earlier frame has been handled.
func (c *lpClient) sync(ref string) {
	c.t.Helper()
	c.mustPost(fmt.Sprintf(`[null,%q,"phoenix","heartbeat",{}]`, ref))
	c.expect(fmt.Sprintf(`[null,%q,"phoenix","phx_reply",{"response":{},"status":"ok"}]`, ref))
}

// quiet asserts that nothing more arrives: a heartbeat round trip (what c sent has reached its socket
// actor), a barrier through every socket and channel actor of ep (Host.Sync), a heartbeat round trip again
// whose reply must be the next frame (what the actors wrote is ahead of it in the same queue).
func (c *lpClient) quiet(ep *Endpoint, tag string) {
	c.t.Helper()
	c.sync(tag + "-in")
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := ep.host.Sync(ctx); err != nil {
		c.t.Fatalf("the actors did not become idle: %v", err)
	}
	c.sync(tag + "-out")
	if len(c.frames) != 0 {
		c.t.Fatalf("unexpected frames %q", c.frames)
	}
}

// until returns the frames received before want (which it consumes).
func (c *lpClient) until(want string) []string {
	c.t.Helper()
	var before []string
	for {
		f := c.next()
		if jsonEqual([]byte(f), []byte(want)) {
			return before
		}
		before = append(before, f)
	}
}

func (c *lpClient) join(j, topic string) {
	c.t.Helper()
	c.mustPost(`["` + j + `","` + j + `","` + topic + `","phx_join",{}]`)
	c.expect(`["` + j + `","` + j + `","` + topic + `","phx_reply",{"response":{"joined":"` + topic + `"},"status":"ok"}]`)
}

// server is the server side of c.
func (c *lpClient) server(ep *Endpoint) *pollConn {
	c.t.Helper()
	var claims pollClaims
	if err := ep.lp.signer.Verify(c.token, &claims); err != nil {
		c.t.Fatal(err)
	}
	ep.mu.Lock()
	defer ep.mu.Unlock()
	return ep.polls[claims.Conn]
}

func (c *lpClient) polling(ep *Endpoint) int {
	s := c.server(ep)
	if s == nil {
		return -1
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.polling
}

func lpFixture(t *testing.T, cfg Config, opts ...channel.RouterOption) *fixture {
	t.Helper()
	if cfg.LongPollWindow == 0 {
		cfg.LongPollWindow = lpWindow
	}
	return newFixture(t, cfg, opts...)
}

func TestLongPollConnection(t *testing.T) {
	f := lpFixture(t, Config{})
	c := lpOpen(t, f.srv, lpParams)
	if s := f.ep.Stats(); s.Sockets != 1 {
		t.Fatalf("a long-poll connection is a socket: %+v", s)
	}
	c.mustPost(`["1","1","room:lp","phx_join",{"welcome":true}]`)
	c.expect(`["1","1","room:lp","phx_reply",{"response":{"joined":"room:lp"},"status":"ok"}]`)
	c.expect(`["1",null,"room:lp","welcome",{"topic":"room:lp"}]`)

	// Several frames in one POST, answered in order (one channel's frames keep their order); the replies
	// may come in one poll or several.
	c.mustPost(`["1","2","room:lp","echo",{"a":1}]`, `["1","3","room:lp","push",{"b":2}]`)
	c.expect(`["1","2","room:lp","phx_reply",{"response":{"a":1},"status":"ok"}]`)
	c.expect(`["1",null,"room:lp","pushed",{"b":2}]`)
	c.mustPost(`[null,"4","nope","x",{}]`)
	c.expect(`[null,"4","nope","phx_reply",{"response":{"reason":"unmatched topic"},"status":"error"}]`)

	// Broadcasts: from a WebSocket client on the same topic, and from the endpoint.
	ws := dial(t, f.srv, v2, nil)
	joinOK(ws, "1", "room:lp", `{}`)
	ws.send(`["1","2","room:lp","broadcast",{"from":"ws"}]`)
	ws.expect(`[null,null,"room:lp","shout",{"from":"ws"}]`)
	c.expect(`[null,null,"room:lp","shout",{"from":"ws"}]`)
	c.mustPost(`["1","5","room:lp","broadcast",{"from":"lp"}]`)
	c.expect(`[null,null,"room:lp","shout",{"from":"lp"}]`)
	ws.expect(`[null,null,"room:lp","shout",{"from":"lp"}]`)
	if err := f.ep.Broadcast("room:lp", "news", map[string]int{"n": 1}); err != nil {
		t.Fatal(err)
	}
	c.expect(`[null,null,"room:lp","news",{"n":1}]`)

	// A body that is not ndjson is one frame (phoenix.js before 1.7 posts so).
	if r := lpDo(t, http.MethodPost, c.url(), c.hdr("application/json"), `["1","6","room:lp","echo",{"plain":true}]`); r.Status != 200 {
		t.Fatalf("plain POST: %s", r.raw)
	}
	c.expect(`["1","6","room:lp","phx_reply",{"response":{"plain":true},"status":"ok"}]`)

	c.mustPost(`["1","7","room:lp","phx_leave",{}]`)
	c.expect(`["1","7","room:lp","phx_reply",{"response":{},"status":"ok"}]`)
	c.expect(`["1","1","room:lp","phx_close",{}]`)
	eventually(t, "left", func() bool { return len(f.terminated.get("room:lp")) == 1 })
	if r := f.terminated.get("room:lp")[0]; !errors.Is(r, channel.ErrLeft) {
		t.Fatalf("terminate reason %v, want ErrLeft", r)
	}
}

func TestLongPollV1(t *testing.T) {
	f := lpFixture(t, Config{})
	for _, params := range []string{"", "vsn=1.0.0"} {
		c := lpOpen(t, f.srv, params)
		// V1 frames are JSON objects: a client sends them as plain bodies (an ndjson line not starting with
		// "[" would be base64).
		r := lpDo(t, http.MethodPost, c.url(), c.hdr("application/json"),
			`{"topic":"room:1","event":"phx_join","payload":{},"ref":"1","join_ref":"1"}`)
		if r.Status != 200 {
			t.Fatalf("V1 join: %s", r.raw)
		}
		c.expect(`{"topic":"room:1","event":"phx_reply","payload":{"response":{"joined":"room:1"},"status":"ok"},"ref":"1"}`)
	}
}

func TestLongPollNoContentAfterWindow(t *testing.T) {
	f := lpFixture(t, Config{LongPollWindow: 50 * time.Millisecond})
	f.ep.lp.expiry.Store(int64(time.Hour)) // only the window is under test
	c := lpOpen(t, f.srv, lpParams)
	r := c.get()
	if r.Status != http.StatusNoContent || r.Token == nil || *r.Token != c.token || r.Messages == nil || len(r.Messages) != 0 {
		t.Fatalf("idle poll: %s, want {messages:[], status:204, token}", r.raw)
	}
	// The connection is still there.
	c.join("1", "room:nc")
}

func TestLongPollRefusals(t *testing.T) {
	f := lpFixture(t, Config{CheckOrigin: OriginList("//allowed.example")})
	cases := []struct {
		name   string
		query  string
		header http.Header
	}{
		{"bad vsn", "vsn=2.1.0", nil},
		{"garbage vsn", "vsn=abc", nil},
		{"empty vsn", "vsn=", nil},
		{"vsn list", "vsn[]=2.0.0", nil},
		{"connect refused", lpParams + "&reject=1", nil},
		// Phoenix answers every refused long-poll connect with 403; phoenix.js knows no other status.
		{"custom refusal status", lpParams + "&limit=1", nil},
		{"origin refused", lpParams, http.Header{"Origin": {"http://evil.example"}}},
		{"null origin", lpParams, http.Header{"Origin": {"null"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := lpDo(t, http.MethodGet, f.srv.URL+"/socket/longpoll?"+tc.query, tc.header, "")
			if r.raw != `{"status":403}`+"\n" {
				t.Fatalf("body %q, want {\"status\":403}", r.raw)
			}
		})
	}
	if s := f.ep.Stats(); s.Sockets != 0 {
		t.Fatalf("refused connections left sockets: %+v", s)
	}
	// The origin is checked on every request, not only when the connection starts.
	c := lpOpen(t, f.srv, lpParams)
	evil := c.hdr("application/x-ndjson")
	evil.Set("Origin", "https://evil.example")
	if r := lpDo(t, http.MethodPost, c.url(), evil, `[null,"1","phoenix","heartbeat",{}]`); r.Status != http.StatusForbidden {
		t.Fatalf("POST from a refused origin: %s", r.raw)
	}
	evil.Set("Origin", "https://allowed.example")
	if r := lpDo(t, http.MethodPost, c.url(), evil, `[null,"1","phoenix","heartbeat",{}]`); r.Status != http.StatusOK {
		t.Fatalf("POST from an allowed origin: %s", r.raw)
	}
	// Other methods are a plain 400, as in Phoenix.
	req, _ := http.NewRequest(http.MethodPut, c.url(), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("PUT: HTTP %d, want 400", resp.StatusCode)
	}
}

func TestLongPollCORS(t *testing.T) {
	f := lpFixture(t, Config{CheckOrigin: AllowAllOrigins()})
	req, _ := http.NewRequest(http.MethodOptions, f.srv.URL+"/socket/longpoll?vsn=2.0.0", nil)
	req.Header.Set("Origin", "https://app.example")
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Add("Access-Control-Request-Headers", "content-type")
	req.Header.Add("Access-Control-Request-Headers", "x-phoenix-longpoll-token")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	want := map[string]string{
		"Access-Control-Allow-Origin":  "*",
		"Access-Control-Allow-Headers": "content-type, x-phoenix-longpoll-token",
		"Access-Control-Allow-Methods": "get, post, options",
		"Access-Control-Max-Age":       "3600",
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("preflight: HTTP %d", resp.StatusCode)
	}
	for k, v := range want {
		if got := resp.Header.Get(k); got != v {
			t.Errorf("preflight %s = %q, want %q", k, got, v)
		}
	}
	if resp.Header.Get("Access-Control-Allow-Credentials") != "" {
		t.Error("preflight allows credentials; Phoenix does not (the token carries the connection)")
	}
	if s := f.ep.Stats(); s.Sockets != 0 {
		t.Fatalf("a preflight opened a connection: %+v", s)
	}
	// A cross-origin connection works end to end (lpDo checks allow-origin on every answer).
	c := lpOpen(t, f.srv, lpParams)
	c.join("1", "room:cors")
}

func TestLongPollTokenSources(t *testing.T) {
	f := lpFixture(t, Config{})
	// Connect params with a token of their own: the connection's is the last one (phoenix.js 1.8 appends it).
	c := lpOpen(t, f.srv, lpParams+"&token=app-token")
	c.header = false
	c.join("1", "room:q")
	if !strings.Contains(c.url(), "token=app-token&token=") {
		t.Fatalf("url %s does not carry two tokens", c.url())
	}

	// The header wins over the query.
	h := http.Header{"X-Phoenix-Longpoll-Token": {c.token}, "Content-Type": {"application/x-ndjson"}}
	if r := lpDo(t, http.MethodPost, c.base+"?"+lpParams+"&token=garbage", h, `["1","2","room:q","echo",{"via":"header"}]`); r.Status != 200 {
		t.Fatalf("header token with a garbage query token: %s", r.raw)
	}
	c.expect(`["1","2","room:q","phx_reply",{"response":{"via":"header"},"status":"ok"}]`)
	h.Set("X-Phoenix-Longpoll-Token", "garbage")
	if r := lpDo(t, http.MethodPost, c.url(), h, `["1","3","room:q","echo",{}]`); r.Status != http.StatusGone {
		t.Fatalf("garbage header token with a valid query token: %s, want 410 (the header is used when present)", r.raw)
	}
	// The first token of the query is not the connection's.
	u := c.base + "?" + lpParams + "&token=" + url.QueryEscape(c.token) + "&token=other"
	if r := lpDo(t, http.MethodPost, u, http.Header{"Content-Type": {"application/x-ndjson"}}, `["1","3","room:q","echo",{}]`); r.Status != http.StatusGone {
		t.Fatalf("connection token first, another last: %s, want 410", r.raw)
	}
}

func TestLongPollInvalidTokens(t *testing.T) {
	f := lpFixture(t, Config{})
	c := lpOpen(t, f.srv, lpParams)
	c.join("1", "room:tok")
	lp := f.ep.lp
	var claims pollClaims
	if err := lp.signer.Verify(c.token, &claims); err != nil {
		t.Fatal(err)
	}
	other := NewEndpoint(Config{})
	t.Cleanup(func() { _ = other.Shutdown(context.Background()) })
	expired, err := lp.signer.Sign(claims, token.MaxAge(-1))
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := other.lp.signer.Sign(claims) // same connection id, another endpoint's secret
	if err != nil {
		t.Fatal(err)
	}
	wrongNode, err := lp.signer.Sign(pollClaims{Node: other.lp.node, Conn: claims.Conn})
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(c.token, ".")
	tampered := parts[0] + "." + parts[1] + "." + strings.Repeat("A", len(parts[2]))
	for name, tok := range map[string]string{
		"expired": expired, "other secret": foreign, "other node": wrongNode, "tampered": tampered, "garbage": "x.y.z", "empty": "",
	} {
		t.Run(name, func(t *testing.T) {
			h := http.Header{"X-Phoenix-Longpoll-Token": {tok}, "Content-Type": {"application/x-ndjson"}}
			if r := lpDo(t, http.MethodPost, c.base+"?"+lpParams, h, `["1","2","room:tok","echo",{}]`); r.raw != `{"status":410}`+"\n" {
				t.Fatalf("POST: %q, want {\"status\":410}", r.raw)
			}
			// A GET starts a new connection.
			r := lpDo(t, http.MethodGet, c.base+"?"+lpParams, h, "")
			if r.Status != http.StatusGone || r.Token == nil || *r.Token == c.token || *r.Token == tok {
				t.Fatalf("GET: %s, want a new connection", r.raw)
			}
		})
	}
	// A connection belongs to the socket it was opened on.
	f.ep.Socket("/other", channel.NewRouter(testSocket{}))
	h := http.Header{"X-Phoenix-Longpoll-Token": {c.token}, "Content-Type": {"application/x-ndjson"}}
	if r := lpDo(t, http.MethodPost, f.srv.URL+"/other/longpoll?"+lpParams, h, `[null,"1","phoenix","heartbeat",{}]`); r.Status != http.StatusGone {
		t.Fatalf("token used on another socket: %s, want 410", r.raw)
	}
	// The real connection is untouched.
	c.mustPost(`["1","3","room:tok","echo",{"still":"here"}]`)
	c.expect(`["1","3","room:tok","phx_reply",{"response":{"still":"here"},"status":"ok"}]`)
}

func TestLongPollAuthTokenAndConnectInfo(t *testing.T) {
	f := lpFixture(t, Config{})
	h := http.Header{"X-Phoenix-Authtoken": {"secret-token"}, "User-Agent": {"pyre-test"}, "Traceparent": {"00-abc-def-01"}}
	r := lpDo(t, http.MethodGet, f.srv.URL+"/socket/longpoll?"+lpParams+"&info=1", h, "")
	if r.Status != http.StatusGone || r.Token == nil {
		t.Fatalf("new connection: %s", r.raw)
	}
	c := &lpClient{t: t, base: f.srv.URL + "/socket/longpoll", params: lpParams, token: *r.Token, header: true}
	c.mustPost(`["1","1","token","phx_join",{}]`)
	c.expect(`["1","1","token","phx_reply",{"response":{"token":"secret-token"},"status":"ok"}]`)
	c.mustPost(`["2","2","token","phx_join",{"info":true}]`)
	c.expect(`["2","2","token","phx_reply",{"response":{"transport":"longpoll","x":{"X-Phoenix-Authtoken":["secret-token"]},` +
		`"trace":{"Traceparent":["00-abc-def-01"]},"ws":null,"ua":"pyre-test","vsn":"2.0.0","peer":true},"status":"ok"}]`)
}

func TestLongPollBatch(t *testing.T) {
	f := lpFixture(t, Config{})
	c := lpOpen(t, f.srv, lpParams)
	c.join("1", "room:batch")
	// 150 lines, with "\r\n" and empty lines among them: only the first 100 lines are read, as Phoenix.
	var b strings.Builder
	for i := 1; i <= 150; i++ {
		switch {
		case i == 10:
			b.WriteString("\n") // an empty line counts as a line
		case i%7 == 0:
			fmt.Fprintf(&b, `["1","e%d","room:batch","echo",{"n":%d}]`+"\r\n", i, i)
		default:
			fmt.Fprintf(&b, `["1","e%d","room:batch","echo",{"n":%d}]`+"\n", i, i)
		}
	}
	if r := lpDo(t, http.MethodPost, c.url(), c.hdr("application/x-ndjson"), b.String()); r.Status != 200 {
		t.Fatalf("batch: %s", r.raw)
	}
	// The marker goes through the channel: a heartbeat's reply (the socket actor's) has no order with the
	// channel's replies.
	c.mustPost(`["1","marker","room:batch","echo",{}]`)
	got := c.until(`["1","marker","room:batch","phx_reply",{"response":{},"status":"ok"}]`)
	var want []string
	for i := 1; i <= 100; i++ {
		if i != 10 {
			want = append(want, fmt.Sprintf(`["1","e%d","room:batch","phx_reply",{"response":{"n":%d},"status":"ok"}]`, i, i))
		}
	}
	if len(got) != len(want) {
		t.Fatalf("%d replies before the marker, want %d (lines 1–100 but the empty one):\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
	for i := range want {
		if !jsonEqual([]byte(got[i]), []byte(want[i])) {
			t.Fatalf("reply %d: %s, want %s", i, got[i], want[i])
		}
	}
}

// binPush is the base64 ndjson line of a V2 binary client push.
func binPush(j, r, topic, event string, data []byte) string {
	b := []byte{0, byte(len(j)), byte(len(r)), byte(len(topic)), byte(len(event))}
	b = append(b, j+r+topic+event...)
	return base64.StdEncoding.EncodeToString(append(b, data...))
}

func TestLongPollBinary(t *testing.T) {
	f := lpFixture(t, Config{})
	c := lpOpen(t, f.srv, lpParams)
	c.join("1", "room:bin")
	ws := dial(t, f.srv, v2, nil)
	joinOK(ws, "1", "room:bin", `{}`)

	// A line not starting with "[" is a binary push, base64-encoded; its text reply comes back.
	c.mustPost(binPush("1", "2", "room:bin", "custom", []byte{1, 2, 3}))
	c.expect(`["1","2","room:bin","phx_reply",{"response":{},"status":"custom"}]`)

	// Binary frames never go server → client over long-poll: a binary reply and a binary broadcast are
	// dropped (the WebSocket subscriber gets its broadcast), and the stream goes on.
	c.mustPost(binPush("1", "3", "room:bin", "echo", []byte{4}), binPush("1", "4", "room:bin", "broadcast", []byte{5}))
	got := ws.next()
	if want := append([]byte{2, 8, 5}, "room:binshout\x05"...); !got.binary || string(got.data) != string(want) {
		t.Fatalf("WebSocket subscriber got %v, want the binary broadcast %v", got.data, want)
	}
	c.mustPost(`[null,"m1","phoenix","heartbeat",{}]`)
	if before := c.until(`[null,"m1","phoenix","phx_reply",{"response":{},"status":"ok"}]`); len(before) != 0 {
		t.Fatalf("binary frames reached the long-poll client as %q", before)
	}
	// A binary push from a channel fails with ErrLongPollBinary: this channel stops on the error.
	c.mustPost(binPush("1", "5", "room:bin", "push", []byte{6}))
	c.expect(`["1","1","room:bin","phx_error",{"reason":"channel_crash"}]`)
	eventually(t, "terminated", func() bool { return len(f.terminated.get("room:bin")) == 1 })
	if r := f.terminated.get("room:bin")[0]; !errors.Is(r, ErrLongPollBinary) {
		t.Fatalf("terminate reason %v, want ErrLongPollBinary", r)
	}
}

func TestLongPollMalformedFrameEndsSession(t *testing.T) {
	logs := &logRecorder{}
	f := lpFixture(t, Config{MaxFrameSize: 1024, Logger: slog.New(logs)})
	cases := []struct {
		name, contentType, body string
		status                  int
	}{
		{"not json", "application/json", `not json`, http.StatusBadRequest},
		{"short array", "application/x-ndjson", `["1","2","room:m"]`, http.StatusBadRequest},
		{"wrong shape", "application/json", `{"topic":"x"}`, http.StatusBadRequest},
		{"not base64", "application/x-ndjson", `!!not base64`, http.StatusBadRequest},
		{"bad binary header", "application/x-ndjson", base64.StdEncoding.EncodeToString([]byte{0, 9, 9}), http.StatusBadRequest},
		{"frame too big", "application/x-ndjson", `["1","2","room:m","echo",{"pad":"` + strings.Repeat("a", 2048) + `"}]`, http.StatusRequestEntityTooLarge},
		{"body too big", "application/json", strings.Repeat(" ", 4096), http.StatusRequestEntityTooLarge},
	}
	good := lpOpen(t, f.srv, lpParams)
	good.join("1", "room:m")
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := len(f.terminated.get("room:m"))
			c := lpOpen(t, f.srv, lpParams)
			c.join("1", "room:m")
			// Phoenix's connection crashes on a malformed frame as a WebSocket closes with 1011.
			if r := lpDo(t, http.MethodPost, c.url(), c.hdr(tc.contentType), tc.body); r.Status != tc.status {
				t.Fatalf("POST: %s, want status %d", r.raw, tc.status)
			}
			eventually(t, "channel terminated", func() bool { return len(f.terminated.get("room:m")) == before+1 })
			if r := f.terminated.get("room:m")[before]; !errors.Is(r, channel.ErrClosed) {
				t.Fatalf("terminate reason %v, want ErrClosed", r)
			}
			if s := c.post(`[null,"1","phoenix","heartbeat",{}]`); s != http.StatusGone {
				t.Fatalf("POST after the connection ended: %d, want 410", s)
			}
		})
	}
	good.sync("still-here")
	// Counted and logged at WARN (rate-limited) as on a WebSocket; the two size refusals are not malformed.
	if n := f.ep.Stats().MalformedFrames; n != int64(len(cases)-2) {
		t.Fatalf("Stats().MalformedFrames = %d, want %d", n, len(cases)-2)
	}
	if n := logs.count("WARN pyre: malformed frame"); n != 1 {
		t.Fatalf("%d WARN lines for malformed frames, want 1", n)
	}
}

func TestLongPollPostTimeout(t *testing.T) {
	release := make(chan struct{})
	router := channel.NewRouter(testSocket{})
	router.Channel("block:*", func() channel.Channel { return &blockChannel{release: release} })
	// No window passes during the test; only the POST that must time out has a short wait, and it times
	// out whatever its length: the slot it waits for is held until unblock.
	ep := NewEndpoint(Config{MaxInflight: 1, LongPollWindow: time.Hour})
	ep.Socket("/socket", router)
	srv := serve(t, ep)
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	t.Cleanup(unblock)

	c := lpOpen(t, srv, lpParams)
	c.mustPost(`["1","1","block:1","phx_join",{}]`)
	c.expect(`["1","1","block:1","phx_reply",{"response":{},"status":"ok"}]`)
	// The channel blocks in HandleIn and holds the only inflight slot: the next frame is not accepted
	// within the window.
	c.mustPost(`["1","2","block:1","block",{}]`)
	ep.lp.acceptWait.Store(int64(time.Millisecond))
	if s := c.post(`["1","3","block:1","echo",{"n":3}]`); s != http.StatusRequestTimeout {
		t.Fatalf("POST while the socket is full: %d, want 408", s)
	}
	ep.lp.acceptWait.Store(0)
	unblock()
	c.expect(`["1","2","block:1","phx_reply",{"response":{},"status":"ok"}]`)
	c.mustPost(`["1","4","block:1","echo",{"n":4}]`)
	c.expect(`["1","4","block:1","phx_reply",{"response":{"n":4},"status":"ok"}]`)
}

// blockChannel's "block" waits until release is closed.
type blockChannel struct{ release chan struct{} }

func (*blockChannel) Join(*channel.Socket, string, channel.Payload) (any, error) { return nil, nil }
func (b *blockChannel) HandleIn(_ *channel.Socket, event string, p channel.Payload) (channel.Reply, error) {
	if event == "block" {
		<-b.release
		return channel.ReplyOK(nil), nil
	}
	return channel.ReplyOK(p), nil
}

func TestLongPollInactiveSessionEnds(t *testing.T) {
	f := lpFixture(t, Config{})
	c := lpOpen(t, f.srv, lpParams)
	c.join("1", "room:idle")

	// A connection being polled does not expire, however late it is.
	polled := make(chan lpReply, 1)
	go func() { r, _ := lpTry(context.Background(), http.MethodGet, c.url(), c.hdr(""), ""); polled <- r }()
	eventually(t, "GET waiting", func() bool { return c.polling(f.ep) == 1 })
	f.ep.expirePolls(time.Now().Add(time.Hour), nil)
	if c.server(f.ep) == nil {
		t.Fatal("a connection with a GET waiting expired")
	}
	c.mustPost(`[null,"h","phoenix","heartbeat",{}]`)
	if r := <-polled; r.Status != 200 || len(r.Messages) != 1 {
		t.Fatalf("waiting GET: %s", r.raw)
	}

	// Without a GET it expires; the channels end with ErrLongPollInactive, a kind of ErrClosed.
	f.ep.expirePolls(time.Now().Add(time.Hour), nil)
	eventually(t, "channel terminated", func() bool { return len(f.terminated.get("room:idle")) == 1 })
	r := f.terminated.get("room:idle")[0]
	if !errors.Is(r, ErrLongPollInactive) || !errors.Is(r, channel.ErrClosed) || !supervisor.IsNormal(r) {
		t.Fatalf("terminate reason %v, want ErrLongPollInactive (an ErrClosed)", r)
	}
	eventually(t, "socket gone", func() bool { return f.ep.Stats().Sockets == 0 })
	if s := c.post(`[null,"1","phoenix","heartbeat",{}]`); s != http.StatusGone {
		t.Fatalf("POST to an expired connection: %d, want 410", s)
	}
	if r := c.get(); r.Status != http.StatusGone || r.Token == nil || *r.Token == c.token {
		t.Fatalf("GET with an expired connection's token: %s, want a new connection", r.raw)
	}

}

func TestLongPollJanitorExpires(t *testing.T) {
	// The janitor sweeps every half window: a small window, and no expiry until the channel is joined.
	f := lpFixture(t, Config{LongPollWindow: 40 * time.Millisecond})
	f.ep.lp.expiry.Store(int64(time.Hour))
	c := lpOpen(t, f.srv, lpParams)
	c.join("1", "room:idle")
	f.ep.lp.expiry.Store(1)
	eventually(t, "expired by the janitor", func() bool { return len(f.terminated.get("room:idle")) == 1 })
	if r := f.terminated.get("room:idle")[0]; !errors.Is(r, ErrLongPollInactive) {
		t.Fatalf("terminate reason %v, want ErrLongPollInactive", r)
	}
}

func TestLongPollSlowConsumer(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"messages", Config{MaxQueueMessages: 4}},
		{"bytes", Config{MaxQueueBytes: 1024}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := lpFixture(t, tc.cfg)
			c := lpOpen(t, f.srv, lpParams)
			c.join("1", "room:slow")
			other := lpOpen(t, f.srv, lpParams)
			other.join("1", "room:other")
			// c never polls again: its queue overflows and the connection ends.
			pad := strings.Repeat("x", 100)
			for i := 0; f.ep.Stats().Sockets == 2; i++ {
				if i == 1000 {
					t.Fatal("the connection that does not poll is still open after 1000 broadcasts")
				}
				if err := f.ep.Broadcast("room:slow", "fill", map[string]any{"n": i, "pad": pad}); err != nil {
					t.Fatal(err)
				}
			}
			eventually(t, "channel terminated", func() bool { return len(f.terminated.get("room:slow")) == 1 })
			if r := f.terminated.get("room:slow")[0]; !errors.Is(r, channel.ErrClosed) {
				t.Fatalf("terminate reason %v, want ErrClosed", r)
			}
			if s := c.post(`[null,"1","phoenix","heartbeat",{}]`); s != http.StatusGone {
				t.Fatalf("POST after overflow: %d, want 410", s)
			}
			other.sync("unaffected")
		})
	}
}

func TestLongPollConcurrentGETs(t *testing.T) {
	// No window passes during the test: the older GET is released as its window would release it.
	f := lpFixture(t, Config{LongPollWindow: time.Hour})
	c := lpOpen(t, f.srv, lpParams)
	c.join("1", "room:cc")

	// As Phoenix: the newest GET is the one woken by frames; the older one answers 204 at its window.
	first, second := make(chan lpReply, 1), make(chan lpReply, 1)
	go func() { r, _ := lpTry(context.Background(), http.MethodGet, c.url(), c.hdr(""), ""); first <- r }()
	eventually(t, "first GET waiting", func() bool { return c.polling(f.ep) == 1 })
	go func() { r, _ := lpTry(context.Background(), http.MethodGet, c.url(), c.hdr(""), ""); second <- r }()
	eventually(t, "second GET waiting", func() bool { return c.polling(f.ep) == 2 })
	if err := f.ep.Broadcast("room:cc", "news", map[string]int{"n": 1}); err != nil {
		t.Fatal(err)
	}
	var r2 lpReply
	select {
	case r2 = <-second:
	case <-time.After(waitLimit): // a liveness bound: the frames went elsewhere
		f.ep.lp.releaseAll()
		t.Fatalf("newest GET not woken by the broadcast; the older one got %s", (<-first).raw)
	}
	if r2.Status != 200 || len(r2.Messages) != 1 || !jsonEqual([]byte(r2.Messages[0]), []byte(`[null,null,"room:cc","news",{"n":1}]`)) {
		t.Fatalf("newest GET: %s, want the broadcast", r2.raw)
	}
	f.ep.lp.releaseAll() // the older GET's window
	if r1 := <-first; r1.Status != http.StatusNoContent || len(r1.Messages) != 0 {
		t.Fatalf("older GET: %s, want 204 with no messages", r1.raw)
	}
	c.quiet(f.ep, "after")
}

func TestLongPollClientGoneEndsGET(t *testing.T) {
	f := lpFixture(t, Config{})
	c := lpOpen(t, f.srv, lpParams)
	c.join("1", "room:gone")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := lpTry(ctx, http.MethodGet, c.url(), c.hdr(""), ""); done <- err }()
	eventually(t, "GET waiting", func() bool { return c.polling(f.ep) == 1 })
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled GET: %v", err)
	}
	eventually(t, "server side of the GET ended", func() bool { return c.polling(f.ep) == 0 })
	// Nothing was taken by the abandoned GET: the next one gets the frame.
	if err := f.ep.Broadcast("room:gone", "news", map[string]int{"n": 1}); err != nil {
		t.Fatal(err)
	}
	c.expect(`[null,null,"room:gone","news",{"n":1}]`)
}

func TestLongPollShutdownWakesGET(t *testing.T) {
	f := lpFixture(t, Config{LongPollWindow: time.Minute})
	c := lpOpen(t, f.srv, lpParams)
	c.join("1", "room:sd")
	polled := make(chan lpReply, 1)
	go func() { r, _ := lpTry(context.Background(), http.MethodGet, c.url(), c.hdr(""), ""); polled <- r }()
	eventually(t, "GET waiting", func() bool { return c.polling(f.ep) == 1 })

	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := f.ep.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if r := <-polled; r.raw != `{"status":410}`+"\n" {
		t.Fatalf("GET waiting during Shutdown: %q, want {\"status\":410}", r.raw)
	}
	if r := f.terminated.get("room:sd"); len(r) != 1 || !errors.Is(r[0], channel.ErrShutdown) {
		t.Fatalf("terminate reasons %v, want ErrShutdown", r)
	}
	if s := f.ep.Stats(); s.Actors != 0 {
		t.Fatalf("actors left after shutdown: %+v", s)
	}
	if s := c.post(`[null,"1","phoenix","heartbeat",{}]`); s != http.StatusGone {
		t.Fatalf("POST after shutdown: %d, want 410", s)
	}
	// New connections are refused with 500, which phoenix.js retries later.
	if r := lpDo(t, http.MethodGet, c.base+"?"+lpParams, nil, ""); r.raw != `{"status":500}`+"\n" {
		t.Fatalf("new connection during shutdown: %q", r.raw)
	}
}

func TestLongPollServerShutdownReleasesGET(t *testing.T) {
	f := lpFixture(t, Config{LongPollWindow: time.Minute})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: f.ep, ReadHeaderTimeout: waitLimit}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	c := lpOpen(t, &httptest.Server{URL: "http://" + ln.Addr().String()}, lpParams)
	c.join("1", "room:rel")
	polled := make(chan lpReply, 1)
	go func() { r, _ := lpTry(context.Background(), http.MethodGet, c.url(), c.hdr(""), ""); polled <- r }()
	eventually(t, "GET waiting", func() bool { return c.polling(f.ep) == 1 })

	// http.Server.Shutdown waits for active requests: the waiting GET answers at once instead of after
	// its one-minute window.
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("server shutdown: %v", err)
	}
	if r := <-polled; r.Status != http.StatusNoContent {
		t.Fatalf("released GET: %s, want 204", r.raw)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		t.Fatal(err)
	}
	http.DefaultClient.CloseIdleConnections()
	if c.server(f.ep) == nil {
		t.Fatal("the connection ended with the server; only Endpoint.Shutdown ends it")
	}
}

func TestLongPollDisabled(t *testing.T) {
	f := newFixture(t, Config{DisableLongPoll: true})
	resp, err := http.Get(f.srv.URL + "/socket/longpoll?vsn=2.0.0")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("HTTP %d, want 404", resp.StatusCode)
	}
	if f.ep.lp != nil {
		t.Fatal("long-poll state kept although disabled")
	}
}

func TestLongPollFrames(t *testing.T) {
	b64 := base64.StdEncoding.EncodeToString
	type fr struct {
		data   string
		binary bool
	}
	cases := []struct {
		name   string
		body   string
		ndjson bool
		want   []fr
		err    bool
	}{
		{"whole body", "a\nb", false, []fr{{"a\nb", false}}, false},
		{"empty body", "", false, []fr{{"", false}}, false},
		{"lines", "[1]\n[2]\r\n" + b64([]byte{0, 1}) + "\n", true, []fr{{"[1]", false}, {"[2]", false}, {"\x00\x01", true}}, false},
		{"empty lines skipped", "\n\r\n[1]\n\n", true, []fr{{"[1]", false}}, false},
		{"bad base64 stops", "[1]\n@@@\n[2]", true, []fr{{"[1]", false}}, true},
		{"cap", strings.Repeat("[0]\n", 101) + "[x]", true, nil, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got []fr
			var gotErr bool
			for f, err := range pollFrames([]byte(tc.body), tc.ndjson) {
				if err != nil {
					gotErr = true
					continue
				}
				got = append(got, fr{string(f.data), f.binary})
			}
			if tc.name == "cap" {
				if len(got) != maxPollBatch || gotErr {
					t.Fatalf("%d frames (err %v), want %d", len(got), gotErr, maxPollBatch)
				}
				return
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) || gotErr != tc.err {
				t.Fatalf("got %v (err %v), want %v (err %v)", got, gotErr, tc.want, tc.err)
			}
		})
	}
}

func FuzzLongPollBody(f *testing.F) {
	f.Add([]byte(`["1","1","room:1","phx_join",{}]`), true)
	f.Add([]byte("[1]\r\n\n"+binPush("1", "2", "t", "e", []byte{9})+"\n@@"), true)
	f.Add([]byte("not ndjson\n[1]"), false)
	f.Fuzz(func(t *testing.T, body []byte, ndjson bool) {
		n, errs := 0, 0
		for fr, err := range pollFrames(body, ndjson) {
			if errs > 0 {
				t.Fatal("a frame after an error")
			}
			if err != nil {
				if !errors.Is(err, errBase64Line) {
					t.Fatalf("error %v", err)
				}
				errs++
				continue
			}
			n++
			if !ndjson {
				if string(fr.data) != string(body) || fr.binary {
					t.Fatal("a plain body is one text frame, as it is")
				}
				continue
			}
			if len(fr.data) == 0 && !fr.binary || bytes.IndexByte(fr.data, '\n') >= 0 && !fr.binary {
				t.Fatalf("text line %q", fr.data)
			}
			if !fr.binary && fr.data[0] != '[' {
				t.Fatalf("text frame %q does not start with [", fr.data)
			}
			if fr.binary && len(fr.data) > len(body)*3/4+3 {
				t.Fatal("binary frame longer than its base64")
			}
			_, _ = serializer.V2.Decode(fr.data, fr.binary) // must not panic
		}
		if n > maxPollBatch || (!ndjson && n != 1) {
			t.Fatalf("%d frames", n)
		}
	})
}

// A drained connection's last replies wait for its next GET when none was waiting: the in-flight reply is
// delivered, then the connection is gone.
func TestLongPollDrainKeepsLastReplies(t *testing.T) {
	f := lpFixture(t, Config{LongPollWindow: time.Minute})
	c := lpOpen(t, f.srv, lpParams)
	c.join("1", "room:dr")
	c.mustPost(`["1","2","room:dr","echo",{"n":1}]`)
	eventually(t, "reply queued", func() bool {
		s := c.server(f.ep)
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.queue) == 1
	})
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := f.ep.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if r := f.terminated.get("room:dr"); len(r) != 1 || !errors.Is(r[0], channel.ErrShutdown) {
		t.Fatalf("terminate reasons %v, want ErrShutdown", r)
	}
	c.expect(`["1","2","room:dr","phx_reply",{"response":{"n":1},"status":"ok"}]`)
	if c.server(f.ep) != nil {
		t.Fatal("the connection is still known after its last frames were taken")
	}
	if s := c.post(`[null,"3","phoenix","heartbeat",{}]`); s != http.StatusGone {
		t.Fatalf("POST after the connection ended: %d, want 410", s)
	}
}

// A request whose body never finishes is answered within the window and leaves no goroutine or connection
// behind (issue 11.8): a POST to a connection answers 408 and the connection stays; a POST without a connection
// (410), a GET (a new connection), a refused WebSocket upgrade and an unknown path are answered too, net/http's
// discarding of the unread rest being bounded.
func TestStalledRequestBody(t *testing.T) {
	f := lpFixture(t, Config{LongPollWindow: 100 * time.Millisecond})
	f.ep.lp.expiry.Store(int64(time.Hour))
	c := lpOpen(t, f.srv, lpParams)
	c.join("1", "room:stall")
	before := runtime.NumGoroutine()
	for _, tc := range []struct {
		name, method, path, token string
		want                      int // the long-poll status; else the HTTP status
	}{
		{"POST to a connection", http.MethodPost, "/socket/longpoll?" + lpParams, c.token, http.StatusRequestTimeout},
		{"POST without a connection", http.MethodPost, "/socket/longpoll?" + lpParams, "", http.StatusGone},
		{"GET", http.MethodGet, "/socket/longpoll?" + lpParams, "", http.StatusGone},
		{"WebSocket refused", http.MethodGet, "/socket/websocket?vsn=9.0.0", "", http.StatusForbidden},
		{"unknown path", http.MethodPost, "/nowhere", "", http.StatusNotFound},
	} {
		conn, err := net.Dial("tcp", strings.TrimPrefix(f.srv.URL, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = conn.Close() })          // before the server's cleanup, should the test fail
		_ = conn.SetDeadline(time.Now().Add(waitLimit)) // liveness only
		head := tc.method + " " + tc.path + " HTTP/1.1\r\nHost: pyre\r\n" +
			"Content-Type: application/x-ndjson\r\nContent-Length: 1000\r\n"
		if tc.token != "" {
			head += tokenHeader + ": " + tc.token + "\r\n"
		}
		// Headers and the start of a frame, then nothing more.
		if _, err := io.WriteString(conn, head+"\r\n"+`["1","2","room:stall","echo",`); err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(conn)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("%s: no answer: %v", tc.name, err)
		}
		var body lpReply
		if strings.Contains(tc.path, "/longpoll") {
			err = json.NewDecoder(resp.Body).Decode(&body)
			if err != nil || resp.StatusCode != http.StatusOK || body.Status != tc.want {
				t.Fatalf("%s: HTTP %d, status %d (%v), want 200 with status %d", tc.name, resp.StatusCode, body.Status, err, tc.want)
			}
		} else if _, err = io.Copy(io.Discard, resp.Body); err != nil || resp.StatusCode != tc.want {
			t.Fatalf("%s: HTTP %d (%v), want %d", tc.name, resp.StatusCode, err, tc.want)
		}
		_ = resp.Body.Close()
		// The server closes the connection: what is left of the body must not be read as a request.
		if n, err := io.Copy(io.Discard, br); err != nil || n != 0 {
			t.Fatalf("%s: after the answer: %d bytes, %v; want the server's close", tc.name, n, err)
		}
	}
	eventually(t, "server goroutines ended", func() bool { return runtime.NumGoroutine() <= before })
	c.mustPost(`["1","3","room:stall","echo",{"n":3}]`)
	c.expect(`["1","3","room:stall","phx_reply",{"response":{"n":3},"status":"ok"}]`)
}

// Endpoint.Actors tells a long-poll socket's transport and the frames waiting for its next GET.
func TestLongPollActorsQueued(t *testing.T) {
	f := lpFixture(t, Config{})
	c := lpOpen(t, f.srv, lpParams)
	c.join("1", "room:q")
	c.mustPost(`["1","2","room:q","echo",{}]`, `["1","3","room:q","echo",{}]`)
	queued := func() (string, int) {
		for _, a := range f.ep.Actors() {
			if a.Kind == host.SocketActor {
				return a.Transport, a.Queued
			}
		}
		return "", -1
	}
	eventually(t, "two replies queued", func() bool { _, n := queued(); return n == 2 })
	if tr, _ := queued(); tr != "longpoll" {
		t.Fatalf("transport %q, want longpoll", tr)
	}
	c.expect(`["1","2","room:q","phx_reply",{"response":{},"status":"ok"}]`)
	c.expect(`["1","3","room:q","phx_reply",{"response":{},"status":"ok"}]`)
	if _, n := queued(); n != 0 {
		t.Fatalf("%d frames queued after the GET, want 0", n)
	}
}
