package supervisor

import (
	"context"
	"fmt"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// DefaultCallTimeout bounds a Supervisor request whose context has no deadline.
const DefaultCallTimeout = 5 * time.Second

// Supervisor is a handle on a supervisor actor. It is safe for concurrent use; each method but PID, Done,
// Err and Exit is a request to the actor and waits for its answer.
type Supervisor struct {
	system *actor.ActorSystem
	pid    *actor.PID
	done   chan struct{}
	err    error // written before done is closed
}

func newHandle() *Supervisor { return &Supervisor{done: make(chan struct{})} }

// Start spawns a supervisor as a child of parent (system.Root, or an actor's context) and starts
// cfg.Children in order. It returns once they have all started (nested supervisors included). If one fails
// to start, those already started are terminated in reverse order and Start returns an error wrapping
// ErrStartFailed and the child's error. An invalid cfg returns an ErrBadSpec error and spawns nothing.
//
// Start waits: do not call it from inside an actor's Receive.
func Start(parent actor.SpawnerContext, cfg Config) (*Supervisor, error) {
	cfg, err := normalizeConfig(cfg)
	if err != nil {
		return nil, err
	}
	srv := newServer(cfg)
	srv.started = make(chan error, 1)
	h := srv.h
	h.system = parent.ActorSystem()
	var opts []actor.PropsOption
	if cfg.Dispatcher != nil {
		opts = append(opts, actor.WithDispatcher(cfg.Dispatcher))
	}
	h.pid = parent.SpawnPrefix(actor.PropsFromProducer(func() actor.Actor { return srv }, opts...), "supervisor")
	select {
	case err := <-srv.started:
		if err != nil {
			<-h.done
			return nil, err
		}
		return h, nil
	case <-h.done:
		return nil, fmt.Errorf("%w: %w", ErrStopped, h.err)
	}
}

// Spec returns a child spec that runs a supervisor configured by cfg, nested under the supervisor that
// starts it: Kind SupervisorChild, Restart Permanent, Shutdown Infinity. An invalid cfg is a failed start.
// When the nested supervisor gives up, its parent sees it exit with Shutdown(ErrMaxIntensity).
func Spec(id string, cfg Config) ChildSpec {
	return ChildSpec{
		ID: id,
		Start: func() (actor.Actor, error) {
			cfg, err := normalizeConfig(cfg)
			if err != nil {
				return nil, err
			}
			return newServer(cfg), nil
		},
		Restart:  Permanent,
		Shutdown: Infinity,
		Kind:     SupervisorChild,
	}
}

// PID is the supervisor actor's pid.
func (s *Supervisor) PID() *actor.PID { return s.pid }

// Done is closed once the supervisor actor has stopped, after all its children.
func (s *Supervisor) Done() <-chan struct{} { return s.done }

// Err is the supervisor's exit reason once Done is closed: ErrShutdown after Stop,
// Shutdown(ErrMaxIntensity) after it gave up, ErrKilled if it was stopped by other means; nil before.
func (s *Supervisor) Err() error {
	select {
	case <-s.done:
		return s.err
	default:
		return nil
	}
}

// StartChild starts a child under the supervisor and returns its pid (OTP's start_child/2). It is not
// restarted if it fails to start. A duplicate ID is an ErrBadSpec error, also wrapping ErrRunning if that
// child is running.
func (s *Supervisor) StartChild(ctx context.Context, spec ChildSpec) (*actor.PID, error) {
	r, err := s.call(ctx, &startReq{spec: spec})
	return r.pid, err
}

// TerminateChild terminates the child id, honouring its Shutdown. Its spec is kept (RestartChild can start
// it again) unless it is Temporary. Under SimpleOneForOne, use TerminatePID.
func (s *Supervisor) TerminateChild(ctx context.Context, id string) error {
	_, err := s.call(ctx, &terminateReq{id: id})
	return err
}

// TerminatePID terminates the child running as pid, honouring its Shutdown. Under SimpleOneForOne the
// child is removed; otherwise as TerminateChild.
func (s *Supervisor) TerminatePID(ctx context.Context, pid *actor.PID) error {
	if pid == nil {
		return ErrNotFound
	}
	_, err := s.call(ctx, &terminateReq{pid: pid})
	return err
}

// RestartChild starts again the terminated child id whose spec was kept.
func (s *Supervisor) RestartChild(ctx context.Context, id string) (*actor.PID, error) {
	r, err := s.call(ctx, &restartReq{id: id})
	return r.pid, err
}

// DeleteChild deletes the spec of the terminated child id.
func (s *Supervisor) DeleteChild(ctx context.Context, id string) error {
	_, err := s.call(ctx, &deleteReq{id: id})
	return err
}

// WhichChildren lists the children in start order. It is answered even while the supervisor is busy
// restarting or terminating children, and then shows that work in progress.
func (s *Supervisor) WhichChildren(ctx context.Context) ([]ChildInfo, error) {
	r, err := s.call(ctx, &whichReq{})
	return r.infos, err
}

// CountChildren counts the children. Like WhichChildren, it is answered at once.
func (s *Supervisor) CountChildren(ctx context.Context) (Counts, error) {
	r, err := s.call(ctx, &countReq{})
	return r.counts, err
}

// Sub returns a handle on the running nested supervisor id (started from a Spec). The handle is for this
// incarnation: if the nested supervisor is restarted, its Done is closed and Sub returns a new handle.
func (s *Supervisor) Sub(ctx context.Context, id string) (*Supervisor, error) {
	r, err := s.call(ctx, &subReq{id: id})
	return r.sub, err
}

// Exit makes the child running as pid exit with reason (nil means ErrKilled), as OTP's exit/2 sent to the
// child: the supervisor stops it at once and applies its restart rules to reason. Unlike exit/2, a normal
// reason stops the child too. It never blocks; an unknown pid is ignored.
func (s *Supervisor) Exit(child *actor.PID, reason error) {
	if child == nil {
		return
	}
	if reason == nil {
		reason = ErrKilled
	}
	s.system.Root.Send(s.pid, &exitReq{pid: child, reason: reason})
}

// Stop terminates the children in reverse start order, each within its Shutdown (all at once under
// SimpleOneForOne), then the supervisor, which exits with ErrShutdown. It waits for Done or ctx, with no
// default deadline. A nested supervisor's parent sees that exit and applies its restart rules.
func (s *Supervisor) Stop(ctx context.Context) error {
	select {
	case <-s.done:
		return nil
	default:
	}
	s.system.Root.Send(s.pid, &stopReq{})
	select {
	case <-s.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("supervisor: stop: %w", ctx.Err())
	}
}

// call sends a request and waits for its answer. The answer travels on a channel in the request rather
// than through a protoactor Future: a Future cannot be waited on together with ctx and Done.
func (s *Supervisor) call(ctx context.Context, req request) (result, error) {
	var timeout <-chan time.Time
	if _, ok := ctx.Deadline(); !ok {
		// A timer, not context.WithTimeout: a host starts a child per connection this way, and the
		// derived context costs allocations (and GC work) on every connect.
		t := time.NewTimer(DefaultCallTimeout)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-s.done:
		return result{}, ErrStopped
	default:
	}
	if err := ctx.Err(); err != nil {
		// Not sent: a request whose caller gave up must not run (and its answer must not race the error).
		return result{}, fmt.Errorf("supervisor: %w", err)
	}
	reply := make(chan result, 1)
	req.setReply(reply)
	s.system.Root.Send(s.pid, req)
	select {
	case r := <-reply:
		return r, r.err
	case <-s.done:
		select {
		case r := <-reply: // answered just before stopping
			return r, r.err
		default:
			return result{}, ErrStopped
		}
	case <-ctx.Done():
		return result{}, fmt.Errorf("supervisor: %w", ctx.Err())
	case <-timeout:
		return result{}, fmt.Errorf("supervisor: %w", context.DeadlineExceeded)
	}
}

// result is the answer to a request.
type result struct {
	pid    *actor.PID
	infos  []ChildInfo
	counts Counts
	sub    *Supervisor
	err    error
}

// request is a message from a handle that expects a result.
type request interface {
	setReply(chan<- result)
	answer(result)
}

type call struct{ reply chan<- result }

func (c *call) setReply(r chan<- result) { c.reply = r }

// answer never blocks: the channel has room for the one answer.
func (c *call) answer(r result) { c.reply <- r }

type (
	startReq struct {
		call
		spec ChildSpec
	}
	terminateReq struct {
		call
		id  string
		pid *actor.PID // set by TerminatePID instead of id
	}
	restartReq struct {
		call
		id string
	}
	deleteReq struct {
		call
		id string
	}
	subReq struct {
		call
		id string
	}
	whichReq struct{ call }
	countReq struct{ call }
)

// Messages without an answer.
type (
	// stopReq asks a supervisor to shut down (Stop, or a parent terminating a nested supervisor).
	stopReq struct{}
	// exitReq is Supervisor.Exit.
	exitReq struct {
		pid    *actor.PID
		reason error
	}
	// tryAgain retries a failed restart in a later turn, as OTP's try_again_restart.
	tryAgain struct{ c *child }
	// initDone tells a parent supervisor that its nested supervisor child has started its children.
	initDone struct{ pid *actor.PID }
	// graceExpired fires when a child has not stopped within its Shutdown.
	graceExpired struct{ pid *actor.PID }
	// exited is a child's exit whose restart decision waits for the current plan to finish.
	exited struct {
		c   *child
		pid *actor.PID
	}
)

// ActorSystem is the actor system the supervisor runs on.
func (s *Supervisor) ActorSystem() *actor.ActorSystem { return s.system }
