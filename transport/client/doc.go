// Package client is a Phoenix Channels V2 WebSocket client: the client side of the wire described in
// transport/PROTOCOL.md. Pyre's tests use it to drive servers (Pyre's, or Phoenix itself) over real sockets, and load
// generators use it to hold thousands of connections per process, so it is deliberately lean: one read
// goroutine per connection and none per channel.
//
//	conn, err := client.Dial(ctx, "ws://127.0.0.1:4000/socket/websocket?vsn=2.0.0", client.Options{
//		Params:            url.Values{"user_id": {"1"}},
//		HeartbeatInterval: 30 * time.Second,
//	})
//	defer conn.Close()
//	ch, reply, err := conn.Join(ctx, "room:lobby", map[string]any{"nick": "ann"})
//	reply, err = ch.Push(ctx, "new_msg", map[string]any{"body": "hi"})
//	for m := range ch.Messages() { ... } // pushes, broadcasts, then phx_close or phx_error
//
// # Routed and raw modes
//
// In the default routed mode, inbound frames are decoded and routed: a phx_reply goes to the call waiting
// for its ref (Join, Push, PushBinary, Leave, Request, or the heartbeat); a push goes to the channel with
// its join_ref; a broadcast (null join_ref) goes to the newest joined channel of its topic; phx_close and
// phx_error end their channel. Frames that fit nowhere are counted in Stats and dropped.
//
// With Options.RawFrames nothing is decoded or routed: every inbound data frame, text or binary, arrives on
// Raw in order, and the test writes frames itself with Send and SendBinary (Encode and NextRef help build
// them, Frame.Decode reads them). Protocol tests use it to assert exact frames and their ordering.
//
// # Wire format
//
// The codec is the client's own (it does not share the server's serializer, so each checks the other):
// Decode reads server-to-client text frames [J,R,T,E,P] and binary push (kind 0), reply (kind 1) and
// broadcast (kind 2) frames; Encode writes client pushes as text or binary kind 0. JSON null refs are
// empty strings.
//
// # Closing
//
// Conn.Close sends a close frame with code 1000 and waits for the read goroutine. When the server closes
// the connection, Closed is closed, Err returns a *CloseError and CloseCode the server's code (1001 kicked,
// 1011 server error, 1012 draining, 1009 frame too big...). Either way, pending calls fail with the
// *CloseError (which matches ErrClosed) and every channel's Messages is closed.
//
// # Concurrency
//
// Conn and Channel methods are safe for concurrent use from any number of goroutines. Each connection runs
// exactly one goroutine of its own, the read goroutine started by Dial, plus a short-lived timer callback
// per heartbeat when HeartbeatInterval is set; Close waits for both. Writes from all goroutines are
// serialized per connection, each bounded by Options.WriteTimeout.
//
// The read goroutine never blocks on a consumer in routed mode: a channel whose Messages buffer is full
// loses its oldest message (counted in Channel.Dropped and Stats.Dropped). In raw mode it does block on a
// full Raw buffer, so that no frame is ever lost, until the buffer is read or the connection closed.
// Consumers should therefore read Raw, and read Messages promptly if they care about every message.
//
// Calls (Join, Push, Leave, Request) wait until their reply arrives, their ctx ends, their channel ends or
// the connection closes, whichever comes first. A call abandoned through ctx leaves no state behind; its
// late reply is counted in Stats.UnclaimedReplies.
//
// # Mapping from phoenix.js
//
//	phoenix.js                          client
//	new Socket(url, {params}).connect() Dial(ctx, url, Options{Params: ...})
//	authToken option                    Options.AuthToken
//	socket.channel(t, p).join()         Conn.Join(ctx, t, p)
//	channel.push(e, p).receive(...)     Channel.Push(ctx, e, p) (Reply, error)
//	channel.on(e, cb)                   range over Channel.Messages and switch on Event
//	channel.leave()                     Channel.Leave(ctx)
//	heartbeatIntervalMs                 Options.HeartbeatInterval (0 = off)
//	socket.disconnect()                 Conn.Close()
//
// Unlike phoenix.js, the client never reconnects or rejoins by itself: tests want to see every close, and
// a load generator decides its own reconnection policy.
package client
