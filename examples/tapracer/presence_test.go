package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
)

// presenceView is a topic's presence list as phoenix.js's Presence keeps it: presence_state replaces it,
// presence_diff adds joins and removes leaves by phx_ref, and diffs wait for the first state.
type presenceView struct {
	synced  bool
	pending []json.RawMessage
	metas   map[string]map[string]map[string]any // key → phx_ref → meta
}

type presenceWire map[string]struct {
	Metas []map[string]any `json:"metas"`
}

func (v *presenceView) apply(t testing.TB, f frame) {
	t.Helper()
	switch f.Event {
	case eventPresenceState:
		var st presenceWire
		decode(t, f.Payload, &st)
		v.metas = map[string]map[string]map[string]any{}
		v.join(t, st)
		v.synced = true
		for _, d := range v.pending {
			v.diff(t, d)
		}
		v.pending = nil
	case eventPresenceDiff:
		if !v.synced {
			v.pending = append(v.pending, f.Payload)
			return
		}
		v.diff(t, f.Payload)
	}
}

func (v *presenceView) diff(t testing.TB, raw json.RawMessage) {
	t.Helper()
	var d struct{ Joins, Leaves presenceWire }
	decode(t, raw, &d)
	v.join(t, d.Joins)
	for key, p := range d.Leaves {
		for _, m := range p.Metas {
			delete(v.metas[key], metaRef(t, m))
		}
		if len(v.metas[key]) == 0 {
			delete(v.metas, key)
		}
	}
}

func (v *presenceView) join(t testing.TB, w presenceWire) {
	t.Helper()
	for key, p := range w {
		if v.metas[key] == nil {
			v.metas[key] = map[string]map[string]any{}
		}
		for _, m := range p.Metas {
			v.metas[key][metaRef(t, m)] = m
		}
	}
}

func metaRef(t testing.TB, meta map[string]any) string {
	t.Helper()
	r, ok := meta["phx_ref"].(string)
	if !ok || r == "" {
		t.Fatalf("meta without phx_ref: %v", meta)
	}
	return r
}

// String lists the keys with their metas, for failure messages.
func (v *presenceView) String() string {
	var b strings.Builder
	for _, key := range slices.Sorted(maps.Keys(v.metas)) {
		fmt.Fprintf(&b, "%s%v ", key, slices.Collect(maps.Values(v.metas[key])))
	}
	return b.String()
}

// waitPresence applies the presence frames of topic, kept and new, until the list satisfies cond (after a
// presence_state), and returns it.
func (c *wsClient) waitPresence(topic, what string, cond func(map[string]map[string]map[string]any) bool) map[string]map[string]map[string]any {
	c.t.Helper()
	if c.presence == nil {
		c.presence = map[string]*presenceView{}
	}
	v := c.presence[topic]
	if v == nil {
		v = &presenceView{}
		c.presence[topic] = v
	}
	isPresence := func(f frame) bool {
		return f.Topic == topic && (f.Event == eventPresenceState || f.Event == eventPresenceDiff)
	}
	// The kept frames first, in order.
	c.backlog = slices.DeleteFunc(c.backlog, func(f frame) bool {
		if isPresence(f) {
			v.apply(c.t, f)
			return true
		}
		return false
	})
	for !v.synced || !cond(v.metas) {
		f := c.waitFor(fmt.Sprintf("%s (presence of %s now: %s)", what, topic, v), isPresence)
		v.apply(c.t, f)
	}
	return v.metas
}

// names lists the "name" of every meta of every key, sorted.
func names(l map[string]map[string]map[string]any) []string {
	var out []string
	for _, metas := range l {
		for _, m := range metas {
			n, _ := m["name"].(string)
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

func TestPresenceRacers(t *testing.T) {
	_, srv := startApp(t)
	console := dial(t, srv, "console")
	console.mustJoin("console", nil, nil)
	console.waitPresence("console", "the console's first presence_state", func(l map[string]map[string]map[string]any) bool { return true })

	alice := dial(t, srv, "alice")
	var aj joinResult
	alice.mustJoin("play", map[string]any{"name": "Alice"}, &aj)
	bob := dial(t, srv, "bob")
	var bj joinResult
	bob.mustJoin("play", map[string]any{"name": "Bob"}, &bj)

	// The console (through its relay of "play") and both players list both racers, keyed by player id.
	both := func(l map[string]map[string]map[string]any) bool {
		return len(l) == 2 && len(l[aj.ID]) == 1 && len(l[bj.ID]) == 1 && slices.Equal(names(l), []string{"Alice", "Bob"})
	}
	console.waitPresence("console", "both racers on the console", both)
	alice.waitPresence("play", "both racers on alice's page", both)
	l := bob.waitPresence("play", "both racers on bob's page", both)
	for _, m := range l[aj.ID] {
		if at, _ := m["online_at"].(string); at == "" {
			t.Errorf("alice's meta %v has no online_at", m)
		}
	}

	// Bob closes his page: he leaves the racers everywhere.
	bob.close()
	onlyAlice := func(l map[string]map[string]map[string]any) bool {
		return len(l) == 1 && slices.Equal(names(l), []string{"Alice"}) && len(l[aj.ID]) == 1
	}
	console.waitPresence("console", "alice alone on the console", onlyAlice)
	alice.waitPresence("play", "alice alone on her page", onlyAlice)

	// A console that joins now gets the racers in its presence_state.
	late := dial(t, srv, "late console")
	late.mustJoin("console", nil, nil)
	late.waitPresence("console", "alice on a new console", onlyAlice)

	// Leaving the channel (not the page) is leaving the racers too.
	if r := alice.call("play", "phx_leave", nil); r.Status != "ok" {
		t.Fatalf("leave: %+v", r)
	}
	none := func(l map[string]map[string]map[string]any) bool { return len(l) == 0 }
	console.waitPresence("console", "no racers on the console", none)
	late.waitPresence("console", "no racers on the new console", none)
}

func TestPresenceChat(t *testing.T) {
	_, srv := startApp(t)
	ada := dial(t, srv, "ada")
	var reply map[string]string
	ada.mustJoin("chat:room1", map[string]any{"user": "  ada "}, &reply)
	if reply["user"] != "ada" {
		t.Fatalf("join reply = %v, want the member's name", reply)
	}
	bob := dial(t, srv, "bob")
	bob.mustJoin("chat:room1", map[string]any{"user": "bob"}, nil)
	ada2 := dial(t, srv, "ada's second tab")
	ada2.mustJoin("chat:room1", map[string]any{"user": "ada"}, nil)
	anon := dial(t, srv, "anonymous")
	anon.mustJoin("chat:room1", nil, &reply)
	if reply["user"] != "anonymous" {
		t.Fatalf("join reply without a name = %v", reply)
	}
	other := dial(t, srv, "other room")
	other.mustJoin("chat:room2", map[string]any{"user": "carol"}, nil)

	// Keys are names: ada's two tabs are one member with two metas. Rooms are separate.
	four := func(l map[string]map[string]map[string]any) bool {
		return len(l) == 3 && len(l["ada"]) == 2 && len(l["bob"]) == 1 && len(l["anonymous"]) == 1
	}
	for _, c := range []*wsClient{ada, bob, ada2, anon} {
		c.waitPresence("chat:room1", c.name+" sees the room's members", four)
	}
	other.waitPresence("chat:room2", "carol alone in room2", func(l map[string]map[string]map[string]any) bool {
		return len(l) == 1 && len(l["carol"]) == 1
	})

	// One of ada's tabs closes: ada is still there, with one meta; bob leaves the room.
	ada2.close()
	if r := bob.call("chat:room1", "phx_leave", nil); r.Status != "ok" {
		t.Fatalf("leave: %+v", r)
	}
	ada.waitPresence("chat:room1", "ada and anonymous left", func(l map[string]map[string]map[string]any) bool {
		return len(l) == 2 && len(l["ada"]) == 1 && len(l["anonymous"]) == 1
	})
}
