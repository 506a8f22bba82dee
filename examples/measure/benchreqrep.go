package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/pyrehq/pyre/examples/loadgen/load"
)

// rrResult is the request/reply scenario for one kind and one load: the loadgen library's result (every
// count and the push→reply histogram summary) on a fresh server.
type rrResult struct {
	Kind      string       `json:"kind"`
	Round     int          `json:"round"`
	Load      string       `json:"load"` // "1k clients, 2k pushes/s"
	Clients   int          `json:"clients"`
	Rate      int          `json:"target_pushes_per_sec"` // all clients together
	ServerPID int          `json:"server_pid"`
	Error     string       `json:"error,omitempty"`
	Result    *load.Result `json:"result,omitempty"`
}

func rrLoad(clients, rate int) string {
	return fmt.Sprintf("%s clients, %s pushes/s", count(clients), count(rate))
}

// failures counts what must be 0: connections that failed or were never made, joins and pushes that
// failed or timed out, pushes skipped (MaxInFlight reached), connections closed before the end.
func (r *rrResult) failures() int64 {
	res := r.Result
	if res == nil {
		return 0
	}
	return int64(res.Conns.Target) - res.Conns.Connected + res.Joins.Error + res.Joins.Timeout +
		res.Pushes.Error + res.Pushes.Timeout + res.Pushes.Skipped + res.Conns.ClosedEarly
}

// benchReqRep: a fresh server; clients connections each join their own topic room:r<i> and push
// echoEvent at rate/clients pushes/s for RRDuration (load.Run: random phases, HdrHistogram of push→reply).
// The payload is {"body":"<Size bytes>","seq":N}; both servers answer it with an ok reply carrying it.
func benchReqRep(ctx context.Context, cfg *benchConfig, kind string, clients, rate, round int) (r rrResult) {
	r = rrResult{Kind: kind, Round: round, Load: rrLoad(clients, rate), Clients: clients, Rate: rate}
	srv, _, err := benchServer(ctx, cfg, kind)
	if err != nil {
		r.Error = "start server: " + err.Error()
		return r
	}
	defer srv.stop()
	r.ServerPID = srv.cmd.Process.Pid
	res, err := load.Run(ctx, load.Config{
		URL:                "ws://" + srv.addr + "/socket",
		Conns:              clients,
		ConnectRate:        float64(cfg.DialRate),
		ConnectConcurrency: cfg.DialConc,
		TopicPattern:       "room:r{n}",
		TopicCount:         clients,
		PushEvent:          echoEvent,
		PushPayload:        []byte(`{"body":"` + strings.Repeat("x", cfg.Size) + `","seq":{seq}}`),
		PushRate:           float64(rate) / float64(clients),
		Duration:           cfg.RRDuration,
	})
	r.Result = res
	if err == nil && res != nil {
		err = res.Err()
	}
	if err != nil {
		r.Error = err.Error()
	}
	if res != nil {
		p := res.Pushes
		cfg.logf("  %s: %d/%d joined; %d pushes (%.0f/s): %d ok, %d errors, %d timeouts, %d skipped; push→reply p50 %v p99 %v p999 %v max %v",
			kind, res.Joins.OK, clients, p.Sent, p.PerSecond, p.OK, p.Error, p.Timeout, p.Skipped,
			res.Latency.Push.P50, res.Latency.Push.P99, res.Latency.Push.P999, res.Latency.Push.Max)
	}
	return r
}
