// Package channeltest tests channels the way Phoenix.ChannelTest does, with no network: it is to Pyre's
// channels what net/http/httptest is to net/http.
//
// NewServer runs a Router on a real host.Host: the socket and channel actors, their supervision
// (a crash, the in-place restart, restart intensities) and the pubsub are the production ones. Only the
// transport is replaced: a Client is an in-memory host.Conn that keeps what the runtime writes until an
// assertion takes it, and time is a fake Clock that moves only when the test calls Server.Advance (restart
// intensity windows, Socket.SendAfter).
//
//	func TestRoom(t *testing.T) {
//		srv := channeltest.NewServer(t, newRouter(), channeltest.Options{})
//		room, err := srv.MustConnect(url.Values{"user": {"ada"}}).SubscribeAndJoin("room:lobby", nil)
//		if err != nil {
//			t.Fatal(err)
//		}
//		ref := room.Push("shout", map[string]string{"body": "hi"})
//		room.AssertReply(ref, "ok", nil)
//		room.AssertBroadcast("shout", map[string]string{"body": "hi"})
//		srv.Advance(time.Minute) // SendAfter timers and restart windows follow the fake clock
//		room.RefutePush("reminder", channeltest.Any)
//	}
//
//	Phoenix.ChannelTest                     channeltest
//	connect(UserSocket, params, info)       srv.Connect(params, info), srv.MustConnect(params)
//	join(socket, topic, payload)            client.Join(topic, params) → *Channel or *JoinError
//	subscribe_and_join(socket, topic, p)    client.SubscribeAndJoin(topic, params)
//	ref = push(socket, event, payload)      ref := ch.Push(event, payload)
//	assert_reply ref, :ok, payload          ch.AssertReply(ref, "ok", payload)
//	assert_push event, payload              ch.AssertPush(event, payload)
//	assert_broadcast event, payload         ch.AssertBroadcast(event, payload)
//	refute_push / refute_reply / _broadcast ch.RefutePush / RefuteReply / RefuteBroadcast
//	leave(socket)                           ch.Leave() → ref
//	close(socket)                           client.Disconnect()
//	broadcast_from(socket, event, payload)  ch.BroadcastFrom(event, payload)
//	@endpoint.broadcast(topic, event, p)    srv.Host.Broadcast(topic, event, p)
//	Process.send_after (real time)          srv.Advance(d)
//
// Payloads are compared as JSON values (see Matcher): a Go value, a JSON text as json.RawMessage, Any,
// or Partial for Phoenix's map patterns. An assertion that fails names what the client received instead.
//
// A refutation never sleeps: it first waits until the server's socket and channel actors are idle
// (Server.Sync, host.Host.Sync), so everything the clients sent, and everything it caused in any
// connection's actors, has been handled. It does not wait for other actors (a presence tracker's
// batched diffs) nor for timers: srv.Advance first.
//
// A crash is observable as a client sees it: the push that crashed the channel is answered
// {"reason":"channel_crash"}, the channel restarts in place (or ends with phx_error past its route's
// intensity, or the connection closes with 1011 past the router's: Client.AssertClosed), and
// srv.Host.Stats().Restarts counts the restarts.
//
// # Concurrency
//
// A Server and its Clients belong to the test's goroutine (assertions call t.Fatal); the actors behind
// them run on their own goroutines, and NewServer's cleanup shuts them down and waits for them. Every
// wait is bounded by Options.Timeout.
package channeltest
