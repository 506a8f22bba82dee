// Package loopback is the examples' dashboard authorization: only clients on this machine.
package loopback

import (
	"net"
	"net/http"
)

// Only reports whether r comes from a loopback address (dashboard.Config.Authorize).
func Only(r *http.Request) bool {
	host, _, _ := net.SplitHostPort(r.RemoteAddr)
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
