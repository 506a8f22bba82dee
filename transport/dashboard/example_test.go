package dashboard_test

import (
	"context"
	"net"
	"net/http"
	"net/url"

	"github.com/pyrehq/pyre/actors/channel"
	"github.com/pyrehq/pyre/transport"
	"github.com/pyrehq/pyre/transport/dashboard"
)

// Mounting the dashboard at /dashboard/ for loopback clients only, beside the application's socket.
func Example() {
	dash := dashboard.New(dashboard.Config{
		Authorize: func(r *http.Request) bool {
			host, _, _ := net.SplitHostPort(r.RemoteAddr)
			ip := net.ParseIP(host)
			return ip != nil && ip.IsLoopback()
		},
		PhoenixJS: "/assets/phoenix.mjs",
	})
	ep := transport.NewEndpoint(transport.Config{Events: dash.Events()})
	router := channel.NewRouter(channel.ConnectFunc(func(url.Values, channel.ConnectInfo) (channel.Assigns, error) {
		return channel.Assigns{}, nil
	}))
	ep.Socket("/socket", router)
	if err := dash.Start(ep); err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/socket/", ep)
	mux.Handle("/dashboard/", dash)
	// … serve mux; on the way out, after the http.Server's Shutdown:
	_ = dash.Close(context.Background())
	_ = ep.Shutdown(context.Background())
	// Output:
}
