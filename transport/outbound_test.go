package transport

import (
	"context"
	"encoding/binary"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pyrehq/pyre/actors/channel"
	"github.com/pyrehq/pyre/actors/host"
	"github.com/pyrehq/pyre/actors/message"
)

// chatChannel is a room whose members broadcast what they push: the sender hears back whether the
// broadcast was accepted.
type chatChannel struct{}

func (chatChannel) Join(*channel.Socket, string, channel.Payload) (any, error) { return nil, nil }
func (chatChannel) HandleIn(s *channel.Socket, event string, p channel.Payload) (channel.Reply, error) {
	switch event {
	case "say": // broadcast the payload as it came
		if err := s.Broadcast("said", p); err != nil {
			return channel.ReplyError(map[string]string{"reason": err.Error()}), nil
		}
		return channel.ReplyOK(nil), nil
	case "fetch": // a small request for a large reply, as a client fetching history
		return channel.ReplyOK(message.JSON(fetched)), nil
	case "shout": // broadcast, no reply
		return channel.NoReply, s.Broadcast("said", p)
	case "say_twice": // broadcast a body twice the size of the pushed one
		var in struct{ Body string }
		_ = p.Decode(&in)
		if err := s.Broadcast("said", map[string]string{"body": in.Body + in.Body}); err != nil {
			return channel.ReplyError(map[string]string{"reason": err.Error()}), nil
		}
		return channel.ReplyOK(nil), nil
	case "push_twice": // push a body twice the size of the pushed one to the sender
		var in struct{ Body string }
		_ = p.Decode(&in)
		if err := s.Push("pushed", map[string]string{"body": in.Body + in.Body}); err != nil {
			return channel.ReplyError(map[string]string{"reason": err.Error()}), nil
		}
		return channel.ReplyOK(nil), nil
	case "reply_twice": // reply with a body twice the size of the pushed one
		var in struct{ Body string }
		_ = p.Decode(&in)
		return channel.ReplyOK(map[string]string{"body": in.Body + in.Body}), nil
	}
	return channel.ReplyOK(p), nil // echo
}

// fetched is the reply to "fetch": 4 KB.
var fetched = []byte(bigBody(4000))

func chatServer(t *testing.T, cfg Config) (*Endpoint, *httptest.Server) {
	t.Helper()
	r := channel.NewRouter(channel.ConnectFunc(func(url.Values, channel.ConnectInfo) (channel.Assigns, error) { return nil, nil }))
	r.Channel("chat:*", func() channel.Channel { return chatChannel{} })
	ep := NewEndpoint(cfg)
	ep.Socket("/socket", r)
	return ep, serve(t, ep)
}

// joinRoom connects n raw clients to topic.
func joinRoom(t *testing.T, srv *httptest.Server, n int, topic string) []*rawClient {
	t.Helper()
	cs := make([]*rawClient, n)
	for i := range cs {
		cs[i] = dial(t, srv, v2, nil)
		cs[i].send(`["1","1","` + topic + `","phx_join",{}]`)
		cs[i].expect(`["1","1","` + topic + `","phx_reply",{"response":{},"status":"ok"}]`)
	}
	return cs
}

// bigBody returns a push payload {"body":"xxx…"} of exactly size bytes.
func bigBody(size int) string {
	return `{"body":"` + strings.Repeat("x", size-11) + `"}`
}

// The limits are consistent by default: whatever a client may send fits the outbound limit, and a message
// of that limit fits a queue with room to spare.
func TestOutboundLimitsConsistentByDefault(t *testing.T) {
	for _, in := range []Config{{}, {MaxFrameSize: 1 << 20}, {MaxOutboundPayload: 64 << 20}} {
		c := in
		c.setDefaults()
		if c.MaxOutboundPayload < c.MaxFrameSize {
			t.Errorf("%+v: MaxOutboundPayload %d < MaxFrameSize %d", in, c.MaxOutboundPayload, c.MaxFrameSize)
		}
		if c.MaxQueueBytes < c.MaxOutboundPayload+1<<20 {
			t.Errorf("%+v: MaxQueueBytes %d leaves no headroom over MaxOutboundPayload %d", in, c.MaxQueueBytes, c.MaxOutboundPayload)
		}
	}
}

// scaledLimits makes 1 MiB the largest frame and payload, with a queue bound below one such message: the
// old failure (a 4.3 MB message, a 4 MiB queue), scaled down so that 20 receivers stay cheap under -race.
var scaledLimits = Config{MaxFrameSize: 1 << 20, MaxQueueBytes: 256 << 10}

// A broadcast just within the outbound limit reaches all 20 reading members of a room and cuts none: the
// old queue cut them all with 1013 for one message larger than its byte bound.
func TestBigBroadcastReachesEveryMember(t *testing.T) {
	_, srv := chatServer(t, scaledLimits)
	room := joinRoom(t, srv, 20, "chat:big")
	body := bigBody(1<<20 - 64) // the frame that carries it is just under MaxFrameSize
	room[0].send(`["1","2","chat:big","shout",` + body + `]`)
	want := `[null,null,"chat:big","said",` + body + `]`
	for i, c := range room {
		if f := c.next(); string(f.data) != want {
			t.Fatalf("member %d got %.80s…", i, f.data)
		}
	}
	for i, c := range room {
		c.sync("after-" + strconv.Itoa(i))
	}
}

// An echo of a frame just under MaxFrameSize reaches a client that reads: the old queue cut it with 1013.
func TestBigEchoReachesReadingClient(t *testing.T) {
	_, srv := chatServer(t, scaledLimits)
	c := joinRoom(t, srv, 1, "chat:echo")[0]
	body := bigBody(1<<20 - 64)
	c.send(`["1","2","chat:echo","echo",` + body + `]`)
	if f := c.next(); string(f.data) != `["1","2","chat:echo","phx_reply",{"response":`+body+`,"status":"ok"}]` {
		t.Fatalf("got %.80s…", f.data)
	}
	c.sync("connected")
}

// A message over the outbound limit is refused where it is made, and reaches nobody: the member who
// broadcast or pushed it gets an error, a reply too large is answered with an error reply, the Endpoint's
// and the PubSub's broadcasts return ErrMessageTooLarge; every member stays connected and the next
// normal broadcast is the next frame each one gets.
func TestTooLargeRefusedAtSource(t *testing.T) {
	const limit = 256 << 10
	ep, srv := chatServer(t, Config{MaxFrameSize: limit})
	room := joinRoom(t, srv, 20, "chat:x")
	body := bigBody(limit/2 + 100) // doubled by the channel: over the limit
	tooLarge := func(size int) string {
		return `{"reason":"message: too large to send: ` + strconv.Itoa(size) + ` bytes, limit 262144"}`
	}
	doubled := 2*(limit/2+100-11) + 11
	n := 0
	next := func(who string) { // the next normal broadcast: the barrier every member must get next
		t.Helper()
		n++
		if err := ep.Broadcast("chat:x", "said", map[string]int{"n": n}); err != nil {
			t.Fatal(err)
		}
		for i, c := range room {
			if f := c.next(); !jsonEqual(f.data, []byte(`[null,null,"chat:x","said",{"n":`+strconv.Itoa(n)+`}]`)) {
				t.Fatalf("after %s, member %d got %.100s", who, i, f.data)
			}
		}
	}

	room[0].send(`["1","2","chat:x","say_twice",` + body + `]`)
	room[0].expect(`["1","2","chat:x","phx_reply",{"response":` + tooLarge(doubled) + `,"status":"error"}]`)
	next("a member's broadcast")

	room[0].send(`["1","3","chat:x","push_twice",` + body + `]`)
	room[0].expect(`["1","3","chat:x","phx_reply",{"response":` + tooLarge(doubled) + `,"status":"error"}]`)
	next("a push")

	room[0].send(`["1","4","chat:x","reply_twice",` + body + `]`)
	room[0].expect(`["1","4","chat:x","phx_reply",{"response":{"reason":"reply too large"},"status":"error"}]`)
	next("a reply")

	big := message.JSON([]byte(bigBody(limit + 1)))
	for name, err := range map[string]error{
		"Endpoint.Broadcast":      ep.Broadcast("chat:x", "said", big),
		"Endpoint.LocalBroadcast": ep.LocalBroadcast("chat:x", "said", big),
		"PubSub.Broadcast":        ep.PubSub().Broadcast(message.NewBroadcast("chat:x", "said", big)),
	} {
		if !errors.Is(err, channel.ErrMessageTooLarge) {
			t.Errorf("%s: %v, want ErrMessageTooLarge", name, err)
		}
	}
	if got := ep.PubSub().LocalBroadcast(message.NewBroadcast("chat:x", "said", big)); got != 0 {
		t.Errorf("PubSub.LocalBroadcast of a message too large reached %d subscribers", got)
	}
	next("the endpoint's broadcasts")

	// Exactly at the limit is fine.
	at := bigBody(limit)
	if err := ep.Broadcast("chat:x", "said", message.JSON([]byte(at))); err != nil {
		t.Fatal(err)
	}
	for i, c := range room {
		if f := c.next(); string(f.data) != `[null,null,"chat:x","said",`+at+`]` {
			t.Fatalf("member %d got %.80s…", i, f.data)
		}
	}
}

// A client that pipelines 20,000 requests and reads as fast as it can gets every reply, in order, and
// stays connected: its reader is paused while its replies are written, instead of being cut as a slow consumer.
// The old 1,024-frame queue cut it with 1013, or dropped the TCP connection with no close frame. Each
// reply is larger than its request (4 KB, 80 MB in all), so the replies outpace the client and fill the
// socket buffers, as they do for a client on a real network.
func TestPipelinedPushesAllAnswered(t *testing.T) {
	_, srv := chatServer(t, Config{})
	c := joinRoom(t, srv, 1, "chat:pipe")[0]
	const n = 20_000
	sent := make(chan error, 1)
	go func() {
		var buf []byte
		for i := range n {
			buf = appendClientFrame(buf, `["1","`+strconv.Itoa(i)+`","chat:pipe","fetch",{}]`)
		}
		_, err := c.conn.NetConn().Write(buf) // all in one go, as a pipelining client
		sent <- err
	}()
	for i := range n {
		f := c.next()
		if want := `["1","` + strconv.Itoa(i) + `","chat:pipe","phx_reply",{"response":` + string(fetched) + `,"status":"ok"}]`; string(f.data) != want {
			t.Fatalf("reply %d: got %.100s, want %.100s", i, f.data, want)
		}
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	c.sync("still-connected")
}

// appendClientFrame appends a masked client text frame (zero mask key) carrying payload.
func appendClientFrame(dst []byte, payload string) []byte {
	n := len(payload)
	switch {
	case n < 126:
		dst = append(dst, 0x81, 0x80|byte(n))
	case n <= 0xFFFF:
		dst = append(dst, 0x81, 0x80|126, byte(n>>8), byte(n))
	default:
		dst = append(dst, 0x81, 0x80|127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	dst = append(dst, 0, 0, 0, 0)
	return append(dst, payload...)
}

// A client that pipelines pushes and never reads is still cut, with its queue bounded all along: its
// reader pauses once the queue is half full, so the queue stops growing, and the write stuck on the
// client fails at WriteTimeout.
func TestPipeliningClientThatNeverReadsIsCut(t *testing.T) {
	ep, srv := chatServer(t, Config{WriteTimeout: 300 * time.Millisecond})
	conn := stalledClient(t, strings.TrimPrefix(srv.URL, "http://"), "chat:stall")
	eventually(t, "joined", func() bool { return ep.Stats().Channels == 1 })
	const n, pad = 10_000, 1000 // 10 MB of replies: more than the kernel's socket buffers hold
	frame := appendClientFrame(nil, `["1","0","chat:stall","echo",{"pad":"`+strings.Repeat("x", pad)+`"}]`)
	buf := make([]byte, 0, n*len(frame))
	for range n {
		buf = append(buf, frame...)
	}
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		_, _ = conn.Write(buf) // fails once the server drops the connection
	}()
	peak := 0
	eventually(t, "cut", func() bool {
		ep.mu.Lock()
		for c := range ep.conns {
			c.mu.Lock()
			peak = max(peak, len(c.queue))
			c.mu.Unlock()
		}
		ep.mu.Unlock()
		return ep.Stats().Sockets == 0
	})
	<-sent
	if peak > ep.cfg.MaxQueueMessages {
		t.Fatalf("queue peaked at %d frames, bound %d", peak, ep.cfg.MaxQueueMessages)
	}
}

// A long-poll client that posts a batch faster than it polls gets every reply: the POST waits while the
// session's queue is half full, until a GET takes it, instead of the session ending as a slow consumer.
func TestLongPollBatchLargerThanQueue(t *testing.T) {
	f := lpFixture(t, Config{MaxQueueMessages: 8})
	c := lpOpen(t, f.srv, lpParams)
	c.join("1", "room:lpq")
	lines := make([]string, 100)
	for i := range lines {
		lines[i] = `["1","e` + strconv.Itoa(i) + `","room:lpq","echo",{"n":` + strconv.Itoa(i) + `}]`
	}
	posted := make(chan int, 1)
	go func() {
		r, err := lpTry(context.Background(), http.MethodPost, c.url(), c.hdr("application/x-ndjson"), strings.Join(lines, "\n"))
		if err != nil {
			posted <- -1
			return
		}
		posted <- r.Status
	}()
	for i := range lines {
		c.expect(`["1","e` + strconv.Itoa(i) + `","room:lpq","phx_reply",{"response":{"n":` + strconv.Itoa(i) + `},"status":"ok"}]`)
	}
	if s := <-posted; s != http.StatusOK {
		t.Fatalf("POST: %d, want 200", s)
	}
	c.sync("open")
}

// Closing a connection (Shutdown, a kick, the janitor) wakes its reader paused for a full queue at once,
// not when the stuck write gives up WriteTimeout later.
func TestCloseWakesPausedReader(t *testing.T) {
	ep, srv := chatServer(t, Config{WriteTimeout: time.Minute})
	conn := stalledClient(t, strings.TrimPrefix(srv.URL, "http://"), "chat:wake")
	eventually(t, "joined", func() bool { return ep.Stats().Channels == 1 })
	frame := appendClientFrame(nil, `["1","0","chat:wake","echo",{"pad":"`+strings.Repeat("x", 1000)+`"}]`)
	buf := make([]byte, 0, 10_000*len(frame))
	for range 10_000 {
		buf = append(buf, frame...)
	}
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		_, _ = conn.Write(buf) // ends when the test's cleanup closes conn, or the server drops it
	}()
	var wc *wsConn
	eventually(t, "reader paused", func() bool {
		ep.mu.Lock()
		defer ep.mu.Unlock()
		for c := range ep.conns {
			wc = c
		}
		return wc != nil && wc.paused.Load()
	})
	wc.Close(host.CloseServiceRestart)
	eventually(t, "reader woken", func() bool { return !wc.paused.Load() })
	_ = conn.Close()
	<-sent
}
