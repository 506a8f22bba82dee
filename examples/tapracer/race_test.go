package main

import (
	"strings"
	"sync"
	"testing"
	"time"
)

func TestValidName(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		err      error
	}{
		{"Ada", "Ada", nil},
		{"  Ada Lovelace\t", "Ada Lovelace", nil},
		{"", "", errNameRequired},
		{" \t ", "", errNameRequired},
		{strings.Repeat("x", maxNameRunes), strings.Repeat("x", maxNameRunes), nil},
		{strings.Repeat("ü", maxNameRunes), strings.Repeat("ü", maxNameRunes), nil},
		{strings.Repeat("x", maxNameRunes+1), "", errNameTooLong},
	} {
		got, err := validName(tc.in)
		if got != tc.want || err != tc.err {
			t.Errorf("validName(%q) = %q, %v; want %q, %v", tc.in, got, err, tc.want, tc.err)
		}
	}
	if _, err := validName("a\nb"); err == nil {
		t.Error("validName accepted a control character")
	}
}

// fakeClock is a hand-driven clock: time moves with advance, and a timer fires only when advance passes
// its deadline.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	at      time.Time
	f       func()
	stopped bool
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Unix(1_700_000_000, 0)} }

func (c *fakeClock) clock() clock {
	return clock{
		now: func() time.Time {
			c.mu.Lock()
			defer c.mu.Unlock()
			return c.now
		},
		afterFunc: func(d time.Duration, f func()) func() bool {
			c.mu.Lock()
			defer c.mu.Unlock()
			tm := &fakeTimer{at: c.now.Add(d), f: f}
			c.timers = append(c.timers, tm)
			return func() bool {
				c.mu.Lock()
				defer c.mu.Unlock()
				was := !tm.stopped
				tm.stopped = true
				return was
			}
		},
	}
}

// advance moves time on and runs the timers due, outside the clock's lock (as time.AfterFunc would).
func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	var due []*fakeTimer
	rest := c.timers[:0]
	for _, tm := range c.timers {
		switch {
		case tm.stopped:
		case !tm.at.After(c.now):
			tm.stopped = true
			due = append(due, tm)
		default:
			rest = append(rest, tm)
		}
	}
	c.timers = rest
	c.mu.Unlock()
	for _, tm := range due {
		tm.f()
	}
}

func (c *fakeClock) pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, tm := range c.timers {
		if !tm.stopped {
			n++
		}
	}
	return n
}

type published struct {
	topic, event string
	state        raceState
}

type recorder struct {
	mu  sync.Mutex
	got []published
}

func (r *recorder) publish(topic, event string, payload any) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, published{topic, event, payload.(raceState)})
	return nil
}

// take returns what was published since the last take.
func (r *recorder) take() []published {
	r.mu.Lock()
	defer r.mu.Unlock()
	got := r.got
	r.got = nil
	return got
}

func newTestRace(t *testing.T) (*race, *recorder, *fakeClock) {
	t.Helper()
	rec := &recorder{}
	clk := newFakeClock()
	r := newRace(rec.publish, 50*time.Millisecond, clk.clock())
	t.Cleanup(r.close)
	return r, rec, clk
}

// events lists topic/event pairs, for compact comparisons.
func events(ps []published) string {
	var b strings.Builder
	for _, p := range ps {
		b.WriteString(p.topic + "/" + p.event + " ")
	}
	return strings.TrimSpace(b.String())
}

func TestRaceThrottle(t *testing.T) {
	r, rec, clk := newTestRace(t)

	// The first change goes out at once, on both topics.
	alice := r.join("Alice")
	if got := events(rec.take()); got != "console/race_state play/race_state" {
		t.Fatalf("after the first join: %q", got)
	}
	// A storm within the interval is coalesced into one timer...
	for range 20 {
		r.tap(alice.ID)
	}
	if got := rec.take(); len(got) != 0 {
		t.Fatalf("published during the interval: %q", events(got))
	}
	if n := clk.pending(); n != 1 {
		t.Fatalf("%d timers pending, want 1", n)
	}
	clk.advance(49 * time.Millisecond)
	if got := rec.take(); len(got) != 0 {
		t.Fatalf("published before the interval ended: %q", events(got))
	}
	// ...that publishes the latest state once.
	clk.advance(time.Millisecond)
	got := rec.take()
	if events(got) != "console/race_state play/race_state" || got[0].state.Players[0].Taps != 20 {
		t.Fatalf("after the interval: %q %+v", events(got), got)
	}
	// Nothing changed since: the next interval publishes nothing and leaves no timer.
	clk.advance(time.Second)
	if got := rec.take(); len(got) != 0 || clk.pending() != 0 {
		t.Fatalf("idle race published %q, %d timers", events(got), clk.pending())
	}
	// Long after the last publication, a change goes out at once again.
	r.tap(alice.ID)
	if got := rec.take(); len(got) != 2 || got[0].state.Players[0].Taps != 21 {
		t.Fatalf("change after a quiet period: %q", events(got))
	}
}

func TestRaceWinner(t *testing.T) {
	r, rec, clk := newTestRace(t)
	if _, err := r.newRace(3); err != nil {
		t.Fatal(err)
	}
	a, b := r.join("Alice"), r.join("Bob")
	rec.take()

	if res := r.tap(b.ID); !res.Counted || res.Taps != 1 || res.Won {
		t.Fatalf("bob's first tap = %+v", res)
	}
	r.tap(a.ID)
	r.tap(a.ID)
	res := r.tap(a.ID)
	if want := (tapResult{Taps: 3, Counted: true, Won: true, Race: 2, Target: 3, Finished: true}); res != want {
		t.Fatalf("alice's winning tap = %+v, want %+v", res, want)
	}
	// The winner is not throttled.
	got := rec.take()
	if events(got) != "console/winner play/winner" || got[0].state.Winner == nil || got[0].state.Winner.ID != a.ID {
		t.Fatalf("on the win: %q %+v", events(got), got)
	}
	// Taps after the win are ignored, for everyone.
	for _, id := range []string{a.ID, b.ID} {
		if res := r.tap(id); res.Counted || res.Won || !res.Finished {
			t.Fatalf("tap after the win = %+v", res)
		}
	}
	// The winner stays the winner when leaving.
	r.leave(a.ID)
	st := r.state()
	if st.Winner == nil || st.Winner.Name != "Alice" || len(st.Players) != 1 || st.Players[0].Taps != 1 {
		t.Fatalf("after the winner left: %+v", st)
	}

	// A new race is published at once, even within the interval, and resets the taps.
	clk.advance(time.Millisecond)
	rec.take()
	st, err := r.newRace(0)
	if err != nil {
		t.Fatal(err)
	}
	if st.Race != 3 || st.Target != 3 || st.Winner != nil || st.Players[0].Taps != 0 {
		t.Fatalf("new race = %+v", st)
	}
	got = rec.take()
	if events(got) != "console/race_state play/race_state" || got[0].state.Race != 3 {
		t.Fatalf("on new race: %q", events(got))
	}
	if res := r.tap(b.ID); !res.Counted || res.Taps != 1 || res.Race != 3 {
		t.Fatalf("tap in the new race = %+v", res)
	}
}

func TestRaceRanking(t *testing.T) {
	r, _, _ := newTestRace(t)
	a, b, c := r.join("A"), r.join("B"), r.join("C")
	r.tap(c.ID)
	r.tap(c.ID)
	r.tap(b.ID)
	r.tap(a.ID)
	var names []string
	for _, p := range r.state().Players {
		names = append(names, p.Name)
	}
	// Most taps first; equal counts in join order.
	if got := strings.Join(names, ","); got != "C,A,B" {
		t.Fatalf("ranking = %s, want C,A,B", got)
	}
}

func TestRaceNewRaceBadTarget(t *testing.T) {
	r, _, _ := newTestRace(t)
	for _, target := range []int{-1, maxTarget + 1} {
		if _, err := r.newRace(target); err != errBadTarget {
			t.Errorf("newRace(%d) = %v, want errBadTarget", target, err)
		}
	}
	if st := r.state(); st.Race != 1 {
		t.Errorf("refused new races changed the race: %+v", st)
	}
}

func TestRaceClosed(t *testing.T) {
	r, rec, clk := newTestRace(t)
	a := r.join("A")
	r.tap(a.ID) // schedules a timer
	rec.take()
	r.close()
	clk.advance(time.Second)
	r.tap(a.ID)
	r.leave(a.ID)
	if got := rec.take(); len(got) != 0 || clk.pending() != 0 {
		t.Fatalf("closed race published %q, %d timers", events(got), clk.pending())
	}
}
