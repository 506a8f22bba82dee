package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/pyrehq/pyre/actors/channel"
	"github.com/pyrehq/pyre/supervisor"
	"github.com/pyrehq/pyre/supervisor/chaos"
)

// Config describes a chaos session. Zero durations and intensities take the defaults of DefaultConfig.
type Config struct {
	Clients  int           // connections, one user each
	Nodes    int           // cluster nodes in this process, clients spread over them; 0 or 1: one endpoint, no cluster
	Topics   int           // topics in the pool: room:0 … room:<Topics-1>
	Joins    int           // topics each client joins (≤ Topics)
	Duration time.Duration // how long the monkey kills
	KillRate float64       // kills per second
	Kinds    []chaos.Kind  // kinds of targets the monkey may kill
	Method   string        // "exit", "panic" or "mixed"
	Seed     uint64

	PushInterval time.Duration // between pings on each joined channel
	TickInterval time.Duration // between ticks on each topic
	CrashPushes  float64       // fraction of pushes that are "crash" (a panic in HandleIn) while the monkey runs

	ChannelIntensity supervisor.Intensity // restarts allowed per channel
	ConnIntensity    supervisor.Intensity // restarts allowed per connection

	JoinTimeout   time.Duration // for every client to connect and join, before the chaos
	SettleTimeout time.Duration // for every client to serve again, after the chaos
	LeakTimeout   time.Duration // for goroutines and actors to return to the baseline

	Progress  io.Writer    // progress lines; nil means none
	ServerLog *slog.Logger // the endpoint's logger; nil means discard (each kill logs)
}

// DefaultConfig returns the command's defaults.
func DefaultConfig() Config {
	return Config{
		Clients: 300, Topics: 30, Joins: 3, Duration: 20 * time.Second, KillRate: 20,
		Kinds:  []chaos.Kind{chaos.Channel, chaos.Socket, chaos.Infrastructure},
		Method: "mixed", Seed: 1,
		PushInterval: 250 * time.Millisecond, TickInterval: 100 * time.Millisecond, CrashPushes: 0.001,
		ChannelIntensity: channel.DefaultChannelIntensity, ConnIntensity: channel.DefaultConnIntensity,
		JoinTimeout: 60 * time.Second, SettleTimeout: 15 * time.Second, LeakTimeout: 15 * time.Second,
	}
}

func (c *Config) setDefaults() {
	d := DefaultConfig()
	for _, f := range []struct{ v, d *time.Duration }{
		{&c.PushInterval, &d.PushInterval}, {&c.TickInterval, &d.TickInterval}, {&c.JoinTimeout, &d.JoinTimeout},
		{&c.SettleTimeout, &d.SettleTimeout}, {&c.LeakTimeout, &d.LeakTimeout},
	} {
		if *f.v <= 0 {
			*f.v = *f.d
		}
	}
	if c.ChannelIntensity.Period <= 0 {
		c.ChannelIntensity = d.ChannelIntensity
	}
	if c.ConnIntensity.Period <= 0 {
		c.ConnIntensity = d.ConnIntensity
	}
	if c.Method == "" {
		c.Method = d.Method
	}
	if c.Progress == nil {
		c.Progress = io.Discard
	}
	if c.ServerLog == nil {
		c.ServerLog = slog.New(slog.DiscardHandler)
	}
}

func (c *Config) validate() error {
	switch {
	case c.Nodes < 0 || c.Nodes > 9:
		return errors.New("nodes must be between 0 and 9")
	case c.Clients < 1 || c.Topics < 1 || c.Joins < 1:
		return errors.New("clients, topics and joins must be at least 1")
	case c.Joins > c.Topics:
		return fmt.Errorf("joins (%d) must not exceed topics (%d)", c.Joins, c.Topics)
	case c.Duration <= 0:
		return errors.New("duration must be positive")
	case c.KillRate <= 0:
		return errors.New("kill rate must be positive")
	case len(c.Kinds) == 0:
		return errors.New("at least one kind")
	case c.CrashPushes < 0 || c.CrashPushes > 1:
		return errors.New("crash-pushes is a fraction between 0 and 1")
	case c.ChannelIntensity.Max < 0 || c.ConnIntensity.Max < 0:
		return errors.New("intensities must be >= 0")
	}
	for _, k := range c.Kinds {
		if k != chaos.Channel && k != chaos.Socket && k != chaos.Infrastructure {
			return fmt.Errorf("unknown kind %q (want channel, socket or infrastructure)", k)
		}
	}
	if _, err := methods(c.Method); err != nil {
		return err
	}
	return nil
}

// methods maps the method flag to the monkeys to run: one, or two at half the rate each for "mixed".
func methods(name string) ([]chaos.Method, error) {
	switch name {
	case "exit":
		return []chaos.Method{chaos.Exit}, nil
	case "panic":
		return []chaos.Method{chaos.Panic}, nil
	case "mixed":
		return []chaos.Method{chaos.Exit, chaos.Panic}, nil
	}
	return nil, fmt.Errorf("unknown method %q (want exit, panic or mixed)", name)
}

// parseKinds parses a comma-separated list of target kinds.
func parseKinds(s string) []chaos.Kind {
	var kinds []chaos.Kind
	for k := range strings.SplitSeq(s, ",") {
		if k = strings.TrimSpace(k); k != "" {
			kinds = append(kinds, chaos.Kind(k))
		}
	}
	return kinds
}
