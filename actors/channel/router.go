package channel

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/pyrehq/pyre/actors/internal/bridge"
	"github.com/pyrehq/pyre/supervisor"
)

// Assigns are values attached to a connection by Connect and to a channel by its route and its own code.
type Assigns map[string]any

// Get returns assigns[key] as a T.
func Get[T any](a Assigns, key string) (T, bool) {
	v, ok := a[key].(T)
	return v, ok
}

// ConnectInfo is what the transport knows about a connecting client (Phoenix's connect_info). Only
// SocketHandler.Connect sees it; copy into the assigns what channels need.
type ConnectInfo struct {
	Transport    string      // "websocket" or "longpoll"
	PeerAddr     string      // remote "ip:port"
	URI          *url.URL    // the request URI
	UserAgent    string      // User-Agent header
	XHeaders     http.Header // x-* headers (nil when none)
	TraceContext http.Header // traceparent and tracestate (nil when none)
	WSHeaders    http.Header // sec-websocket-* headers but the handshake key (nil when none)
	AuthToken    string      // phoenix.js authToken (Sec-WebSocket-Protocol bearer, or X-Phoenix-AuthToken)
}

// SocketHandler authenticates connections: Phoenix's UserSocket connect/3. Return assigns to accept, or an
// error to refuse (HTTP 403; a *RefuseError may choose another status).
// A handler that also implements Identifier gives connections an id.
type SocketHandler interface {
	// Connect runs on the HTTP request's goroutine, before the upgrade, once per connection (or long-poll
	// session). params are the query's connect params; the assigns it returns are every channel's
	// Socket.Assigns. A panic refuses the connection.
	Connect(params url.Values, info ConnectInfo) (Assigns, error)
}

// Identifier names a connection by a topic such as "users_socket:42" (Phoenix's id/1). Broadcasting the
// event "disconnect" to that topic closes every connection with that id. "" means anonymous.
type Identifier interface {
	// ID returns the connection's id from the assigns Connect returned.
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
	handler       SocketHandler
	routes        []*route
	maxChannels   int
	connIntensity supervisor.Intensity
}

// DefaultMaxChannels is Phoenix's default cap on channels joined per connection.
const DefaultMaxChannels = 100

// RouterOption configures a Router.
type RouterOption func(*Router)

// WithMaxChannels caps the channels one connection may have joined at once (default 100).
func WithMaxChannels(n int) RouterOption { return func(r *Router) { r.maxChannels = n } }

// Default restart intensities (transport/PROTOCOL.md §6). OTP's default of 1 in 5 s would turn a second crash of a
// chatty channel into phx_error; a channel gets three in-place restarts per 5 s, a connection ten.
var (
	DefaultChannelIntensity = supervisor.Intensity{Max: 3, Period: 5 * time.Second}
	DefaultConnIntensity    = supervisor.Intensity{Max: 10, Period: 5 * time.Second}
)

// WithConnIntensity bounds the channel restarts of one connection: more than max within period and the
// connection closes with 1011 (the client reconnects and rejoins afresh). The default is
// DefaultConnIntensity.
func WithConnIntensity(max int, period time.Duration) RouterOption {
	return func(r *Router) { r.connIntensity = supervisor.Intensity{Max: max, Period: period} }
}

// NewRouter returns a Router authenticating with h (nil accepts every connection with no assigns).
func NewRouter(h SocketHandler, opts ...RouterOption) *Router {
	if h == nil {
		h = ConnectFunc(func(url.Values, ConnectInfo) (Assigns, error) { return nil, nil })
	}
	r := &Router{handler: h, maxChannels: DefaultMaxChannels, connIntensity: DefaultConnIntensity}
	for _, o := range opts {
		o(r)
	}
	if r.connIntensity.Max < 0 || r.connIntensity.Period <= 0 {
		panic("channel: connection intensity needs max >= 0 and period > 0")
	}
	return r
}

// route is one route; actors/host reads it (bridge).
type route = bridge.Route[Channel]

// RouteOption configures one route.
type RouteOption func(*route)

// WithAssigns merges assigns into every channel joined through the route.
func WithAssigns(a Assigns) RouteOption { return func(r *route) { r.Assigns = a } }

// WithRestart sets what happens when a channel of the route crashes (transport/PROTOCOL.md §6):
// supervisor.Transient (the default) restarts it in place after an abnormal exit, supervisor.Permanent
// also after a normal stop the client did not ask for, supervisor.Temporary never (Phoenix: phx_error and
// the client rejoins).
func WithRestart(r supervisor.Restart) RouteOption { return func(rt *route) { rt.Restart = r } }

// WithIntensity bounds the in-place restarts of one channel: more than max within period and the channel
// ends with phx_error as in Phoenix. The default is DefaultChannelIntensity.
func WithIntensity(max int, period time.Duration) RouteOption {
	return func(rt *route) { rt.Intensity = supervisor.Intensity{Max: max, Period: period} }
}

// WithReceiverMiddleware runs mw around every message the route's channel actors receive, as protoactor's
// actor.WithReceiverMiddleware (tracing, metrics, logging): protoactor's lifecycle messages, the client's
// frames (*message.Message), foreign messages sent to the channel's PID, and Pyre's own internal messages.
// Middleware must call next, or the channel stops working. Such a route's channels share a Props of their
// own (the others share one for all routes).
func WithReceiverMiddleware(mw ...actor.ReceiverMiddleware) RouteOption {
	return func(rt *route) { rt.Middleware = append(rt.Middleware, mw...) }
}

// Channel routes topics matching pattern to channels made by factory. "room:*" matches every topic that
// starts with "room:", "*" matches all, anything else matches exactly. The first matching route wins.
// A pattern with "*" anywhere but at the end is a programmer error and panics.
func (r *Router) Channel(pattern string, factory func() Channel, opts ...RouteOption) {
	if factory == nil {
		panic("channel: nil factory for route " + pattern)
	}
	rt := &route{Pattern: pattern, Factory: factory, Restart: supervisor.Transient, Intensity: DefaultChannelIntensity}
	switch i := strings.IndexByte(pattern, '*'); {
	case i < 0:
		rt.Exact = true
	case i == len(pattern)-1:
		rt.Prefix = pattern[:i]
	default:
		panic(fmt.Sprintf("channel: bad route pattern %q: * only at the end", pattern))
	}
	for _, o := range opts {
		o(rt)
	}
	switch {
	case rt.Restart > supervisor.Temporary:
		panic(fmt.Sprintf("channel: route %q: unknown restart type %v", pattern, rt.Restart))
	case rt.Intensity.Max < 0 || rt.Intensity.Period <= 0:
		panic(fmt.Sprintf("channel: route %q: intensity needs max >= 0 and period > 0", pattern))
	}
	// Intercepts are a property of the channel type, asked once.
	if ic, ok := factory().(Interceptor); ok {
		rt.Intercepts = make(map[string]struct{})
		for _, e := range ic.Intercepts() {
			rt.Intercepts[e] = struct{}{}
		}
	}
	r.routes = append(r.routes, rt)
}

func (r *Router) match(topic string) *route {
	for _, rt := range r.routes {
		if rt.Exact {
			if topic == rt.Pattern {
				return rt
			}
		} else if strings.HasPrefix(topic, rt.Prefix) {
			return rt
		}
	}
	return nil
}
