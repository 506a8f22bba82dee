// Command tapracer is the TapRacer demo of the seed notes ("Phoenix Sockets and Channels") as a Pyre app:
// players race to tap a button a target number of times, a console watches the race live and starts new
// ones, and a chat runs the seed's ChatChannel; the racers online and each chat room's members are shown
// with Phoenix.Presence (a presence.Tracker). It listens on 127.0.0.1:$PORT (default 4000) with a socket
// at /socket and the pages at /, /play, /console and /chat, and Pyre's live dashboard at /dashboard/ (for
// loopback clients: the supervision tree, connections, restarts, crashes and rates).
//
// Usage:
//
//	npm ci --prefix examples/tapracer/assets   # the official phoenix.js, served at /assets/phoenix.mjs
//	go run ./examples/tapracer                  # from the repository root
//
// Flags:
//
//	-addr ADDR  listen address (default 127.0.0.1:$PORT, PORT defaulting to 4000)
//	-dir DIR    directory holding static/ and assets/ (env TAPRACER_DIR; default: the current directory
//	            if it has static/index.html, else examples/tapracer)
//
// As one node of a cluster (`make cluster` runs three): PYRE_NODE, PYRE_CLUSTER_ADDR and PYRE_CLUSTER_PEERS
// (every member's cluster address, this one's included). The race lives on the first node of the list;
// the others forward their players' joins and taps to it; race_state and the chat reach every node (the
// lists of who is online are each node's own until presence replicates across nodes). Each page shows the
// node its socket is on.
//
// SIGINT or SIGTERM stops the HTTP server, then closes every connection (clients get 1012 and reconnect).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"
)

// shutdownTimeout bounds the graceful shutdown after a signal.
const shutdownTimeout = 10 * time.Second

func main() {
	port := os.Getenv("PORT")
	if port == "" {
		port = "4000"
	}
	addr := flag.String("addr", net.JoinHostPort("127.0.0.1", port), "listen address")
	dir := flag.String("dir", defaultDir(), "directory holding static/ and assets/ (env TAPRACER_DIR)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	cc, err := clusterFromEnv()
	if err != nil {
		slog.Error("tapracer: " + err.Error())
		os.Exit(1)
	}
	ready := func(a net.Addr) { fmt.Print(banner("http://" + a.String())) }
	if cc.Addr != "" {
		ready = func(a net.Addr) { fmt.Printf("TapRacer node %s on http://%s (cluster %s)\n", cc.Name, a, cc.Addr) }
	}
	if err := run(ctx, *addr, config{Dir: *dir, Cluster: cc}, ready); err != nil {
		slog.Error("tapracer: " + err.Error())
		stop()
		os.Exit(1)
	}
}

// run serves the app on addr until ctx is done, then shuts down: http.Server.Shutdown (no new requests),
// then the endpoint (every connection closed, every channel terminated), within shutdownTimeout.
// ready, if not nil, is called with the listening address once the server accepts connections.
func run(ctx context.Context, addr string, cfg config, ready func(net.Addr)) error {
	a := newApp(cfg)
	if a.err != nil {
		return fmt.Errorf("cluster node: %w", a.err)
	}
	if err := a.check(); err != nil {
		a.log.Error(err.Error())
	}
	ln, err := net.Listen("tcp", addr)
	if errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("%w: another program uses that port; choose another with PORT=4001 make run (or -addr host:port)", err)
	}
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: a.handler, ReadHeaderTimeout: 5 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	a.log.Info("tapracer: listening", "url", "http://"+ln.Addr().String(), "dir", cfg.Dir)
	if ready != nil {
		ready(ln.Addr())
	}

	var serveErr error
	select {
	case <-ctx.Done():
		a.log.Info("tapracer: shutting down")
	case serveErr = <-served:
		served = nil
	}

	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	errs := []error{serveErr}
	if err := srv.Shutdown(sctx); err != nil {
		errs = append(errs, err)
	}
	if err := a.shutdown(sctx); err != nil {
		errs = append(errs, err)
	}
	if served != nil {
		errs = append(errs, <-served)
	}
	for i, err := range errs {
		if errors.Is(err, http.ErrServerClosed) {
			errs[i] = nil
		}
	}
	return errors.Join(errs...)
}

// defaultDir is $TAPRACER_DIR, else the current directory when it holds static/index.html (go run from
// this directory), else examples/tapracer (go run from the repository root).
func defaultDir() string {
	if d := os.Getenv("TAPRACER_DIR"); d != "" {
		return d
	}
	if _, err := os.Stat(filepath.Join("static", "index.html")); err == nil {
		return "."
	}
	return filepath.Join("examples", "tapracer")
}

// banner tells a person who just ran `make run` what to open and try.
func banner(url string) string {
	return "\nTapRacer is running on " + url + "\n" +
		"  - open " + url + "/play in two browser tabs (two players: pick names, tap TAP),\n" +
		"  - and " + url + "/console in a third (the live race, the winner, a New race button);\n" +
		"  - " + url + "/chat has chat rooms with who is here;\n" +
		"  - " + url + "/dashboard/ shows Pyre itself: the supervision tree, connections, crashes, rates.\n" +
		"Another port: PORT=4001 make run. Ctrl-C stops the server (clients see 1012 and reconnect).\n\n"
}
