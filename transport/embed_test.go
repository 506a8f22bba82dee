package transport

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/pyrehq/pyre/supervisor"
	"github.com/pyrehq/pyre/supervisor/chaos"
	"github.com/pyrehq/pyre/supervisor/chaos/pyrechaos"
)

// Pyre inside the user's actor system (issue 13 §1).

// userSystem is an actor system of the test's own, shut down after the endpoint (cleanups run in reverse).
func userSystem(t *testing.T) *actor.ActorSystem {
	quiet := slog.New(slog.DiscardHandler)
	sys := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return quiet }),
		actor.WithDeadLetterThrottleInterval(10*time.Millisecond)) // its throttle goroutine ends soon after
	t.Cleanup(sys.Shutdown)
	return sys
}

// echoActor is one of the user's own actors: it answers every string Request with the same string.
type echoActor struct{}

func (echoActor) Receive(ctx actor.Context) {
	if s, ok := ctx.Message().(string); ok {
		ctx.Respond(s)
	}
}

func askEcho(t *testing.T, sys *actor.ActorSystem, pid *actor.PID, s string) {
	t.Helper()
	got, err := sys.Root.RequestFuture(pid, s, waitLimit).Result()
	if err != nil || got != s {
		t.Fatalf("user actor answered %v, %v; want %q", got, err, s)
	}
}

func TestEndpointOnUserSystem(t *testing.T) {
	sys := userSystem(t)
	echo := sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return echoActor{} }))
	f := newFixture(t, Config{System: sys})
	if f.ep.Root() != sys.Root {
		t.Fatal("the endpoint does not run on the given system")
	}
	c := dial(t, f.srv, v2, nil)
	joinOK(c, "1", "rs:u", `{}`)
	c.send(`["1","2","rs:u","echo",{"n":1}]`)
	c.expect(`["1","2","rs:u","phx_reply",{"response":{"n":1},"status":"ok"}]`)
	askEcho(t, sys, echo, "before")

	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := f.ep.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if code := c.waitClosed(); code != 1012 {
		t.Fatalf("close code %d, want 1012", code)
	}
	// The system is the user's: it keeps running, and so do their actors.
	askEcho(t, sys, echo, "after")
	other := sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return echoActor{} }))
	askEcho(t, sys, other, "new")
}

// events records a supervisor's reports.
type events struct {
	mu  sync.Mutex
	evs []supervisor.Event
}

func (e *events) add(ev supervisor.Event) {
	e.mu.Lock()
	e.evs = append(e.evs, ev)
	e.mu.Unlock()
}

func (e *events) find(typ supervisor.EventType, id string) *supervisor.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	for i := range e.evs {
		if e.evs[i].Type == typ && e.evs[i].ID == id {
			ev := e.evs[i]
			return &ev
		}
	}
	return nil
}

var janitorSel = chaos.Selector{Kinds: []chaos.Kind{chaos.Infrastructure},
	Match: func(tg chaos.Target) bool { return tg.Labels[chaos.LabelChild] == "janitor" }}

// killEndpoint kills the endpoint's infrastructure past host.EndpointIntensity, until gone reports that
// it gave up.
func killEndpoint(t *testing.T, ep *Endpoint, gone func() bool) {
	t.Helper()
	old := target(t, ep, janitorSel)
	for range 10 {
		old.Exit(nil)
		var next chaos.Target
		eventually(t, "janitorSel restarted or endpoint gone", func() bool {
			if gone() {
				return true
			}
			for _, tg := range pyrechaos.Population(ep).Targets() {
				if janitorSel.Matches(tg) && tg.ID != old.ID {
					next = tg
					return true
				}
			}
			return false
		})
		if next.Exit == nil {
			return
		}
		old = next
	}
	t.Fatal("the endpoint never gave up")
}

func TestEndpointUnderUserSupervisor(t *testing.T) {
	sys := userSystem(t)
	var evs events
	sup, err := supervisor.Start(sys.Root, supervisor.Config{Name: "app", Intensity: supervisor.Intensity{Max: 5, Period: time.Hour},
		Children: []supervisor.ChildSpec{{ID: "echo", Start: func() (actor.Actor, error) { return echoActor{}, nil }}},
		OnEvent:  evs.add})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		_ = sup.Stop(ctx)
	})
	f := newFixture(t, Config{System: sys, Parent: sup, ChildID: "realtime"})
	c := dial(t, f.srv, v2, nil)
	joinOK(c, "1", "rs:p", `{}`)
	extra := supervisor.ChildSpec{ID: "extra", Start: func() (actor.Actor, error) { return echoActor{}, nil }}
	if _, err := f.ep.Supervise(context.Background(), extra); err != nil {
		t.Fatal(err)
	}

	// Pyre gives up: the user's supervisor sees the exit of its child, and restarts it (Permanent).
	killEndpoint(t, f.ep, func() bool { return evs.find(supervisor.ChildExiting, "realtime") != nil })
	if ev := evs.find(supervisor.ChildExiting, "realtime"); !errors.Is(ev.Reason, supervisor.ErrMaxIntensity) {
		t.Fatalf("exit reason %v, want ErrMaxIntensity", ev.Reason)
	}
	if code := c.waitClosed(); code != 1011 {
		t.Fatalf("close code %d, want 1011", code)
	}
	eventually(t, "Pyre restarted by the user's supervisor", func() bool { return evs.find(supervisor.ChildRestarted, "realtime") != nil })
	eventually(t, "the endpoint serves again", func() bool { return f.ep.Err() == nil })
	c2 := dial(t, f.srv, v2, nil)
	joinOK(c2, "1", "rs:p", `{}`)
	c2.send(`["1","2","rs:p","echo",{"n":2}]`)
	c2.expect(`["1","2","rs:p","phx_reply",{"response":{"n":2},"status":"ok"}]`)
	// The restarted tree has its infrastructure again, what Supervise added included.
	target(t, f.ep, janitorSel)
	target(t, f.ep, chaos.Selector{Kinds: []chaos.Kind{chaos.Infrastructure},
		Match: func(tg chaos.Target) bool { return tg.Labels[chaos.LabelChild] == "extra" }})

	// Shutdown takes Pyre out of the user's tree and leaves the rest running.
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := f.ep.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	infos, err := sup.WhichChildren(ctx)
	if err != nil || len(infos) != 1 || infos[0].ID != "echo" || infos[0].PID == nil {
		t.Fatalf("user's children after Shutdown: %+v, %v; want echo alone, running", infos, err)
	}
	askEcho(t, sys, infos[0].PID, "still here")
}

// slogRecords captures log records.
type slogRecords struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (r *slogRecords) Enabled(context.Context, slog.Level) bool { return true }
func (r *slogRecords) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	r.recs = append(r.recs, rec.Clone())
	r.mu.Unlock()
	return nil
}
func (r *slogRecords) WithAttrs(as []slog.Attr) slog.Handler { return &withAttrs{r, as} }
func (r *slogRecords) WithGroup(string) slog.Handler         { return r }

type withAttrs struct {
	r  *slogRecords
	as []slog.Attr
}

func (w *withAttrs) Enabled(context.Context, slog.Level) bool { return true }
func (w *withAttrs) Handle(ctx context.Context, rec slog.Record) error {
	rec = rec.Clone()
	rec.AddAttrs(w.as...)
	return w.r.Handle(ctx, rec)
}
func (w *withAttrs) WithAttrs(as []slog.Attr) slog.Handler {
	return &withAttrs{w.r, append(w.as[:len(w.as):len(w.as)], as...)}
}
func (w *withAttrs) WithGroup(string) slog.Handler { return w }

// find returns the first record whose message contains msg.
func (r *slogRecords) find(msg string) (slog.Record, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rec := range r.recs {
		if strings.Contains(rec.Message, msg) {
			return rec, true
		}
	}
	return slog.Record{}, false
}

func TestProtoactorLogReachesLogger(t *testing.T) {
	recs := &slogRecords{}
	f := newFixture(t, Config{Logger: slog.New(recs)})
	rec, ok := recs.find("actor system started")
	if !ok {
		t.Fatal("protoactor's log did not reach Config.Logger")
	}
	lib := ""
	rec.Attrs(func(a slog.Attr) bool {
		if a.Key == "lib" {
			lib = a.Value.String()
		}
		return true
	})
	if rec.Level != slog.LevelDebug || lib != "protoactor" {
		t.Fatalf("protoactor's Info line logged at %v with lib=%q; want Debug, lib=protoactor", rec.Level, lib)
	}
	// A dead letter (a Request to an actor that has stopped) is logged too, and its requester answered.
	pid := f.ep.Root().Spawn(actor.PropsFromProducer(func() actor.Actor { return echoActor{} }))
	if err := f.ep.Root().StopFuture(pid).Wait(); err != nil {
		t.Fatal(err)
	}
	f.ep.Root().Send(pid, "lost")
	eventually(t, "dead letter logged", func() bool { _, ok := recs.find("[DeadLetter]"); return ok })
}
