// Command loadgen is a Phoenix Channels load generator: it opens connections at a given rate (spread over
// loopback source addresses), joins topics, pushes at a rate, counts broadcasts and prints counts and
// latency histograms. It speaks only the Phoenix V2 protocol, so it drives any Phoenix server. See
// README.md.
//
//	go run ./examples/loadgen -url ws://127.0.0.1:4000/socket -conns 1000 -rate 500 \
//	    -topics 'room:{n}' -topic-count 100 -joins 2 \
//	    -push-event ping -push-payload '{"seq":{seq}}' -push-rate 1 -duration 30s \
//	    [-src-ips 127.0.0.2-127.0.0.9] [-param user_id=u{i}] [-json out.json]
//
// The exit status is 1 when a connection could not be made or a join failed (or the run was interrupted),
// 2 for bad flags.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/pyrehq/pyre/examples/loadgen/load"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cliMain(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// options are the flags that are not part of load.Config.
type options struct {
	jsonPath string
	quiet    bool
}

func cliMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, opts, err := parseFlags(args, stderr)
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(stderr, "loadgen: %v\n", err)
		}
		return 2
	}
	if !opts.quiet {
		cfg.Progress = stderr
	}
	res, err := load.Run(ctx, cfg)
	if res == nil {
		fmt.Fprintf(stderr, "loadgen: %v\n", err)
		return 2
	}
	if opts.jsonPath != "-" {
		if err := res.WriteTable(stdout); err != nil {
			fmt.Fprintf(stderr, "loadgen: %v\n", err)
			return 1
		}
	}
	if opts.jsonPath != "" {
		b, err := json.MarshalIndent(res, "", "  ")
		if err == nil {
			b = append(b, '\n')
			if opts.jsonPath == "-" {
				_, err = stdout.Write(b)
			} else {
				err = os.WriteFile(opts.jsonPath, b, 0o644)
			}
		}
		if err != nil {
			fmt.Fprintf(stderr, "loadgen: writing JSON: %v\n", err)
			return 1
		}
	}
	if err := res.Err(); err != nil {
		fmt.Fprintf(stderr, "loadgen: %v\n", err)
		return 1
	}
	return 0
}

func parseFlags(args []string, stderr io.Writer) (load.Config, options, error) {
	var cfg load.Config
	var opts options
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.URL, "url", "ws://127.0.0.1:4000/socket", "socket endpoint (/websocket?vsn=2.0.0 is appended unless present)")
	params := paramFlag{}
	fs.Var(params, "param", "connect param `key=value`, repeatable; {i} in the value is the connection index")
	fs.IntVar(&cfg.Conns, "conns", 100, "connections to open")
	fs.Float64Var(&cfg.ConnectRate, "rate", 0, "new connections per second (0: as fast as -concurrency allows)")
	fs.IntVar(&cfg.ConnectConcurrency, "concurrency", load.DefaultConnectConcurrency, "connections dialing and joining at once")
	srcIPs := fs.String("src-ips", "", "source addresses, round-robin: 127.0.0.2-127.0.0.9, a list, a count (8), or none (default: 1 per 1,000 conns from 127.0.0.2 for a loopback server)")
	topics := fs.String("topics", "", "topics to join: a pattern with {n} (see -topic-count) or a comma-separated list")
	fs.IntVar(&cfg.TopicCount, "topic-count", 0, "topics the {n} pattern expands to (0: 1)")
	fs.IntVar(&cfg.JoinsPerConn, "joins", 0, "topics each connection joins, round-robin (0: 1 when -topics is set)")
	joinPayload := fs.String("join-payload", "", "join params, JSON; {i} is the connection index, {n} the topic number")
	fs.StringVar(&cfg.PushEvent, "push-event", "", "event pushed on every joined channel (empty: no pushes)")
	pushPayload := fs.String("push-payload", "", "push payload, JSON; {seq} is the channel's push number, {i} and {n} as above")
	fs.Float64Var(&cfg.PushRate, "push-rate", 0, "pushes per second per joined channel")
	fs.DurationVar(&cfg.PushTimeout, "push-timeout", load.DefaultPushTimeout, "a push (or join) without reply by then is a timeout")
	fs.IntVar(&cfg.MaxInFlight, "max-inflight", load.DefaultMaxInFlight, "pushes awaiting replies at most; more are skipped")
	fs.StringVar(&cfg.BroadcastEvent, "broadcast-event", "", "event counted as a broadcast (empty: every non-reply message); a numeric \"ts\" in its payload gives the delivery latency")
	fs.DurationVar(&cfg.Duration, "duration", 30*time.Second, "how long to hold the load once connected")
	fs.DurationVar(&cfg.ConnectTimeout, "connect-timeout", load.DefaultConnectTimeout, "bound on the whole connect and join phase")
	fs.DurationVar(&cfg.Heartbeat, "heartbeat", load.DefaultHeartbeat, "Phoenix heartbeat interval (negative: none)")
	fs.StringVar(&opts.jsonPath, "json", "", "also write the result as JSON to this file (-: JSON on stdout instead of the table)")
	fs.BoolVar(&opts.quiet, "quiet", false, "no progress lines on stderr")
	if err := fs.Parse(args); err != nil {
		return cfg, opts, err
	}
	if fs.NArg() > 0 {
		return cfg, opts, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	var err error
	if cfg.SourceAddrs, err = load.ParseSourceAddrs(*srcIPs); err != nil {
		return cfg, opts, err
	}
	if len(params) > 0 {
		cfg.Params = url.Values(params)
	}
	switch t := strings.TrimSpace(*topics); {
	case t == "":
	case strings.Contains(t, "{n}"):
		cfg.TopicPattern = t
	default:
		for topic := range strings.SplitSeq(t, ",") {
			cfg.Topics = append(cfg.Topics, strings.TrimSpace(topic))
		}
	}
	if *joinPayload != "" {
		cfg.JoinPayload = json.RawMessage(*joinPayload)
	}
	if *pushPayload != "" {
		cfg.PushPayload = json.RawMessage(*pushPayload)
	}
	return cfg, opts, nil
}

// paramFlag collects repeated -param key=value flags.
type paramFlag url.Values

func (p paramFlag) String() string { return url.Values(p).Encode() }

func (p paramFlag) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("want key=value, got %q", s)
	}
	p[k] = append(p[k], v)
	return nil
}
