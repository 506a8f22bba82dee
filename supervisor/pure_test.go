package supervisor

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

func TestRestartPlan(t *testing.T) {
	cases := []struct {
		s           Strategy
		n, failed   int
		stop, start []int
	}{
		{OneForOne, 3, 1, nil, []int{1}},
		{SimpleOneForOne, 3, 2, nil, []int{2}},
		{OneForAll, 1, 0, nil, []int{0}},
		{OneForAll, 3, 1, []int{2, 0}, []int{0, 1, 2}},
		{OneForAll, 3, 0, []int{2, 1}, []int{0, 1, 2}},
		{OneForAll, 3, 2, []int{1, 0}, []int{0, 1, 2}},
		{RestForOne, 4, 1, []int{3, 2}, []int{1, 2, 3}},
		{RestForOne, 4, 0, []int{3, 2, 1}, []int{0, 1, 2, 3}},
		{RestForOne, 4, 3, nil, []int{3}},
	}
	for _, c := range cases {
		stop, start := restartPlan(c.s, c.n, c.failed)
		if !slices.Equal(stop, c.stop) || !slices.Equal(start, c.start) {
			t.Errorf("restartPlan(%v, %d, %d) = %v, %v; want %v, %v", c.s, c.n, c.failed, stop, start, c.stop, c.start)
		}
	}
}

func TestNormalizeSpec(t *testing.T) {
	ok := func() (actor.Actor, error) { return nil, nil }
	cases := []struct {
		name     string
		spec     ChildSpec
		simple   bool
		wantErr  bool
		shutdown time.Duration
	}{
		{"worker default shutdown", ChildSpec{ID: "a", Start: ok}, false, false, DefaultShutdown},
		{"supervisor default shutdown", ChildSpec{ID: "a", Start: ok, Kind: SupervisorChild}, false, false, Infinity},
		{"brutal kill kept", ChildSpec{ID: "a", Start: ok, Shutdown: BrutalKill}, false, false, BrutalKill},
		{"grace kept", ChildSpec{ID: "a", Start: ok, Shutdown: time.Second}, false, false, time.Second},
		{"empty id under simple", ChildSpec{Start: ok}, true, false, DefaultShutdown},
		{"empty id", ChildSpec{Start: ok}, false, true, 0},
		{"nil start", ChildSpec{ID: "a"}, false, true, 0},
		{"nil start under simple", ChildSpec{}, true, true, 0},
		{"negative shutdown", ChildSpec{ID: "a", Start: ok, Shutdown: -time.Second}, false, true, 0},
		{"unknown restart", ChildSpec{ID: "a", Start: ok, Restart: Temporary + 1}, false, true, 0},
		{"unknown kind", ChildSpec{ID: "a", Start: ok, Kind: SupervisorChild + 1}, false, true, 0},
	}
	for _, c := range cases {
		got, err := normalizeSpec(c.spec, c.simple)
		if c.wantErr {
			if !errors.Is(err, ErrBadSpec) {
				t.Errorf("%s: err = %v, want ErrBadSpec", c.name, err)
			}
			continue
		}
		if err != nil || got.Shutdown != c.shutdown {
			t.Errorf("%s: got shutdown %v, err %v; want %v", c.name, got.Shutdown, err, c.shutdown)
		}
	}
}

func TestNormalizeConfig(t *testing.T) {
	got, err := normalizeConfig(Config{})
	if err != nil || got.Intensity != DefaultIntensity || got.Clock == nil {
		t.Fatalf("zero Config = %+v, %v", got, err)
	}
	none := Intensity{Max: 0, Period: 5 * time.Second}
	if got, err := normalizeConfig(Config{Intensity: none}); err != nil || got.Intensity != none {
		t.Fatalf("Intensity{0, 5s} = %+v, %v; it must allow no restart", got.Intensity, err)
	}
	specs := []ChildSpec{{ID: "a", Start: func() (actor.Actor, error) { return nil, nil }}}
	got, err = normalizeConfig(Config{Children: specs})
	if err != nil || got.Children[0].Shutdown != DefaultShutdown || specs[0].Shutdown != 0 {
		t.Fatalf("children must be normalized in a copy: %+v, %v", got.Children, err)
	}
}

func TestExitReason(t *testing.T) {
	custom := errors.New("custom")
	cases := []struct {
		failure  any
		want     error
		init     bool
		panicked bool
	}{
		{&exitSignal{reason: nil}, ErrNormal, false, false},
		{&exitSignal{reason: custom}, custom, false, false},
		{&exitSignal{reason: custom, init: true}, custom, true, false},
		{"boom", nil, false, true},
		{custom, custom, false, true},
	}
	for _, c := range cases {
		got, init := exitReason(c.failure)
		var pe *PanicError
		if errors.As(got, &pe) != c.panicked || init != c.init || (c.want != nil && !errors.Is(got, c.want)) {
			t.Errorf("exitReason(%v) = %v, %v", c.failure, got, init)
		}
	}
}

func TestPanicError(t *testing.T) {
	custom := errors.New("custom")
	if e := (&PanicError{Value: custom}); !errors.Is(e, custom) || e.Error() != "panic: custom" {
		t.Errorf("PanicError{error} = %q", e)
	}
	if e := (&PanicError{Value: 42}); e.Unwrap() != nil || e.Error() != "panic: 42" {
		t.Errorf("PanicError{42} = %q", e)
	}
}

func TestCallStart(t *testing.T) {
	if _, err := callStart(func() (actor.Actor, error) { panic("no") }); err == nil {
		t.Error("panic not turned into an error")
	} else if pe := (*PanicError)(nil); !errors.As(err, &pe) || pe.Value != "no" {
		t.Errorf("panic = %v", err)
	}
	if _, err := callStart(func() (actor.Actor, error) { return nil, nil }); !errors.Is(err, ErrBadSpec) {
		t.Errorf("nil actor = %v", err)
	}
	boom := errors.New("boom")
	if _, err := callStart(func() (actor.Actor, error) { return nil, boom }); err != boom {
		t.Errorf("error = %v", err)
	}
}

func TestStrings(t *testing.T) {
	cases := map[string]interface{ String() string }{
		"one_for_one":        OneForOne,
		"one_for_all":        OneForAll,
		"rest_for_one":       RestForOne,
		"simple_one_for_one": SimpleOneForOne,
		"Strategy(9)":        Strategy(9),
		"worker":             Worker,
		"supervisor":         SupervisorChild,
		"ChildKind(9)":       ChildKind(9),
		"child_started":      ChildStarted,
		"child_exiting":      ChildExiting,
		"child_exited":       ChildExited,
		"child_restarted":    ChildRestarted,
		"start_failed":       StartFailed,
		"child_terminated":   ChildTerminated,
		"intensity_exceeded": IntensityExceeded,
		"EventType(99)":      EventType(99),
	}
	for want, v := range cases {
		if got := v.String(); got != want {
			t.Errorf("%#v.String() = %q, want %q", v, got, want)
		}
	}
	e := Event{Type: ChildExited, Supervisor: "s", ID: "a", PID: actor.NewPID("h", "p"), Reason: ErrKilled}
	if got := e.String(); got != "child_exited s/a p: killed" {
		t.Errorf("Event.String() = %q", got)
	}
}

func TestChildList(t *testing.T) {
	var l childList
	cs := []*child{{spec: ChildSpec{ID: "a"}}, {spec: ChildSpec{ID: "b"}}, {spec: ChildSpec{ID: "c"}}}
	for _, c := range cs {
		l.push(c)
	}
	idsOf := func() []string {
		var out []string
		for _, c := range l.all() {
			out = append(out, c.spec.ID)
		}
		return out
	}
	l.remove(cs[1])
	if got := idsOf(); !slices.Equal(got, []string{"a", "c"}) || l.n != 2 {
		t.Fatalf("after removing the middle: %v", got)
	}
	l.remove(cs[0])
	l.remove(cs[2])
	if l.head != nil || l.tail != nil || l.n != 0 {
		t.Fatal("list not empty")
	}
	l.push(cs[1])
	if got := idsOf(); !slices.Equal(got, []string{"b"}) {
		t.Fatalf("after reuse: %v", got)
	}
}

// msgContext is an actor.Context carrying only a message.
type msgContext struct {
	actor.Context
	msg any
}

func (c *msgContext) Message() any { return c.msg }

type nop struct{}

func (nop) Receive(actor.Context) {}

type nopStrategy struct {
	nop
	called *bool
}

func (s nopStrategy) HandleFailure(*actor.ActorSystem, actor.Supervisor, *actor.PID, *actor.RestartStatistics, any, any) {
	*s.called = true
}

func TestWrapper(t *testing.T) {
	w, _ := wrap(nop{})
	if _, ok := w.(actor.SupervisorStrategy); ok {
		t.Fatal("a plain actor's wrapper must not supervise: protoactor would use it instead of the props' strategy")
	}
	ctx := &msgContext{msg: "hello"}
	if allocs := testing.AllocsPerRun(100, func() { w.Receive(ctx) }); allocs != 0 {
		t.Errorf("wrapper allocates %v per message", allocs)
	}

	called := false
	wa, _ := wrap(nopStrategy{called: &called})
	ws, ok := wa.(actor.SupervisorStrategy)
	if !ok {
		t.Fatal("a supervising actor's wrapper must forward HandleFailure")
	}
	ws.HandleFailure(nil, nil, nil, nil, nil, nil)
	if !called {
		t.Fatal("HandleFailure not forwarded")
	}

	for _, m := range []any{InjectedPanic{Value: 1}, &InjectedPanic{Value: 2}} {
		func() {
			defer func() {
				if v := recover(); v == nil {
					t.Errorf("%#v did not panic", m)
				}
			}()
			w.Receive(&msgContext{msg: m})
		}()
	}
}
