package chaos_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pyrehq/pyre/supervisor"
	"github.com/pyrehq/pyre/supervisor/chaos"
)

// crowd returns n sockets, each with two channels, and two infrastructure workers.
func crowd(n int) []spec {
	var specs []spec
	for i := range n {
		sid := fmt.Sprintf("user:%d", i)
		specs = append(specs,
			tgt(chaos.Socket, fmt.Sprintf("s%02d", i), chaos.LabelSocketID, sid),
			tgt(chaos.Channel, fmt.Sprintf("c%02da", i), chaos.LabelSocketID, sid, chaos.LabelTopic, "room:lobby"),
			tgt(chaos.Channel, fmt.Sprintf("c%02db", i), chaos.LabelSocketID, sid, chaos.LabelTopic, fmt.Sprintf("game:%d", i)),
		)
	}
	return append(specs,
		tgt(chaos.Infrastructure, "p0", chaos.LabelChild, "pubsub"),
		tgt(chaos.Infrastructure, "p1", chaos.LabelChild, "presence"))
}

func strikes(tb testing.TB, m *chaos.Monkey, n int) []string {
	tb.Helper()
	var got []string
	for range n {
		k, ok := m.Strike()
		if !ok {
			tb.Fatalf("Strike matched nothing after %d strikes", len(got))
		}
		got = append(got, k.ID)
	}
	return got
}

func TestSeedReproducible(t *testing.T) {
	for _, keep := range []bool{true, false} {
		t.Run(fmt.Sprintf("keep=%v", keep), func(t *testing.T) {
			cfg := chaos.Config{Seed: 42}
			runs := make([][]string, 3)
			for i := range runs {
				f := newFake(t, crowd(10)...)
				f.keep = keep
				if i > 0 { // the population's order must not matter
					f.shuffle = rand.New(rand.NewPCG(uint64(i), 99))
				}
				runs[i] = strikes(t, mustNew(t, f, cfg), 15)
			}
			for i := 1; i < len(runs); i++ {
				if !slices.Equal(runs[i], runs[0]) {
					t.Errorf("run %d picked %v, run 0 picked %v", i, runs[i], runs[0])
				}
			}
			if !keep && len(slices.Compact(slices.Sorted(slices.Values(runs[0])))) != 15 {
				t.Errorf("a killed target was picked again: %v", runs[0])
			}
		})
	}
}

func TestSeedReproducibleInRun(t *testing.T) {
	var runs [2][]string
	for i := range runs {
		f := newFake(t, crowd(5)...)
		if i == 1 {
			f.shuffle = rand.New(rand.NewPCG(7, 7))
		}
		tk := newTicker()
		m := mustNew(t, f, chaos.Config{Seed: 3, Max: 8, Tick: tk.Tick, Select: chaos.Selector{Kinds: []chaos.Kind{chaos.Channel}}})
		r, _, err := drive(t, context.Background(), m, tk, nil)
		if err != nil {
			t.Fatal(err)
		}
		runs[i] = ids(r.Kills)
	}
	if !slices.Equal(runs[0], runs[1]) {
		t.Errorf("same seed, different victims: %v and %v", runs[0], runs[1])
	}
}

func TestRunMax(t *testing.T) {
	f := newFake(t, crowd(10)...)
	tk := newTicker()
	var seen []string
	m := mustNew(t, f, chaos.Config{Max: 5, Tick: tk.Tick, OnKill: func(k chaos.Kill) { seen = append(seen, k.ID) }})
	r, sent, err := drive(t, context.Background(), m, tk, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Kills) != 5 || sent != 5 {
		t.Fatalf("%d kills after %d ticks, want 5 and 5", len(r.Kills), sent)
	}
	if got := len(f.Calls()); got != 5 {
		t.Errorf("%d targets asked to exit, want 5", got)
	}
	if !slices.Equal(seen, ids(r.Kills)) {
		t.Errorf("OnKill saw %v, report has %v", seen, ids(r.Kills))
	}
	total := 0
	for _, n := range r.ByKind {
		total += n
	}
	if total != 5 || r.Idle != 0 {
		t.Errorf("ByKind %v (total %d), Idle %d; want total 5, Idle 0", r.ByKind, total, r.Idle)
	}
	if r.Started.IsZero() || r.Ended.Before(r.Started) {
		t.Errorf("Started %v, Ended %v", r.Started, r.Ended)
	}
	if f.Len() != len(crowd(10))-5 {
		t.Errorf("%d targets left, want %d", f.Len(), len(crowd(10))-5)
	}
}

func TestRunRateSetsTickPeriod(t *testing.T) {
	for _, tt := range []struct {
		rate float64
		want time.Duration
	}{
		{0, 100 * time.Millisecond},
		{4, 250 * time.Millisecond},
		{0.5, 2 * time.Second},
		{1e12, time.Nanosecond},
		{1e-30, math.MaxInt64},
	} {
		tk := newTicker()
		close(tk.c) // a closed tick channel ends the run at once
		m := mustNew(t, newFake(t), chaos.Config{Rate: tt.rate, Max: 1, Tick: tk.Tick})
		if _, err := m.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		if tk.interval != tt.want {
			t.Errorf("Rate %v: tick period %v, want %v", tt.rate, tk.interval, tt.want)
		}
	}
}

func TestRunContextCancel(t *testing.T) {
	t.Run("between kills", func(t *testing.T) {
		f := newFake(t, crowd(10)...)
		tk := newTicker()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		n := 0
		m := mustNew(t, f, chaos.Config{Max: 100, Tick: tk.Tick, OnKill: func(chaos.Kill) {
			if n++; n == 3 {
				cancel()
			}
		}})
		r, _, err := drive(t, ctx, m, tk, nil)
		if err != nil {
			t.Fatalf("Run: %v, want nil after cancellation", err)
		}
		if len(r.Kills) != 3 {
			t.Errorf("%d kills, want 3", len(r.Kills))
		}
	})
	t.Run("while waiting for a tick", func(t *testing.T) {
		tk := newTicker()
		ctx, cancel := context.WithCancel(context.Background())
		m := mustNew(t, newFake(t, crowd(1)...), chaos.Config{Max: 1, Tick: tk.Tick})
		done := make(chan error)
		go func() {
			_, err := m.Run(ctx)
			done <- err
		}()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v, want nil", err)
		}
	})
	t.Run("already cancelled", func(t *testing.T) {
		tk := newTicker()
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		f := newFake(t, crowd(1)...)
		r, err := mustNew(t, f, chaos.Config{Max: 1, Tick: tk.Tick}).Run(ctx)
		if err != nil || len(r.Kills) != 0 || len(f.Calls()) != 0 {
			t.Errorf("Run = %d kills, %v; want 0 kills, nil", len(r.Kills), err)
		}
	})
	t.Run("deadline bounds the run", func(t *testing.T) {
		tk := newTicker()
		close(tk.c)
		ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
		defer cancel()
		if _, err := mustNew(t, newFake(t), chaos.Config{Tick: tk.Tick}).Run(ctx); err != nil {
			t.Errorf("Run with a ctx deadline: %v", err)
		}
	})
}

func TestRunDuration(t *testing.T) {
	f := newFake(t, crowd(10)...)
	tk := newTicker()
	m := mustNew(t, f, chaos.Config{Duration: time.Hour, Tick: tk.Tick})
	// Three ticks now, then one after the hour: the run ends on it without striking.
	r, sent, err := drive(t, context.Background(), m, tk, func(i int) time.Time {
		if i < 3 {
			return time.Now()
		}
		return time.Now().Add(2 * time.Hour)
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Kills) != 3 || sent != 4 || len(f.Calls()) != 3 {
		t.Errorf("%d kills (%d calls) after %d ticks, want 3 kills after 4 ticks", len(r.Kills), len(f.Calls()), sent)
	}
}

func TestRunClosedTicker(t *testing.T) {
	tk := newTicker()
	close(tk.c)
	r, err := mustNew(t, newFake(t, crowd(1)...), chaos.Config{Max: 10, Tick: tk.Tick}).Run(context.Background())
	if err != nil || len(r.Kills) != 0 || !tk.stopped.Load() {
		t.Errorf("Run = %d kills, %v, stopped %v; want 0, nil, true", len(r.Kills), err, tk.stopped.Load())
	}
}

func TestRunIdle(t *testing.T) {
	f := newFake(t, crowd(3)...)
	tk := newTicker()
	m := mustNew(t, f, chaos.Config{Duration: time.Hour, Tick: tk.Tick, Select: chaos.Selector{Topic: "nothing:*"}})
	r, sent, err := drive(t, context.Background(), m, tk, func(i int) time.Time {
		if i < 4 {
			return time.Now()
		}
		return time.Now().Add(2 * time.Hour)
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.Idle != 4 || len(r.Kills) != 0 || sent != 5 || len(f.Calls()) != 0 {
		t.Errorf("Idle %d, %d kills, %d ticks; want 4 idle, 0 kills, 5 ticks", r.Idle, len(r.Kills), sent)
	}
}

func TestRunIdleWhenPopulationRunsOut(t *testing.T) {
	f := newFake(t, tgt(chaos.Socket, "s1"), tgt(chaos.Socket, "s2"))
	tk := newTicker()
	m := mustNew(t, f, chaos.Config{Duration: time.Hour, Tick: tk.Tick})
	r, _, err := drive(t, context.Background(), m, tk, func(i int) time.Time {
		if i < 5 {
			return time.Now()
		}
		return time.Now().Add(2 * time.Hour)
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Kills) != 2 || r.Idle != 3 || r.ByKind[chaos.Socket] != 2 {
		t.Errorf("%d kills, %d idle, ByKind %v; want 2, 3, socket:2", len(r.Kills), r.Idle, r.ByKind)
	}
}

func TestRunUnbounded(t *testing.T) {
	tk := newTicker()
	ctx, cancel := context.WithCancel(context.Background()) // cancellable, but no deadline
	defer cancel()
	f := newFake(t, crowd(1)...)
	_, err := mustNew(t, f, chaos.Config{Tick: tk.Tick}).Run(ctx)
	if !errors.Is(err, chaos.ErrUnbounded) {
		t.Errorf("Run = %v, want ErrUnbounded", err)
	}
	if len(f.Calls()) != 0 || tk.interval != 0 {
		t.Error("an unbounded Run started its ticker or struck")
	}
	if !strings.HasPrefix(err.Error(), "chaos: ") {
		t.Errorf("error %q lacks the package prefix", err)
	}
}

func TestRunDefaultTicker(t *testing.T) {
	// The real ticker, fast and bounded by Max: no timing is asserted.
	f := newFake(t, crowd(3)...)
	r, err := mustNew(t, f, chaos.Config{Rate: 1e5, Max: 3}).Run(context.Background())
	if err != nil || len(r.Kills) != 3 {
		t.Errorf("Run = %d kills, %v; want 3, nil", len(r.Kills), err)
	}
}

func TestExitReason(t *testing.T) {
	custom := errors.New("drill")
	for _, tt := range []struct {
		name   string
		reason error
		want   error
	}{
		{"default", nil, supervisor.ErrKilled},
		{"custom", custom, custom},
		{"shutdown", supervisor.Shutdown(custom), supervisor.ErrShutdown},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, crowd(1)...)
			k, ok := mustNew(t, f, chaos.Config{Reason: tt.reason}).Strike()
			if !ok || !k.Done {
				t.Fatalf("Strike = %+v, %v", k, ok)
			}
			calls := f.Calls()
			if len(calls) != 1 || calls[0].method != chaos.Exit || calls[0].id != k.ID {
				t.Fatalf("calls %+v, want one exit of %s", calls, k.ID)
			}
			reason, _ := calls[0].arg.(error)
			if !errors.Is(reason, tt.want) {
				t.Errorf("exit reason %v, want %v", reason, tt.want)
			}
			if k.Method != chaos.Exit || k.Reason != reason.Error() {
				t.Errorf("Kill = %v %q, want exit %q", k.Method, k.Reason, reason.Error())
			}
		})
	}
}

func TestPanicMethod(t *testing.T) {
	type boom struct{ code int }
	for _, tt := range []struct {
		name  string
		value any
		want  any
		text  string
	}{
		{"default", nil, chaos.DefaultPanicValue, "chaos: injected panic"},
		{"custom", boom{7}, boom{7}, "{7}"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, crowd(2)...)
			m := mustNew(t, f, chaos.Config{Method: chaos.Panic, PanicValue: tt.value, Select: chaos.Selector{Kinds: []chaos.Kind{chaos.Channel}}})
			k, ok := m.Strike()
			if !ok || !k.Done || k.Kind != chaos.Channel {
				t.Fatalf("Strike = %+v, %v", k, ok)
			}
			calls := f.Calls()
			if len(calls) != 1 || calls[0].method != chaos.Panic || calls[0].arg != tt.want {
				t.Fatalf("calls %+v, want one panic with %v", calls, tt.want)
			}
			if k.Method != chaos.Panic || k.Reason != tt.text {
				t.Errorf("Kill = %v %q, want panic %q", k.Method, k.Reason, tt.text)
			}
		})
	}
}

func TestTargetWithoutMethodIsNotChosen(t *testing.T) {
	exited := false
	pop := chaos.PopulationFunc(func() []chaos.Target {
		return []chaos.Target{
			{Kind: chaos.Socket, ID: "exit-only", Exit: func(error) bool { exited = true; return true }},
			{Kind: chaos.Socket, ID: "neither"},
		}
	})
	if k, ok := mustNew(t, pop, chaos.Config{Method: chaos.Panic}).Strike(); ok {
		t.Errorf("Panic chose %s, which cannot panic", k.ID)
	}
	for range 10 {
		if k, ok := mustNew(t, pop, chaos.Config{Seed: rand.Uint64()}).Strike(); !ok || k.ID != "exit-only" {
			t.Fatalf("Exit chose %+v, %v; want exit-only", k, ok)
		}
	}
	if !exited {
		t.Error("Exit was not called")
	}
}

func TestAlreadyGone(t *testing.T) {
	f := newFake(t, tgt(chaos.Socket, "s1"), tgt(chaos.Channel, "c1", chaos.LabelTopic, "room:1"))
	f.gone["s1"] = true
	f.keep = true
	tk := newTicker()
	m := mustNew(t, f, chaos.Config{Max: 6, Tick: tk.Tick})
	r, _, err := drive(t, context.Background(), m, tk, nil)
	if err != nil {
		t.Fatal(err)
	}
	gone, done := 0, 0
	for _, k := range r.Kills {
		switch {
		case k.ID == "s1" && !k.Done:
			gone++
		case k.ID == "c1" && k.Done:
			done++
		default:
			t.Errorf("unexpected kill %+v", k)
		}
	}
	if gone+done != 6 {
		t.Fatalf("%d kills, want 6", gone+done)
	}
	if r.ByKind[chaos.Socket] != 0 || r.ByKind[chaos.Channel] != done {
		t.Errorf("ByKind %v, want socket:0 channel:%d", r.ByKind, done)
	}
	if gone > 0 && reportRows(r.String())["already gone"] != fmt.Sprint(gone) {
		t.Errorf("report lacks the already-gone count %d:\n%s", gone, r)
	}
}

func TestKillLabelsAreCopied(t *testing.T) {
	labels := map[string]string{chaos.LabelTopic: "room:1"}
	pop := chaos.PopulationFunc(func() []chaos.Target {
		return []chaos.Target{{Kind: chaos.Channel, ID: "c1", Labels: labels, Exit: func(error) bool { return true }}}
	})
	k, ok := chaos.Once(pop, chaos.Selector{}, chaos.Exit, nil)
	if !ok {
		t.Fatal("Once matched nothing")
	}
	labels[chaos.LabelTopic] = "changed"
	if k.Labels[chaos.LabelTopic] != "room:1" {
		t.Errorf("Kill.Labels aliases the target's labels")
	}
}

func TestOnce(t *testing.T) {
	f := newFake(t, crowd(5)...)
	k, ok := chaos.Once(f, chaos.Selector{Kinds: []chaos.Kind{chaos.Socket}, SocketID: "user:3"}, chaos.Exit, nil)
	if !ok || k.ID != "s03" || !k.Done || k.Reason != supervisor.ErrKilled.Error() {
		t.Errorf("Once = %+v, %v; want s03 killed", k, ok)
	}
	k, ok = chaos.Once(f, chaos.Selector{Topic: "room:*"}, chaos.Panic, nil)
	if !ok || k.Kind != chaos.Channel || k.Reason != chaos.DefaultPanicValue {
		t.Errorf("Once(Panic) = %+v, %v", k, ok)
	}
	if _, ok := chaos.Once(f, chaos.Selector{Topic: "none"}, chaos.Exit, nil); ok {
		t.Error("Once matched a missing topic")
	}
	if _, ok := chaos.Once(nil, chaos.Selector{}, chaos.Exit, nil); ok {
		t.Error("Once on a nil population")
	}
	if _, ok := chaos.Once(f, chaos.Selector{}, chaos.Method(9), nil); ok {
		t.Error("Once with an unknown method")
	}
	if n := len(f.Calls()); n != 2 {
		t.Errorf("%d calls, want 2", n)
	}
}

func TestNewValidation(t *testing.T) {
	pop := newFake(t)
	for _, tt := range []struct {
		name string
		pop  chaos.Population
		cfg  chaos.Config
		want error
	}{
		{"nil population", nil, chaos.Config{}, chaos.ErrNilPopulation},
		{"unknown method", pop, chaos.Config{Method: 2}, chaos.ErrMethod},
		{"negative rate", pop, chaos.Config{Rate: -1}, chaos.ErrRate},
		{"NaN rate", pop, chaos.Config{Rate: math.NaN()}, chaos.ErrRate},
		{"infinite rate", pop, chaos.Config{Rate: math.Inf(1)}, chaos.ErrRate},
		{"negative max", pop, chaos.Config{Max: -1}, chaos.ErrMax},
		{"negative duration", pop, chaos.Config{Duration: -time.Second}, chaos.ErrDuration},
		{"wildcard inside topic", pop, chaos.Config{Select: chaos.Selector{Topic: "room:*:x"}}, chaos.ErrTopicPattern},
		{"zero value", pop, chaos.Config{}, nil},
		{"full", pop, chaos.Config{Method: chaos.Panic, Rate: 0.1, Max: 1, Duration: time.Second, Select: chaos.Selector{Topic: "*"}}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m, err := chaos.New(tt.pop, tt.cfg)
			if !errors.Is(err, tt.want) {
				t.Fatalf("New = %v, want %v", err, tt.want)
			}
			if err != nil && (m != nil || !strings.HasPrefix(err.Error(), "chaos: ")) {
				t.Errorf("New = %v, %q; want nil and a chaos: error", m, err)
			}
		})
	}
}

func TestReportString(t *testing.T) {
	r := chaos.Report{
		ByKind:  map[chaos.Kind]int{chaos.Socket: 2, chaos.Channel: 3, "presence": 1},
		Idle:    4,
		Started: time.Unix(0, 0),
		Ended:   time.Unix(1, 500e6),
	}
	for range 6 {
		r.Kills = append(r.Kills, chaos.Kill{Done: true})
	}
	r.Kills = append(r.Kills, chaos.Kill{Done: false})
	s := r.String()
	rows := reportRows(s)
	want := map[string]string{"kind": "killed", "socket": "2", "channel": "3", "infrastructure": "0", "presence": "1", "total": "6", "already gone": "1"}
	for k, v := range want {
		if rows[k] != v {
			t.Errorf("row %q = %q, want %q", k, rows[k], v)
		}
	}
	if first := strings.SplitN(s, "\n", 2)[0]; first != "chaos: 7 strikes in 1.5s, 4 idle ticks" {
		t.Errorf("summary line %q", first)
	}
	if t.Failed() {
		t.Logf("report:\n%s", s)
	}
}

// reportRows parses the table of Report.String: the first column (which may hold spaces) to the last.
func reportRows(s string) map[string]string {
	rows := make(map[string]string)
	for _, line := range strings.Split(strings.TrimSpace(s), "\n")[1:] {
		i := strings.LastIndex(line, " ")
		rows[strings.TrimSpace(line[:i])] = line[i+1:]
	}
	return rows
}
