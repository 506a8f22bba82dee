package telemetry

import (
	"fmt"
	"log/slog"
	"reflect"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"time"
)

// Combine returns Events that runs each event's funcs of all, in the order given. An event none of them
// observes stays nil, so it still costs only a nil check.
func Combine(all ...Events) Events {
	var out Events
	out.SocketConnected = combine(all, func(e *Events) func(SocketConnected) { return e.SocketConnected })
	out.ChannelJoined = combine(all, func(e *Events) func(ChannelJoined) { return e.ChannelJoined })
	out.ChannelHandledIn = combine(all, func(e *Events) func(ChannelHandledIn) { return e.ChannelHandledIn })
	out.SocketDrain = combine(all, func(e *Events) func(SocketDrain) { return e.SocketDrain })
	out.SocketDisconnected = combine(all, func(e *Events) func(SocketDisconnected) { return e.SocketDisconnected })
	out.ChannelLeft = combine(all, func(e *Events) func(ChannelLeft) { return e.ChannelLeft })
	out.ChannelCrashed = combine(all, func(e *Events) func(ChannelCrashed) { return e.ChannelCrashed })
	out.ChannelRestarted = combine(all, func(e *Events) func(ChannelRestarted) { return e.ChannelRestarted })
	out.ChannelEscalated = combine(all, func(e *Events) func(ChannelEscalated) { return e.ChannelEscalated })
	out.SlowConsumer = combine(all, func(e *Events) func(SlowConsumer) { return e.SlowConsumer })
	out.EndpointGaveUp = combine(all, func(e *Events) func(EndpointGaveUp) { return e.EndpointGaveUp })
	out.InfrastructureRestarted = combine(all, func(e *Events) func(InfrastructureRestarted) { return e.InfrastructureRestarted })
	out.MessageReceived = combine(all, func(e *Events) func(MessageReceived) { return e.MessageReceived })
	out.MessagesSent = combine(all, func(e *Events) func(MessagesSent) { return e.MessagesSent })
	out.Broadcast = combine(all, func(e *Events) func(Broadcast) { return e.Broadcast })
	out.PresenceJoined = combine(all, func(e *Events) func(Presence) { return e.PresenceJoined })
	out.PresenceLeft = combine(all, func(e *Events) func(Presence) { return e.PresenceLeft })
	out.LongPollOpened = combine(all, func(e *Events) func(LongPoll) { return e.LongPollOpened })
	out.LongPollClosed = combine(all, func(e *Events) func(LongPoll) { return e.LongPollClosed })
	out.MemberJoined = combine(all, func(e *Events) func(Member) { return e.MemberJoined })
	out.MemberLeft = combine(all, func(e *Events) func(Member) { return e.MemberLeft })
	return out
}

func combine[T any](all []Events, field func(*Events) func(T)) func(T) {
	var fns []func(T)
	for i := range all {
		if f := field(&all[i]); f != nil {
			fns = append(fns, f)
		}
	}
	switch len(fns) {
	case 0:
		return nil
	case 1:
		return fns[0]
	}
	return func(v T) {
		for _, f := range fns {
			f(v)
		}
	}
}

// Guarded returns e with each func wrapped so that a panic in it is recovered and logged on log (at most
// one line per second for all of e's funcs), not a crash: the runtime calls it on what it is given, so you
// need not. A nil func stays nil.
func (e Events) Guarded(log *slog.Logger) Events {
	if log == nil {
		log = slog.Default()
	}
	g := &guard{log: log}
	var out Events
	out.SocketConnected = guarded(g, "SocketConnected", e.SocketConnected)
	out.ChannelJoined = guarded(g, "ChannelJoined", e.ChannelJoined)
	out.ChannelHandledIn = guarded(g, "ChannelHandledIn", e.ChannelHandledIn)
	out.SocketDrain = guarded(g, "SocketDrain", e.SocketDrain)
	out.SocketDisconnected = guarded(g, "SocketDisconnected", e.SocketDisconnected)
	out.ChannelLeft = guarded(g, "ChannelLeft", e.ChannelLeft)
	out.ChannelCrashed = guarded(g, "ChannelCrashed", e.ChannelCrashed)
	out.ChannelRestarted = guarded(g, "ChannelRestarted", e.ChannelRestarted)
	out.ChannelEscalated = guarded(g, "ChannelEscalated", e.ChannelEscalated)
	out.SlowConsumer = guarded(g, "SlowConsumer", e.SlowConsumer)
	out.EndpointGaveUp = guarded(g, "EndpointGaveUp", e.EndpointGaveUp)
	out.InfrastructureRestarted = guarded(g, "InfrastructureRestarted", e.InfrastructureRestarted)
	out.MessageReceived = guarded(g, "MessageReceived", e.MessageReceived)
	out.MessagesSent = guarded(g, "MessagesSent", e.MessagesSent)
	out.Broadcast = guarded(g, "Broadcast", e.Broadcast)
	out.PresenceJoined = guarded(g, "PresenceJoined", e.PresenceJoined)
	out.PresenceLeft = guarded(g, "PresenceLeft", e.PresenceLeft)
	out.LongPollOpened = guarded(g, "LongPollOpened", e.LongPollOpened)
	out.LongPollClosed = guarded(g, "LongPollClosed", e.LongPollClosed)
	out.MemberJoined = guarded(g, "MemberJoined", e.MemberJoined)
	out.MemberLeft = guarded(g, "MemberLeft", e.MemberLeft)
	return out
}

func guarded[T any](g *guard, name string, f func(T)) func(T) {
	if f == nil {
		return nil
	}
	return func(v T) {
		defer g.recover(name)
		f(v)
	}
}

type guard struct {
	log  *slog.Logger
	last atomic.Int64 // unix nanos of the last line logged
}

func (g *guard) recover(event string) {
	v := recover()
	if v == nil {
		return
	}
	now := time.Now().UnixNano()
	if last := g.last.Load(); now-last < int64(time.Second) || !g.last.CompareAndSwap(last, now) {
		return
	}
	g.log.Error("pyre: telemetry callback panicked", "event", event, "panic", fmt.Sprint(v),
		"stack", StackSummary(debug.Stack()))
}

// TopicPrefix is a topic's bounded part, for metric labels: up to and including its first ':' ("room:"
// of "room:42"), as Phoenix's channel routes ("room:*"). A topic without ':' gives "other": its whole name
// might be unbounded (a user id), and a label must not be.
func TopicPrefix(topic string) string {
	if i := strings.IndexByte(topic, ':'); i >= 0 {
		return topic[:i+1]
	}
	return "other"
}

// StackSummary keeps the frames of a goroutine stack (runtime/debug.Stack, a *channel.CrashError's Stack)
// nearest to a panic: up to 5 frames after the panic's own, the runtime's and Pyre's recovery frames
// skipped, one "function file:line" per line, file names without their directories. A stack with no
// panic in it gives its first 5 frames.
func StackSummary(stack []byte) string {
	lines := strings.Split(string(stack), "\n")
	type frame struct{ fn, loc string }
	var frames []frame
	for i := 1; i+1 < len(lines); i += 2 { // line 0 is "goroutine N [running]:"
		fn := strings.TrimSpace(lines[i])
		loc := strings.TrimSpace(lines[i+1])
		if j := strings.LastIndexByte(loc, ' '); j > 0 {
			loc = loc[:j] // " +0x1d"
		}
		if j := strings.LastIndexByte(loc, '/'); j >= 0 {
			loc = loc[j+1:]
		}
		if j := strings.LastIndexByte(fn, '('); j > 0 {
			fn = fn[:j] // the arguments
		}
		frames = append(frames, frame{fn, loc})
	}
	start := 0
	for i, f := range frames {
		if f.fn == "panic" || strings.HasPrefix(f.fn, "runtime.gopanic") {
			start = i + 1
		}
	}
	var b strings.Builder
	n := 0
	for _, f := range frames[start:] {
		if strings.HasPrefix(f.fn, "runtime.") || strings.HasPrefix(f.fn, "runtime/debug.") {
			continue
		}
		if n == 5 {
			break
		}
		if n > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(f.fn)
		b.WriteByte(' ')
		b.WriteString(f.loc)
		n++
	}
	return b.String()
}

// IsZero reports whether e observes nothing.
func (e Events) IsZero() bool { return reflect.ValueOf(e).IsZero() }
