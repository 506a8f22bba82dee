package main

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Race limits and defaults.
const (
	defaultTarget   = 50
	maxTarget       = 10000
	maxNameRunes    = 20
	defaultThrottle = 50 * time.Millisecond
)

// Events the race publishes. race_state goes to both topics, throttled; winner goes out at once.
const (
	topicConsole   = "console"
	topicPlay      = "play"
	eventRaceState = "race_state"
	eventWinner    = "winner"
)

// Errors from validating what clients send.
var (
	errNameRequired = errors.New("a name is required")
	errNameTooLong  = fmt.Errorf("the name is too long (at most %d characters)", maxNameRunes)
	errBadTarget    = fmt.Errorf("the target must be a whole number between 1 and %d", maxTarget)
)

// validName trims name and checks it: not empty, not too long, no control characters.
func validName(name string) (string, error) {
	name = strings.TrimSpace(name)
	switch {
	case name == "":
		return "", errNameRequired
	case utf8.RuneCountInString(name) > maxNameRunes:
		return "", errNameTooLong
	case strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return "", errors.New("the name contains control characters")
	}
	return name, nil
}

// publishFunc sends an event to every subscriber of topic (Endpoint.Broadcast). It must not block.
type publishFunc func(topic, event string, payload any) error

// clock is what the race needs of time; tests replace it to drive the throttle by hand.
type clock struct {
	now       func() time.Time
	afterFunc func(d time.Duration, f func()) (stop func() bool)
}

func realClock() clock {
	return clock{
		now: time.Now,
		afterFunc: func(d time.Duration, f func()) func() bool {
			return time.AfterFunc(d, f).Stop
		},
	}
}

type player struct {
	id    string
	name  string
	taps  int
	joins int // join order, for a stable ranking among equal tap counts
}

// race is the shared state of TapRacer: the players of the current race, their taps, the target, the winner
// and the race number. Every play and console channel calls into it from its own actor, so one mutex guards
// everything, and the state is published while that mutex is held: every connection therefore sees the
// states in the order they happened.
//
// Publishing is throttled: a change publishes race_state at once unless one went out less than `every` ago;
// then a single timer publishes the latest state when the interval is over, however many changes came in
// between. A tap storm costs at most one broadcast per interval. The timer is the only goroutine the race
// starts, and close stops it.
//
// Lock order: race.mu comes before the transport's own locks. Publishing and pushing never block and never
// call back into the race, so holding race.mu across them is safe.
type race struct {
	publish publishFunc
	every   time.Duration
	clock   clock

	mu       sync.Mutex
	players  map[string]*player
	nextID   int
	target   int
	number   int
	winner   *player // a copy, so it survives the winner leaving
	version  uint64  // bumped by every change
	sent     uint64  // version of the last published race_state
	lastSent time.Time
	stop     func() bool // the pending throttle timer, nil when none
	closed   bool
}

func newRace(publish publishFunc, every time.Duration, clk clock) *race {
	if every <= 0 {
		every = defaultThrottle
	}
	return &race{
		publish: publish,
		every:   every,
		clock:   clk,
		players: make(map[string]*player),
		target:  defaultTarget,
		number:  1,
	}
}

// playerState and raceState are the JSON of race_state.
type playerState struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Taps int    `json:"taps"`
}

type raceState struct {
	Race    int           `json:"race"`
	Target  int           `json:"target"`
	Winner  *playerState  `json:"winner"` // null while the race is on
	Players []playerState `json:"players"`
	Version uint64        `json:"version"`
}

// joinResult is the reply to a player's join.
type joinResult struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Race   int    `json:"race"`
	Target int    `json:"target"`
}

// join adds a player named name (already validated) and returns its id.
func (r *race) join(name string) joinResult {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.nextID++
	p := &player{id: fmt.Sprintf("p%d", r.nextID), name: name, joins: r.nextID}
	r.players[p.id] = p
	r.changed()
	return joinResult{ID: p.id, Name: name, Race: r.number, Target: r.target}
}

// rejoin is join for a player whose channel restarted in place: the player keeps its id, taps and rank.
// One that is gone (it cannot be while its channel lives) comes back under the same id.
func (r *race) rejoin(id, name string) joinResult {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.players[id]; !ok {
		r.nextID++
		r.players[id] = &player{id: id, name: name, joins: r.nextID}
		r.changed()
	}
	return joinResult{ID: id, Name: r.players[id].name, Race: r.number, Target: r.target}
}

// leave removes a player; the winner of a finished race stays the winner.
func (r *race) leave(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.players[id]; !ok {
		return
	}
	delete(r.players, id)
	r.changed()
}

// tapResult is the reply to a tap.
type tapResult struct {
	Taps     int  `json:"taps"`
	Counted  bool `json:"counted"` // false when the race is over (or the player is unknown)
	Won      bool `json:"won"`     // this tap won the race
	Race     int  `json:"race"`
	Target   int  `json:"target"`
	Finished bool `json:"finished"`
}

// tap counts one tap of player id. The first player to reach the target wins; once there is a winner, taps
// are ignored until the next race. The winner is published at once, ahead of the throttled race_state.
func (r *race) tap(id string) tapResult {
	r.mu.Lock()
	defer r.mu.Unlock()
	p, ok := r.players[id]
	res := tapResult{Race: r.number, Target: r.target, Finished: r.winner != nil}
	if !ok {
		return res
	}
	res.Taps = p.taps
	if r.winner != nil {
		return res
	}
	p.taps++
	res.Taps, res.Counted = p.taps, true
	if p.taps >= r.target {
		w := *p
		r.winner = &w
		res.Won, res.Finished = true, true
		r.changed()
		st := r.stateLocked()
		// The winner event carries the whole state: it doubles as an immediate race_state.
		r.publishLocked(topicConsole, eventWinner, st)
		r.publishLocked(topicPlay, eventWinner, st)
		return res
	}
	r.changed()
	return res
}

// newRace starts the next race: every player back to zero taps, no winner. target 0 keeps the current one.
func (r *race) newRace(target int) (raceState, error) {
	if target < 0 || target > maxTarget {
		return raceState{}, errBadTarget
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if target > 0 {
		r.target = target
	}
	r.number++
	r.winner = nil
	for _, p := range r.players {
		p.taps = 0
	}
	r.changed()
	// A new race must reach everyone before their next tap is counted against it: no throttling.
	r.flushLocked()
	return r.stateLocked(), nil
}

// republish publishes the current state again (throttled as any change): a node of the cluster that had
// not seen it asks for it.
func (r *race) republish() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.changed()
}

// state returns a snapshot.
func (r *race) state() raceState {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stateLocked()
}

// sendState hands a snapshot to send while the race is locked, so that a push to one client cannot overtake
// (or be overtaken by) a published state: the client sees states in order.
func (r *race) sendState(send func(event string, payload any) error) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return send(eventRaceState, r.stateLocked())
}

// close stops the throttle timer; later changes are no longer published.
func (r *race) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	if r.stop != nil {
		r.stop()
		r.stop = nil
	}
}

func (r *race) stateLocked() raceState {
	st := raceState{Race: r.number, Target: r.target, Version: r.version, Players: make([]playerState, 0, len(r.players))}
	ps := make([]*player, 0, len(r.players))
	for _, p := range r.players {
		ps = append(ps, p)
	}
	slices.SortFunc(ps, func(a, b *player) int {
		if a.taps != b.taps {
			return b.taps - a.taps
		}
		return a.joins - b.joins
	})
	for _, p := range ps {
		st.Players = append(st.Players, playerState{ID: p.id, Name: p.name, Taps: p.taps})
	}
	if r.winner != nil {
		st.Winner = &playerState{ID: r.winner.id, Name: r.winner.name, Taps: r.winner.taps}
	}
	return st
}

// changed records a change and publishes it now or schedules it (r.mu held).
func (r *race) changed() {
	r.version++
	if r.closed || r.stop != nil {
		return // a pending publication will carry this change
	}
	wait := r.every - r.clock.now().Sub(r.lastSent)
	if wait <= 0 {
		r.flushLocked()
		return
	}
	r.stop = r.clock.afterFunc(wait, r.onTimer)
}

func (r *race) onTimer() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	r.stop = nil
	r.flushLocked()
}

// flushLocked publishes race_state if anything changed since the last publication (r.mu held).
func (r *race) flushLocked() {
	if r.closed {
		return
	}
	if r.stop != nil {
		r.stop()
		r.stop = nil
	}
	if r.sent == r.version {
		return
	}
	r.sent = r.version
	r.lastSent = r.clock.now()
	st := r.stateLocked()
	r.publishLocked(topicConsole, eventRaceState, st)
	r.publishLocked(topicPlay, eventRaceState, st)
}

func (r *race) publishLocked(topic, event string, st raceState) {
	if r.closed {
		return
	}
	// Publishing never blocks: a slow client is disconnected by the transport, not waited for.
	_ = r.publish(topic, event, st)
}
