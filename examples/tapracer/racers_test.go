package main

import (
	"slices"
	"testing"
	"time"

	"github.com/pyrehq/pyre/supervisor"
	"github.com/pyrehq/pyre/supervisor/chaos"
	"github.com/pyrehq/pyre/supervisor/chaos/pyrechaos"
)

// playTarget is the one live play channel, for chaos.
func playTarget(t *testing.T, a *app) chaos.Target {
	t.Helper()
	sel := chaos.Selector{Kinds: []chaos.Kind{chaos.Channel}, Topic: topicPlay}
	var found []chaos.Target
	for _, tg := range pyrechaos.Population(a.endpoint).Targets() {
		if sel.Matches(tg) {
			found = append(found, tg)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d play channels, want 1", len(found))
	}
	return found[0]
}

// A racer's place in the race follows its channel's life, as its presence does: a channel killed and
// restarted in place (no Terminate) keeps its player, with its taps, and no ghost; a channel killed for
// good (no Terminate either) takes its player out of the race.
func TestRaceFollowsChannelLife(t *testing.T) {
	a, srv := startApp(t)
	console := dial(t, srv, "console")
	console.mustJoin("console", nil, nil)
	console.waitState("console", "the first race_state", func(raceState) bool { return true })

	alice := dial(t, srv, "alice")
	var aj joinResult
	alice.mustJoin("play", map[string]any{"name": "Alice"}, &aj)
	for range 3 {
		if r := alice.call("play", "tap", nil); r.Status != "ok" {
			t.Fatalf("tap: %+v", r)
		}
	}
	onlyAlice := func(st raceState) bool {
		return slices.Equal(st.Players, []playerState{{ID: aj.ID, Name: "Alice", Taps: 3}})
	}
	console.waitState("console", "alice with 3 taps", onlyAlice)

	// A kill: restarted in place, Terminate does not run, the client hears nothing.
	if !playTarget(t, a).Exit(nil) {
		t.Fatal("kill found no channel")
	}
	eventually(t, "the play channel restarted", func() bool { return a.endpoint.Stats().Restarts == 1 })
	var st raceState
	decode(t, alice.call("play", "state", nil).Response, &st) // answered by the restarted channel
	if !onlyAlice(st) {
		t.Fatalf("after an in-place restart the race is %+v, want alice alone, in her place", st.Players)
	}
	if r := alice.call("play", "tap", nil); r.Status != "ok" {
		t.Fatalf("tap after the restart: %+v", r)
	}
	console.waitState("console", "alice with 4 taps", func(st raceState) bool {
		return slices.Equal(st.Players, []playerState{{ID: aj.ID, Name: "Alice", Taps: 4}})
	})
	alice.waitPresence("play", "alice still online", func(l map[string]map[string]map[string]any) bool {
		return len(l) == 1 && len(l[aj.ID]) == 1
	})

	// Killed for good (a shutdown exit is not restarted): no Terminate, yet out of the race and offline.
	if !playTarget(t, a).Exit(supervisor.ErrShutdown) {
		t.Fatal("kill found no channel")
	}
	alice.waitFor("phx_close", func(f frame) bool { return f.Topic == topicPlay && f.Event == "phx_close" })
	console.waitState("console", "nobody racing", func(st raceState) bool { return len(st.Players) == 0 })
	console.waitPresence("console", "nobody online", func(l map[string]map[string]map[string]any) bool { return len(l) == 0 })
	if st := a.race.state(); len(st.Players) != 0 {
		t.Fatalf("race players %+v, want none", st.Players)
	}
}

// eventually polls cond until it holds or waitLimit passes.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, waitLimit)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
