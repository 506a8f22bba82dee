package chaos

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/pyrehq/pyre/supervisor"
)

// DefaultPanicValue is the value injected by the Panic method when Config.PanicValue is nil.
const DefaultPanicValue = "chaos: injected panic"

// DefaultRate is the number of kills per second when Config.Rate is zero.
const DefaultRate = 10

// Config configures a Monkey. Its zero value kills one random target of any kind, ten times a second, with
// reason supervisor.ErrKilled, and needs a bound (Max, Duration or a context deadline) to Run.
type Config struct {
	// Select chooses which targets may be killed. Zero value: every target.
	Select Selector
	// Method is how targets are killed. Zero value: Exit.
	Method Method
	// Reason is the exit reason for the Exit method. Zero value means supervisor.ErrKilled.
	Reason error
	// PanicValue is the value injected by the Panic method. Zero value means DefaultPanicValue.
	PanicValue any
	// Seed seeds the choice of victims: math/rand/v2's PCG(Seed, Seed) picks among the matching targets
	// sorted by ID, so the same seed against the same population (in any order) picks the same victims in
	// the same order. Zero value: seed 0, which is as reproducible as any other.
	Seed uint64
	// Rate is the number of kills per second in Run. Zero value means DefaultRate.
	Rate float64
	// Max stops Run after this many strikes (entries in Report.Kills, including targets found already
	// gone). Zero value: no count limit.
	Max int
	// Duration stops Run after this long. Zero value: no time limit. Run returns ErrUnbounded unless Max,
	// Duration or its context's deadline bounds it.
	Duration time.Duration
	// Tick starts the ticker that paces Run: it returns the tick channel and a stop function, which Run
	// calls before it returns. Run treats a closed channel as the end of the run, and a tick carrying a
	// time at or after Started+Duration as the end of the Duration. Zero value means time.NewTicker.
	Tick func(d time.Duration) (<-chan time.Time, func())
	// OnKill is called after each strike, by the goroutine that made it (Run's or Strike's caller), before
	// the next one. Zero value: none.
	OnKill func(Kill)
}

// Kill records one strike.
type Kill struct {
	At     time.Time         // when the strike was made (the Config's clock)
	Kind   Kind              // the target's kind
	ID     string            // the target's ID
	Labels map[string]string // a copy of the target's labels
	Method Method            // how it was killed
	Reason string            // the exit reason's text, or the panic value formatted with %v
	Done   bool              // false if the target was already gone (Exit or Panic returned false)
}

// Monkey kills targets of a Population. A Monkey is used by one goroutine at a time: do not call Strike
// while Run is running, or Run twice at once.
type Monkey struct {
	pop      Population
	cfg      Config
	reason   error
	value    any
	interval time.Duration
	rng      *rand.Rand
}

// New returns a Monkey that kills targets of pop as cfg says. It returns an error wrapping ErrNilPopulation,
// ErrMethod, ErrRate, ErrMax, ErrDuration or ErrTopicPattern if the arguments are invalid. It starts nothing.
func New(pop Population, cfg Config) (*Monkey, error) {
	switch {
	case pop == nil:
		return nil, ErrNilPopulation
	case cfg.Method > Panic:
		return nil, fmt.Errorf("%w: %v", ErrMethod, cfg.Method)
	case cfg.Rate < 0 || math.IsNaN(cfg.Rate) || math.IsInf(cfg.Rate, 0):
		return nil, fmt.Errorf("%w: %v", ErrRate, cfg.Rate)
	case cfg.Max < 0:
		return nil, fmt.Errorf("%w: %d", ErrMax, cfg.Max)
	case cfg.Duration < 0:
		return nil, fmt.Errorf("%w: %v", ErrDuration, cfg.Duration)
	}
	if err := checkTopicPattern(cfg.Select.Topic); err != nil {
		return nil, err
	}
	m := &Monkey{
		pop:    pop,
		cfg:    cfg,
		reason: cmp.Or(cfg.Reason, supervisor.ErrKilled),
		value:  cfg.PanicValue,
		rng:    rand.New(rand.NewPCG(cfg.Seed, cfg.Seed)),
	}
	if m.value == nil {
		m.value = DefaultPanicValue
	}
	m.interval = interval(cmp.Or(cfg.Rate, DefaultRate))
	return m, nil
}

// interval converts a positive rate to a ticker period of at least 1ns.
func interval(rate float64) time.Duration {
	d := float64(time.Second) / rate
	switch {
	case d >= math.MaxInt64:
		return math.MaxInt64
	case d < 1:
		return 1
	}
	return time.Duration(d)
}

// Strike kills one matching target now, chosen with the Monkey's seeded generator, and calls OnKill. It
// returns false, and draws nothing from the generator, if no target matched.
func (m *Monkey) Strike() (Kill, bool) {
	k, ok := strike(m.pop, m.cfg.Select, m.cfg.Method, m.reason, m.value, m.rng.IntN)
	if ok && m.cfg.OnKill != nil {
		m.cfg.OnKill(k)
	}
	return k, ok
}

// Report is the outcome of a Run.
type Report struct {
	Kills          []Kill       // every strike, in order
	ByKind         map[Kind]int // strikes that killed (Done), per kind
	Idle           int          // ticks when no target matched
	Started, Ended time.Time    // when Run started and returned
}

// Run strikes once per tick, at Config.Rate (the first strike one period after Run starts), until Max
// strikes, Duration, ctx's end or the tick channel's close, and returns the report. Ticks when nothing
// matches count as Idle. The end of ctx is a normal end: Run returns the report and a nil error. Run
// returns ErrUnbounded, without striking, if neither Max, Duration nor ctx's deadline bounds the run.
//
// Run starts no goroutine; with the default Tick it holds a time.Ticker, stopped before it returns.
func (m *Monkey) Run(ctx context.Context) (Report, error) {
	if _, ok := ctx.Deadline(); !ok && m.cfg.Max == 0 && m.cfg.Duration == 0 {
		return Report{}, ErrUnbounded
	}
	r := Report{ByKind: make(map[Kind]int), Started: time.Now()}
	var end time.Time
	if m.cfg.Duration > 0 {
		end = r.Started.Add(m.cfg.Duration)
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, end)
		defer cancel()
	}
	tick, stop := m.ticker()
	defer stop()
loop:
	for ctx.Err() == nil {
		select {
		case <-ctx.Done():
			break loop
		case t, ok := <-tick:
			// A tick and the end of ctx may be ready together: the end wins.
			if !ok || ctx.Err() != nil || (!end.IsZero() && !t.Before(end)) {
				break loop
			}
		}
		k, ok := m.Strike()
		if !ok {
			r.Idle++
			continue
		}
		r.Kills = append(r.Kills, k)
		if k.Done {
			r.ByKind[k.Kind]++
		}
		if m.cfg.Max > 0 && len(r.Kills) >= m.cfg.Max {
			break
		}
	}
	r.Ended = time.Now()
	return r, nil
}

func (m *Monkey) ticker() (<-chan time.Time, func()) {
	if m.cfg.Tick != nil {
		return m.cfg.Tick(m.interval)
	}
	t := time.NewTicker(m.interval)
	return t.C, t.Stop
}

// Once kills one matching target, chosen at random (not reproducibly), with method: Exit with reason
// (nil means supervisor.ErrKilled) or Panic with DefaultPanicValue. It returns false if nothing matched,
// pop is nil or method is unknown.
func Once(pop Population, sel Selector, method Method, reason error) (Kill, bool) {
	if pop == nil {
		return Kill{}, false
	}
	return strike(pop, sel, method, cmp.Or(reason, supervisor.ErrKilled), DefaultPanicValue, rand.IntN)
}

// strike picks one eligible target of pop with intn and kills it.
func strike(pop Population, sel Selector, method Method, reason error, value any, intn func(int) int) (Kill, bool) {
	var eligible []Target
	for _, t := range pop.Targets() {
		if killable(t, method) && sel.Matches(t) {
			eligible = append(eligible, t)
		}
	}
	if len(eligible) == 0 {
		return Kill{}, false
	}
	slices.SortStableFunc(eligible, func(a, b Target) int { return cmp.Compare(a.ID, b.ID) })
	t := eligible[intn(len(eligible))]
	k := Kill{At: time.Now(), Kind: t.Kind, ID: t.ID, Labels: maps.Clone(t.Labels), Method: method}
	switch method {
	case Exit:
		k.Reason = reason.Error()
		k.Done = t.Exit(reason)
	case Panic:
		k.Reason = fmt.Sprint(value)
		k.Done = t.Panic(value)
	}
	return k, true
}

func killable(t Target, method Method) bool {
	switch method {
	case Exit:
		return t.Exit != nil
	case Panic:
		return t.Panic != nil
	}
	return false
}
