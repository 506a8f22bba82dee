package channel

import (
	"testing"
	"time"

	"github.com/pyrehq/pyre/supervisor"
)

type nopChannel struct{}

func (nopChannel) Join(*Socket, string, Payload) (any, error)       { return nil, nil }
func (nopChannel) HandleIn(*Socket, string, Payload) (Reply, error) { return NoReply, nil }

type interceptingChannel struct{ nopChannel }

func (interceptingChannel) Intercepts() []string                     { return []string{"a", "b"} }
func (interceptingChannel) HandleOut(*Socket, string, Payload) error { return nil }

// The user package on its own, without the runtime: routes match in order, "*" only at the end, options
// and intercepts are read when the route is made.
func TestRouterRoutes(t *testing.T) {
	r := NewRouter(nil, WithMaxChannels(7), WithConnIntensity(2, time.Second))
	r.Channel("room:lobby", func() Channel { return nopChannel{} }, WithRestart(supervisor.Temporary))
	r.Channel("room:*", func() Channel { return interceptingChannel{} }, WithIntensity(1, time.Minute), WithAssigns(Assigns{"k": 1}))
	r.Channel("*", func() Channel { return nopChannel{} })
	for _, tc := range []struct{ topic, pattern string }{
		{"room:lobby", "room:lobby"}, {"room:1", "room:*"}, {"room:", "room:*"}, {"other", "*"},
	} {
		if rt := r.match(tc.topic); rt == nil || rt.Pattern != tc.pattern {
			t.Errorf("%q matched %v, want %q", tc.topic, rt, tc.pattern)
		}
	}
	if rt := r.match("room:lobby"); rt.Restart != supervisor.Temporary || rt.Intercepts != nil {
		t.Errorf("room:lobby: restart %v, intercepts %v", rt.Restart, rt.Intercepts)
	}
	rt := r.match("room:1")
	if _, ok := rt.Intercepts["b"]; !ok || len(rt.Intercepts) != 2 || rt.Intensity.Max != 1 || rt.Assigns["k"] != 1 {
		t.Errorf("room:*: %+v", rt)
	}
	if r.maxChannels != 7 || r.connIntensity != (supervisor.Intensity{Max: 2, Period: time.Second}) {
		t.Errorf("router options: %d, %v", r.maxChannels, r.connIntensity)
	}
	if NewRouter(nil).match("x") != nil {
		t.Error("a router with no routes matched")
	}
}

func TestRouterRefusesBadRoutes(t *testing.T) {
	for name, add := range map[string]func(r *Router){
		"star inside":   func(r *Router) { r.Channel("room:*:x", func() Channel { return nopChannel{} }) },
		"nil factory":   func(r *Router) { r.Channel("room:*", nil) },
		"bad intensity": func(r *Router) { r.Channel("room:*", func() Channel { return nopChannel{} }, WithIntensity(1, 0)) },
		"bad restart type": func(r *Router) {
			r.Channel("room:*", func() Channel { return nopChannel{} }, WithRestart(supervisor.Temporary+1))
		},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			add(NewRouter(nil))
		}()
	}
}

func TestReplies(t *testing.T) {
	if !NoReply.IsNoReply() || ReplyOK(nil).IsNoReply() {
		t.Fatal("IsNoReply")
	}
	if r := ReplyError(map[string]int{"n": 1}); r.Status() != "error" || r.Payload().(map[string]int)["n"] != 1 {
		t.Fatalf("ReplyError: %v %v", r.Status(), r.Payload())
	}
	if r := ReplyStatus("custom", nil); r.Status() != "custom" {
		t.Fatalf("ReplyStatus: %v", r.Status())
	}
}
