package transport

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/pyrehq/pyre/actors/channel"
	"github.com/pyrehq/pyre/supervisor/chaos"
	"github.com/pyrehq/pyre/supervisor/chaos/pyrechaos"
)

// What the README tells a new user (issue 13.5), checked.

// idChannel answers its join with its ChannelID, and "incarnation" with its incarnation.
type idChannel struct{}

func (idChannel) Join(s *channel.Socket, _ string, _ channel.Payload) (any, error) {
	return map[string]string{"id": s.ChannelID()}, nil
}

func (idChannel) HandleIn(s *channel.Socket, _ string, _ channel.Payload) (channel.Reply, error) {
	return channel.ReplyOK(map[string]int{"incarnation": s.Incarnation()}), nil
}

// "Beside other HTTP routes": the endpoint mounted under its socket's path in a ServeMux, next to a file
// server at "/" and a health check.
func TestEndpointBesideOtherRoutes(t *testing.T) {
	ep := NewEndpoint(Config{Logger: slog.New(slog.DiscardHandler)})
	router := channel.NewRouter(nil)
	router.Channel("id:*", func() channel.Channel { return idChannel{} })
	ep.Socket("/socket", router)
	mux := http.NewServeMux()
	mux.Handle("/socket/", ep)
	mux.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "home") }))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		if ep.Err() != nil {
			http.Error(w, ep.Err().Error(), http.StatusServiceUnavailable)
		}
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		if err := ep.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	for path, want := range map[string]string{"/": "home", "/page": "home", "/healthz": ""} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK || string(body) != want {
			t.Fatalf("GET %s: %d %q, want 200 %q", path, resp.StatusCode, body, want)
		}
	}
	c := dial(t, srv, v2, nil)
	c.send(`["1","1","id:a","phx_join",{}]`)
	if f := c.next(); !json.Valid(f.data) {
		t.Fatalf("join reply %s", f.data)
	}
	resp, err := http.Get(srv.URL + "/socket/nothing")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("GET /socket/nothing: %d, want 404 from the endpoint", resp.StatusCode)
	}
}

// "To aim at one client": a channel target's ID is its ChannelID, which tells two anonymous clients on one
// topic apart; SocketID "" selects every socket.
func TestChaosTargetsOneAnonymousClient(t *testing.T) {
	ep := NewEndpoint(Config{Logger: slog.New(slog.DiscardHandler)})
	router := channel.NewRouter(nil)
	router.Channel("id:*", func() channel.Channel { return idChannel{} })
	ep.Socket("/socket", router)
	srv := serve(t, ep)
	join := func(c *rawClient) string {
		c.send(`["1","1","id:a","phx_join",{}]`)
		var r [5]json.RawMessage
		var p struct {
			Response struct{ ID string } `json:"response"`
		}
		if f := c.next(); json.Unmarshal(f.data, &r) != nil || json.Unmarshal(r[4], &p) != nil || p.Response.ID == "" {
			t.Fatalf("join reply %s", f.data)
		}
		return p.Response.ID
	}
	a, b := dial(t, srv, v2, nil), dial(t, srv, v2, nil)
	idA := join(a)
	join(b)
	target(t, ep, chaos.Selector{Kinds: []chaos.Kind{chaos.Channel}, Match: func(tg chaos.Target) bool { return tg.ID == idA }}).Exit(nil)
	eventually(t, "a's channel restarted", func() bool { return ep.Stats().Restarts == 1 })
	a.send(`["1","2","id:a","incarnation",{}]`)
	a.expect(`["1","2","id:a","phx_reply",{"response":{"incarnation":2},"status":"ok"}]`)
	b.send(`["1","2","id:a","incarnation",{}]`)
	b.expect(`["1","2","id:a","phx_reply",{"response":{"incarnation":1},"status":"ok"}]`)
	n := 0
	for _, tg := range pyrechaos.Population(ep).Targets() {
		if (chaos.Selector{Kinds: []chaos.Kind{chaos.Socket}, SocketID: ""}).Matches(tg) {
			n++
		}
	}
	if n != 2 {
		t.Fatalf("SocketID \"\" selects %d sockets, want both", n)
	}
}
