// Command chaos runs a Pyre server and hundreds of real Phoenix clients in one process, kills the server's
// actors at random while the clients push and receive broadcasts, and checks that supervision and the
// clients' phoenix.js-style recovery lose nothing they should not. See README.md.
//
//	go run ./examples/chaos [-nodes 3 -clients 300 -topics 30 -joins 3 -duration 20s -kill-rate 20
//	    -kinds channel,socket,infrastructure -seed 1 -method exit|panic|mixed -json]
//
// The exit status is 1 when an invariant was broken (Report.Violations), 2 for bad flags.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	os.Exit(cliMain(os.Args[1:], os.Stdout, os.Stderr))
}

func cliMain(args []string, stdout, stderr io.Writer) int {
	cfg := DefaultConfig()
	fs := flag.NewFlagSet("chaos", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&cfg.Clients, "clients", cfg.Clients, "client connections, one user each")
	fs.IntVar(&cfg.Nodes, "nodes", 1, "cluster nodes in this process (own actor systems, loopback cluster ports); clients spread over them")
	fs.IntVar(&cfg.Topics, "topics", cfg.Topics, "topics in the pool (room:0 …)")
	fs.IntVar(&cfg.Joins, "joins", cfg.Joins, "topics each client joins")
	fs.DurationVar(&cfg.Duration, "duration", cfg.Duration, "how long the monkey kills")
	fs.Float64Var(&cfg.KillRate, "kill-rate", cfg.KillRate, "kills per second")
	kinds := fs.String("kinds", kindsString(cfg.Kinds), "kinds of actors to kill: channel, socket, infrastructure")
	fs.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "seed of the monkey's choice of victims")
	fs.StringVar(&cfg.Method, "method", cfg.Method, "how to kill: exit (OTP exit/2), panic (inside the actor) or mixed")
	fs.DurationVar(&cfg.PushInterval, "push-interval", cfg.PushInterval, "time between pings on each joined channel")
	fs.DurationVar(&cfg.TickInterval, "tick-interval", cfg.TickInterval, "time between broadcasts on each topic")
	fs.Float64Var(&cfg.CrashPushes, "crash-pushes", cfg.CrashPushes, "fraction of pushes, while the monkey runs, that make HandleIn panic")
	fs.IntVar(&cfg.ChannelIntensity.Max, "channel-intensity", cfg.ChannelIntensity.Max, "restarts a channel may have per -intensity-period before phx_error")
	fs.IntVar(&cfg.ConnIntensity.Max, "conn-intensity", cfg.ConnIntensity.Max, "channel restarts a connection may have per -intensity-period before closing with 1011")
	period := fs.Duration("intensity-period", cfg.ChannelIntensity.Period, "period of both restart intensities")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	verbose := fs.Bool("v", false, "log the server's crash and restart reports to stderr")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg.Kinds = parseKinds(*kinds)
	cfg.ChannelIntensity.Period, cfg.ConnIntensity.Period = *period, *period
	cfg.Progress = stderr
	if *verbose {
		cfg.ServerLog = slog.New(slog.NewTextHandler(stderr, nil))
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	report, err := Run(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "chaos: %v\n", err)
		return 2
	}
	if *asJSON {
		err = report.WriteJSON(stdout)
	} else {
		err = report.WriteTable(stdout)
	}
	if err != nil {
		fmt.Fprintf(stderr, "chaos: %v\n", err)
		return 1
	}
	if len(report.Violations()) > 0 {
		return 1
	}
	return 0
}
