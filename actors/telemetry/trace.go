package telemetry

import (
	"context"
	"net/http"
)

// TraceContext is a connection's W3C trace context, taken from its upgrade (or long-poll) request's
// traceparent and tracestate headers: Phoenix's connect_info[:trace_context_headers].
type TraceContext struct {
	Traceparent string
	Tracestate  string
}

// IsZero reports whether the request carried no trace context.
func (tc TraceContext) IsZero() bool { return tc.Traceparent == "" && tc.Tracestate == "" }

// TraceContextFromHeader reads traceparent and tracestate from h (several tracestate headers are joined
// with ',', as W3C allows).
func TraceContextFromHeader(h http.Header) TraceContext {
	tc := TraceContext{Traceparent: h.Get("traceparent")}
	for i, v := range h.Values("tracestate") {
		if i > 0 {
			tc.Tracestate += ","
		}
		tc.Tracestate += v
	}
	return tc
}

// Header returns the trace context as HTTP headers (for a propagator's Extract), nil when zero.
func (tc TraceContext) Header() http.Header {
	if tc.IsZero() {
		return nil
	}
	h := http.Header{}
	if tc.Traceparent != "" {
		h.Set("traceparent", tc.Traceparent)
	}
	if tc.Tracestate != "" {
		h.Set("tracestate", tc.Tracestate)
	}
	return h
}

type traceKey struct{}

// WithTraceContext returns ctx carrying tc.
func WithTraceContext(ctx context.Context, tc TraceContext) context.Context {
	return context.WithValue(ctx, traceKey{}, tc)
}

// TraceContextFrom returns the trace context ctx carries (channel.Socket.Context carries its
// connection's), and whether it carries one.
func TraceContextFrom(ctx context.Context) (TraceContext, bool) {
	tc, ok := ctx.Value(traceKey{}).(TraceContext)
	return tc, ok && !tc.IsZero()
}
