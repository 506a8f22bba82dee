package telemetry_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"reflect"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/pyrehq/pyre/actors/telemetry"
)

// every returns Events with each func set, each recording its field name in calls.
func every(calls *[]string, tag string) telemetry.Events {
	var e telemetry.Events
	v := reflect.ValueOf(&e).Elem()
	for i := range v.NumField() {
		name := tag + v.Type().Field(i).Name
		f := v.Field(i)
		f.Set(reflect.MakeFunc(f.Type(), func([]reflect.Value) []reflect.Value {
			*calls = append(*calls, name)
			return nil
		}))
	}
	return e
}

// call calls each func of e that is set with its zero event, in field order.
func call(e telemetry.Events) (set int) {
	v := reflect.ValueOf(e)
	for i := range v.NumField() {
		if f := v.Field(i); !f.IsNil() {
			f.Call([]reflect.Value{reflect.New(f.Type().In(0)).Elem()})
			set++
		}
	}
	return set
}

func TestCombineAndGuardedCoverEveryEvent(t *testing.T) {
	var calls []string
	a, b := every(&calls, "a."), every(&calls, "b.")
	n := reflect.TypeOf(telemetry.Events{}).NumField()
	if got := call(telemetry.Combine(a, telemetry.Events{}, b)); got != n {
		t.Fatalf("Combine set %d funcs of %d", got, n)
	}
	for i := range n {
		if !strings.HasPrefix(calls[2*i], "a.") || calls[2*i][2:] != calls[2*i+1][2:] {
			t.Fatalf("Combine order: %v", calls[2*i:2*i+2])
		}
	}
	calls = nil
	if got := call(a.Guarded(nil)); got != n || len(calls) != n {
		t.Fatalf("Guarded kept %d funcs of %d, %d called", got, n, len(calls))
	}
	if got := call(telemetry.Combine(telemetry.Events{}, telemetry.Events{})); got != 0 {
		t.Fatalf("Combine of nothing set %d funcs", got)
	}
	if !(telemetry.Events{}).IsZero() || a.IsZero() {
		t.Fatal("IsZero")
	}
}

func TestGuardedRecoversAndLogs(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	var after bool
	e := telemetry.Combine(telemetry.Events{ChannelJoined: func(telemetry.ChannelJoined) { panic("observer boom") }},
		telemetry.Events{ChannelLeft: func(telemetry.ChannelLeft) { after = true }}).Guarded(log)
	for range 3 {
		e.ChannelJoined(telemetry.ChannelJoined{}) // must not panic
	}
	e.ChannelLeft(telemetry.ChannelLeft{})
	if !after {
		t.Fatal("the other func did not run")
	}
	out := buf.String()
	if strings.Count(out, "telemetry callback panicked") != 1 || !strings.Contains(out, "event=ChannelJoined") || !strings.Contains(out, "observer boom") {
		t.Fatalf("log: %s", out)
	}
}

func TestTopicPrefix(t *testing.T) {
	for topic, want := range map[string]string{"room:42": "room:", "room:": "room:", "a:b:c": "a:", ":x": ":", "lobby": "other", "": "other"} {
		if got := telemetry.TopicPrefix(topic); got != want {
			t.Errorf("TopicPrefix(%q) = %q, want %q", topic, got, want)
		}
	}
}

func crashHere() (stack []byte) {
	defer func() {
		_ = recover()
		stack = debug.Stack()
	}()
	panic("x")
}

func TestStackSummary(t *testing.T) {
	s := telemetry.StackSummary(crashHere())
	lines := strings.Split(s, "\n")
	if len(lines) > 5 || !strings.HasPrefix(lines[0], "github.com/pyrehq/pyre/actors/telemetry_test.crashHere") ||
		!strings.Contains(lines[0], "telemetry_test.go:") || strings.Contains(s, "runtime.") || strings.Contains(s, "/work/") {
		t.Fatalf("summary:\n%s", s)
	}
	if got := telemetry.StackSummary(nil); got != "" {
		t.Fatalf("empty stack: %q", got)
	}
}

func TestTraceContext(t *testing.T) {
	h := http.Header{"Traceparent": {"00-1-2-01"}, "Tracestate": {"a=1", "b=2"}}
	tc := telemetry.TraceContextFromHeader(h)
	if tc != (telemetry.TraceContext{Traceparent: "00-1-2-01", Tracestate: "a=1,b=2"}) {
		t.Fatalf("%+v", tc)
	}
	if back := telemetry.TraceContextFromHeader(tc.Header()); back != tc {
		t.Fatalf("round trip: %+v", back)
	}
	ctx := telemetry.WithTraceContext(context.Background(), tc)
	if got, ok := telemetry.TraceContextFrom(ctx); !ok || got != tc {
		t.Fatalf("from context: %+v %v", got, ok)
	}
	if _, ok := telemetry.TraceContextFrom(context.Background()); ok {
		t.Fatal("a bare context carries a trace context")
	}
	if (telemetry.TraceContext{}).Header() != nil || !telemetry.TraceContextFromHeader(nil).IsZero() {
		t.Fatal("zero trace context")
	}
}

// An event nobody observes costs a nil check (the runtime's pattern: the event is built only when
// observed); an observed one a call.
func BenchmarkEmit(b *testing.B) {
	ev := func(e telemetry.Events) {
		b.ReportAllocs()
		for i := range b.N {
			if f := e.ChannelHandledIn; f != nil {
				f(telemetry.ChannelHandledIn{Channel: telemetry.Channel{Topic: "room:1"}, Event: "e", Duration: 1})
			}
			_ = i
		}
	}
	b.Run("off", func(b *testing.B) { ev(telemetry.Events{}.Guarded(nil)) })
	n := 0
	on := telemetry.Events{ChannelHandledIn: func(telemetry.ChannelHandledIn) { n++ }}
	b.Run("on", func(b *testing.B) { ev(on) })
	b.Run("on-guarded", func(b *testing.B) { ev(on.Guarded(nil)) })
}
