// Package chaos kills actors of a running Pyre server on purpose, to check that supervision, reconnection
// and the application's own recovery work: in the application's tests and in production drills.
//
// The package knows nothing about actors or Phoenix, and Pyre's runtime knows nothing about it: the runtime
// lists its live actors (host.Host.Actors) and package pyrechaos adapts them to a Population of Targets.
// Each Target has a Kind (Socket, Channel, Infrastructure), a stable ID, Labels (LabelTopic, LabelSocketID,
// LabelChild) and two asynchronous functions: Exit, which makes the actor exit with a reason (OTP's exit/2),
// and Panic, which makes it panic inside its own Receive.
//
// A Monkey chooses victims with a Selector (kinds, a Phoenix-style topic pattern, a socket id, a predicate)
// and a seeded generator, kills them with a Method (Exit with Config.Reason, supervisor.ErrKilled by
// default, or Panic with Config.PanicValue), and records each strike as a Kill. Strike kills one now; Run
// kills at Config.Rate until Config.Max strikes, Config.Duration or the context ends, and returns a Report.
// Once kills one random target without a Monkey.
//
//	pop := pyrechaos.Population(endpoint) // Pyre's actors (package supervisor/chaos/pyrechaos)
//	m, err := chaos.New(pop, chaos.Config{
//		Select: chaos.Selector{Kinds: []chaos.Kind{chaos.Channel}, Topic: "room:*"},
//		Seed:   42,
//		Rate:   5,
//		Max:    20,
//	})
//	if err != nil { ... }
//	report, err := m.Run(ctx)
//	fmt.Print(report)
//
// To aim at one client: a channel target's ID is its channel.Socket.ChannelID, so a Selector with
// Match: func(t chaos.Target) bool { return t.ID == id } kills the channel whose id you noted (logged, or
// sent to a test client); an exact Topic works when only that client joined it. SocketID selects by the
// socket id (channel.Identifier); anonymous sockets all have the id "", which a Selector reads as "no
// constraint", so to target one anonymous client's socket give each connection an id of its own in the
// socket handler (e.g. "anon:" and a random string kept in its assigns) and select SocketID with it.
//
// What the runtime does with a killed actor: a channel is restarted in place, as after a crash but without
// Terminate (OTP's kill); an injected panic behaves as a panic in the channel's callback; a killed socket
// closes its connection with 1011 (the client reconnects); a killed infrastructure worker is restarted by
// the endpoint supervisor.
//
// # Reproducibility
//
// Victims are drawn with math/rand/v2's PCG(Seed, Seed) from the matching targets sorted by ID, one draw per
// strike and none when nothing matches. The same seed against the same sequence of populations (in any
// order) picks the same victims in the same order, for a given Go release. Against a live system the
// populations differ from run to run (restarted actors get new IDs), so a seed reproduces a run exactly only
// against a deterministic population, such as a fake in a test.
//
// # Mapping from OTP
//
//	exit(Pid, Reason)                 Method Exit with Config.Reason
//	exit(Pid, kill) → killed          Method Exit, Config.Reason zero (supervisor.ErrKilled)
//	a crash inside the process        Method Panic with Config.PanicValue
//
// # Concurrency
//
// A Monkey is used by one goroutine at a time: do not call Strike while Run is running. Run starts no
// goroutine: it strikes from the goroutine that called it, and OnKill runs on that goroutine between
// strikes (a slow OnKill delays the next strike). Selector.Matches, Once and the value types are safe for
// concurrent use as long as the Population is. A Population's Targets, and a Target's Exit and Panic, may be
// called from any goroutine and must not block: Exit and Panic send the actor a message and return.
package chaos
