package transport

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"unicode/utf8"
)

// maxLogValue bounds the text of one logged value. Clients and panics control much of what Pyre logs
// (topics, event names, socket ids, panic values, decode errors, exit reasons): a 100 KB event name must not
// make a 100 KB log line.
const maxLogValue = 1024

// capLogger returns l with every log line's message and attribute values cut to maxLogValue bytes, the cut
// marked "…(N bytes)" with N the whole length. Values within the bound are passed on unchanged.
func capLogger(l *slog.Logger) *slog.Logger {
	if _, ok := l.Handler().(capHandler); ok {
		return l
	}
	return slog.New(capHandler{l.Handler()})
}

type capHandler struct{ h slog.Handler }

func (c capHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return c.h.Enabled(ctx, level)
}

func (c capHandler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, capText(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(capAttr(a))
		return true
	})
	return c.h.Handle(ctx, out)
}

func (c capHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	capped := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		capped[i] = capAttr(a)
	}
	return capHandler{c.h.WithAttrs(capped)}
}

func (c capHandler) WithGroup(name string) slog.Handler { return capHandler{c.h.WithGroup(name)} }

func capAttr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		v = slog.StringValue(capText(v.String()))
	case slog.KindGroup:
		g := v.Group()
		capped := make([]slog.Attr, len(g))
		for i, ga := range g {
			capped[i] = capAttr(ga)
		}
		v = slog.GroupValue(capped...)
	case slog.KindAny:
		var s string
		if err, ok := v.Any().(error); ok {
			s = err.Error()
		} else {
			s = fmt.Sprint(v.Any())
		}
		if len(s) > maxLogValue { // else the handler renders the value its own way
			v = slog.StringValue(capText(s))
		}
	}
	return slog.Attr{Key: capText(a.Key), Value: v}
}

// capText cuts s to maxLogValue bytes (at a UTF-8 boundary) and marks the cut.
func capText(s string) string {
	if len(s) <= maxLogValue {
		return s
	}
	cut := maxLogValue
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…(" + strconv.Itoa(len(s)) + " bytes)"
}
