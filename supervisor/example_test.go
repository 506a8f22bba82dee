package supervisor_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/pyrehq/pyre/supervisor"
)

func ExampleStart() {
	system := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return slog.New(slog.DiscardHandler)
	}))
	defer system.Shutdown() // stops no actor: the supervisor is stopped first
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	restarted := make(chan supervisor.Event, 1)
	sup, err := supervisor.Start(system.Root, supervisor.Config{
		Name: "app",
		Children: []supervisor.ChildSpec{{
			ID:      "echo",
			Restart: supervisor.Permanent,
			Start:   func() (actor.Actor, error) { return actor.ReceiveFunc(func(actor.Context) {}), nil },
		}},
		OnEvent: func(e supervisor.Event) { // inside the supervisor actor: must not block
			if e.Type == supervisor.ChildRestarted {
				restarted <- e
			}
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}

	children, _ := sup.WhichChildren(ctx)
	system.Root.Send(children[0].PID, supervisor.InjectedPanic{Value: "boom"})
	e := <-restarted
	fmt.Println(e.Type, e.ID)

	if err := sup.Stop(ctx); err != nil {
		fmt.Println(err)
	}
	fmt.Println(sup.Err())
	// Output:
	// child_restarted echo
	// shutdown
}

// Which exits restart a child, by restart type (OTP's rules).
func ExampleShouldRestart() {
	reasons := []error{supervisor.ErrNormal, supervisor.Shutdown(errors.New("deploy")), &supervisor.PanicError{Value: "boom"}, supervisor.ErrKilled}
	for _, r := range []supervisor.Restart{supervisor.Permanent, supervisor.Transient, supervisor.Temporary} {
		fmt.Print(r, ":")
		for _, reason := range reasons {
			fmt.Print(" ", supervisor.ShouldRestart(r, reason))
		}
		fmt.Println()
	}
	// Output:
	// permanent: true true true true
	// transient: false false true true
	// temporary: false false false false
}

// A tree: a RestForOne supervisor whose second child is a nested SimpleOneForOne supervisor that gets a
// dynamic child per request, as Pyre's endpoint has one per connection.
func ExampleSpec() {
	system := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return slog.New(slog.DiscardHandler)
	}))
	defer system.Shutdown()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	worker := func() (actor.Actor, error) { return actor.ReceiveFunc(func(actor.Context) {}), nil }

	app, err := supervisor.Start(system.Root, supervisor.Config{
		Name:     "app",
		Strategy: supervisor.RestForOne, // a crash of "db" restarts "rooms" too; one of "rooms" restarts it alone
		Children: []supervisor.ChildSpec{
			{ID: "db", Restart: supervisor.Permanent, Start: worker},
			supervisor.Spec("rooms", supervisor.Config{Strategy: supervisor.SimpleOneForOne}),
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer func() { _ = app.Stop(ctx) }() // terminates the children in reverse order, the nested tree included

	children, _ := app.WhichChildren(ctx)
	for _, c := range children {
		fmt.Println(c.ID, c.Kind, c.Restart)
	}
	rooms, err := app.Sub(ctx, "rooms") // a handle to the nested supervisor
	if err != nil {
		fmt.Println(err)
		return
	}
	for range 3 {
		if _, err := rooms.StartChild(ctx, supervisor.ChildSpec{Restart: supervisor.Temporary, Start: worker}); err != nil {
			fmt.Println(err)
		}
	}
	n, _ := rooms.CountChildren(ctx)
	fmt.Println("rooms:", n.Active)
	// Output:
	// db worker permanent
	// rooms supervisor permanent
	// rooms: 3
}
