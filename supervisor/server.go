package supervisor

import (
	"fmt"
	"log/slog"
	"slices"

	"github.com/asynkron/protoactor-go/actor"
)

// childState is where a child is in its life, as its supervisor sees it.
type childState uint8

const (
	stIdle     childState = iota // no process; the spec is kept
	stStarting                   // a nested supervisor is starting its own children
	stRunning
	stExiting     // exit reason known, stop sent, Terminated awaited
	stExited      // gone while a plan ran: the restart decision waits for it to finish
	stTerminating // being terminated by the supervisor
	stRestarting  // a restart failed; a tryAgain is queued
)

type child struct {
	spec    ChildSpec
	state   childState
	pid     *actor.PID  // the current process, or the dead one until the restart decision; nil when idle
	sup     *Supervisor // handle on a nested supervisor's process
	w       *childActor // the process's wrapper
	reason  error       // exit reason, known before Terminated arrives
	killed  bool        // stopped brutally while being terminated
	cancel  func() bool // stops the grace timer
	removed bool

	prev, next *child // start order
}

// childList keeps children in start order with O(1) removal: SimpleOneForOne may hold many.
type childList struct {
	head, tail *child
	n          int
}

func (l *childList) push(c *child) {
	c.prev, c.next = l.tail, nil
	if l.tail != nil {
		l.tail.next = c
	} else {
		l.head = c
	}
	l.tail = c
	l.n++
}

func (l *childList) remove(c *child) {
	if c.prev != nil {
		c.prev.next = c.next
	} else {
		l.head = c.next
	}
	if c.next != nil {
		c.next.prev = c.prev
	} else {
		l.tail = c.prev
	}
	c.prev, c.next = nil, nil
	l.n--
}

func (l *childList) all() []*child {
	cs := make([]*child, 0, l.n)
	for c := l.head; c != nil; c = c.next {
		cs = append(cs, c)
	}
	return cs
}

// wait is what the running plan waits for. Terminating and starting children is asynchronous inside the
// actor: each step ends on a later message (Terminated, initDone), which calls then.
type wait struct {
	terms map[string]*child // children being terminated, by pid Id
	init  *child            // a nested supervisor starting its children
	then  func(error)
}

// server is the supervisor actor. Its state is touched only in its own turns (Receive, HandleFailure).
type server struct {
	cfg     Config
	h       *Supervisor
	nested  bool       // its parent is a server: exits travel to it as Failures; set before spawning
	started chan error // top-level only: Start waits for the static children

	ctx    actor.Context
	system *actor.ActorSystem
	self   *actor.PID

	window   Window
	children childList
	byID     map[string]*child // unused under SimpleOneForOne
	byPID    map[string]*child

	wait     *wait
	deferred []any // requests and restart decisions that arrived during a plan, in order

	exiting  bool  // shutting down: no more restarts or requests
	reason   error // exit reason once exiting
	initFail bool  // exiting because a static child failed to start
	dying    bool  // Stopping received

	// One Props for every child: spawning calls the producer synchronously, in this actor's turn, so it
	// hands over the actor just built. A Props each would cost ~230 B per child, and a SimpleOneForOne
	// may hold thousands. Children are never restarted in place (a restart spawns anew), so the producer
	// runs only from startChild.
	props *actor.Props
	next  actor.Actor
}

func (s *server) produce(*actor.ActorSystem) actor.Actor {
	a := s.next
	s.next = nil
	return a
}

var _ actor.SupervisorStrategy = (*server)(nil)

func newServer(cfg Config) *server {
	s := &server{cfg: cfg, h: newHandle(), byID: make(map[string]*child), byPID: make(map[string]*child)}
	for _, spec := range cfg.Children {
		s.add(&child{spec: spec})
	}
	return s
}

// propsOptions are the options of the children's Props: Config.Mailbox (else the lock-free mailbox) and
// Config.Dispatcher.
func (s *server) propsOptions() []actor.PropsOption {
	mailbox := s.cfg.Mailbox
	if mailbox == nil {
		mailbox = actor.UnboundedLockfree()
	}
	opts := []actor.PropsOption{actor.WithMailbox(mailbox)}
	if s.cfg.Dispatcher != nil {
		opts = append(opts, actor.WithDispatcher(s.cfg.Dispatcher))
	}
	return opts
}

func (s *server) simple() bool { return s.cfg.Strategy == SimpleOneForOne }

func (s *server) add(c *child) {
	s.children.push(c)
	if !s.simple() {
		s.byID[c.spec.ID] = c
	}
}

func (s *server) remove(c *child) {
	if c.removed {
		return
	}
	c.removed = true
	s.children.remove(c)
	if s.byID[c.spec.ID] == c {
		delete(s.byID, c.spec.ID)
	}
	s.forget(c)
}

// forget drops c's process.
func (s *server) forget(c *child) {
	if c.pid != nil && s.byPID[c.pid.Id] == c {
		delete(s.byPID, c.pid.Id)
	}
	c.pid, c.sup, c.w = nil, nil, nil
}

// exitOf is the exit reason of c's process, which has stopped.
func (c *child) exitOf(otherwise error) error {
	switch {
	case c.reason != nil:
		return c.reason
	case c.w != nil && c.w.stopPanic != nil:
		return &PanicError{Value: c.w.stopPanic}
	}
	return otherwise
}

func (s *server) Receive(ctx actor.Context) {
	if t, ok := ctx.Message().(*actor.Terminated); ok {
		ReleaseChild(ctx, t.Who)
	}
	switch m := ctx.Message().(type) {
	case *actor.Started:
		s.ctx, s.system, s.self = ctx, ctx.ActorSystem(), ctx.Self()
		s.init()
	case *actor.Stopping:
		s.onStopping()
		return
	case *actor.Stopped:
		s.onStopped()
		return
	default:
		if s.dying {
			if r, ok := m.(request); ok {
				r.answer(result{err: ErrStopped})
			}
			return
		}
		s.receive(m)
	}
	s.drain()
}

// HandleFailure receives a child's panic or Exit, in the supervisor's own turn.
func (s *server) HandleFailure(_ *actor.ActorSystem, _ actor.Supervisor, child *actor.PID, _ *actor.RestartStatistics, reason, _ any) {
	if s.dying {
		s.ctx.Stop(child)
		return
	}
	s.onFailure(child, reason)
	s.drain()
}

func (s *server) receive(m any) {
	switch m := m.(type) {
	case *actor.Terminated:
		s.onTerminated(m.Who)
	case *initDone:
		if w := s.wait; w != nil && w.init != nil && w.init.pid != nil && w.init.pid.Id == m.pid.Id {
			s.finishInit(w.init, nil)
		}
	case *graceExpired:
		if c := s.byPID[m.pid.Id]; c != nil && c.state == stTerminating && !c.killed {
			c.killed, c.cancel = true, nil
			s.ctx.Stop(m.pid)
		}
	case *exitReq:
		s.onExit(m.pid, m.reason)
	case *whichReq: // queries need no plan: answered at once
		m.answer(result{infos: s.which()})
	case *countReq:
		m.answer(result{counts: s.count()})
	case request, *stopReq, *tryAgain:
		if s.wait != nil || len(s.deferred) > 0 {
			s.deferred = append(s.deferred, m)
			return
		}
		s.handle(m)
	}
}

// drain handles what was deferred while a plan ran, until one starts another plan.
func (s *server) drain() {
	for s.wait == nil && !s.dying && len(s.deferred) > 0 {
		m := s.deferred[0]
		s.deferred[0] = nil
		s.deferred = s.deferred[1:]
		s.handle(m)
	}
}

// handle runs a request or a deferred decision when no plan is running.
func (s *server) handle(m any) {
	if s.exiting {
		if r, ok := m.(request); ok {
			r.answer(result{err: ErrStopped})
		}
		return
	}
	switch m := m.(type) {
	case *startReq:
		s.startReq(m)
	case *terminateReq:
		s.terminateReq(m)
	case *restartReq:
		s.restartReq(m)
	case *deleteReq:
		s.deleteReq(m)
	case *subReq:
		s.subReq(m)
	case *stopReq:
		s.shutdown(ErrShutdown)
	case *tryAgain:
		if !m.c.removed && m.c.state == stRestarting {
			s.restart(m.c)
		}
	case *exited:
		if m.c.state == stExited && m.c.pid == m.pid {
			s.decide(m.c)
		}
	}
}

func (s *server) init() {
	s.startSeq(s.children.all(), false, func(failed *child, err error) {
		if failed == nil {
			if s.nested {
				s.ctx.Send(s.ctx.Parent(), &initDone{pid: s.self})
			} else {
				s.started <- nil
			}
			return
		}
		s.exiting, s.initFail = true, true
		s.reason = fmt.Errorf("%w: %q: %w", ErrStartFailed, failed.spec.ID, err)
		cs := s.children.all()
		slices.Reverse(cs)
		s.terminateSeq(cs, s.exit)
	})
}

// exit ends the supervisor with s.reason once its children are gone.
func (s *server) exit() {
	for _, m := range s.deferred {
		if r, ok := m.(request); ok {
			r.answer(result{err: ErrStopped})
		}
	}
	s.deferred = nil
	if s.nested {
		// The parent records the reason, then stops us.
		escalate(s.ctx, &exitSignal{reason: s.reason, init: s.initFail})
		return
	}
	if s.initFail {
		s.started <- s.reason
	}
	s.ctx.Stop(s.self)
}

func (s *server) onStopping() {
	s.dying = true
	for c := s.children.head; c != nil; c = c.next {
		if c.cancel != nil {
			c.cancel()
			c.cancel = nil
		}
	}
}

func (s *server) onStopped() {
	for _, m := range s.deferred {
		if r, ok := m.(request); ok {
			r.answer(result{err: ErrStopped})
		}
	}
	s.deferred = nil
	s.h.err = s.reason
	if !s.exiting || s.reason == nil {
		s.h.err = ErrKilled // stopped by someone else
	}
	close(s.h.done)
}

// startSeq starts the idle children of cs in order, one at a time, and calls done with the first that
// failed, or nil.
func (s *server) startSeq(cs []*child, restart bool, done func(failed *child, err error)) {
	for i, c := range cs {
		if c.removed || c.state != stIdle {
			continue
		}
		rest := cs[i+1:]
		pending, err := s.startChild(c, restart, func(err error) {
			if err != nil {
				done(c, err)
				return
			}
			s.startSeq(rest, restart, done)
		})
		if pending {
			return
		}
		if err != nil {
			done(c, err)
			return
		}
	}
	done(nil, nil)
}

// startChild starts the idle child c. A nested supervisor is pending until it has started its own
// children: then is called when it has (or failed to); otherwise the result is returned.
func (s *server) startChild(c *child, restart bool, then func(error)) (pending bool, err error) {
	a, err := callStart(c.spec.Start)
	if err != nil {
		s.emit(StartFailed, c, nil, err)
		return false, err
	}
	nested, _ := a.(*server)
	if nested != nil {
		nested.nested = true
		nested.h.system = s.system
	}
	w, inner := wrap(a)
	if s.props == nil {
		// The lock-free mailbox costs ~180 B less per actor than the default ring.
		s.props = actor.PropsFromProducerWithActorSystem(s.produce, s.propsOptions()...)
	}
	s.next = w
	c.pid = s.ctx.Spawn(s.props)
	c.w = inner
	s.byPID[c.pid.Id] = c
	c.reason, c.killed = nil, false
	ev := ChildStarted
	if restart {
		ev = ChildRestarted
	}
	if nested == nil {
		c.state = stRunning
		s.emit(ev, c, c.pid, nil)
		return false, nil
	}
	nested.h.pid = c.pid // the nested actor never reads its handle's pid
	c.sup, c.state = nested.h, stStarting
	s.wait = &wait{init: c, then: func(err error) {
		if err != nil {
			s.emit(StartFailed, c, nil, err)
		} else {
			c.state = stRunning
			s.emit(ev, c, c.pid, nil)
		}
		then(err)
	}}
	return true, nil
}

// finishInit ends the wait for c's start.
func (s *server) finishInit(c *child, err error) {
	if w := s.wait; w != nil && w.init == c {
		s.wait = nil
		w.then(err)
	}
}

// terminateSeq terminates cs one at a time, in the given order, then calls done.
func (s *server) terminateSeq(cs []*child, done func()) {
	for i, c := range cs {
		if s.beginTerminate(c) {
			rest := cs[i+1:]
			s.wait = &wait{terms: map[string]*child{c.pid.Id: c}, then: func(error) { s.terminateSeq(rest, done) }}
			return
		}
	}
	done()
}

// terminateAll terminates cs at once (SimpleOneForOne), then calls done.
func (s *server) terminateAll(cs []*child, done func()) {
	terms := make(map[string]*child)
	for _, c := range cs {
		if s.beginTerminate(c) {
			terms[c.pid.Id] = c
		}
	}
	if len(terms) == 0 {
		done()
		return
	}
	s.wait = &wait{terms: terms, then: func(error) { done() }}
}

// beginTerminate starts terminating c and reports whether its Terminated must be awaited. A child that
// already exited on its own is absorbed: its pending restart decision is dropped.
func (s *server) beginTerminate(c *child) bool {
	switch c.state {
	case stRunning:
		c.state = stTerminating
		pid := c.pid
		switch d := c.spec.Shutdown; {
		case d == BrutalKill:
			c.killed = true
			s.ctx.Stop(pid)
		default:
			if c.sup != nil {
				s.ctx.Send(pid, &stopReq{}) // a Poison would skip its graceful shutdown
			} else {
				s.ctx.Poison(pid)
			}
			if d != Infinity {
				system, self := s.system, s.self
				c.cancel = s.cfg.Clock.AfterFunc(d, func() { system.Root.Send(self, &graceExpired{pid: pid}) })
			}
		}
		return true
	case stExiting:
		c.state = stTerminating
		return true
	case stExited:
		s.forget(c)
		c.state, c.reason = stIdle, nil
	case stRestarting:
		c.state = stIdle
	}
	return false
}

func (s *server) onFailure(who *actor.PID, failure any) {
	reason, init := exitReason(failure)
	c := s.byPID[who.Id]
	if c == nil {
		s.ctx.Stop(who)
		return
	}
	if c.state == stStarting {
		if init {
			s.forget(c)
			c.state, c.reason = stIdle, nil
			s.ctx.Stop(who)
			s.finishInit(c, reason)
			return
		}
		s.finishInit(c, nil) // it did start: its initDone is behind this Failure
	}
	if c.state == stRunning || c.state == stTerminating {
		s.onExit(who, reason)
		return
	}
	s.ctx.Stop(who)
}

// onExit records why the child running as pid exits, and stops it.
func (s *server) onExit(pid *actor.PID, reason error) {
	c := s.byPID[pid.Id]
	if c == nil {
		return
	}
	switch c.state {
	case stRunning, stStarting:
		c.reason = reason
		if c.state == stRunning {
			c.state = stExiting
		}
		s.emit(ChildExiting, c, pid, reason)
		s.ctx.Stop(pid)
	case stTerminating:
		if c.reason == nil {
			c.reason = reason
		}
		s.ctx.Stop(pid)
	}
}

func (s *server) onTerminated(who *actor.PID) {
	c := s.byPID[who.Id]
	if c == nil || c.state == stExited {
		return
	}
	switch c.state {
	case stTerminating:
		if c.cancel != nil {
			c.cancel()
			c.cancel = nil
		}
		reason := ErrShutdown
		if c.killed {
			reason = ErrKilled
		}
		reason = c.exitOf(reason)
		s.forget(c)
		c.state, c.reason, c.killed = stIdle, nil, false
		s.emit(ChildTerminated, c, who, reason)
		if w := s.wait; w != nil && w.terms[who.Id] == c {
			delete(w.terms, who.Id)
			if len(w.terms) == 0 {
				s.wait = nil
				w.then(nil)
			}
		}
	case stStarting:
		reason := c.exitOf(ErrKilled)
		s.forget(c)
		c.state, c.reason = stIdle, nil
		s.finishInit(c, reason)
	default: // exited on its own
		c.reason = c.exitOf(ErrKilled) // ErrKilled: stopped by someone who did not say why
		c.state = stExited
		s.emit(ChildExited, c, who, c.reason)
		if s.wait != nil || s.exiting || len(s.deferred) > 0 {
			s.deferred = append(s.deferred, &exited{c: c, pid: who})
			return
		}
		s.decide(c)
	}
}

// decide applies the restart rules to a child that exited on its own.
func (s *server) decide(c *child) {
	reason := c.reason
	s.forget(c)
	c.state, c.reason = stIdle, nil
	if !ShouldRestart(c.spec.Restart, reason) {
		if c.spec.Restart == Temporary || s.simple() {
			s.remove(c)
		}
		return
	}
	s.restart(c)
}

// restart counts a restart of c and applies the strategy, or gives up.
func (s *server) restart(c *child) {
	c.state = stIdle
	if s.window.Add(s.cfg.Intensity, s.cfg.Clock.Now()) {
		s.emit(IntensityExceeded, c, nil, ErrMaxIntensity)
		if c.spec.Restart == Temporary || s.simple() {
			s.remove(c)
		}
		s.shutdown(Shutdown(ErrMaxIntensity))
		return
	}
	var stop, start []*child
	switch s.cfg.Strategy {
	case OneForAll, RestForOne:
		cs := s.children.all()
		stopAt, startAt := restartPlan(s.cfg.Strategy, len(cs), slices.Index(cs, c))
		stop, start = pick(cs, stopAt), pick(cs, startAt)
	default:
		start = []*child{c}
	}
	s.terminateSeq(stop, func() {
		for _, x := range stop {
			if x.spec.Restart == Temporary {
				s.remove(x) // OTP never restarts a temporary child
			}
		}
		s.startSeq(start, true, func(failed *child, _ error) {
			if failed != nil {
				failed.state = stRestarting
				s.ctx.Send(s.self, &tryAgain{c: failed}) // in a later turn: requests get a chance first
			}
		})
	})
}

func pick(cs []*child, at []int) []*child {
	out := make([]*child, len(at))
	for i, j := range at {
		out[i] = cs[j]
	}
	return out
}

// shutdown terminates every child in reverse start order (at once under SimpleOneForOne), then exits.
func (s *server) shutdown(reason error) {
	if s.exiting {
		return
	}
	s.exiting, s.reason = true, reason
	cs := s.children.all()
	slices.Reverse(cs)
	if s.simple() {
		s.terminateAll(cs, s.exit)
		return
	}
	s.terminateSeq(cs, s.exit)
}

func (s *server) startReq(m *startReq) {
	spec, err := normalizeSpec(m.spec, s.simple())
	if err != nil {
		m.answer(result{err: err})
		return
	}
	if old := s.byID[spec.ID]; old != nil && !s.simple() {
		if old.pid != nil {
			err = fmt.Errorf("%w: %w: child %q already started", ErrBadSpec, ErrRunning, spec.ID)
		} else {
			err = fmt.Errorf("%w: child %q already present", ErrBadSpec, spec.ID)
		}
		m.answer(result{err: err})
		return
	}
	c := &child{spec: spec}
	s.add(c)
	reply := func(err error) {
		if err != nil {
			s.remove(c)
			m.answer(result{err: fmt.Errorf("%w: %q: %w", ErrStartFailed, spec.ID, err)})
			return
		}
		m.answer(result{pid: c.pid})
	}
	if pending, err := s.startChild(c, false, reply); !pending {
		reply(err)
	}
}

func (s *server) terminateReq(m *terminateReq) {
	var c *child
	switch {
	case m.pid != nil:
		c = s.byPID[m.pid.Id]
	case s.simple():
		m.answer(result{err: fmt.Errorf("%w: terminate by id", ErrSimple)})
		return
	default:
		c = s.byID[m.id]
	}
	if c == nil {
		m.answer(result{err: ErrNotFound})
		return
	}
	s.terminateSeq([]*child{c}, func() {
		if c.spec.Restart == Temporary || s.simple() {
			s.remove(c)
		}
		m.answer(result{})
	})
}

func (s *server) restartReq(m *restartReq) {
	c, err := s.stopped(m.id, "restart")
	if err != nil {
		m.answer(result{err: err})
		return
	}
	reply := func(err error) {
		if err != nil {
			m.answer(result{err: fmt.Errorf("%w: %q: %w", ErrStartFailed, m.id, err)})
			return
		}
		m.answer(result{pid: c.pid})
	}
	if pending, err := s.startChild(c, false, reply); !pending {
		reply(err)
	}
}

func (s *server) deleteReq(m *deleteReq) {
	c, err := s.stopped(m.id, "delete")
	if err == nil {
		s.remove(c)
	}
	m.answer(result{err: err})
}

// stopped finds the terminated child id for RestartChild or DeleteChild.
func (s *server) stopped(id, op string) (*child, error) {
	if s.simple() {
		return nil, fmt.Errorf("%w: %s", ErrSimple, op)
	}
	c := s.byID[id]
	switch {
	case c == nil:
		return nil, ErrNotFound
	case c.state == stRestarting:
		return nil, ErrRestarting
	case c.state != stIdle:
		return nil, ErrRunning
	}
	return c, nil
}

func (s *server) subReq(m *subReq) {
	c := s.byID[m.id]
	if s.simple() {
		for x := s.children.head; x != nil; x = x.next {
			if x.spec.ID == m.id {
				c = x
				break
			}
		}
	}
	var r result
	switch {
	case c == nil:
		r.err = ErrNotFound
	case c.state != stRunning:
		r.err = ErrNotRunning
	case c.sup == nil:
		r.err = ErrNotSupervisor
	default:
		r.sub = c.sup
	}
	m.answer(r)
}

func (s *server) which() []ChildInfo {
	infos := make([]ChildInfo, 0, s.children.n)
	for c := s.children.head; c != nil; c = c.next {
		infos = append(infos, ChildInfo{ID: c.spec.ID, PID: c.pid, Kind: c.spec.Kind, Restart: c.spec.Restart})
	}
	return infos
}

func (s *server) count() Counts {
	var n Counts
	for c := s.children.head; c != nil; c = c.next {
		n.Specs++
		if c.pid != nil && c.state != stExited {
			n.Active++
		}
		if c.spec.Kind == SupervisorChild {
			n.Supervisors++
		} else {
			n.Workers++
		}
	}
	return n
}

func (s *server) emit(t EventType, c *child, pid *actor.PID, reason error) {
	if s.cfg.OnEvent == nil {
		return
	}
	defer func() {
		// A panicking observer must not take the supervisor down.
		if v := recover(); v != nil {
			s.ctx.Logger().Error("supervisor: OnEvent panicked", slog.String("supervisor", s.cfg.Name), slog.Any("panic", v))
		}
	}()
	s.cfg.OnEvent(Event{Type: t, Supervisor: s.cfg.Name, ID: c.spec.ID, PID: pid, Reason: reason})
}
