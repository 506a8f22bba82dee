package oteltrace_test

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/pyrehq/pyre/actors/telemetry"
	"github.com/pyrehq/pyre/actors/telemetry/oteltrace"
)

const (
	traceID     = "4bf92f3577b34da6a3ce929d0e0e4736"
	parentSpan  = "00f067aa0ba902b7"
	traceparent = "00-" + traceID + "-" + parentSpan + "-01"
)

func TestStartIsAChildOfTheConnection(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	ctx := telemetry.WithTraceContext(context.Background(), telemetry.TraceContext{Traceparent: traceparent, Tracestate: "a=1"})
	_, span := oteltrace.Start(ctx, tp, "work")
	span.End()
	_, root := oteltrace.Start(context.Background(), tp, "root")
	root.End()
	spans := rec.Ended()
	if len(spans) != 2 {
		t.Fatalf("%d spans", len(spans))
	}
	s := spans[0]
	if s.SpanContext().TraceID().String() != traceID || s.Parent().SpanID().String() != parentSpan || !s.Parent().IsRemote() ||
		s.SpanContext().TraceState().Get("a") != "1" {
		t.Fatalf("span %s: trace %s, parent %s", s.Name(), s.SpanContext().TraceID(), s.Parent().SpanID())
	}
	if spans[1].Parent().IsValid() {
		t.Fatal("a context with no trace context gave a parent")
	}
}

func TestTracerEvents(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	ev := (&oteltrace.Tracer{Provider: tp}).Events()
	ch := telemetry.Channel{Topic: "room:1", Trace: &telemetry.TraceContext{Traceparent: traceparent}}
	ev.ChannelJoined(telemetry.ChannelJoined{Channel: ch, Duration: time.Millisecond, Result: telemetry.ResultOK})
	ev.ChannelHandledIn(telemetry.ChannelHandledIn{Channel: ch, Event: "new_msg", Duration: time.Millisecond, Result: telemetry.ResultCrash})
	ev.ChannelCrashed(telemetry.ChannelCrashed{Channel: ch, Incarnation: 1, Reason: errors.New("boom")})
	spans := rec.Ended()
	want := []struct {
		name string
		code codes.Code
	}{{"pyre.join", codes.Unset}, {"pyre.handle_in", codes.Error}, {"pyre.crash", codes.Error}}
	if len(spans) != len(want) {
		t.Fatalf("%d spans", len(spans))
	}
	for i, s := range spans {
		if s.Name() != want[i].name || s.Status().Code != want[i].code || s.Parent().SpanID().String() != parentSpan ||
			s.SpanKind() != trace.SpanKindServer {
			t.Errorf("span %d: %s %v parent %s", i, s.Name(), s.Status(), s.Parent().SpanID())
		}
	}
	if d := spans[0].EndTime().Sub(spans[0].StartTime()); d != time.Millisecond {
		t.Errorf("join span lasts %v, want the join's 1ms", d)
	}
}

// The rest of Pyre never imports OpenTelemetry: only this adapter does (protoactor-go, a dependency,
// imports its metric API on its own).
func TestCoreDoesNotImportOpenTelemetry(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Imports " "}} {{join .TestImports " "}} {{join .XTestImports " "}}`,
		"github.com/pyrehq/pyre/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	checked := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, imports, _ := strings.Cut(line, " ")
		if strings.HasPrefix(pkg, "github.com/pyrehq/pyre/actors/telemetry/oteltrace") {
			continue
		}
		checked++
		for _, imp := range strings.Fields(imports) {
			if strings.HasPrefix(imp, "go.opentelemetry.io/") || imp == "github.com/pyrehq/pyre/actors/telemetry/oteltrace" {
				t.Errorf("%s imports %s", pkg, imp)
			}
		}
	}
	if checked < 10 {
		t.Fatalf("only %d packages listed", checked)
	}
}
