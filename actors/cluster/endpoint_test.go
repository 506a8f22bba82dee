package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/pyrehq/pyre/actors/channel"
	"github.com/pyrehq/pyre/actors/pubsub"
	"github.com/pyrehq/pyre/transport"
	"github.com/pyrehq/pyre/transport/client"
)

// epNode is a whole Pyre node in this process: an actor system, a cluster node, and a transport.Endpoint
// serving WebSockets on a loopback port, wired as doc.go's recipe says.
type epNode struct {
	name string
	sys  *actor.ActorSystem
	node *Node
	ps   *pubsub.PubSub
	ep   *transport.Endpoint
	srv  *httptest.Server
}

const epMaxFrame = 1 << 20 // MaxFrameSize of the test endpoints (a payload this big crosses)

// userSocket names sockets by the user_id connect param.
type userSocket struct{}

func (userSocket) Connect(params url.Values, _ channel.ConnectInfo) (channel.Assigns, error) {
	return channel.Assigns{"user_id": params.Get("user_id")}, nil
}

func (userSocket) ID(a channel.Assigns) string {
	if id, _ := channel.Get[string](a, "user_id"); id != "" {
		return "users_socket:" + id
	}
	return ""
}

// roomChannel broadcasts what its client asks, and intercepts "secret": HandleOut runs on the subscriber's
// node and says which one.
type roomChannel struct{ node string }

func (*roomChannel) Join(*channel.Socket, string, channel.Payload) (any, error) { return nil, nil }

func (*roomChannel) HandleIn(s *channel.Socket, event string, p channel.Payload) (channel.Reply, error) {
	switch event {
	case "broadcast":
		return channel.ReplyOK(nil), s.Broadcast("shout", p)
	case "broadcast_from":
		return channel.ReplyOK(nil), s.BroadcastFrom("shout", p)
	}
	return channel.ReplyError(map[string]string{"reason": "unknown event"}), nil
}

func (*roomChannel) Intercepts() []string { return []string{"secret"} }

func (c *roomChannel) HandleOut(s *channel.Socket, event string, p channel.Payload) error {
	var v map[string]any
	if err := p.Decode(&v); err != nil {
		return err
	}
	v["on"] = c.node
	return s.Push(event, v)
}

// startEndpointNodes starts one node per name (remote first on all of them: see connect), joins them into
// one cluster and waits until every node sees every other.
func startEndpointNodes(t *testing.T, names ...string) []*epNode {
	t.Helper()
	addrs := freeAddrs(t, len(names))
	var nodes []*epNode
	for i, name := range names {
		sys := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return quiet }),
			actor.WithDeadLetterThrottleInterval(time.Millisecond)) // its goroutine ends within the test
		n := New(Config{System: sys, Address: addrs[i], Name: name, HeartbeatInterval: 100 * time.Millisecond,
			DeadAfter: 5 * time.Second, Logger: quiet}) // no failure here: no flapping on a loaded machine
		ps := pubsub.New(pubsub.Config{Adapter: n, MaxPayloadSize: epMaxFrame})
		if err := n.Start(ps); err != nil {
			t.Fatalf("start %s: %v", name, err)
		}
		router := channel.NewRouter(userSocket{})
		router.Channel("room:*", func() channel.Channel { return &roomChannel{node: name} })
		ep := transport.NewEndpoint(transport.Config{System: sys, PubSub: ps, MaxFrameSize: epMaxFrame,
			CheckOrigin: transport.AllowAllOrigins(), Logger: quiet,
			LongPollPeers: n.LongPoll(), SecretKeyBase: strings.Repeat("shared secret ", 5), LongPollWindow: 2 * time.Second})
		ep.Socket("/socket", router)
		n.LongPoll().Handle(ep)
		nodes = append(nodes, &epNode{name: name, sys: sys, node: n, ps: ps, ep: ep, srv: httptest.NewServer(ep)})
	}
	t.Cleanup(func() { stopEndpointNodes(t, nodes) })
	for _, en := range nodes {
		en.sys.Root.Send(en.node.mgr, candidates(addrs))
	}
	for _, en := range nodes {
		waitFor(t, en.name+" sees every node", 10*time.Second, func() bool { return len(en.node.Members()) == len(nodes) })
	}
	return nodes
}

// stopEndpointNodes ends the endpoints (every client closed), then the cluster nodes in the order that
// keeps protoactor's remote from racing with itself (StopAll), then the actor systems.
func stopEndpointNodes(t *testing.T, nodes []*epNode) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var cn []*Node
	for _, en := range nodes {
		en.srv.Close()
		if err := en.ep.Shutdown(ctx); err != nil {
			t.Errorf("%s: endpoint shutdown: %v", en.name, err)
		}
		cn = append(cn, en.node)
	}
	if err := StopAll(ctx, cn...); err != nil {
		t.Errorf("stop nodes: %v", err)
	}
	for _, en := range nodes {
		en.sys.Shutdown()
	}
}

// dial connects a client to en as user and joins topic.
func (en *epNode) dial(t *testing.T, user, topic string) (*client.Conn, *client.Channel) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	u := "ws" + strings.TrimPrefix(en.srv.URL, "http") + "/socket/websocket?vsn=2.0.0"
	c, err := client.Dial(ctx, u, client.Options{Params: url.Values{"user_id": {user}}, MessageBuffer: 256})
	if err != nil {
		t.Fatalf("dial %s: %v", en.name, err)
	}
	t.Cleanup(func() { c.Close() })
	ch, reply, err := c.Join(ctx, topic, map[string]any{})
	if err != nil || !reply.OK() {
		t.Fatalf("join %s on %s: %v %+v", topic, en.name, err, reply)
	}
	return c, ch
}

// next returns ch's next message, failing after 10 s.
func next(t *testing.T, who string, ch *client.Channel) client.Message {
	t.Helper()
	select {
	case m, ok := <-ch.Messages():
		if !ok {
			t.Fatalf("%s: channel ended", who)
		}
		return m
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: nothing arrived within 10 s", who)
	}
	return client.Message{}
}

// expect asserts ch's next messages are exactly these broadcasts (null refs, this topic), in order.
func expect(t *testing.T, who string, ch *client.Channel, want ...string) {
	t.Helper()
	for _, w := range want {
		event, payload, _ := strings.Cut(w, " ")
		m := next(t, who, ch)
		if m.JoinRef != "" || m.Ref != "" || m.Topic != ch.Topic() || m.Event != event || string(m.Payload) != payload {
			t.Fatalf("%s: got %+v (payload %s), want broadcast %s %s", who, m, m.Payload, event, payload)
		}
	}
}

func push(t *testing.T, ch *client.Channel, event string, payload any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if r, err := ch.Push(ctx, event, payload); err != nil || !r.OK() {
		t.Fatalf("push %s: %v %+v", event, err, r)
	}
}

// TestEndpointsAcrossNodes runs two whole nodes in this process, each with WebSocket clients, and checks
// every kind of broadcast across them: exact frames, order, exclusion of the sender, interception on the
// subscriber's node, LocalBroadcast staying local, a payload of MaxFrameSize.
func TestEndpointsAcrossNodes(t *testing.T) {
	if !isolated(t) {
		return
	}
	nodes := startEndpointNodes(t, "a", "b")
	a, b := nodes[0], nodes[1]
	for _, en := range nodes {
		var names []string
		for _, m := range en.node.Members() {
			names = append(names, m.Name)
		}
		if slices.Sort(names); !slices.Equal(names, []string{"a", "b"}) {
			t.Fatalf("%s: members %v, want the names [a b]", en.name, names)
		}
	}
	_, a1 := a.dial(t, "1", "room:1")
	_, a2 := a.dial(t, "2", "room:1")
	_, b1 := b.dial(t, "3", "room:1")
	_, b2 := b.dial(t, "4", "room:1")
	everyone := map[string]*client.Channel{"a1": a1, "a2": a2, "b1": b1, "b2": b2}
	all := func(want ...string) {
		t.Helper()
		for who, ch := range everyone {
			expect(t, who, ch, want...)
		}
	}

	// Endpoint.Broadcast from either node, in publish order per publisher.
	for i := range 20 {
		if err := a.ep.Broadcast("room:1", "n", map[string]int{"i": i}); err != nil {
			t.Fatal(err)
		}
	}
	var want []string
	for i := range 20 {
		want = append(want, fmt.Sprintf(`n {"i":%d}`, i))
	}
	all(want...)
	if err := b.ep.Broadcast("room:1", "n", map[string]string{"from": "b"}); err != nil {
		t.Fatal(err)
	}
	all(`n {"from":"b"}`)

	// A channel's Broadcast reaches everyone, its sender included; BroadcastFrom everyone but its sender.
	// The marker after it is the barrier: order per publisher says the excluded frame would be before it.
	push(t, b1, "broadcast", map[string]string{"by": "b1"})
	all(`shout {"by":"b1"}`)
	push(t, b1, "broadcast_from", map[string]string{"by": "b1"})
	push(t, b1, "broadcast", map[string]string{"marker": "1"})
	for who, ch := range everyone {
		if who != "b1" {
			expect(t, who, ch, `shout {"by":"b1"}`)
		}
	}
	all(`shout {"marker":"1"}`)
	push(t, a2, "broadcast_from", map[string]string{"by": "a2"})
	push(t, a2, "broadcast", map[string]string{"marker": "2"})
	for who, ch := range everyone {
		if who != "a2" {
			expect(t, who, ch, `shout {"by":"a2"}`)
		}
	}
	all(`shout {"marker":"2"}`)

	// Endpoint.BroadcastFrom with no sender skips nobody.
	if err := a.ep.BroadcastFrom(nil, "room:1", "n", map[string]int{"from": 0}); err != nil {
		t.Fatal(err)
	}
	all(`n {"from":0}`)

	// An intercepted event goes through HandleOut on the subscriber's node.
	if err := a.ep.Broadcast("room:1", "secret", map[string]int{"x": 1}); err != nil {
		t.Fatal(err)
	}
	for who, ch := range everyone {
		m := next(t, who, ch)
		on := who[:1]
		if m.Event != "secret" || m.JoinRef != ch.JoinRef() || string(m.Payload) != fmt.Sprintf(`{"on":%q,"x":1}`, on) {
			t.Fatalf("%s: got %+v (%s), want a push of secret from HandleOut on %s", who, m, m.Payload, on)
		}
	}

	// LocalBroadcast stays on its node: b's clients see only the marker that follows it.
	if err := a.ep.LocalBroadcast("room:1", "n", map[string]string{"local": "a"}); err != nil {
		t.Fatal(err)
	}
	if err := a.ep.Broadcast("room:1", "n", map[string]string{"marker": "3"}); err != nil {
		t.Fatal(err)
	}
	expect(t, "a1", a1, `n {"local":"a"}`, `n {"marker":"3"}`)
	expect(t, "a2", a2, `n {"local":"a"}`, `n {"marker":"3"}`)
	expect(t, "b1", b1, `n {"marker":"3"}`)
	expect(t, "b2", b2, `n {"marker":"3"}`)

	// A payload of MaxFrameSize bytes crosses whole.
	pad := strings.Repeat("x", epMaxFrame-len(`{"big":""}`))
	if err := b.ep.Broadcast("room:1", "big", json.RawMessage(`{"big":"`+pad+`"}`)); err != nil {
		t.Fatal(err)
	}
	all(`big {"big":"` + pad + `"}`)
	if err := b.ep.Broadcast("room:1", "big", json.RawMessage(`{"big":"`+pad+`x"}`)); err == nil {
		t.Fatal("a payload over MaxFrameSize was accepted")
	}

	// Two publishers on two nodes, interleaved: each one's order holds on every client.
	for i := range 50 {
		if err := a.ep.Broadcast("room:1", "p", map[string]any{"a": i}); err != nil {
			t.Fatal(err)
		}
		if err := b.ep.Broadcast("room:1", "p", map[string]any{"b": i}); err != nil {
			t.Fatal(err)
		}
	}
	for who, ch := range everyone {
		nextOf := map[string]int{}
		for range 100 {
			m := next(t, who, ch)
			var v map[string]int
			if err := json.Unmarshal(m.Payload, &v); err != nil || len(v) != 1 || m.Event != "p" {
				t.Fatalf("%s: %+v", who, m)
			}
			for k, n := range v {
				if n != nextOf[k] {
					t.Fatalf("%s: from %s got %d, want %d", who, k, n, nextOf[k])
				}
				nextOf[k]++
			}
		}
	}
	for _, en := range nodes {
		if s := en.node.Stats(); s.Dropped != 0 || s.Gaps != 0 || s.LostBatches != 0 {
			t.Fatalf("%s: %+v", en.name, s)
		}
	}
}

// TestDisconnectAcrossNodes: Endpoint.Disconnect on one node closes that user's connections on every node
// (1001), and nobody else's.
func TestDisconnectAcrossNodes(t *testing.T) {
	if !isolated(t) {
		return
	}
	nodes := startEndpointNodes(t, "a", "b", "c")
	var victims []*client.Conn
	for _, en := range nodes {
		c, _ := en.dial(t, "42", "room:1")
		victims = append(victims, c)
	}
	_, other := nodes[2].dial(t, "7", "room:1")
	if err := nodes[1].ep.Disconnect("users_socket:42"); err != nil {
		t.Fatal(err)
	}
	for i, c := range victims {
		select {
		case <-c.Closed():
		case <-time.After(10 * time.Second):
			t.Fatalf("user 42 on %s still connected", nodes[i].name)
		}
		if code := c.CloseCode(); code != 1001 {
			t.Fatalf("user 42 on %s closed with %d, want 1001", nodes[i].name, code)
		}
	}
	// The other user is still there: a broadcast after the disconnect reaches it.
	if err := nodes[1].ep.Broadcast("room:1", "n", map[string]int{"after": 1}); err != nil {
		t.Fatal(err)
	}
	expect(t, "user 7", other, `n {"after":1}`)
}

// lpCall is one long-poll request; it returns the answer's body fields.
func lpCall(t *testing.T, method, url, token, body string) (status int, tok string, msgs []string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("X-Phoenix-Longpoll-Token", token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/x-ndjson")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v struct {
		Status   int      `json:"status"`
		Token    string   `json:"token"`
		Messages []string `json:"messages"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&v) != nil {
		t.Fatalf("%s %s: HTTP %d", method, url, resp.StatusCode)
	}
	return v.Status, v.Token, v.Messages
}

// TestLongPollAcrossNodes: a long-poll client whose requests alternate between two nodes keeps one
// session (on the node that created it): every request on the other node is forwarded to it, and its
// frames come back exactly, in order.
func TestLongPollAcrossNodes(t *testing.T) {
	if !isolated(t) {
		return
	}
	nodes := startEndpointNodes(t, "a", "b")
	urls := []string{nodes[0].srv.URL + "/socket/longpoll?vsn=2.0.0&user_id=5", nodes[1].srv.URL + "/socket/longpoll?vsn=2.0.0&user_id=5"}
	status, tok, _ := lpCall(t, http.MethodGet, urls[0], "", "")
	if status != http.StatusGone || tok == "" {
		t.Fatalf("open on a: %d %q", status, tok)
	}
	// The join goes through b; a's session answers, and the reply is read through b again.
	if status, _, _ := lpCall(t, http.MethodPost, urls[1], tok, `["1","1","room:1","phx_join",{}]`+"\n"); status != http.StatusOK {
		t.Fatalf("POST on b: %d", status)
	}
	var got []string
	next := func(i int) {
		t.Helper()
		status, newTok, msgs := lpCall(t, http.MethodGet, urls[i%2], tok, "")
		if status != http.StatusOK && status != http.StatusNoContent {
			t.Fatalf("GET %d: status %d", i, status)
		}
		if newTok != "" && newTok != tok {
			t.Fatalf("GET %d: a new session (token changed)", i)
		}
		got = append(got, msgs...)
	}
	for i := 1; len(got) == 0; i++ {
		next(i)
	}
	if want := `["1","1","room:1","phx_reply",{"response":{},"status":"ok"}]`; got[0] != want {
		t.Fatalf("join reply %s, want %s", got[0], want)
	}
	// Broadcasts from both nodes, read alternately through both, exact and in order per publisher.
	for i := range 3 {
		if err := nodes[0].ep.Broadcast("room:1", "n", map[string]int{"a": i}); err != nil {
			t.Fatal(err)
		}
		if err := nodes[1].ep.Broadcast("room:1", "n", map[string]int{"b": i}); err != nil {
			t.Fatal(err)
		}
	}
	got = got[:0]
	for i := 0; len(got) < 6; i++ {
		next(i)
	}
	var fromA, fromB []string
	for _, m := range got {
		if strings.Contains(m, `"a"`) {
			fromA = append(fromA, m)
		} else {
			fromB = append(fromB, m)
		}
	}
	for i := range 3 {
		if want := fmt.Sprintf(`[null,null,"room:1","n",{"a":%d}]`, i); fromA[i] != want {
			t.Fatalf("from a: %v", fromA)
		}
		if want := fmt.Sprintf(`[null,null,"room:1","n",{"b":%d}]`, i); fromB[i] != want {
			t.Fatalf("from b: %v", fromB)
		}
	}
	// A push through b, its reply through a.
	if status, _, _ := lpCall(t, http.MethodPost, urls[1], tok, `["1","2","room:1","broadcast",{"x":1}]`+"\n"); status != http.StatusOK {
		t.Fatalf("POST on b: %d", status)
	}
	got = got[:0]
	for i := 0; len(got) < 2; i++ {
		next(i)
	}
	if want := `[null,null,"room:1","shout",{"x":1}]`; !slices.Contains(got, want) {
		t.Fatalf("after the push: %v, want %s", got, want)
	}
}
