// Package oteltrace connects Pyre's trace context to OpenTelemetry: the spans of a channel's work become
// children of the span the client's connection request carried (its traceparent and tracestate headers,
// Phoenix's connect_info[:trace_context_headers]).
//
// It is the only package of Pyre that imports OpenTelemetry; the rest never does, so that an application
// that does not trace pays nothing for it.
//
// Two ways in, either or both:
//
//   - in a callback, Start a span of your own under the connection's trace context:
//
//     func (r *Room) HandleIn(s *channel.Socket, event string, p channel.Payload) (channel.Reply, error) {
//     ctx, span := oteltrace.Start(s.Context(), nil, "room.handle_in")
//     defer span.End()
//     ...
//     }
//
//   - or let Pyre's telemetry events record a span per join and per handled push: give
//     (&oteltrace.Tracer{Provider: tp}).Events() to transport.Config.Events (telemetry.Combine beside
//     other observers).
package oteltrace

import (
	"context"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/pyrehq/pyre/actors/telemetry"
)

// ScopeName is the instrumentation scope of Pyre's spans.
const ScopeName = "github.com/pyrehq/pyre"

var propagator = propagation.TraceContext{}

// Extract returns ctx carrying, as its remote parent span context, the trace context ctx carries
// (telemetry.TraceContextFrom: channel.Socket.Context carries its connection's); ctx unchanged when it
// carries none or an invalid one.
func Extract(ctx context.Context) context.Context {
	tc, ok := telemetry.TraceContextFrom(ctx)
	if !ok {
		return ctx
	}
	return propagator.Extract(ctx, propagation.HeaderCarrier(tc.Header()))
}

// Start starts a span named name as a child of the connection's trace context that ctx carries (see
// Extract), with tp's tracer; nil tp means otel.GetTracerProvider().
func Start(ctx context.Context, tp trace.TracerProvider, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	return tp.Tracer(ScopeName).Start(Extract(ctx), name, opts...)
}

// Tracer records spans from Pyre's telemetry events.
type Tracer struct {
	// Provider makes the tracer. Zero value means otel.GetTracerProvider() at the time of each span.
	Provider trace.TracerProvider
}

// Events returns the observer that records, as children of each connection's trace context (a root
// span when it has none), a span "pyre.join" per join and "pyre.handle_in" per handled push, over the
// callback's duration, with the topic, its prefix, the event and the result as attributes; a span whose
// callback crashed or refused has an error status. A crash is recorded as a span "pyre.crash" with its
// stack summary.
func (t *Tracer) Events() telemetry.Events {
	return telemetry.Events{
		ChannelJoined: func(e telemetry.ChannelJoined) {
			t.record(e.Channel, "pyre.join", e.Duration, e.Result, attribute.String("pyre.result", e.Result))
		},
		ChannelHandledIn: func(e telemetry.ChannelHandledIn) {
			t.record(e.Channel, "pyre.handle_in", e.Duration, e.Result, attribute.String("pyre.event", e.Event),
				attribute.String("pyre.result", e.Result))
		},
		ChannelCrashed: func(e telemetry.ChannelCrashed) {
			_, span := t.start(e.Channel, "pyre.crash", time.Now(), attribute.Int("pyre.incarnation", e.Incarnation),
				attribute.String("pyre.stack", e.Stack))
			span.SetStatus(codes.Error, e.Reason.Error())
			span.End()
		},
	}
}

func (t *Tracer) record(ch telemetry.Channel, name string, d time.Duration, result string, attrs ...attribute.KeyValue) {
	end := time.Now()
	_, span := t.start(ch, name, end.Add(-d), attrs...)
	if result == telemetry.ResultCrash || result == telemetry.ResultError {
		span.SetStatus(codes.Error, result)
	}
	span.End(trace.WithTimestamp(end))
}

func (t *Tracer) start(ch telemetry.Channel, name string, at time.Time, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	ctx := context.Background()
	if ch.Trace != nil {
		ctx = telemetry.WithTraceContext(ctx, *ch.Trace)
	}
	attrs = append(attrs, attribute.String("pyre.topic", ch.Topic), attribute.String("pyre.topic_prefix", telemetry.TopicPrefix(ch.Topic)),
		attribute.String("pyre.transport", ch.Transport))
	return Start(ctx, t.Provider, name, trace.WithTimestamp(at), trace.WithAttributes(attrs...), trace.WithSpanKind(trace.SpanKindServer))
}
