// Package chat is the seed notes' ChatChannel, shared by the examples: chat:lobby is open, chat:secret
// refuses, other rooms are open; every inbound event is rebroadcast as new_msg, which is intercepted and
// pushed from HandleOut.
package chat

import "github.com/pyrehq/pyre/actors/channel"

// Channel is one client's membership of a chat room.
type Channel struct{}

// New is the route factory.
func New() channel.Channel { return &Channel{} }

// Join refuses chat:secret.
func (*Channel) Join(_ *channel.Socket, topic string, _ channel.Payload) (any, error) {
	if topic == "chat:secret" {
		return nil, channel.Deny(map[string]string{"reason": "You don't have permission!"})
	}
	return nil, nil
}

// HandleIn rebroadcasts any event as new_msg (broadcast! socket, "new_msg", payload).
func (*Channel) HandleIn(s *channel.Socket, _ string, p channel.Payload) (channel.Reply, error) {
	if !p.IsObject() {
		return channel.ReplyError(map[string]string{"reason": "payload must be an object"}), nil
	}
	return channel.NoReply, s.Broadcast("new_msg", p)
}

// Intercepts lists new_msg: each subscriber's HandleOut pushes it.
func (*Channel) Intercepts() []string { return []string{"new_msg"} }

// HandleOut pushes the intercepted message to this client.
func (*Channel) HandleOut(s *channel.Socket, event string, p channel.Payload) error {
	return s.Push(event, p)
}
