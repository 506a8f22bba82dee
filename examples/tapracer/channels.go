package main

import (
	"encoding/json"

	"github.com/pyrehq/pyre/actors/channel"
)

// pushState is the message a channel sends itself in Join, so that its first race_state push follows the
// join reply (pushing inside Join is not allowed).
type pushState struct{}

func reason(msg string) map[string]string { return map[string]string{"reason": msg} }

// playChannel is one player in the race (the seed's PlayChannel): join "play" with {"name": ...}, push
// "tap". Leaving, or closing the page, takes the player out of the race.
type playChannel struct {
	race *race
	id   string // the player's id in the race, set by Join
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
	joined := c.race.join(name)
	c.id = joined.ID
	s.Assign("player_id", joined.ID)
	s.Send(pushState{})
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

// HandleInfo pushes the current state right after the join.
func (c *playChannel) HandleInfo(s *channel.Socket, msg any) error {
	if _, ok := msg.(pushState); ok {
		return c.race.sendState(s.Push)
	}
	return nil
}

// Terminate takes the player out of the race, whatever the reason.
func (c *playChannel) Terminate(_ *channel.Socket, _ error) { c.race.leave(c.id) }

// consoleChannel is the race control room (the seed's ConsoleChannel): it receives every race_state and
// winner broadcast on "console" and starts new races.
type consoleChannel struct{ race *race }

// Join accepts everyone and pushes the current state once the reply is out.
func (c *consoleChannel) Join(s *channel.Socket, _ string, _ channel.Payload) (any, error) {
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

// HandleInfo pushes the current state right after the join.
func (c *consoleChannel) HandleInfo(s *channel.Socket, msg any) error {
	if _, ok := msg.(pushState); ok {
		return c.race.sendState(s.Push)
	}
	return nil
}
