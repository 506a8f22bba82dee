package supervisor_test

import (
	"context"
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
