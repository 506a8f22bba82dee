// Command embedding runs Pyre inside a backend that has actors of its own: a price feed under the app's
// supervisor, Pyre's tree beside it, channels that Request the feed and that the feed pushes to by PID,
// and one custom channel actor. It serves on 127.0.0.1:4001 (PORT overrides) and moves a price every
// second.
package main

import (
	"context"
	"log"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	app, err := NewApp(slog.Default())
	if err != nil {
		log.Fatal(err)
	}
	addr := "127.0.0.1:4001"
	if port := os.Getenv("PORT"); port != "" {
		addr = "127.0.0.1:" + port
	}
	srv := &http.Server{Addr: addr, Handler: app.Endpoint, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.ListenAndServe(); err != http.ErrServerClosed {
			log.Fatal(err)
		}
	}()
	log.Printf("listening on http://%s (join ticker:ACME, or trade:ACME and push buy)", addr)

	stop, _ := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	price := 100.0
	for running := true; running; {
		select {
		case <-tick.C:
			price += rand.Float64() - 0.5
			app.System.Root.Send(app.Feed(), SetPrice{Symbol: "ACME", Value: price})
		case <-stop.Done():
			running = false
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = srv.Shutdown(ctx)
	_ = app.Shutdown(ctx)
}
