package client

import (
	"context"
	"sync/atomic"
)

// Channel is a joined topic on a Conn, created by Conn.Join. All methods are safe for concurrent use.
//
// A channel ends when the server sends phx_close or phx_error for it (after Leave, a server-side stop, a
// duplicate join or a crash) or when the connection ends; Messages is then closed and every method returns
// ErrChannelClosed (or the connection's *CloseError).
type Channel struct {
	conn    *Conn
	topic   string
	joinRef string
	msgs    chan Message // sent to and closed only by the read goroutine
	closed  atomic.Bool  // set under conn.mu
	dropped atomic.Uint64
}

// Topic returns the channel's topic.
func (ch *Channel) Topic() string { return ch.topic }

// JoinRef returns the join_ref the channel was joined with (its join's ref).
func (ch *Channel) JoinRef() string { return ch.joinRef }

// Conn returns the connection the channel belongs to.
func (ch *Channel) Conn() *Conn { return ch.conn }

// Messages returns the channel's inbound messages, in arrival order: pushes ([J,null,T,E,P] or binary
// kind 0), broadcasts ([null,null,T,E,P] or binary kind 2) for its topic, and finally the phx_close or
// phx_error that ends it, after which it is closed. It is also closed, without a final message, when the
// connection ends. Replies are not delivered here: they answer the call that sent the push.
//
// The buffer holds Options.MessageBuffer messages; when it is full the oldest is dropped and counted in
// Dropped, so a slow consumer never stalls the connection.
func (ch *Channel) Messages() <-chan Message { return ch.msgs }

// Dropped returns how many messages were dropped from this channel's full buffer.
func (ch *Channel) Dropped() uint64 { return ch.dropped.Load() }

// Push sends [J,ref,T,event,payload] (payload nil means {}; a json.RawMessage is sent verbatim) and waits
// for the reply. A non-ok status returns the Reply and a *ReplyError. If the channel ends before the
// reply, Push returns ErrChannelClosed.
func (ch *Channel) Push(ctx context.Context, event string, payload any) (Reply, error) {
	p, err := marshalPayload(payload)
	if err != nil {
		return Reply{}, err
	}
	return ch.call(ctx, event, p, nil, false)
}

// PushBinary sends data as a binary push (kind 0) and waits for the reply, like Push. The reply itself is
// binary (Reply.Binary) or text, as the server chooses.
func (ch *Channel) PushBinary(ctx context.Context, event string, data []byte) (Reply, error) {
	return ch.call(ctx, event, nil, data, true)
}

// PushNoReply sends a push without waiting: it still carries a fresh ref, and its reply, if any, is
// discarded (counted in Stats.UnclaimedReplies).
func (ch *Channel) PushNoReply(event string, payload any) error {
	p, err := marshalPayload(payload)
	if err != nil {
		return err
	}
	return ch.send(event, p, nil, false)
}

// PushBinaryNoReply is PushNoReply for binary data.
func (ch *Channel) PushBinaryNoReply(event string, data []byte) error {
	return ch.send(event, nil, data, true)
}

// Leave sends phx_leave and waits for its reply. The channel ends when the server's phx_close follows
// (Messages then delivers it and closes); Leave does not wait for that.
func (ch *Channel) Leave(ctx context.Context) error {
	_, err := ch.call(ctx, "phx_leave", emptyObject, nil, false)
	return err
}

func (ch *Channel) call(ctx context.Context, event string, payload, data []byte, binary bool) (Reply, error) {
	if ch.closed.Load() {
		return Reply{}, ErrChannelClosed
	}
	cl := &call{ref: ch.conn.NextRef(), topic: ch.topic, event: event, owner: ch}
	return ch.conn.roundTrip(ctx, cl, ch.joinRef, payload, data, binary)
}

func (ch *Channel) send(event string, payload, data []byte, binary bool) error {
	if ch.closed.Load() {
		return ErrChannelClosed
	}
	return ch.conn.writePush(ch.joinRef, ch.conn.NextRef(), ch.topic, event, payload, data, binary)
}

// deliver queues m, dropping the oldest message when the buffer is full. Read goroutine only.
func (ch *Channel) deliver(m Message) {
	if f := ch.conn.onMessage; f != nil {
		f(ch, m)
		return
	}
	for {
		select {
		case ch.msgs <- m:
			return
		default:
		}
		select {
		case <-ch.msgs:
			ch.dropped.Add(1)
			ch.conn.dropped.Add(1)
		default:
		}
	}
}
