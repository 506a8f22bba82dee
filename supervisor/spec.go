package supervisor

import (
	"fmt"
	"math"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// Strategy is how a supervisor restarts its children when one of them exits and must be restarted.
type Strategy uint8

const (
	// OneForOne restarts only the child that exited.
	OneForOne Strategy = iota
	// OneForAll terminates all other children and restarts them all.
	OneForAll
	// RestForOne terminates the children started after the one that exited and restarts it and them.
	RestForOne
	// SimpleOneForOne supervises dynamic children of one kind, started with StartChild and identified by
	// pid; each is restarted alone and all are terminated at once at shutdown.
	SimpleOneForOne
)

func (s Strategy) String() string {
	switch s {
	case OneForOne:
		return "one_for_one"
	case OneForAll:
		return "one_for_all"
	case RestForOne:
		return "rest_for_one"
	case SimpleOneForOne:
		return "simple_one_for_one"
	}
	return fmt.Sprintf("Strategy(%d)", uint8(s))
}

// Shutdown values of a ChildSpec besides a grace period.
const (
	// BrutalKill stops the child at once: its queued messages are not processed.
	BrutalKill time.Duration = -1
	// Infinity waits for the child to stop however long it takes (the default for nested supervisors).
	Infinity time.Duration = math.MaxInt64
)

// DefaultShutdown is a worker's grace period when ChildSpec.Shutdown is zero, as OTP.
const DefaultShutdown = 5 * time.Second

// ChildKind tells workers from supervisors, for CountChildren and the default Shutdown.
type ChildKind uint8

const (
	// Worker is any actor that is not a supervisor.
	Worker ChildKind = iota
	// SupervisorChild is a supervisor, usually made with Spec.
	SupervisorChild
)

func (k ChildKind) String() string {
	switch k {
	case Worker:
		return "worker"
	case SupervisorChild:
		return "supervisor"
	}
	return fmt.Sprintf("ChildKind(%d)", uint8(k))
}

// ChildSpec describes a child, as OTP's child_spec().
type ChildSpec struct {
	// ID names the child among its supervisor's children. It must be unique and not empty, except under
	// SimpleOneForOne where children are identified by pid (ID is then only reported).
	ID string
	// Start returns a fresh actor value for each start and restart. An error (or a panic) is a failed start.
	Start func() (actor.Actor, error)
	// Restart is the restart type. Zero value: Transient.
	Restart Restart
	// Shutdown is how long the child may take to stop gracefully before it is killed; BrutalKill or
	// Infinity. Zero value: DefaultShutdown for a Worker, Infinity for a SupervisorChild.
	Shutdown time.Duration
	// Kind is Worker or SupervisorChild. Zero value: Worker.
	Kind ChildKind
}

// Config configures a supervisor. Its zero value is a OneForOne supervisor with no children and OTP's
// default intensity.
type Config struct {
	// Name appears in Events. Zero value: empty.
	Name string
	// Strategy is the restart strategy. Zero value: OneForOne.
	Strategy Strategy
	// Intensity bounds restarts. Zero value (Max 0 and Period 0): DefaultIntensity. Intensity{Max: 0,
	// Period: p} allows no restart. Max must be >= 0 and Period > 0.
	Intensity Intensity
	// Children are started in order by Start. They must be empty under SimpleOneForOne.
	Children []ChildSpec
	// Clock measures intensity periods and shutdown grace. Zero value: real time.
	Clock Clock
	// OnEvent receives OTP's supervisor reports. It is called from inside the supervisor actor: it must not
	// block nor call the Supervisor's methods. Zero value: none.
	OnEvent func(Event)
	// Dispatcher runs the mailbox passes of the supervisor and of the children it spawns (nested supervisors
	// get their own Config's). Zero value: protoactor's default, a new goroutine per pass.
	Dispatcher actor.Dispatcher
	// Mailbox makes the mailboxes of the children it spawns (not the supervisor's own). Zero value:
	// protoactor's unbounded lock-free mailbox.
	Mailbox actor.MailboxProducer
}

// Clock is the time source of a supervisor, injectable for tests.
type Clock interface {
	// Now is the current time, for restart intensity windows.
	Now() time.Time
	// AfterFunc calls f in its own goroutine after d; stop cancels it and reports whether it did.
	AfterFunc(d time.Duration, f func()) (stop func() bool)
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) AfterFunc(d time.Duration, f func()) func() bool { return time.AfterFunc(d, f).Stop }

// ChildInfo describes a child, as an entry of OTP's which_children/1.
type ChildInfo struct {
	ID      string     // ChildSpec.ID
	PID     *actor.PID // nil if not running
	Kind    ChildKind  // ChildSpec.Kind
	Restart Restart    // ChildSpec.Restart
}

// Counts is OTP's count_children/1. Under SimpleOneForOne, Specs counts the dynamic children.
type Counts struct {
	Specs       int // children, running or not
	Active      int // running children
	Supervisors int // children of Kind SupervisorChild, running or not
	Workers     int // children of Kind Worker, running or not
}

// normalizeSpec checks spec and fills its defaults.
func normalizeSpec(spec ChildSpec, simple bool) (ChildSpec, error) {
	bad := func(format string, args ...any) (ChildSpec, error) {
		return spec, fmt.Errorf("%w: child %q: %s", ErrBadSpec, spec.ID, fmt.Sprintf(format, args...))
	}
	switch {
	case spec.ID == "" && !simple:
		return bad("empty ID")
	case spec.Start == nil:
		return bad("nil Start")
	case spec.Restart > Temporary:
		return bad("unknown restart type %v", spec.Restart)
	case spec.Kind > SupervisorChild:
		return bad("unknown kind %v", spec.Kind)
	case spec.Shutdown < 0 && spec.Shutdown != BrutalKill:
		return bad("negative shutdown %v (use BrutalKill)", spec.Shutdown)
	}
	if spec.Shutdown == 0 {
		spec.Shutdown = DefaultShutdown
		if spec.Kind == SupervisorChild {
			spec.Shutdown = Infinity
		}
	}
	return spec, nil
}

// normalizeConfig checks cfg and fills its defaults. The returned Children are a copy.
func normalizeConfig(cfg Config) (Config, error) {
	bad := func(format string, args ...any) (Config, error) {
		return cfg, fmt.Errorf("%w: supervisor %q: %s", ErrBadSpec, cfg.Name, fmt.Sprintf(format, args...))
	}
	if cfg.Strategy > SimpleOneForOne {
		return bad("unknown strategy %v", cfg.Strategy)
	}
	if cfg.Intensity == (Intensity{}) {
		cfg.Intensity = DefaultIntensity
	}
	if cfg.Intensity.Max < 0 {
		return bad("negative intensity %d", cfg.Intensity.Max)
	}
	if cfg.Intensity.Period <= 0 {
		return bad("intensity period %v must be > 0", cfg.Intensity.Period)
	}
	simple := cfg.Strategy == SimpleOneForOne
	if simple && len(cfg.Children) > 0 {
		return bad("static children under simple_one_for_one: start them with StartChild")
	}
	children := make([]ChildSpec, len(cfg.Children))
	seen := make(map[string]bool, len(cfg.Children))
	for i, spec := range cfg.Children {
		spec, err := normalizeSpec(spec, simple)
		if err != nil {
			return cfg, err
		}
		if seen[spec.ID] {
			return bad("duplicate child ID %q", spec.ID)
		}
		seen[spec.ID] = true
		children[i] = spec
	}
	cfg.Children = children
	if cfg.Clock == nil {
		cfg.Clock = realClock{}
	}
	return cfg, nil
}

// restartPlan is which children a strategy affects when the child at index failed (of n, in start order)
// must be restarted: stop lists the others to terminate, in termination order (reverse start order);
// start lists those to start again, in start order.
func restartPlan(s Strategy, n, failed int) (stop, start []int) {
	switch s {
	case OneForAll:
		for i := n - 1; i >= 0; i-- {
			if i != failed {
				stop = append(stop, i)
			}
		}
		for i := range n {
			start = append(start, i)
		}
	case RestForOne:
		for i := n - 1; i > failed; i-- {
			stop = append(stop, i)
		}
		for i := failed; i < n; i++ {
			start = append(start, i)
		}
	default:
		start = []int{failed}
	}
	return stop, start
}
