package chaos_test

import (
	"strings"
	"testing"

	"github.com/pyrehq/pyre/supervisor/chaos"
)

func TestSelectorMatches(t *testing.T) {
	socket := chaos.Target{Kind: chaos.Socket, ID: "s1", Labels: map[string]string{chaos.LabelSocketID: "user:1"}}
	lobby := chaos.Target{Kind: chaos.Channel, ID: "c1", Labels: map[string]string{chaos.LabelTopic: "room:lobby", chaos.LabelSocketID: "user:1"}}
	bare := chaos.Target{Kind: chaos.Channel, ID: "c2", Labels: map[string]string{chaos.LabelTopic: "room:", chaos.LabelSocketID: "user:2"}}
	admin := chaos.Target{Kind: chaos.Channel, ID: "c3", Labels: map[string]string{chaos.LabelTopic: "admin:room:1", chaos.LabelSocketID: "user:2"}}
	emptyTopic := chaos.Target{Kind: chaos.Channel, ID: "c4", Labels: map[string]string{chaos.LabelTopic: ""}}
	pubsub := chaos.Target{Kind: chaos.Infrastructure, ID: "p1", Labels: map[string]string{chaos.LabelChild: "pubsub"}}
	nolabels := chaos.Target{Kind: chaos.Infrastructure, ID: "p2"}
	all := []chaos.Target{socket, lobby, bare, admin, emptyTopic, pubsub, nolabels}

	tests := []struct {
		name string
		sel  chaos.Selector
		want string // IDs of the matching targets, in the order of all
	}{
		{"zero value selects all", chaos.Selector{}, "s1 c1 c2 c3 c4 p1 p2"},
		{"one kind", chaos.Selector{Kinds: []chaos.Kind{chaos.Socket}}, "s1"},
		{"two kinds", chaos.Selector{Kinds: []chaos.Kind{chaos.Socket, chaos.Infrastructure}}, "s1 p1 p2"},
		{"unknown kind", chaos.Selector{Kinds: []chaos.Kind{"presence"}}, ""},
		{"topic prefix", chaos.Selector{Topic: "room:*"}, "c1 c2"},
		{"topic any", chaos.Selector{Topic: "*"}, "c1 c2 c3 c4"},
		{"topic exact", chaos.Selector{Topic: "room:lobby"}, "c1"},
		{"topic exact is not a prefix", chaos.Selector{Topic: "room:"}, "c2"},
		{"topic no match", chaos.Selector{Topic: "game:*"}, ""},
		{"socket id", chaos.Selector{SocketID: "user:1"}, "s1 c1"},
		{"socket id and kind", chaos.Selector{SocketID: "user:1", Kinds: []chaos.Kind{chaos.Channel}}, "c1"},
		{"socket id and topic", chaos.Selector{SocketID: "user:2", Topic: "room:*"}, "c2"},
		{"predicate", chaos.Selector{Match: func(t chaos.Target) bool { return t.Labels[chaos.LabelChild] == "pubsub" }}, "p1"},
		{"predicate and kind", chaos.Selector{Kinds: []chaos.Kind{chaos.Channel}, Match: func(t chaos.Target) bool { return strings.HasSuffix(t.ID, "3") }}, "c3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, target := range all {
				if tt.sel.Matches(target) {
					got = append(got, target.ID)
				}
			}
			if g := strings.Join(got, " "); g != tt.want {
				t.Errorf("matched %q, want %q", g, tt.want)
			}
		})
	}
}

func TestMethodString(t *testing.T) {
	for m, want := range map[chaos.Method]string{chaos.Exit: "exit", chaos.Panic: "panic", 7: "Method(7)"} {
		if got := m.String(); got != want {
			t.Errorf("Method(%d).String() = %q, want %q", uint8(m), got, want)
		}
	}
}
