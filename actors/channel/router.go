package channel

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// Assigns are values attached to a connection by Connect and to a channel by its route and its own code.
type Assigns map[string]any

// Get returns assigns[key] as a T.
func Get[T any](a Assigns, key string) (T, bool) {
	v, ok := a[key].(T)
	return v, ok
}

func (a Assigns) clone() Assigns {
	c := make(Assigns, len(a))
	for k, v := range a {
		c[k] = v
	}
	return c
}

// ConnectInfo is what the transport knows about a connecting client (Phoenix's connect_info).
type ConnectInfo struct {
	Transport    string      // "websocket" or "longpoll"
	PeerAddr     string      // remote "ip:port"
	URI          *url.URL    // the request URI
	UserAgent    string      // User-Agent header
	XHeaders     http.Header // x-* headers
	TraceContext http.Header // traceparent and tracestate
	WSHeaders    http.Header // sec-websocket-* headers
	AuthToken    string      // phoenix.js authToken (Sec-WebSocket-Protocol bearer, or X-Phoenix-AuthToken)
}

// SocketHandler authenticates connections: Phoenix's UserSocket connect/3. Return assigns to accept, or an
// error to refuse (HTTP 403; a *RefuseError may choose another status).
// A handler that also implements Identifier gives connections an id.
type SocketHandler interface {
	Connect(params url.Values, info ConnectInfo) (Assigns, error)
}

// Identifier names a connection by a topic such as "users_socket:42" (Phoenix's id/1). Broadcasting the
// event "disconnect" to that topic closes every connection with that id. "" means anonymous.
type Identifier interface {
	ID(assigns Assigns) string
}

// ConnectFunc adapts a function to SocketHandler; its connections are anonymous.
type ConnectFunc func(params url.Values, info ConnectInfo) (Assigns, error)

// Connect calls f.
func (f ConnectFunc) Connect(params url.Values, info ConnectInfo) (Assigns, error) {
	return f(params, info)
}

// Router holds a socket definition: how connections are authenticated and which channel serves each topic.
// Configure it before serving; it is read-only afterwards.
type Router struct {
	handler     SocketHandler
	routes      []*route
	maxChannels int
}

// DefaultMaxChannels is Phoenix's default cap on channels joined per connection.
const DefaultMaxChannels = 100

// RouterOption configures a Router.
type RouterOption func(*Router)

// WithMaxChannels caps the channels one connection may have joined at once (default 100).
func WithMaxChannels(n int) RouterOption { return func(r *Router) { r.maxChannels = n } }

// NewRouter returns a Router authenticating with h (nil accepts every connection with no assigns).
func NewRouter(h SocketHandler, opts ...RouterOption) *Router {
	if h == nil {
		h = ConnectFunc(func(url.Values, ConnectInfo) (Assigns, error) { return Assigns{}, nil })
	}
	r := &Router{handler: h, maxChannels: DefaultMaxChannels}
	for _, o := range opts {
		o(r)
	}
	return r
}

type route struct {
	pattern    string
	prefix     string // for "room:*"
	exact      bool
	factory    func() Channel
	assigns    Assigns
	intercepts map[string]struct{}
}

// RouteOption configures one route.
type RouteOption func(*route)

// WithAssigns merges assigns into every channel joined through the route.
func WithAssigns(a Assigns) RouteOption { return func(r *route) { r.assigns = a } }

// Channel routes topics matching pattern to channels made by factory. "room:*" matches every topic that
// starts with "room:", "*" matches all, anything else matches exactly. The first matching route wins.
// A pattern with "*" anywhere but at the end is a programmer error and panics.
func (r *Router) Channel(pattern string, factory func() Channel, opts ...RouteOption) {
	if factory == nil {
		panic("channel: nil factory for route " + pattern)
	}
	rt := &route{pattern: pattern, factory: factory}
	switch i := strings.IndexByte(pattern, '*'); {
	case i < 0:
		rt.exact = true
	case i == len(pattern)-1:
		rt.prefix = pattern[:i]
	default:
		panic(fmt.Sprintf("channel: bad route pattern %q: * only at the end", pattern))
	}
	for _, o := range opts {
		o(rt)
	}
	// Intercepts are a property of the channel type, asked once.
	if ic, ok := factory().(Interceptor); ok {
		rt.intercepts = make(map[string]struct{})
		for _, e := range ic.Intercepts() {
			rt.intercepts[e] = struct{}{}
		}
	}
	r.routes = append(r.routes, rt)
}

func (r *Router) match(topic string) *route {
	for _, rt := range r.routes {
		if rt.exact {
			if topic == rt.pattern {
				return rt
			}
		} else if strings.HasPrefix(topic, rt.prefix) {
			return rt
		}
	}
	return nil
}

// Connect runs the socket handler for a connecting client. The transport calls it before upgrading, so a
// refusal becomes an HTTP status.
func (r *Router) Connect(params url.Values, info ConnectInfo) (c *Connected, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = crash(v)
		}
	}()
	assigns, err := r.handler.Connect(params, info)
	if err != nil {
		return nil, err
	}
	if assigns == nil {
		assigns = Assigns{}
	}
	c = &Connected{router: r, assigns: assigns, info: info}
	if idf, ok := r.handler.(Identifier); ok {
		c.id = idf.ID(assigns)
	}
	return c, nil
}

// Connected is an accepted connection not yet running: the result of Router.Connect.
type Connected struct {
	router  *Router
	assigns Assigns
	id      string
	info    ConnectInfo
}

// ID is the connection's id topic ("" when anonymous).
func (c *Connected) ID() string { return c.id }
