package main

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/pyrehq/pyre/transport/client"
)

// The example's backend and channels talk both ways: the feed pushes ticks to a callback channel by its
// PID, and a custom channel actor Requests quotes from the feed to answer its client.
func TestEmbedding(t *testing.T) {
	app, err := NewApp(slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(app.Endpoint)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	t.Cleanup(func() {
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := app.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	c, err := client.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/socket/websocket?vsn=2.0.0", client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ticker, _, err := c.Join(ctx, "ticker:ACME", nil)
	if err != nil {
		t.Fatal(err)
	}
	trade, reply, err := c.Join(ctx, "trade:ACME", nil)
	if err != nil || string(reply.Response) != `{"symbol":"ACME"}` {
		t.Fatalf("join trade:ACME: %s, %v", reply.Response, err)
	}

	// The ticker's Watch reached the feed before its join reply: this price is pushed to it.
	app.System.Root.Send(app.Feed(), SetPrice{Symbol: "ACME", Value: 101.5})
	select {
	case m := <-ticker.Messages():
		if m.Event != "tick" || string(m.Payload) != `{"symbol":"ACME","value":101.5}` {
			t.Fatalf("ticker got %s %s", m.Event, m.Payload)
		}
	case <-ctx.Done():
		t.Fatal("no tick")
	}

	// A buy Requests a quote from the feed; the answer comes back to the channel, which replies.
	for range 3 {
		r, err := trade.Push(ctx, "buy", nil)
		if err != nil || string(r.Response) != `{"bought_at":101.5}` {
			t.Fatalf("buy: %s, %v", r.Response, err)
		}
	}
}
