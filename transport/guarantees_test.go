package transport

// The ordering guarantees and frame rules a client can observe, one test each, as audited against Phoenix
// 1.8's source (transport/PROTOCOL.md §11 lists them with the Phoenix function each comes from). Frames are
// asserted exactly and in order; "nothing arrives" is asserted after a barrier through the socket actor and
// every joined channel actor.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/pyrehq/pyre/actors/channel"
	"github.com/pyrehq/pyre/supervisor"
)

// auditChannel is a Phoenix-exact channel (route g:*, Temporary) whose events exercise each guarantee.
type auditChannel struct{}

type stopInfo struct{}

func (auditChannel) Join(s *channel.Socket, _ string, p channel.Payload) (any, error) {
	var q struct {
		Bye bool `json:"bye"`
	}
	_ = p.Decode(&q)
	s.Assign("bye", q.Bye)
	return nil, nil
}

func (auditChannel) HandleIn(s *channel.Socket, event string, p channel.Payload) (channel.Reply, error) {
	switch event {
	case "echo":
		return channel.ReplyOK(p), nil
	case "error":
		return channel.ReplyError(p), nil
	case "noreply":
		return channel.NoReply, nil
	case "push":
		return channel.NoReply, s.Push("pushed", p)
	case "broadcast":
		return channel.NoReply, s.Broadcast("shout", p)
	case "intercepted":
		return channel.NoReply, s.Broadcast("icpt", p)
	case "broadcast_push":
		if err := s.Broadcast("shout", p); err != nil {
			return channel.NoReply, err
		}
		return channel.NoReply, s.Push("pushed", p)
	case "push_list":
		_ = s.Push("list", []int{1, 2})
		return channel.NoReply, nil
	case "stop":
		return channel.NoReply, channel.StopNormal
	case "stop_reply":
		return channel.ReplyOK(p), channel.StopNormal
	case "stop_info":
		s.Send(stopInfo{})
		return channel.NoReply, nil
	case "stop_error":
		return channel.ReplyError(nil), errors.New("failed")
	case "crash":
		panic("boom")
	}
	return channel.ReplyError(map[string]string{"unknown": event}), nil
}

func (auditChannel) Intercepts() []string { return []string{"icpt"} }

func (auditChannel) HandleOut(s *channel.Socket, event string, p channel.Payload) error {
	return s.Push(event, p)
}

func (auditChannel) HandleInfo(_ *channel.Socket, msg any) error {
	if _, ok := msg.(stopInfo); ok {
		return channel.StopNormal
	}
	return nil
}

// Terminate pushes "bye" when the join asked for it, to show where terminate's effects land.
func (auditChannel) Terminate(s *channel.Socket, reason error) {
	if bye, _ := channel.Get[bool](s.Assigns(), "bye"); bye {
		_ = s.Push("bye", map[string]bool{"normal": supervisor.IsNormal(reason)})
	}
}

func auditFixture(t *testing.T, opts ...channel.RouterOption) *fixture {
	t.Helper()
	f := &fixture{terminated: &reasons{}}
	router := channel.NewRouter(testSocket{}, opts...)
	router.Channel("g:*", func() channel.Channel { return auditChannel{} }, channel.WithRestart(supervisor.Temporary))
	// Crashes are the point here: no log.
	f.ep = NewEndpoint(Config{Logger: slog.New(slog.DiscardHandler), LongPollWindow: lpWindow})
	f.ep.Socket("/socket", router)
	f.srv = serve(t, f.ep)
	return f
}

// proto renders frames in one serializer's shape, so a test reads the same for V1 and V2. j and r are JSON
// tokens ("null", `"1"`, `6`); p is JSON.
type proto struct {
	name, path string
	v1         bool
}

var (
	protoV1 = proto{name: "V1", path: "/socket/websocket?vsn=1.0.0", v1: true}
	protoV2 = proto{name: "V2", path: v2}
	protos  = []proto{protoV1, protoV2}
)

// in is a client frame.
func (v proto) in(j, r, topic, event, p string) string {
	if v.v1 {
		return fmt.Sprintf(`{"join_ref":%s,"ref":%s,"topic":%q,"event":%q,"payload":%s}`, j, r, topic, event, p)
	}
	return fmt.Sprintf(`[%s,%s,%q,%q,%s]`, j, r, topic, event, p)
}

// out is a server frame; V1 never carries join_ref.
func (v proto) out(j, r, topic, event, p string) string {
	if v.v1 {
		return fmt.Sprintf(`{"ref":%s,"topic":%q,"event":%q,"payload":%s}`, r, topic, event, p)
	}
	return fmt.Sprintf(`[%s,%s,%q,%q,%s]`, j, r, topic, event, p)
}

func (v proto) reply(j, r, topic, status, response string) string {
	return v.out(j, r, topic, "phx_reply", fmt.Sprintf(`{"response":%s,"status":%q}`, response, status))
}

// joined is a channel the barrier goes through: its topic, the join_ref the client sends, and the one the
// channel's replies carry when it differs (a join with a null J: the join's ref).
type joined struct{ topic, j, jr string }

// barrier proves that every frame the server had to send for what came before is already here: a heartbeat
// round trip through the socket actor; then, on a server started by serve(), a barrier through every socket
// and channel actor (Host.Sync, which also covers channels that are ending) and another heartbeat round trip
// (what they wrote is ahead of its reply); then an echo round trip through each joined channel's own mailbox.
func (c *rawClient) barrier(v proto, tag string, chans ...joined) {
	c.t.Helper()
	hb := func(ref string) {
		c.t.Helper()
		c.send(v.in("null", ref, "phoenix", "heartbeat", `{}`))
		c.expect(v.reply("null", ref, "phoenix", "ok", `{}`))
	}
	hb(fmt.Sprintf("%q", "hb-"+tag))
	if c.ep != nil {
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		if err := c.ep.host.Sync(ctx); err != nil {
			c.t.Fatalf("the actors did not become idle: %v", err)
		}
		hb(fmt.Sprintf("%q", "hb-idle-"+tag))
	}
	for i, ch := range chans {
		ref := fmt.Sprintf(`"b-%s-%d"`, tag, i)
		jr := ch.jr
		if jr == "" {
			jr = ch.j
		}
		c.send(v.in(ch.j, ref, ch.topic, "echo", `{"barrier":true}`))
		c.expect(v.reply(jr, ref, ch.topic, "ok", `{"barrier":true}`))
	}
	c.expectNone()
}

// G1. The join reply precedes every push of the channel (Phoenix: the socket pushes the reply it waited
// for in Channel.Server.join before it handles anything else in its mailbox).
func TestGuaranteeJoinReplyBeforePushes(t *testing.T) {
	f := newFixture(t, Config{})
	for _, v := range protos {
		t.Run(v.name, func(t *testing.T) {
			c := dial(t, f.srv, v.path, nil)
			c.send(v.in(`"1"`, `"1"`, "room:w", "phx_join", `{"welcome":true}`))
			c.expect(v.reply(`"1"`, `"1"`, "room:w", "ok", `{"joined":"room:w"}`))
			c.expect(v.out(`"1"`, "null", "room:w", "welcome", `{"topic":"room:w"}`))
		})
	}
}

// G2. The join reply precedes every broadcast on the topic, even one published while the join runs; from the
// subscription on, none is lost or reordered (Phoenix: init_join subscribes before the reply is sent, and
// fastlane frames wait in the socket's mailbox behind the reply).
func TestGuaranteeJoinReplyBeforeBroadcasts(t *testing.T) {
	f := auditFixture(t)
	c := dial(t, f.srv, v2, nil)
	const rounds, n = 20, 1000
	for round := range rounds {
		topic := fmt.Sprintf("g:b%d", round)
		start, replied := make(chan struct{}), make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			// Publish all through the join, until the reply is in (at most n, below maxPendingJoin and
			// MaxQueueMessages, so no bound trips), then one that must arrive, last.
			last := 0
			for last < n {
				select {
				case <-replied:
				default:
					last++
					_ = f.ep.Broadcast(topic, "n", map[string]int{"n": last})
					runtime.Gosched()
					continue
				}
				break
			}
			<-replied
			_ = f.ep.Broadcast(topic, "n", map[string]int{"n": n + 1})
		}()
		j := fmt.Sprintf(`"%d"`, round+1)
		c.send(protoV2.in(j, j, topic, "phx_join", `{}`))
		close(start)
		c.expect(protoV2.reply(j, j, topic, "ok", `{}`))
		close(replied)
		prev := 0
		for prev != n+1 {
			fr := c.next()
			var got int
			if _, err := fmt.Sscanf(string(fr.data), `[null,null,"`+topic+`","n",{"n":%d}]`, &got); err != nil {
				t.Fatalf("round %d: unexpected frame %s", round, fr.data)
			}
			if prev != 0 && got != prev+1 && got != n+1 {
				t.Fatalf("round %d: broadcast %d after %d: lost or reordered", round, got, prev)
			}
			prev = got
		}
		wg.Wait()
	}
}

// G4. Replies come in the order of the pushes they answer, with the channel's own pushes in between where
// the handler made them (Phoenix: one channel process handles its mailbox in order).
func TestGuaranteeRepliesInPushOrder(t *testing.T) {
	f := auditFixture(t)
	for _, v := range protos {
		t.Run(v.name, func(t *testing.T) {
			c := dial(t, f.srv, v.path, nil)
			c.send(v.in(`"1"`, `"1"`, "g:order", "phx_join", `{}`))
			c.expect(v.reply(`"1"`, `"1"`, "g:order", "ok", `{}`))
			const n = 60
			var want []string
			for i := range n {
				ref := fmt.Sprintf(`"r%d"`, i)
				p := fmt.Sprintf(`{"i":%d}`, i)
				switch i % 4 {
				case 0:
					c.send(v.in(`"1"`, ref, "g:order", "echo", p))
					want = append(want, v.reply(`"1"`, ref, "g:order", "ok", p))
				case 1:
					c.send(v.in(`"1"`, ref, "g:order", "noreply", p))
				case 2:
					c.send(v.in(`"1"`, ref, "g:order", "error", p))
					want = append(want, v.reply(`"1"`, ref, "g:order", "error", p))
				case 3:
					c.send(v.in(`"1"`, ref, "g:order", "push", p))
					want = append(want, v.out(`"1"`, "null", "g:order", "pushed", p))
				}
			}
			for _, w := range want {
				c.expect(w)
			}
			c.barrier(v, "end", joined{"g:order", `"1"`, ""})
		})
	}
}

// G5. Leave: the reply, then phx_close, then what Terminate pushes; afterwards the topic is not joined
// (Phoenix: the channel replies, sends {:socket_close, ..} to the socket, then terminate/2 runs).
func TestGuaranteeLeaveReplyCloseTerminate(t *testing.T) {
	f := auditFixture(t)
	for _, v := range protos {
		t.Run(v.name, func(t *testing.T) {
			c := dial(t, f.srv, v.path, nil)
			c.send(v.in(`"1"`, `"1"`, "g:l", "phx_join", `{"bye":true}`))
			c.expect(v.reply(`"1"`, `"1"`, "g:l", "ok", `{}`))
			c.send(v.in(`"1"`, `"2"`, "g:l", "phx_leave", `{}`))
			c.expect(v.reply(`"1"`, `"2"`, "g:l", "ok", `{}`))
			c.expect(v.out(`"1"`, `"1"`, "g:l", "phx_close", `{}`))
			c.expect(v.out(`"1"`, "null", "g:l", "bye", `{"normal":true}`))
			c.send(v.in(`"1"`, `"3"`, "g:l", "echo", `{}`))
			c.expect(v.reply("null", `"3"`, "g:l", "error", `{"reason":"unmatched topic"}`))
			c.barrier(v, "end")
		})
	}
}

// G6. A channel that stops normally (:normal, :shutdown, {:shutdown, _}) sends phx_close before its
// Terminate runs, whether it stopped from HandleIn (after its reply, if any) or HandleInfo (Phoenix:
// handle_result sends {:socket_close, ..} before the GenServer calls terminate/2).
func TestGuaranteeCloseBeforeTerminate(t *testing.T) {
	f := auditFixture(t)
	for _, v := range protos {
		t.Run(v.name, func(t *testing.T) {
			c := dial(t, f.srv, v.path, nil)
			for i, tc := range []struct{ event, reply string }{
				{"stop", ""},
				{"stop_reply", `{"r":1}`},
				{"stop_info", ""},
			} {
				topic := "g:" + tc.event
				j := fmt.Sprintf(`"%d"`, 10*i+1)
				c.send(v.in(j, j, topic, "phx_join", `{"bye":true}`))
				c.expect(v.reply(j, j, topic, "ok", `{}`))
				ref := fmt.Sprintf(`"%d"`, 10*i+2)
				payload := tc.reply
				if payload == "" {
					payload = `{}`
				}
				c.send(v.in(j, ref, topic, tc.event, payload))
				if tc.reply != "" {
					c.expect(v.reply(j, ref, topic, "ok", tc.reply))
				}
				c.expect(v.out(j, j, topic, "phx_close", `{}`))
				c.expect(v.out(j, "null", topic, "bye", `{"normal":true}`))
			}
			c.barrier(v, "end")
		})
	}
}

// G7. A channel that crashes or stops with an error runs Terminate first, then phx_error goes out (Phoenix:
// terminate/2 runs in the dying process; the socket sends phx_error on its :DOWN).
func TestGuaranteeTerminateBeforeError(t *testing.T) {
	f := auditFixture(t)
	for _, v := range protos {
		t.Run(v.name, func(t *testing.T) {
			c := dial(t, f.srv, v.path, nil)
			c.send(v.in(`"1"`, `"1"`, "g:crash", "phx_join", `{"bye":true}`))
			c.expect(v.reply(`"1"`, `"1"`, "g:crash", "ok", `{}`))
			c.send(v.in(`"1"`, `"2"`, "g:crash", "crash", `{}`))
			c.expect(v.out(`"1"`, "null", "g:crash", "bye", `{"normal":false}`))
			c.expect(v.out(`"1"`, `"1"`, "g:crash", "phx_error", `{"reason":"channel_crash"}`))

			c.send(v.in(`"3"`, `"3"`, "g:err", "phx_join", `{"bye":true}`))
			c.expect(v.reply(`"3"`, `"3"`, "g:err", "ok", `{}`))
			c.send(v.in(`"3"`, `"4"`, "g:err", "stop_error", `{}`))
			c.expect(v.reply(`"3"`, `"4"`, "g:err", "error", `{}`))
			c.expect(v.out(`"3"`, "null", "g:err", "bye", `{"normal":false}`))
			c.expect(v.out(`"3"`, `"3"`, "g:err", "phx_error", `{"reason":"channel_crash"}`))
			c.barrier(v, "end")
		})
	}
}

// G9. join_ref on each kind of frame, for a join_ref that is a string, null, a number or "": the join reply
// echoes J; the channel's replies and pushes carry J, or the join's ref when J is null (Phoenix:
// socket.join_ref = join_ref || ref); broadcasts carry null; phx_close and phx_error carry the raw J in both
// slots (the socket's channels_inverse); "unmatched topic" carries null; a leave of a topic not joined
// echoes J. Refs are echoed as sent.
func TestGuaranteeJoinRefOnEachFrameKind(t *testing.T) {
	f := auditFixture(t)
	for _, v := range protos {
		for _, j := range []string{`"1"`, `null`, `6`, `""`} {
			t.Run(v.name+"/"+j, func(t *testing.T) {
				c := dial(t, f.srv, v.path, nil)
				const topic = "g:refs"
				jr := j // J on the channel's replies and pushes
				if j == "null" {
					jr = `"10"`
				}
				c.send(v.in(j, `"10"`, topic, "phx_join", `{}`))
				c.expect(v.reply(j, `"10"`, topic, "ok", `{}`))
				c.send(v.in(j, `11`, topic, "echo", `{"a":1}`))
				c.expect(v.reply(jr, `11`, topic, "ok", `{"a":1}`))
				c.send(v.in(j, `"12"`, topic, "push", `{"p":1}`))
				c.expect(v.out(jr, "null", topic, "pushed", `{"p":1}`))
				c.send(v.in(j, `"13"`, topic, "broadcast", `{"b":1}`))
				c.expect(v.out("null", "null", topic, "shout", `{"b":1}`))
				c.send(v.in(j, `"14"`, topic, "intercepted", `{"i":1}`))
				c.expect(v.out(jr, "null", topic, "icpt", `{"i":1}`))
				c.send(v.in(j, `""`, topic, "echo", `{}`))
				c.expect(v.reply(jr, `""`, topic, "ok", `{}`))
				c.send(v.in(j, `"15"`, topic, "phx_leave", `{}`))
				c.expect(v.reply(jr, `"15"`, topic, "ok", `{}`))
				c.expect(v.out(j, j, topic, "phx_close", `{}`))
				c.send(v.in(j, `"16"`, topic, "echo", `{}`))
				c.expect(v.reply("null", `"16"`, topic, "error", `{"reason":"unmatched topic"}`))
				c.send(v.in(j, `"17"`, "g:none", "phx_leave", `{}`))
				c.expect(v.reply(j, `"17"`, "g:none", "ok", `{}`))

				c.send(v.in(j, `"20"`, topic, "phx_join", `{}`))
				c.expect(v.reply(j, `"20"`, topic, "ok", `{}`))
				jr = j
				if j == "null" {
					jr = `"20"`
				}
				c.send(v.in(j, `"21"`, topic, "crash", `{}`))
				c.expect(v.out(j, j, topic, "phx_error", `{"reason":"channel_crash"}`))
				c.send(v.in(j, `"22"`, topic, "stop_reply", `{}`))
				c.expect(v.reply("null", `"22"`, topic, "error", `{"reason":"unmatched topic"}`))

				c.send(v.in(j, `"30"`, "nope:1", "phx_join", `{}`))
				c.expect(v.reply("null", `"30"`, "nope:1", "error", `{"reason":"unmatched topic"}`))
				c.barrier(v, "end")
			})
		}
	}
}

// G10. A message whose join_ref is not null and differs from the join's own J is dropped silently, leaves
// included: after a join with a null J, even the join's ref; a number never equals a string (Phoenix:
// handle_in compares with ===  against the J the join carried).
func TestGuaranteeStaleJoinRefDropped(t *testing.T) {
	f := auditFixture(t)
	c := dial(t, f.srv, v2, nil)
	v := protoV2
	c.send(v.in("null", `"7"`, "g:nul", "phx_join", `{}`))
	c.expect(v.reply("null", `"7"`, "g:nul", "ok", `{}`))
	c.send(v.in(`6`, `"1"`, "g:num", "phx_join", `{}`))
	c.expect(v.reply(`6`, `"1"`, "g:num", "ok", `{}`))

	c.send(v.in(`"7"`, `"2"`, "g:nul", "echo", `{}`))        // the join's ref, not its J
	c.send(v.in(`"6"`, `"3"`, "g:num", "echo", `{}`))        // a string, the join had a number
	c.send(v.in(`"old"`, `"4"`, "g:num", "phx_leave", `{}`)) // a stale leave: no reply, no close
	c.send(v.in(`"old"`, `"5"`, "g:num", "stop", `{}`))
	c.barrier(v, "stale", joined{"g:nul", "null", `"7"`}, joined{"g:num", `6`, ""})
}

// G11. Binary frames: an empty join_ref or ref is the empty string, not null (Phoenix's binary decoder
// yields ""), so an empty join_ref on a joined topic is stale, and replies echo "".
func TestGuaranteeBinaryEmptyRefs(t *testing.T) {
	f := newFixture(t, Config{})
	c := dial(t, f.srv, v2, nil)
	c.send(`["12","1","room:b","phx_join",{}]`)
	c.expect(`["12","1","room:b","phx_reply",{"response":{"joined":"room:b"},"status":"ok"}]`)
	// J "" on a channel joined with "12": dropped.
	c.sendBinary(append([]byte{0, 0, 1, 6, 4}, []byte("5room:becho\x01")...))
	// R "" on a topic not joined: "unmatched topic" echoes "".
	c.sendBinary(append([]byte{0, 2, 0, 6, 4}, []byte("12room:xecho\x01")...))
	c.expect(`[null,"","room:x","phx_reply",{"response":{"reason":"unmatched topic"},"status":"error"}]`)
	// R "" on the joined channel: the binary reply carries an empty ref.
	c.sendBinary(append([]byte{0, 2, 0, 6, 4}, []byte("12room:becho\x02")...))
	got := c.next()
	want := append([]byte{1, 2, 0, 6, 2}, []byte("12room:bok\x02")...)
	if !got.binary || string(got.data) != string(want) {
		t.Fatalf("binary reply %q (binary=%v), want %q", got.data, got.binary, want)
	}
	c.barrier(protoV2, "end", joined{"room:b", `"12"`, ""})
}

// G12. Broadcasts from one sender arrive in the order sent, intercepted ones too (as pushes), and a
// channel's own broadcast precedes a push it makes after it (Phoenix: local pubsub dispatch runs in the
// sender's process, and Erlang keeps the order of messages between two processes).
func TestGuaranteeBroadcastOrderPerSender(t *testing.T) {
	f := auditFixture(t)
	for _, v := range protos {
		t.Run(v.name, func(t *testing.T) {
			c := dial(t, f.srv, v.path, nil)
			c.send(v.in(`"1"`, `"1"`, "g:o", "phx_join", `{}`))
			c.expect(v.reply(`"1"`, `"1"`, "g:o", "ok", `{}`))
			const n = 50
			for i := range n {
				if err := f.ep.Broadcast("g:o", "n", map[string]int{"n": i}); err != nil {
					t.Fatal(err)
				}
				if err := f.ep.Broadcast("g:o", "icpt", map[string]int{"n": i}); err != nil {
					t.Fatal(err)
				}
			}
			var plain, icpt []string
			for range 2 * n {
				fr := string(c.next().data)
				if strings.Contains(fr, `"icpt"`) {
					icpt = append(icpt, fr)
				} else {
					plain = append(plain, fr)
				}
			}
			for i := range n {
				p := fmt.Sprintf(`{"n":%d}`, i)
				if w := v.out("null", "null", "g:o", "n", p); !jsonEqual([]byte(plain[i]), []byte(w)) {
					t.Fatalf("broadcast %d: got %s, want %s", i, plain[i], w)
				}
				if w := v.out(`"1"`, "null", "g:o", "icpt", p); !jsonEqual([]byte(icpt[i]), []byte(w)) {
					t.Fatalf("intercepted %d: got %s, want %s", i, icpt[i], w)
				}
			}
			c.send(v.in(`"1"`, `"2"`, "g:o", "broadcast_push", `{"x":1}`))
			c.expect(v.out("null", "null", "g:o", "shout", `{"x":1}`))
			c.expect(v.out(`"1"`, "null", "g:o", "pushed", `{"x":1}`))
			c.barrier(v, "end", joined{"g:o", `"1"`, ""})
		})
	}
}

// G13. Payload types: a push's JSON payload must be an object on V2 (Phoenix's V2 encode! raises in the
// channel process: the channel crashes), while V1 carries any JSON value; a reply's response may be any
// value on both.
func TestGuaranteePushPayloadTypes(t *testing.T) {
	f := auditFixture(t)
	for _, v := range protos {
		t.Run(v.name, func(t *testing.T) {
			c := dial(t, f.srv, v.path, nil)
			c.send(v.in(`"1"`, `"1"`, "g:p", "phx_join", `{}`))
			c.expect(v.reply(`"1"`, `"1"`, "g:p", "ok", `{}`))
			c.send(v.in(`"1"`, `"2"`, "g:p", "echo", `[1,"two",null]`))
			c.expect(v.reply(`"1"`, `"2"`, "g:p", "ok", `[1,"two",null]`))
			c.send(v.in(`"1"`, `"3"`, "g:p", "echo", `"text"`))
			c.expect(v.reply(`"1"`, `"3"`, "g:p", "ok", `"text"`))
			c.send(v.in(`"1"`, `"4"`, "g:p", "push_list", `{}`))
			if v.v1 {
				c.expect(v.out(`"1"`, "null", "g:p", "list", `[1,2]`))
				c.barrier(v, "end", joined{"g:p", `"1"`, ""})
				return
			}
			c.expect(v.out(`"1"`, `"1"`, "g:p", "phx_error", `{"reason":"channel_crash"}`))
			c.barrier(v, "end")
		})
	}
}

// G14. Long-poll carries the same frames in the same order as a WebSocket: the join reply before the
// channel's pushes, a stop's reply, phx_close, then Terminate's push (Phoenix: one transport process per
// connection buffers what the socket pushes, in order).
func TestGuaranteeLongPollSameOrder(t *testing.T) {
	f := auditFixture(t)
	c := lpOpen(t, f.srv, lpParams)
	c.mustPost(`["1","1","g:lp","phx_join",{"bye":true}]`, `["1","2","g:lp","push",{"a":1}]`)
	c.expect(`["1","1","g:lp","phx_reply",{"response":{},"status":"ok"}]`)
	c.expect(`["1",null,"g:lp","pushed",{"a":1}]`)
	c.mustPost(`["1","3","g:lp","stop_reply",{"r":1}]`, `["1","4","g:lp","echo",{}]`)
	c.expect(`["1","3","g:lp","phx_reply",{"response":{"r":1},"status":"ok"}]`)
	c.expect(`["1","1","g:lp","phx_close",{}]`)
	c.expect(`["1",null,"g:lp","bye",{"normal":true}]`)
	c.expect(`[null,"4","g:lp","phx_reply",{"response":{"reason":"unmatched topic"},"status":"error"}]`)
	c.quiet(f.ep, "end")
}

// G15. A channel ends with one end frame at most, even when it stops on its own while the client joins its
// topic again: its phx_close comes once, before or after the new join reply (Phoenix: the socket consumes
// the channel's socket_close while it handles the duplicate join, and sends one phx_close).
func TestGuaranteeOneCloseWhenStopRacesDuplicateJoin(t *testing.T) {
	f := auditFixture(t)
	c := dial(t, f.srv, v2, nil)
	const rounds = 50
	c.send(`["0","0","g:race","phx_join",{}]`)
	c.expect(`["0","0","g:race","phx_reply",{"response":{},"status":"ok"}]`)
	for i := 1; i <= rounds; i++ {
		old, cur := fmt.Sprintf(`"%d"`, i-1), fmt.Sprintf(`"%d"`, i)
		c.send(protoV2.in(old, `"s"`, "g:race", "stop", `{}`))
		c.send(protoV2.in(cur, cur, "g:race", "phx_join", `{}`))
		want := map[string]int{
			protoV2.reply(cur, cur, "g:race", "ok", `{}`):      1,
			protoV2.out(old, old, "g:race", "phx_close", `{}`): 1,
		}
		for range 2 {
			got := string(c.next().data)
			if want[got] != 1 {
				t.Fatalf("round %d: unexpected frame %s (want each of %v once)", i, got, want)
			}
			want[got] = 0
		}
		c.barrier(protoV2, fmt.Sprint(i), joined{"g:race", cur, ""})
	}
}
