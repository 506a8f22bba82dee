// Command conformance is a Pyre server for interoperability tests: Phoenix clients (phoenix.js, nshafer/phx,
// our own) are driven against it to check that Pyre behaves as Phoenix does. It listens on 127.0.0.1:$PORT
// (default 4000) with a socket at /socket, and the live dashboard (package transport/dashboard) at
// /dashboard/ for loopback clients (phoenix.js from `npm ci --prefix examples/conformance/browser`).
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
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", port))
	if err != nil {
		log.Fatal(err)
	}
	app := newApp()
	srv := &http.Server{Handler: app.mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Fatal(err)
		}
	}()
	log.Printf("conformance server on http://%s", ln.Addr())

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
