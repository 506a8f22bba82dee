// Package supervisor is Erlang/OTP's supervisor on protoactor-go: restart types, exit reasons that travel
// with an exit and compare with errors.Is, restart strategies, restart intensity, shutdown grace periods
// and nested supervisors that escalate.
//
// Start spawns a supervisor actor under a parent (system.Root or an actor) and starts its Config.Children
// in order. Each child is a ChildSpec whose Start returns a fresh actor value for every start: a restart
// spawns a new actor with a new pid, as OTP. Spec nests a supervisor as a child.
//
//	sup, err := supervisor.Start(system.Root, supervisor.Config{
//		Name:     "app",
//		Strategy: supervisor.RestForOne,
//		Children: []supervisor.ChildSpec{
//			{ID: "db", Restart: supervisor.Permanent, Start: newDB},
//			supervisor.Spec("rooms", supervisor.Config{Strategy: supervisor.SimpleOneForOne}),
//		},
//	})
//
// # Exits
//
// protoactor's Terminated carries no reason, so exits reach the supervisor through its own channels: a
// panic in a child's Receive becomes a *PanicError; a child calls Exit(ctx, reason) to exit (nil is
// ErrNormal); Supervisor.Exit(pid, reason) makes a child exit from outside (nil is ErrKilled). A child
// stopped by anyone else (ctx.Stop on its pid) exits with ErrKilled. The supervisor then stops the child
// and applies ShouldRestart to the reason, and the strategy to its siblings. More restarts than
// Config.Intensity within its Period, and the supervisor terminates its children and exits with
// Shutdown(ErrMaxIntensity): a parent supervisor sees that reason (a Permanent nested supervisor is
// restarted, a Transient one is not, since the reason is a shutdown); a top-level one closes Done and
// reports it in Err. A restart whose Start fails is retried in a later turn, each try counting toward the
// intensity, so a child that can never start ends in escalation.
//
// Children are terminated by the supervisor (TerminateChild, strategy restarts, shutdown) one at a time in
// reverse start order: BrutalKill stops at once (queued messages are dropped), a grace period poisons the
// child (queued messages first) and stops it if it has not stopped in time, Infinity poisons and waits. A
// nested supervisor is asked to shut down gracefully instead of being poisoned. Children terminated by their
// supervisor are never restarted.
//
// InjectedPanic, sent to any child, makes it panic inside its own Receive, for chaos tests.
//
// Nothing of an exited child stays reachable from its supervisor: ReleaseChild, which every actor that
// spawns children calls on Terminated, fences the protoactor-go internals that would keep it (a parent's
// child list keeps removed pids; a pid caches its dead process).
//
// # Mapping from OTP
//
//	normal                                ErrNormal (nil is normal too)
//	shutdown                              ErrShutdown
//	{shutdown, Cause}                     Shutdown(cause): errors.Is(err, ErrShutdown) and errors.Is(err, cause)
//	kill / killed                         ErrKilled
//	a crash                               *PanicError
//	permanent, transient, temporary       Permanent, Transient, Temporary
//	one_for_one, one_for_all              OneForOne, OneForAll
//	rest_for_one, simple_one_for_one      RestForOne, SimpleOneForOne
//	intensity, period                     Config.Intensity (Max, Period); default 1 in 5s
//	shutdown: brutal_kill | T | infinity  ChildSpec.Shutdown: BrutalKill | T | Infinity
//	child_type: worker | supervisor       ChildSpec.Kind: Worker | SupervisorChild
//	start_link/2 + init/1                 Start(parent, Config)
//	a supervisor's child spec             Spec(id, Config)
//	start_child/2                         Supervisor.StartChild
//	terminate_child/2 by id, by pid       Supervisor.TerminateChild, TerminatePID
//	restart_child/2, delete_child/2       Supervisor.RestartChild, DeleteChild
//	which_children/1, count_children/1    Supervisor.WhichChildren, CountChildren
//	exit(Pid, Reason)                     Supervisor.Exit(pid, reason); a normal reason stops the child too
//	exit(Reason) in the child             Exit(ctx, reason)
//	{error, running | restarting}         ErrRunning, ErrRestarting
//	{error, not_found}                    ErrNotFound
//	{error, simple_one_for_one}           ErrSimple
//	already_started, already_present      ErrBadSpec (with ErrRunning if started)
//	{failed_to_start_child, Id, R}        ErrStartFailed wrapping R
//	reached_max_restart_intensity         ErrMaxIntensity; event IntensityExceeded
//	progress and error reports            Config.OnEvent(Event)
//	try_again_restart                     a retry message the supervisor sends itself
//
// # Concurrency
//
// ShouldRestart, IsNormal and the value types are safe for concurrent use; a Window belongs to one
// goroutine (its actor). A Supervisor handle is safe
// for concurrent use: PID, Done, Err and Exit never block; the other methods send the supervisor actor a
// request and wait for its answer, up to the context's deadline (DefaultCallTimeout when it has none; Stop
// has no default). Do not call them, nor Start, from inside an actor's Receive or from Config.OnEvent: they
// would block it.
//
// The supervisor's state lives in its actor and is only touched in its turns. Terminating and starting
// children is asynchronous inside the actor: while it waits for a child to stop (or for a nested supervisor
// to start its children), requests and restart decisions that arrive are queued and run in order when it
// is done; WhichChildren and CountChildren are answered at once. Config.OnEvent and ChildSpec.Start run
// inside the supervisor actor and must not block. The Clock's AfterFunc callbacks only send a message.
package supervisor
