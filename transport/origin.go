package transport

import (
	"net"
	"net/http"
	"net/url"
	"strings"
)

// OriginPolicy decides whether a WebSocket or long-poll request from a browser Origin is accepted
// (Phoenix's check_origin). Requests without an Origin header (non-browser clients) are always accepted.
type OriginPolicy interface {
	// Allow reports whether a WebSocket upgrade or long-poll request r from origin (its parsed Origin
	// header) may connect. It is called on the request's goroutine, before Connect.
	Allow(origin *url.URL, r *http.Request) bool
}

// OriginFunc adapts a function to OriginPolicy. Unlike the other policies it also sees the origins
// "null", "file://..." and "" that everything else refuses (origin is then nil for unparsable values).
type OriginFunc func(origin *url.URL, r *http.Request) bool

// Allow calls f.
func (f OriginFunc) Allow(origin *url.URL, r *http.Request) bool { return f(origin, r) }

type allowAll struct{}

func (allowAll) Allow(*url.URL, *http.Request) bool { return true }

// AllowAllOrigins turns origin checking off (check_origin: false).
func AllowAllOrigins() OriginPolicy { return allowAll{} }

type sameAsRequest struct{}

func (sameAsRequest) Allow(o *url.URL, r *http.Request) bool {
	return o != nil && strings.EqualFold(o.Host, r.Host)
}

// SameAsRequest accepts origins whose host:port equals the request's Host header (check_origin: :conn).
// It is the default.
func SameAsRequest() OriginPolicy { return sameAsRequest{} }

type sameHost string

func (h sameHost) Allow(o *url.URL, _ *http.Request) bool {
	return o != nil && strings.EqualFold(o.Hostname(), string(h))
}

// SameHost accepts origins whose host is host, any scheme and port (check_origin: true with the endpoint's
// configured host).
func SameHost(host string) OriginPolicy { return sameHost(host) }

type originPattern struct {
	scheme, host, port string // "" means any
	wildcard           bool   // "*.x.com": x.com and its subdomains
}

type originList []originPattern

// OriginList accepts origins matching one of patterns, as Phoenix's check_origin list: missing parts are
// wildcards ("//example.com" any scheme and port), "http://x.com" means port 80, and "*.x.com" matches x.com
// and its subdomains, not "prefix-x.com".
func OriginList(patterns ...string) OriginPolicy {
	l := make(originList, 0, len(patterns))
	for _, p := range patterns {
		u, err := url.Parse(p)
		if err != nil {
			continue
		}
		op := originPattern{scheme: strings.ToLower(u.Scheme), host: strings.ToLower(u.Hostname()), port: u.Port()}
		if strings.HasPrefix(op.host, "*.") {
			op.wildcard, op.host = true, op.host[2:]
		}
		if op.port == "" && op.scheme != "" {
			op.port = defaultPort(op.scheme)
		}
		l = append(l, op)
	}
	return l
}

func (l originList) Allow(o *url.URL, _ *http.Request) bool {
	if o == nil {
		return false
	}
	scheme, host, port := strings.ToLower(o.Scheme), strings.ToLower(o.Hostname()), o.Port()
	if port == "" {
		port = defaultPort(scheme)
	}
	for _, p := range l {
		if p.scheme != "" && p.scheme != scheme {
			continue
		}
		if p.port != "" && p.port != port {
			continue
		}
		if p.host == host || (p.wildcard && strings.HasSuffix(host, "."+p.host)) {
			return true
		}
	}
	return false
}

func defaultPort(scheme string) string {
	switch scheme {
	case "http", "ws":
		return "80"
	case "https", "wss":
		return "443"
	}
	return ""
}

// checkOrigin applies policy to r. "null", file:// and empty origins are refused except by an OriginFunc.
func checkOrigin(policy OriginPolicy, r *http.Request) bool {
	values, present := r.Header["Origin"]
	if !present {
		return true
	}
	raw := ""
	if len(values) > 0 {
		raw = values[0]
	}
	u, err := url.Parse(raw)
	valid := err == nil && raw != "" && raw != "null" && u.Scheme != "" && u.Scheme != "file" && u.Host != ""
	if _, isFunc := policy.(OriginFunc); isFunc {
		if !valid {
			u = nil
		}
		return policy.Allow(u, r)
	}
	if !valid {
		return false
	}
	if _, _, err := net.SplitHostPort(u.Host); err != nil && strings.Contains(u.Host, ":") && !strings.HasPrefix(u.Host, "[") {
		return false
	}
	return policy.Allow(u, r)
}
