// Package chat is the seed notes' ChatChannel, shared by the examples: chat:lobby is open, chat:secret
// refuses, other rooms are open; every inbound event is rebroadcast as new_msg, which is intercepted and
// pushed from HandleOut.
//
// WithPresence adds Phoenix.Presence to it: each member is tracked in the room under the name it joined
// with, and the room's members reach phoenix.js's Presence as presence_state and presence_diff.
package chat

import (
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pyrehq/pyre/actors/channel"
	"github.com/pyrehq/pyre/actors/presence"
)

// Anonymous is the presence key of a member who joined without a name.
const Anonymous = "anonymous"

// MaxName is the longest name kept, in characters; longer ones are cut.
const MaxName = 20

// Channel is one client's membership of a chat room.
type Channel struct {
	tracker *presence.Tracker // nil: no presence
}

// New is the route factory: the seed's ChatChannel, without presence.
func New() channel.Channel { return &Channel{} }

// WithPresence is a route factory for the ChatChannel with presence: Join tracks the member in the room
// under the join's "user" param (trimmed, at most MaxName characters; Anonymous without one) with
// {"online_at": "<unix seconds>"}, and pushes the room's presence_state after the join reply. Members
// who join with the same name are one key with one meta per join, as in Phoenix.
func WithPresence(t *presence.Tracker) func() channel.Channel {
	return func() channel.Channel { return &Channel{tracker: t} }
}

// pushPresence is the message Join sends itself: presence_state goes out after the join reply.
type pushPresence struct{}

// Join refuses chat:secret, and tracks the member when the channel has presence.
func (c *Channel) Join(s *channel.Socket, topic string, params channel.Payload) (any, error) {
	if topic == "chat:secret" {
		return nil, channel.Deny(map[string]string{"reason": "You don't have permission!"})
	}
	if c.tracker == nil {
		return nil, nil
	}
	var p struct {
		User string `json:"user"`
	}
	if params.IsObject() {
		_ = params.Decode(&p) // a "user" that is not a string counts as none
	}
	name := Name(p.User)
	if err := c.tracker.Track(s, name, map[string]string{"online_at": strconv.FormatInt(time.Now().Unix(), 10)}); err != nil {
		return nil, err
	}
	// After an in-place restart the client's list is still right (the presence survived it).
	if s.Incarnation() == 1 {
		s.Send(pushPresence{})
	}
	return map[string]string{"user": name}, nil
}

// Name is the presence key for a join's "user" param: trimmed, cut to MaxName characters, Anonymous when
// empty.
func Name(user string) string {
	user = strings.TrimSpace(user)
	if utf8.RuneCountInString(user) > MaxName {
		user = strings.TrimSpace(string([]rune(user)[:MaxName]))
	}
	if user == "" {
		return Anonymous
	}
	return user
}

// HandleInfo pushes the room's presence_state after the join.
func (c *Channel) HandleInfo(s *channel.Socket, msg any) error {
	if _, ok := msg.(pushPresence); ok && c.tracker != nil {
		return c.tracker.PushState(s) // in one order with the diffs
	}
	return nil
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
