// Command conformance is a Pyre server for interoperability tests: Phoenix clients (phoenix.js, nshafer/phx,
// our own) are driven against it to check that Pyre behaves as Phoenix does. It listens on 127.0.0.1:$PORT
// (default 4000; $HOST, default 127.0.0.1, picks another loopback address) with a socket at /socket, and
// the live dashboard (package transport/dashboard) at /dashboard/ for loopback clients (phoenix.js from
// `npm ci --prefix examples/conformance/browser`).
//
// As one node of a cluster (package actors/cluster): PYRE_NODE names this node, PYRE_CLUSTER_ADDR is its
// cluster listener (host:port) and PYRE_CLUSTER_PEERS every member's cluster address, comma separated, this
// one's included. GET /cluster answers {"node": PYRE_NODE, "members": [live member names, sorted]}.
package main

import (
	"context"
	"errors"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	port := os.Getenv("PORT")
	if port == "" {
		port = "4000"
	}
	host := os.Getenv("HOST")
	if host == "" {
		host = "127.0.0.1"
	}
	cc, err := clusterFromEnv()
	if err != nil {
		log.Fatal(err)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, port))
	if err != nil {
		log.Fatal(err)
	}
	app, err := newNodeApp(cc)
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Handler: app.mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Fatal(err)
		}
	}()
	if cc.addr != "" {
		log.Printf("conformance server on http://%s, node %s, cluster listener %s", ln.Addr(), cc.name, cc.addr)
	} else {
		log.Printf("conformance server on http://%s", ln.Addr())
	}

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	<-stop
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = srv.Shutdown(ctx)
	if err := app.shutdown(ctx); err != nil {
		log.Printf("shutdown: %v", err)
	}
}
