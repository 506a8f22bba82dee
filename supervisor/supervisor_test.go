package supervisor

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

var errBoom = errors.New("boom")

// many allows enough restarts for tests that are not about intensity.
var many = Intensity{Max: 100, Period: time.Hour}

func threeChildren(log *orderLog, r Restart, idList ...string) []ChildSpec {
	var specs []ChildSpec
	for _, id := range idList {
		specs = append(specs, workerSpec(id, r, log))
	}
	return specs
}

// crash makes child id exit abnormally and waits until it is started again.
func crash(t *testing.T, sys *actor.ActorSystem, s *Supervisor, rec *recorder, id string) {
	t.Helper()
	n := rec.count(ChildRestarted, id)
	sys.Root.Send(pidOf(t, s, id), exitWith{errBoom})
	rec.waitN(t, ChildRestarted, id, n+1)
}

func TestOneForOneRestartsOnlyTheFailingChild(t *testing.T) {
	sys := newSystem(t)
	log, rec := &orderLog{}, &recorder{}
	s := startSup(t, sys, Config{Name: "s", Intensity: many, Children: threeChildren(log, Permanent, "a", "b", "c"), OnEvent: rec.on})
	a, b, c := pidOf(t, s, "a"), pidOf(t, s, "b"), pidOf(t, s, "c")
	mark := log.len()

	crash(t, sys, s, rec, "b")

	if got, want := log.since(mark), []string{"stop b", "start b"}; !slices.Equal(got, want) {
		t.Fatalf("log = %q, want %q", got, want)
	}
	if !pidOf(t, s, "a").Equal(a) || !pidOf(t, s, "c").Equal(c) {
		t.Fatal("a sibling was restarted")
	}
	if nb := pidOf(t, s, "b"); nb == nil || nb.Equal(b) {
		t.Fatalf("b restarted as %v, want a new pid (old %v)", nb, b)
	}
	if e := rec.matching(ChildExited, "b")[0]; !errors.Is(e.Reason, errBoom) || !e.PID.Equal(b) {
		t.Fatalf("ChildExited = %v", e)
	}
}

func TestOneForAllRestartsAllInStartOrder(t *testing.T) {
	sys := newSystem(t)
	log, rec := &orderLog{}, &recorder{}
	s := startSup(t, sys, Config{Strategy: OneForAll, Intensity: many, Children: threeChildren(log, Permanent, "a", "b", "c"), OnEvent: rec.on})
	old := []*actor.PID{pidOf(t, s, "a"), pidOf(t, s, "b"), pidOf(t, s, "c")}
	mark := log.len()

	sys.Root.Send(old[1], exitWith{errBoom})
	rec.waitN(t, ChildRestarted, "c", 1)

	want := []string{"stop b", "stop c", "stop a", "start a", "start b", "start c"}
	if got := log.since(mark); !slices.Equal(got, want) {
		t.Fatalf("log = %q, want %q", got, want)
	}
	for i, id := range []string{"a", "b", "c"} {
		if pidOf(t, s, id).Equal(old[i]) {
			t.Fatalf("%s kept its pid", id)
		}
	}
	// Siblings were terminated by the supervisor, not exited.
	if rec.count(ChildTerminated, "a") != 1 || rec.count(ChildTerminated, "c") != 1 || rec.count(ChildExited, "b") != 1 {
		t.Fatalf("events: %v", rec.all())
	}
}

func TestRestForOneRestartsTheFailingChildAndLaterOnes(t *testing.T) {
	sys := newSystem(t)
	log, rec := &orderLog{}, &recorder{}
	s := startSup(t, sys, Config{Strategy: RestForOne, Intensity: many, Children: threeChildren(log, Permanent, "a", "b", "c", "d"), OnEvent: rec.on})
	a := pidOf(t, s, "a")
	mark := log.len()

	sys.Root.Send(pidOf(t, s, "b"), exitWith{errBoom})
	rec.waitN(t, ChildRestarted, "d", 1)

	want := []string{"stop b", "stop d", "stop c", "start b", "start c", "start d"}
	if got := log.since(mark); !slices.Equal(got, want) {
		t.Fatalf("log = %q, want %q", got, want)
	}
	if !pidOf(t, s, "a").Equal(a) {
		t.Fatal("a was restarted")
	}
}

func TestTransient(t *testing.T) {
	sys := newSystem(t)
	log, rec := &orderLog{}, &recorder{}
	s := startSup(t, sys, Config{Intensity: many, Children: []ChildSpec{workerSpec("t", Transient, log)}, OnEvent: rec.on})

	sys.Root.Send(pidOf(t, s, "t"), exitWith{nil}) // supervisor.Exit(ctx, nil): normal
	e := rec.waitN(t, ChildExited, "t", 1)
	if !errors.Is(e.Reason, ErrNormal) {
		t.Fatalf("reason = %v, want ErrNormal", e.Reason)
	}
	eventually(t, "t to be not running", func() bool { return pidOf(t, s, "t") == nil })
	if n, _ := s.CountChildren(bg(t)); n != (Counts{Specs: 1, Workers: 1}) {
		t.Fatalf("counts = %+v: the spec must be kept", n)
	}
	if rec.count(ChildRestarted, "t") != 0 {
		t.Fatal("restarted after a normal exit")
	}

	if _, err := s.RestartChild(bg(t), "t"); err != nil {
		t.Fatal(err)
	}
	crash(t, sys, s, rec, "t") // abnormal: restarted
}

func TestTemporaryIsNeverRestartedAndItsSpecDeleted(t *testing.T) {
	sys := newSystem(t)
	log, rec := &orderLog{}, &recorder{}
	s := startSup(t, sys, Config{Intensity: many, Children: []ChildSpec{workerSpec("tmp", Temporary, log), workerSpec("p", Permanent, log)}, OnEvent: rec.on})

	sys.Root.Send(pidOf(t, s, "tmp"), exitWith{errBoom})
	rec.waitN(t, ChildExited, "tmp", 1)
	eventually(t, "tmp's spec to be deleted", func() bool {
		infos, err := s.WhichChildren(bg(t))
		return err == nil && slices.Equal(ids(infos), []string{"p"})
	})
	if rec.count(ChildRestarted, "tmp") != 0 {
		t.Fatal("temporary child restarted")
	}
}

func TestPermanentIsRestartedAfterANormalExit(t *testing.T) {
	sys := newSystem(t)
	log, rec := &orderLog{}, &recorder{}
	s := startSup(t, sys, Config{Intensity: many, Children: []ChildSpec{workerSpec("p", Permanent, log)}, OnEvent: rec.on})
	old := pidOf(t, s, "p")

	sys.Root.Send(old, exitWith{nil})
	e := rec.waitN(t, ChildRestarted, "p", 1)
	if e.PID.Equal(old) {
		t.Fatal("restarted with the same pid")
	}
}

func TestIntensityExceededTopLevel(t *testing.T) {
	sys := newSystem(t)
	log, rec, clock := &orderLog{}, &recorder{}, newFakeClock()
	s := startSup(t, sys, Config{
		Name:      "top",
		Intensity: Intensity{Max: 1, Period: 5 * time.Second},
		Children:  threeChildren(log, Permanent, "a", "b", "c"),
		Clock:     clock,
		OnEvent:   rec.on,
	})

	crash(t, sys, s, rec, "b")     // 1 restart in the window
	clock.Advance(6 * time.Second) // it expires
	crash(t, sys, s, rec, "b")     // 1 again
	mark := log.len()
	sys.Root.Send(pidOf(t, s, "b"), exitWith{errBoom}) // 2 > 1

	<-s.Done()
	if err := s.Err(); !errors.Is(err, ErrMaxIntensity) || !errors.Is(err, ErrShutdown) {
		t.Fatalf("Err = %v, want Shutdown(ErrMaxIntensity)", err)
	}
	if got, want := log.since(mark), []string{"stop b", "stop c", "stop a"}; !slices.Equal(got, want) {
		t.Fatalf("log = %q, want %q (reverse start order)", got, want)
	}
	if e := rec.waitN(t, IntensityExceeded, "b", 1); !errors.Is(e.Reason, ErrMaxIntensity) || e.Supervisor != "top" {
		t.Fatalf("event = %v", e)
	}
	if _, err := s.WhichChildren(bg(t)); !errors.Is(err, ErrStopped) {
		t.Fatalf("WhichChildren after exit: %v, want ErrStopped", err)
	}
}

func TestIntensityExceededNestedEscalates(t *testing.T) {
	sys := newSystem(t)
	log, top, inner := &orderLog{}, &recorder{}, &recorder{}
	innerCfg := Config{
		Name:      "inner",
		Intensity: Intensity{Max: 1, Period: 5 * time.Second},
		Children:  []ChildSpec{workerSpec("w", Permanent, log)},
		Clock:     newFakeClock(),
		OnEvent:   inner.on,
	}
	s := startSup(t, sys, Config{
		Name:      "top",
		Intensity: many,
		Children:  []ChildSpec{workerSpec("x", Permanent, log), Spec("inner", innerCfg)},
		OnEvent:   top.on,
	})
	x := pidOf(t, s, "x")
	sub, err := s.Sub(bg(t), "inner")
	if err != nil {
		t.Fatal(err)
	}
	if infos, err := sub.WhichChildren(bg(t)); err != nil || !slices.Equal(ids(infos), []string{"w"}) {
		t.Fatalf("inner children = %v, %v", infos, err)
	}

	crash(t, sys, sub, inner, "w")
	sys.Root.Send(pidOf(t, sub, "w"), exitWith{errBoom}) // one too many for inner

	<-sub.Done()
	if err := sub.Err(); !errors.Is(err, ErrMaxIntensity) {
		t.Fatalf("inner Err = %v", err)
	}
	e := top.waitN(t, ChildExiting, "inner", 1)
	if !errors.Is(e.Reason, ErrMaxIntensity) || !errors.Is(e.Reason, ErrShutdown) {
		t.Fatalf("parent saw %v, want Shutdown(ErrMaxIntensity)", e.Reason)
	}
	top.waitN(t, ChildRestarted, "inner", 1) // permanent: restarted with fresh intensity
	sub2, err := s.Sub(bg(t), "inner")
	if err != nil || sub2 == sub || sub2.PID().Equal(sub.PID()) {
		t.Fatalf("Sub after restart = %v, %v", sub2, err)
	}
	if infos, err := sub2.WhichChildren(bg(t)); err != nil || len(infos) != 1 || infos[0].PID == nil {
		t.Fatalf("restarted inner children = %v, %v", infos, err)
	}
	if !pidOf(t, s, "x").Equal(x) {
		t.Fatal("one_for_one sibling restarted")
	}
}

func TestTransientNestedSupervisorIsNotRestartedAfterGivingUp(t *testing.T) {
	sys := newSystem(t)
	log, top, inner := &orderLog{}, &recorder{}, &recorder{}
	spec := Spec("inner", Config{Intensity: Intensity{Max: 0, Period: time.Second}, Children: []ChildSpec{workerSpec("w", Permanent, log)}, OnEvent: inner.on})
	spec.Restart = Transient // Shutdown(ErrMaxIntensity) is a normal exit, as OTP's shutdown
	s := startSup(t, sys, Config{Intensity: many, Children: []ChildSpec{spec}, OnEvent: top.on})
	sub, err := s.Sub(bg(t), "inner")
	if err != nil {
		t.Fatal(err)
	}
	sys.Root.Send(pidOf(t, sub, "w"), exitWith{errBoom})
	top.waitN(t, ChildExited, "inner", 1)
	eventually(t, "inner to be not running", func() bool { return pidOf(t, s, "inner") == nil })
	if top.count(ChildRestarted, "inner") != 0 {
		t.Fatal("transient nested supervisor restarted")
	}
}

// blockedChild starts a child that blocks in Receive until release is closed, with two notes queued behind.
func blockedChild(t *testing.T, sys *actor.ActorSystem, s *Supervisor, spec ChildSpec) (got *orderLog, release chan struct{}) {
	t.Helper()
	got = &orderLog{}
	log := &orderLog{}
	spec.Start = func() (actor.Actor, error) { return &worker{id: spec.ID, log: log, got: got}, nil }
	pid, err := s.StartChild(bg(t), spec)
	if err != nil {
		t.Fatal(err)
	}
	entered, release := make(chan struct{}), make(chan struct{})
	sys.Root.Send(pid, blockOn{entered, release})
	<-entered
	sys.Root.Send(pid, note("m1"))
	sys.Root.Send(pid, note("m2"))
	return got, release
}

func TestShutdownGraceExceededKills(t *testing.T) {
	sys := newSystem(t)
	rec, clock := &recorder{}, newFakeClock()
	s := startSup(t, sys, Config{Clock: clock, OnEvent: rec.on})
	got, release := blockedChild(t, sys, s, ChildSpec{ID: "slow", Shutdown: time.Second})

	done := make(chan error, 1)
	go func() { done <- s.TerminateChild(bg(t), "slow") }()
	eventually(t, "the grace timer", func() bool { return clock.Pending() == 1 })
	clock.Advance(time.Second)                        // grace over: the supervisor kills
	if _, err := s.CountChildren(bg(t)); err != nil { // answered after the timer's message: the kill is sent
		t.Fatal(err)
	}
	close(release)

	if err := <-done; err != nil {
		t.Fatalf("TerminateChild: %v", err)
	}
	if e := rec.waitN(t, ChildTerminated, "slow", 1); !errors.Is(e.Reason, ErrKilled) {
		t.Fatalf("reason = %v, want ErrKilled", e.Reason)
	}
	if g := got.get(); len(g) != 0 {
		t.Fatalf("killed child processed its queued messages %q", g)
	}
}

func TestShutdownGraceful(t *testing.T) {
	sys := newSystem(t)
	rec, clock := &recorder{}, newFakeClock()
	s := startSup(t, sys, Config{Clock: clock, OnEvent: rec.on})
	got, release := blockedChild(t, sys, s, ChildSpec{ID: "slow", Shutdown: time.Second})

	done := make(chan error, 1)
	go func() { done <- s.TerminateChild(bg(t), "slow") }()
	eventually(t, "the grace timer", func() bool { return clock.Pending() == 1 })
	close(release)

	if err := <-done; err != nil {
		t.Fatalf("TerminateChild: %v", err)
	}
	if e := rec.waitN(t, ChildTerminated, "slow", 1); !errors.Is(e.Reason, ErrShutdown) {
		t.Fatalf("reason = %v, want ErrShutdown", e.Reason)
	}
	if g := got.get(); !slices.Equal(g, []string{"m1", "m2"}) {
		t.Fatalf("processed %q, want the queued messages first", g)
	}
	if clock.Pending() != 0 {
		t.Fatal("grace timer not stopped")
	}
}

func TestShutdownBrutalKillAndInfinity(t *testing.T) {
	sys := newSystem(t)
	rec, clock := &recorder{}, newFakeClock()
	log := &orderLog{}
	brutal, inf := workerSpec("brutal", Permanent, log), workerSpec("inf", Permanent, log)
	brutal.Shutdown, inf.Shutdown = BrutalKill, Infinity
	s := startSup(t, sys, Config{Clock: clock, Children: []ChildSpec{brutal, inf}, OnEvent: rec.on})

	if err := s.TerminateChild(bg(t), "brutal"); err != nil {
		t.Fatal(err)
	}
	if e := rec.waitN(t, ChildTerminated, "brutal", 1); !errors.Is(e.Reason, ErrKilled) {
		t.Fatalf("brutal reason = %v", e.Reason)
	}
	if err := s.TerminateChild(bg(t), "inf"); err != nil {
		t.Fatal(err)
	}
	if e := rec.waitN(t, ChildTerminated, "inf", 1); !errors.Is(e.Reason, ErrShutdown) {
		t.Fatalf("infinity reason = %v", e.Reason)
	}
	if clock.Created() != 0 {
		t.Fatal("a timer was set for BrutalKill or Infinity")
	}
}

func TestFailedRestartIsRetriedThenEscalates(t *testing.T) {
	sys := newSystem(t)
	log, rec := &orderLog{}, &recorder{}
	starts := 0
	spec := workerSpec("x", Permanent, log)
	first := spec.Start
	spec.Start = func() (actor.Actor, error) { // called by the supervisor actor only
		starts++
		if starts > 1 {
			return nil, errBoom
		}
		return first()
	}
	s := startSup(t, sys, Config{Intensity: Intensity{Max: 3, Period: time.Hour}, Clock: newFakeClock(), Children: []ChildSpec{spec}, OnEvent: rec.on})

	sys.Root.Send(pidOf(t, s, "x"), exitWith{errBoom})
	<-s.Done()
	if !errors.Is(s.Err(), ErrMaxIntensity) {
		t.Fatalf("Err = %v", s.Err())
	}
	if n := rec.count(StartFailed, "x"); n != 3 { // restarts 1..3 fail, the 4th exceeds the intensity
		t.Fatalf("%d failed restarts, want 3", n)
	}
	for _, e := range rec.matching(StartFailed, "x") {
		if !errors.Is(e.Reason, errBoom) {
			t.Fatalf("StartFailed reason = %v", e.Reason)
		}
	}
	if rec.count(IntensityExceeded, "x") != 1 || rec.count(ChildRestarted, "x") != 0 {
		t.Fatalf("events: %v", rec.all())
	}
}

func TestStartFailureTerminatesEarlierChildrenInReverse(t *testing.T) {
	sys := newSystem(t)
	log := &orderLog{}
	bad := ChildSpec{ID: "bad", Start: func() (actor.Actor, error) { log.add("start bad"); return nil, errBoom }}
	s, err := Start(sys.Root, Config{Children: []ChildSpec{workerSpec("a", Permanent, log), workerSpec("b", Permanent, log), bad, workerSpec("c", Permanent, log)}})
	if s != nil || !errors.Is(err, errBoom) || !errors.Is(err, ErrStartFailed) {
		t.Fatalf("Start = %v, %v", s, err)
	}
	want := []string{"start a", "start b", "start bad", "stop b", "stop a"}
	if got := log.get(); !slices.Equal(got, want) {
		t.Fatalf("log = %q, want %q", got, want)
	}
}

func TestStartFailureInsideANestedSupervisor(t *testing.T) {
	sys := newSystem(t)
	log := &orderLog{}
	panics := ChildSpec{ID: "bad", Start: func() (actor.Actor, error) { log.add("start bad"); panic("no") }}
	inner := Spec("inner", Config{Children: []ChildSpec{workerSpec("x", Permanent, log), panics}})
	s, err := Start(sys.Root, Config{Children: []ChildSpec{workerSpec("a", Permanent, log), inner, workerSpec("c", Permanent, log)}})
	var pe *PanicError
	if s != nil || !errors.Is(err, ErrStartFailed) || !errors.As(err, &pe) || pe.Value != "no" {
		t.Fatalf("Start = %v, %v", s, err)
	}
	want := []string{"start a", "start x", "start bad", "stop x", "stop a"}
	if got := log.get(); !slices.Equal(got, want) {
		t.Fatalf("log = %q, want %q", got, want)
	}
}

func TestSimpleOneForOne(t *testing.T) {
	sys := newSystem(t)
	log, rec := &orderLog{}, &recorder{}
	s := startSup(t, sys, Config{Strategy: SimpleOneForOne, Intensity: many, OnEvent: rec.on})
	var pids []*actor.PID
	for i := range 20 {
		spec := workerSpec("", Permanent, log)
		if i == 0 {
			spec = workerSpec("", Transient, log)
		}
		pid, err := s.StartChild(bg(t), spec)
		if err != nil {
			t.Fatal(err)
		}
		pids = append(pids, pid)
	}
	live := func() []*actor.PID {
		infos, err := s.WhichChildren(bg(t))
		if err != nil {
			t.Fatal(err)
		}
		var out []*actor.PID
		for _, c := range infos {
			out = append(out, c.PID)
		}
		return out
	}
	has := func(ps []*actor.PID, p *actor.PID) bool {
		return slices.ContainsFunc(ps, func(q *actor.PID) bool { return q.Equal(p) })
	}

	if err := s.TerminatePID(bg(t), pids[5]); err != nil {
		t.Fatal(err)
	}
	if l := live(); len(l) != 19 || has(l, pids[5]) {
		t.Fatalf("after TerminatePID: %d children", len(l))
	}
	if err := s.TerminatePID(bg(t), pids[5]); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second TerminatePID: %v", err)
	}

	sys.Root.Send(pids[7], exitWith{errBoom})
	e := rec.waitN(t, ChildRestarted, "", 1)
	l := live()
	if len(l) != 19 || has(l, pids[7]) || !has(l, e.PID) {
		t.Fatalf("after a crash: %v", l)
	}
	for i, p := range pids {
		if i != 5 && i != 7 && !has(l, p) {
			t.Fatalf("child %d was restarted too", i)
		}
	}

	sys.Root.Send(pids[0], exitWith{nil}) // transient, normal: removed
	eventually(t, "the transient child to leave", func() bool { return !has(live(), pids[0]) && len(live()) == 18 })

	for name, err := range map[string]error{
		"TerminateChild": s.TerminateChild(bg(t), "x"),
		"DeleteChild":    s.DeleteChild(bg(t), "x"),
	} {
		if !errors.Is(err, ErrSimple) {
			t.Errorf("%s: %v, want ErrSimple", name, err)
		}
	}
	if _, err := s.RestartChild(bg(t), "x"); !errors.Is(err, ErrSimple) {
		t.Errorf("RestartChild: %v, want ErrSimple", err)
	}

	mark := rec.count(ChildTerminated, "")
	if err := s.Stop(bg(t)); err != nil {
		t.Fatal(err)
	}
	if n := rec.count(ChildTerminated, "") - mark; n != 18 {
		t.Fatalf("%d children terminated at shutdown, want 18", n)
	}
}

func TestSimpleOneForOneTerminatesAllAtOnce(t *testing.T) {
	sys := newSystem(t)
	clock := newFakeClock()
	s := startSup(t, sys, Config{Strategy: SimpleOneForOne, Clock: clock})
	var releases []chan struct{}
	for range 3 {
		_, release := blockedChild(t, sys, s, ChildSpec{Shutdown: time.Second})
		releases = append(releases, release)
	}
	stopped := make(chan error, 1)
	go func() { stopped <- s.Stop(bg(t)) }()
	// All three are asked to stop before any has: one grace timer each.
	eventually(t, "three grace timers", func() bool { return clock.Pending() == 3 })
	for _, r := range releases {
		close(r)
	}
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
}

func TestChildOperations(t *testing.T) {
	sys := newSystem(t)
	log, rec := &orderLog{}, &recorder{}
	s := startSup(t, sys, Config{Intensity: many, Children: []ChildSpec{workerSpec("a", Permanent, log), workerSpec("tmp", Temporary, log)}, OnEvent: rec.on})
	ctx := bg(t)
	if _, err := s.StartChild(ctx, workerSpec("d", Transient, log)); err != nil {
		t.Fatal(err)
	}
	nested, err := s.StartChild(ctx, Spec("n", Config{Children: []ChildSpec{workerSpec("nw", Permanent, log)}}))
	if err != nil || nested == nil {
		t.Fatalf("StartChild(nested) = %v, %v", nested, err)
	}

	infos, _ := s.WhichChildren(ctx)
	if !slices.Equal(ids(infos), []string{"a", "tmp", "d", "n"}) {
		t.Fatalf("which = %v", infos)
	}
	if infos[3].Kind != SupervisorChild || infos[3].Restart != Permanent || infos[1].Restart != Temporary {
		t.Fatalf("which = %+v", infos)
	}
	if n, _ := s.CountChildren(ctx); n != (Counts{Specs: 4, Active: 4, Supervisors: 1, Workers: 3}) {
		t.Fatalf("count = %+v", n)
	}

	// Running children.
	if _, err := s.StartChild(ctx, workerSpec("a", Permanent, log)); !errors.Is(err, ErrBadSpec) || !errors.Is(err, ErrRunning) {
		t.Fatalf("duplicate running StartChild: %v", err)
	}
	if _, err := s.RestartChild(ctx, "a"); !errors.Is(err, ErrRunning) {
		t.Fatalf("RestartChild running: %v", err)
	}
	if err := s.DeleteChild(ctx, "a"); !errors.Is(err, ErrRunning) {
		t.Fatalf("DeleteChild running: %v", err)
	}

	// Terminate keeps the spec; restart and delete need a terminated child.
	old := pidOf(t, s, "a")
	if err := s.TerminateChild(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if pidOf(t, s, "a") != nil {
		t.Fatal("terminated child still has a pid")
	}
	if err := s.TerminateChild(ctx, "a"); err != nil {
		t.Fatalf("terminating a terminated child: %v", err)
	}
	if rec.count(ChildRestarted, "a") != 0 {
		t.Fatal("a child terminated by the supervisor was restarted")
	}
	if n, _ := s.CountChildren(ctx); n.Specs != 4 || n.Active != 3 {
		t.Fatalf("count = %+v", n)
	}
	if _, err := s.StartChild(ctx, workerSpec("a", Permanent, log)); !errors.Is(err, ErrBadSpec) || errors.Is(err, ErrRunning) {
		t.Fatalf("duplicate present StartChild: %v", err)
	}
	pid, err := s.RestartChild(ctx, "a")
	if err != nil || pid == nil || pid.Equal(old) || !pidOf(t, s, "a").Equal(pid) {
		t.Fatalf("RestartChild = %v, %v", pid, err)
	}
	if err := s.TerminatePID(ctx, pid); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteChild(ctx, "a"); err != nil {
		t.Fatal(err)
	}

	// A temporary child's spec goes with it.
	if err := s.TerminateChild(ctx, "tmp"); err != nil {
		t.Fatal(err)
	}
	infos, _ = s.WhichChildren(ctx)
	if !slices.Equal(ids(infos), []string{"d", "n"}) {
		t.Fatalf("which = %v", ids(infos))
	}

	// Unknown ids.
	if err := s.TerminateChild(ctx, "zzz"); !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
	if _, err := s.RestartChild(ctx, "zzz"); !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
	if err := s.DeleteChild(ctx, "zzz"); !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
	if _, err := s.Sub(ctx, "zzz"); !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}

	// Sub.
	if _, err := s.Sub(ctx, "d"); !errors.Is(err, ErrNotSupervisor) {
		t.Fatalf("Sub(worker): %v", err)
	}
	sub, err := s.Sub(ctx, "n")
	if err != nil || !sub.PID().Equal(nested) {
		t.Fatalf("Sub = %v, %v", sub, err)
	}
	if n, err := sub.CountChildren(ctx); err != nil || n.Active != 1 {
		t.Fatalf("nested count = %+v, %v", n, err)
	}
	if err := s.TerminateChild(ctx, "n"); err != nil {
		t.Fatal(err)
	}
	<-sub.Done()
	if !log.has("stop nw") {
		t.Fatal("the nested supervisor's child was not terminated")
	}
	if _, err := s.Sub(ctx, "n"); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("Sub(terminated): %v", err)
	}
	if _, err := sub.WhichChildren(ctx); !errors.Is(err, ErrStopped) {
		t.Fatalf("stale handle: %v", err)
	}
}

func TestExitWithCustomReason(t *testing.T) {
	sys := newSystem(t)
	log, rec := &orderLog{}, &recorder{}
	errCustom := errors.New("custom")
	s := startSup(t, sys, Config{Intensity: many, Children: []ChildSpec{workerSpec("w", Transient, log)}, OnEvent: rec.on})
	pid := pidOf(t, s, "w")

	s.Exit(pid, fmt.Errorf("wrapped: %w", errCustom))
	for _, typ := range []EventType{ChildExiting, ChildExited} {
		if e := rec.waitN(t, typ, "w", 1); !errors.Is(e.Reason, errCustom) || !e.PID.Equal(pid) {
			t.Fatalf("%v = %v", typ, e)
		}
	}
	rec.waitN(t, ChildRestarted, "w", 1) // abnormal: transient restarts

	s.Exit(pidOf(t, s, "w"), nil)
	if e := rec.waitN(t, ChildExited, "w", 2); !errors.Is(e.Reason, ErrKilled) {
		t.Fatalf("Exit(nil) reason = %v, want ErrKilled", e.Reason)
	}
	rec.waitN(t, ChildRestarted, "w", 2)

	s.Exit(actor.NewPID("nonhost", "unknown"), errCustom) // ignored
	s.Exit(nil, errCustom)
}

func TestKilledByOthersIsErrKilled(t *testing.T) {
	sys := newSystem(t)
	log, rec := &orderLog{}, &recorder{}
	s := startSup(t, sys, Config{Intensity: many, Children: []ChildSpec{workerSpec("w", Transient, log)}, OnEvent: rec.on})
	sys.Root.Stop(pidOf(t, s, "w"))
	if e := rec.waitN(t, ChildExited, "w", 1); !errors.Is(e.Reason, ErrKilled) {
		t.Fatalf("reason = %v", e.Reason)
	}
	rec.waitN(t, ChildRestarted, "w", 1)
}

func TestInjectedPanic(t *testing.T) {
	sys := newSystem(t)
	log, rec := &orderLog{}, &recorder{}
	s := startSup(t, sys, Config{Intensity: many, Children: []ChildSpec{workerSpec("w", Transient, log)}, OnEvent: rec.on})

	sys.Root.Send(pidOf(t, s, "w"), InjectedPanic{Value: "chaos"})
	var pe *PanicError
	if e := rec.waitN(t, ChildExiting, "w", 1); !errors.As(e.Reason, &pe) || pe.Value != "chaos" {
		t.Fatalf("reason = %#v", e.Reason)
	}
	rec.waitN(t, ChildRestarted, "w", 1)

	sys.Root.Send(pidOf(t, s, "w"), &InjectedPanic{Value: errBoom})
	if e := rec.waitN(t, ChildExiting, "w", 2); !errors.Is(e.Reason, errBoom) || !errors.As(e.Reason, &pe) {
		t.Fatalf("reason = %#v", e.Reason)
	}
	rec.waitN(t, ChildRestarted, "w", 2)

	// A nested supervisor panics too, and is restarted with its children.
	_, err := s.StartChild(bg(t), Spec("n", Config{Children: []ChildSpec{workerSpec("nw", Permanent, log)}}))
	if err != nil {
		t.Fatal(err)
	}
	sys.Root.Send(pidOf(t, s, "n"), InjectedPanic{Value: "chaos"})
	rec.waitN(t, ChildRestarted, "n", 1)
	eventually(t, "nw to start again", func() bool {
		return len(slices.DeleteFunc(log.get(), func(s string) bool { return s != "start nw" })) == 2
	})
}

func TestStopTerminatesInReverseOrder(t *testing.T) {
	sys := newSystem(t)
	log := &orderLog{}
	inner := Spec("inner", Config{Children: []ChildSpec{workerSpec("w1", Permanent, log), workerSpec("w2", Permanent, log)}})
	s, err := Start(sys.Root, Config{Children: []ChildSpec{workerSpec("a", Permanent, log), inner, workerSpec("b", Permanent, log)}})
	if err != nil {
		t.Fatal(err)
	}
	mark := log.len()
	if err := s.Stop(bg(t)); err != nil {
		t.Fatal(err)
	}
	if got, want := log.since(mark), []string{"stop b", "stop w2", "stop w1", "stop a"}; !slices.Equal(got, want) {
		t.Fatalf("log = %q, want %q", got, want)
	}
	if !errors.Is(s.Err(), ErrShutdown) {
		t.Fatalf("Err = %v", s.Err())
	}
	if err := s.Stop(bg(t)); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	if _, err := s.StartChild(bg(t), workerSpec("x", Permanent, log)); !errors.Is(err, ErrStopped) {
		t.Fatalf("StartChild after Stop: %v", err)
	}
}

func TestStartValidation(t *testing.T) {
	sys := newSystem(t)
	ok := func() (actor.Actor, error) { return newWorker("a"), nil }
	cases := map[string]Config{
		"unknown strategy":          {Strategy: 9},
		"negative period":           {Intensity: Intensity{Max: 1, Period: -time.Second}},
		"zero period":               {Intensity: Intensity{Max: 1}},
		"negative intensity":        {Intensity: Intensity{Max: -1, Period: time.Second}},
		"static children in simple": {Strategy: SimpleOneForOne, Children: []ChildSpec{{ID: "a", Start: ok}}},
		"nil Start":                 {Children: []ChildSpec{{ID: "a"}}},
		"empty ID":                  {Children: []ChildSpec{{Start: ok}}},
		"duplicate ID":              {Children: []ChildSpec{{ID: "a", Start: ok}, {ID: "a", Start: ok}}},
		"negative shutdown":         {Children: []ChildSpec{{ID: "a", Start: ok, Shutdown: -2}}},
		"unknown restart":           {Children: []ChildSpec{{ID: "a", Start: ok, Restart: 7}}},
		"unknown kind":              {Children: []ChildSpec{{ID: "a", Start: ok, Kind: 7}}},
	}
	for name, cfg := range cases {
		if s, err := Start(sys.Root, cfg); s != nil || !errors.Is(err, ErrBadSpec) {
			t.Errorf("%s: Start = %v, %v; want ErrBadSpec", name, s, err)
		}
	}

	s := startSup(t, sys, Config{})
	for name, spec := range map[string]ChildSpec{
		"nil Start":         {ID: "a"},
		"empty ID":          {Start: ok},
		"negative shutdown": {ID: "a", Start: ok, Shutdown: -5},
		"nil actor":         {ID: "a", Start: func() (actor.Actor, error) { return nil, nil }},
	} {
		if _, err := s.StartChild(bg(t), spec); !errors.Is(err, ErrBadSpec) {
			t.Errorf("StartChild %s: %v, want ErrBadSpec", name, err)
		}
	}
	// A nested supervisor with a bad config fails to start.
	if _, err := s.StartChild(bg(t), Spec("n", Config{Strategy: 9})); !errors.Is(err, ErrBadSpec) || !errors.Is(err, ErrStartFailed) {
		t.Errorf("StartChild(Spec(bad)): %v", err)
	}
	if infos, _ := s.WhichChildren(bg(t)); len(infos) != 0 {
		t.Errorf("failed starts left children: %v", infos)
	}
}

func TestRequestsDuringAPlanWaitForIt(t *testing.T) {
	sys := newSystem(t)
	clock, rec, log := newFakeClock(), &recorder{}, &orderLog{}
	s := startSup(t, sys, Config{Clock: clock, Intensity: many, Children: []ChildSpec{workerSpec("w", Permanent, log)}, OnEvent: rec.on})
	_, release := blockedChild(t, sys, s, ChildSpec{ID: "slow", Shutdown: time.Second})

	terminated := make(chan error, 1)
	go func() { terminated <- s.TerminateChild(bg(t), "slow") }()
	eventually(t, "the grace timer", func() bool { return clock.Pending() == 1 })

	// A request and an exit arrive during the termination. The request is sent as StartChild would, so
	// that the query below is known to arrive after it.
	reply := make(chan result, 1)
	req := &startReq{spec: ChildSpec{ID: "next", Start: func() (actor.Actor, error) { return newWorker("next"), nil }}}
	req.setReply(reply)
	sys.Root.Send(s.PID(), req)
	s.Exit(pidOf(t, s, "w"), errBoom)
	rec.waitN(t, ChildExited, "w", 1)
	if infos, err := s.WhichChildren(bg(t)); err != nil || len(infos) != 2 { // queries are answered at once
		t.Fatalf("which = %v, %v", infos, err)
	}
	select {
	case r := <-reply:
		t.Fatalf("StartChild answered during the termination: %+v", r)
	default:
	}
	if rec.count(ChildRestarted, "w") != 0 {
		t.Fatal("restart decided during the termination")
	}

	close(release)
	if err := <-terminated; err != nil {
		t.Fatal(err)
	}
	if r := <-reply; r.err != nil || r.pid == nil {
		t.Fatalf("deferred StartChild = %+v", r)
	}
	rec.waitN(t, ChildRestarted, "w", 1)
}

func TestExitDuringAPlanIsAbsorbedByIt(t *testing.T) {
	sys := newSystem(t)
	clock, rec, log := newFakeClock(), &recorder{}, &orderLog{}
	// One restart allowed: a second, for a's exit, would make the supervisor give up.
	s := startSup(t, sys, Config{Strategy: OneForAll, Clock: clock, Intensity: Intensity{Max: 1, Period: time.Hour}, Children: []ChildSpec{workerSpec("a", Permanent, log)}, OnEvent: rec.on})
	_, release := blockedChild(t, sys, s, ChildSpec{ID: "b", Restart: Permanent, Shutdown: time.Second})
	if _, err := s.StartChild(bg(t), workerSpec("c", Permanent, log)); err != nil {
		t.Fatal(err)
	}

	sys.Root.Send(pidOf(t, s, "c"), exitWith{errBoom}) // one_for_all: terminate b (blocked), then a
	eventually(t, "b's grace timer", func() bool { return clock.Pending() == 1 })
	s.Exit(pidOf(t, s, "a"), errBoom) // a exits while the plan waits for b
	rec.waitN(t, ChildExited, "a", 1)
	close(release)

	rec.waitN(t, ChildRestarted, "c", 1)
	if _, err := s.CountChildren(bg(t)); err != nil { // after the turn that ran the deferred decision
		t.Fatal(err)
	}
	if n := rec.count(ChildRestarted, "a"); n != 1 || rec.count(IntensityExceeded, "a") != 0 {
		t.Fatalf("a restarted %d times; events %v", n, rec.all())
	}
	if n, _ := s.CountChildren(bg(t)); n.Active != 3 {
		t.Fatalf("counts = %+v", n)
	}
}

func TestHandleEdges(t *testing.T) {
	sys := newSystem(t)
	s := startSup(t, sys, Config{Strategy: SimpleOneForOne})
	if s.Err() != nil {
		t.Fatal("Err before Done")
	}
	if err := s.TerminatePID(bg(t), nil); !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.WhichChildren(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled call: %v", err)
	}
	if _, err := s.StartChild(bg(t), Spec("n", Config{})); err != nil {
		t.Fatal(err)
	}
	if sub, err := s.Sub(bg(t), "n"); err != nil || sub == nil {
		t.Fatalf("Sub under simple_one_for_one = %v, %v", sub, err)
	}
}

func TestPanicWhileStoppingStillTerminates(t *testing.T) {
	sys := newSystem(t)
	rec := &recorder{}
	s := startSup(t, sys, Config{Intensity: many, OnEvent: rec.on})
	spec := ChildSpec{ID: "p", Restart: Permanent, Start: func() (actor.Actor, error) {
		w := newWorker("p")
		w.panicStop = true
		return w, nil
	}}
	if _, err := s.StartChild(bg(t), spec); err != nil {
		t.Fatal(err)
	}
	if err := s.TerminateChild(bg(t), "p"); err != nil {
		t.Fatal(err)
	}
	var pe *PanicError
	if e := rec.waitN(t, ChildTerminated, "p", 1); !errors.As(e.Reason, &pe) || pe.Value != "in Stopping" {
		t.Fatalf("reason = %v", e.Reason)
	}
	if _, err := s.RestartChild(bg(t), "p"); err != nil {
		t.Fatal(err)
	}
	sys.Root.Stop(pidOf(t, s, "p")) // killed by others, panicking while stopping: the panic is the reason
	if e := rec.waitN(t, ChildExited, "p", 1); !errors.As(e.Reason, &pe) {
		t.Fatalf("reason = %v", e.Reason)
	}
	rec.waitN(t, ChildRestarted, "p", 1)
}
