package main

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/pyrehq/pyre/actors/channel"
	"github.com/pyrehq/pyre/actors/presence"
)

// pushState is the message a channel sends itself in Join, so that its first race_state push follows the
// join reply (pushing inside Join is not allowed).
type pushState struct{}

// pushPresence is the message a channel sends itself in Join to push the racers' presence_state after the
// join reply.
type pushPresence struct{}

// eventPresenceState and eventPresenceDiff are the events phoenix.js's Presence listens to.
const (
	eventPresenceState = "presence_state"
	eventPresenceDiff  = "presence_diff"
)

// racerMeta is a racer's presence meta; the key is the player's id.
type racerMeta struct {
	Name     string `json:"name"`
	OnlineAt string `json:"online_at"` // unix seconds
}

func reason(msg string) map[string]string { return map[string]string{"reason": msg} }

// playChannel is one player in the race (the seed's PlayChannel): join "play" with {"name": ...}, push
// "tap". Leaving, closing the page, or the channel ending any other way takes the player out of the race.
// Each player is tracked in the presence of "play" under its id with {"name", "online_at"}: the racers
// online.
type playChannel struct {
	race     raceAPI
	presence *presence.Tracker
	id       string // the player's id in the race, set by Join
}

// Join validates the name and enters the race; the reply carries the player's id.
func (c *playChannel) Join(s *channel.Socket, _ string, params channel.Payload) (any, error) {
	var p struct {
		Name *string `json:"name"`
	}
	if !params.IsObject() || params.Decode(&p) != nil || p.Name == nil {
		return nil, channel.Deny(reason(errNameRequired.Error()))
	}
	name, err := validName(*p.Name)
	if err != nil {
		return nil, channel.Deny(reason(err.Error()))
	}
	// The player's place lives as long as the channel, whatever way it ends (a killed channel runs no
	// Terminate), and survives in-place restarts: the same truth as its presence.
	r := s.Monitor(racerKey{}, func() channel.Monitor { return &racer{race: c.race} }).(*racer)
	var joined joinResult
	if r.id != "" {
		joined = c.race.rejoin(r.id, name) // restarted in place: the same player, taps and all
	} else {
		joined = c.race.join(name)
		r.id = joined.ID
	}
	c.id = joined.ID
	s.Assign("player_id", joined.ID)
	if err := c.presence.Track(s, joined.ID, racerMeta{Name: name, OnlineAt: strconv.FormatInt(time.Now().Unix(), 10)}); err != nil {
		return nil, err // the channel ends: racer.ChannelDown takes the player out
	}
	s.Send(pushState{})
	// After an in-place restart the presence survived and the client's list is still right.
	if s.Incarnation() == 1 {
		s.Send(pushPresence{})
	}
	return joined, nil
}

// HandleIn counts taps; the reply tells the player their count and whether the race is still on.
func (c *playChannel) HandleIn(_ *channel.Socket, event string, _ channel.Payload) (channel.Reply, error) {
	switch event {
	case "tap":
		return channel.ReplyOK(c.race.tap(c.id)), nil
	case "state":
		return channel.ReplyOK(c.race.state()), nil
	}
	return channel.ReplyError(reason("unknown event " + event)), nil
}

// HandleInfo pushes the current state and the racers right after the join.
func (c *playChannel) HandleInfo(s *channel.Socket, msg any) error {
	switch msg.(type) {
	case pushState:
		return c.race.sendState(s.Push)
	case pushPresence:
		return c.presence.PushState(s) // in one order with the diffs
	}
	return nil
}

// racerKey registers a play channel's racer monitor.
type racerKey struct{}

// racer is a player's place in the race, tied to its channel's life (channel.Monitor) as the tracker ties
// its presence: it stays while the channel restarts in place and goes when the channel ends, whether it
// left, closed, crashed for good or was killed.
type racer struct {
	race raceAPI
	id   string // set by the first Join; the channel's turn only
}

func (*racer) ChannelRestarting() {}
func (*racer) ChannelRestarted()  {}
func (r *racer) ChannelDown() {
	if r.id != "" {
		r.race.leave(r.id)
	}
}

// consoleChannel is the race control room (the seed's ConsoleChannel): it receives every race_state and
// winner broadcast on "console" and starts new races. It also shows the racers online: the presence of
// "play", relayed as this topic's presence_state and presence_diff.
type consoleChannel struct {
	race     raceAPI
	presence *presence.Tracker
}

// Join accepts everyone, subscribes to the presence diffs of "play", and pushes the current state and the
// racers once the reply is out.
func (c *consoleChannel) Join(s *channel.Socket, _ string, _ channel.Payload) (any, error) {
	// Subscribed before the list is read (in HandleInfo): a change is in the list, or in a diff relayed
	// after it, or both (phoenix.js skips what it has, by phx_ref). The diffs come through this channel's
	// mailbox, after the list: unlike a fastlane diff, none can overtake it, so a restarted console (whose
	// re-run Join subscribes afresh) pushes the list again.
	s.Subscribe(topicPlay)
	s.Send(pushState{})
	return nil, nil
}

// HandleIn handles new_race, with an optional {"target": N}; the reply is the new state.
func (c *consoleChannel) HandleIn(_ *channel.Socket, event string, payload channel.Payload) (channel.Reply, error) {
	switch event {
	case "new_race":
		var p struct {
			Target *json.Number `json:"target"`
		}
		if payload.IsObject() && payload.Decode(&p) != nil {
			return channel.ReplyError(reason(errBadTarget.Error())), nil
		}
		target := 0
		if p.Target != nil {
			n, err := p.Target.Int64()
			if err != nil || n < 1 || n > maxTarget {
				return channel.ReplyError(reason(errBadTarget.Error())), nil
			}
			target = int(n)
		}
		st, err := c.race.newRace(target)
		if err != nil {
			return channel.ReplyError(reason(err.Error())), nil
		}
		return channel.ReplyOK(st), nil
	case "state":
		return channel.ReplyOK(c.race.state()), nil
	}
	return channel.ReplyError(reason("unknown event " + event)), nil
}

// HandleInfo pushes the current state and the racers right after the join, and relays the presence diffs
// of "play" (the other broadcasts on "play" also come to "console").
func (c *consoleChannel) HandleInfo(s *channel.Socket, msg any) error {
	switch m := msg.(type) {
	case pushState:
		if err := c.race.sendState(s.Push); err != nil {
			return err
		}
		return s.Push(eventPresenceState, c.presence.List(topicPlay))
	case *channel.Broadcast:
		if m.Topic == topicPlay && m.Event == eventPresenceDiff {
			return s.Push(eventPresenceDiff, m.Payload)
		}
	}
	return nil
}
