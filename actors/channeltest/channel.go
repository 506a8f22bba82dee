package channeltest

import (
	"fmt"
	"time"

	"github.com/pyrehq/pyre/actors/channel"
	"github.com/pyrehq/pyre/actors/message"
	"github.com/pyrehq/pyre/actors/pubsub"
)

// Channel is a client's joined topic (the socket Phoenix's join/3 returns): push to it and assert what
// comes back. Its methods belong to the test's goroutine. Each Assert waits up to the server's timeout
// (WithTimeout changes it) for the first matching frame, takes it (later assertions do not see it; the
// others stay, in order), and fails the test naming what arrived instead. Each Refute first waits until
// the server's actors are idle (Server.Sync), then fails if a matching frame is there: no sleep, and
// nothing is taken.
type Channel struct {
	c       *Client
	topic   string
	joinRef message.Ref
	reply   channel.Payload
	timeout time.Duration
}

// Client is the connection the channel was joined on.
func (ch *Channel) Client() *Client { return ch.c }

// Topic is the joined topic.
func (ch *Channel) Topic() string { return ch.topic }

// JoinRef is the join's reference, as the client's pushes and the channel's frames carry it.
func (ch *Channel) JoinRef() string { return ch.joinRef.String() }

// JoinReply is the join reply's response (Decode it to check it).
func (ch *Channel) JoinReply() channel.Payload { return ch.reply }

// WithTimeout returns a view of ch whose assertions wait up to d.
func (ch *Channel) WithTimeout(d time.Duration) *Channel {
	v := *ch
	v.timeout = d
	return &v
}

// Push sends event with payload (nil is {}; []byte is binary) to the channel's HandleIn and returns its
// ref, for AssertReply (Phoenix's push/3).
func (ch *Channel) Push(event string, payload any) string {
	ch.c.t.Helper()
	p, err := message.PayloadOf(payload)
	if err != nil {
		ch.c.t.Fatalf("channeltest: push %q: payload: %v", event, err)
	}
	ref := ch.c.nextRef()
	ch.c.send(&message.Message{JoinRef: ch.joinRef, Ref: ref, Topic: ch.topic, Event: event, Payload: p})
	return ref.String()
}

// Leave sends phx_leave and returns its ref: the reply is ok, then the channel's phx_close follows
// (Phoenix's leave/1).
func (ch *Channel) Leave() string { return ch.Push(message.EventLeave, nil) }

func (ch *Channel) isReply(ref string) func(*message.Message) bool {
	return func(m *message.Message) bool {
		return m.IsReply() && m.Topic == ch.topic && !m.Ref.IsNull() && m.Ref.String() == ref
	}
}

// mine reports whether m is a push (or a broadcast) to this join of the topic.
func (ch *Channel) mine(m *message.Message) bool {
	return !m.IsReply() && m.Topic == ch.topic && (m.JoinRef.IsNull() || m.JoinRef == ch.joinRef)
}

// AssertReply waits for the reply to the push ref and checks its status ("" accepts any) and response
// (want: see Matcher; nil is {}). It returns the reply (its Payload is the response).
func (ch *Channel) AssertReply(ref, status string, want any) *message.Message {
	ch.c.t.Helper()
	m := ch.c.take(ch.timeout, fmt.Sprintf("reply to ref %q on %q", ref, ch.topic), ch.isReply(ref))
	if w := matcher(want); (status != "" && m.Status != status) || !w.Match(m.Payload) {
		ch.c.t.Fatalf("channeltest: reply to ref %q on %q is %s %s, want %s %s", ref, ch.topic, m.Status, m.Payload, status, w)
	}
	return m
}

// RefuteReply checks that the push ref got no reply (once the server's actors are idle).
func (ch *Channel) RefuteReply(ref string) {
	ch.c.t.Helper()
	ch.refute(fmt.Sprintf("reply to ref %q", ref), ch.isReply(ref))
}

// AssertPush waits for a push of event to this client on the channel's topic whose payload matches want
// (see Matcher; nil is {}), and returns it. A push made by the channel carries its join_ref; a
// broadcast written by the fastlane has null refs. Broadcasts that reach the client through the
// channel (not intercepted, or pushed again by HandleOut) are pushes to it, as are phx_close and
// phx_error (assert those with Any).
func (ch *Channel) AssertPush(event string, want any) *message.Message {
	ch.c.t.Helper()
	w := matcher(want)
	m := ch.c.take(ch.timeout, fmt.Sprintf("push %q %s on %q", event, w, ch.topic), func(m *message.Message) bool {
		return ch.mine(m) && m.Event == event && w.Match(m.Payload)
	})
	return m
}

// RefutePush checks that no push of event whose payload matches want reached the client (once the
// actors are idle). Refute any payload with Any.
func (ch *Channel) RefutePush(event string, want any) {
	ch.c.t.Helper()
	w := matcher(want)
	ch.refute(fmt.Sprintf("push %q %s", event, w), func(m *message.Message) bool {
		return ch.mine(m) && m.Event == event && w.Match(m.Payload)
	})
}

func (ch *Channel) refute(what string, match func(*message.Message) bool) {
	ch.c.t.Helper()
	ch.c.Sync()
	ch.c.mu.Lock()
	var found *message.Message
	for _, m := range ch.c.frames {
		if match(m) {
			found = m
			break
		}
	}
	ch.c.mu.Unlock()
	if found != nil {
		ch.c.t.Fatalf("channeltest: want no %s on %q, got %s", what, ch.topic, Describe(found))
	}
}

// AssertBroadcast waits for a broadcast of event on the channel's topic whose payload matches want, as
// the test's subscription saw it (SubscribeAndJoin), and returns it.
func (ch *Channel) AssertBroadcast(event string, want any) *message.Broadcast {
	ch.c.t.Helper()
	ch.requireSubscribed()
	w := matcher(want)
	b := ch.c.takeBroadcast(ch.timeout, fmt.Sprintf("broadcast %q %s on %q", event, w, ch.topic), func(b *message.Broadcast) bool {
		return b.Topic == ch.topic && b.Event == event && w.Match(b.Payload)
	})
	return b
}

// RefuteBroadcast checks that the test's subscription saw no broadcast of event matching want on the
// channel's topic (once the server's actors are idle).
func (ch *Channel) RefuteBroadcast(event string, want any) {
	ch.c.t.Helper()
	ch.requireSubscribed()
	ch.c.Sync()
	w := matcher(want)
	ch.c.mu.Lock()
	defer ch.c.mu.Unlock()
	for _, b := range ch.c.broadcasts {
		if b.Topic == ch.topic && b.Event == event && w.Match(b.Payload) {
			ch.c.t.Fatalf("channeltest: want no broadcast %q %s on %q, got %s", event, w, ch.topic, b.Payload)
		}
	}
}

func (ch *Channel) requireSubscribed() {
	ch.c.t.Helper()
	ch.c.mu.Lock()
	_, ok := ch.c.subs[ch.topic]
	ch.c.mu.Unlock()
	if !ok {
		ch.c.t.Fatalf("channeltest: the test is not subscribed to %q: join it with SubscribeAndJoin", ch.topic)
	}
}

// BroadcastFrom broadcasts event on the channel's topic to every subscriber but the test's own
// subscription (Phoenix's broadcast_from/3): the channels joined to it, this client's included, get it;
// AssertBroadcast does not.
func (ch *Channel) BroadcastFrom(event string, payload any) {
	ch.c.t.Helper()
	p, err := message.ObjectPayloadOf(payload)
	if err == nil {
		ch.c.mu.Lock()
		r := ch.c.subs[ch.topic]
		ch.c.mu.Unlock()
		var from pubsub.Subscriber // nil: the test did not subscribe
		if r != nil {
			from = r
		}
		err = ch.c.srv.Host.PubSub().BroadcastFrom(from, message.NewBroadcast(ch.topic, event, p))
	}
	if err != nil {
		ch.c.t.Fatalf("channeltest: broadcast_from %q on %q: %v", event, ch.topic, err)
	}
}
