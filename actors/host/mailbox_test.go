package host

import (
	"slices"
	"testing"

	"github.com/asynkron/protoactor-go/actor"
)

// recInvoker records what a mailbox hands it; hooks run inside an invocation.
type recInvoker struct {
	got       []any
	escalated []any
	hook      func(msg any)
}

func (r *recInvoker) InvokeSystemMessage(m any) { r.got = append(r.got, m); r.run(m) }
func (r *recInvoker) InvokeUserMessage(m any)   { r.got = append(r.got, m); r.run(m) }
func (r *recInvoker) EscalateFailure(reason, m any) {
	r.escalated = append(r.escalated, reason, m)
}

func (r *recInvoker) run(m any) {
	if m == "boom" {
		panic("boom!")
	}
	if r.hook != nil {
		r.hook(m)
	}
}

// The lean mailbox behaves as protoactor's: system messages first, user messages held while suspended,
// a panic escalated with its message, and no buffer kept once empty.
func TestLeanMailbox(t *testing.T) {
	m := newLeanMailbox().(*leanMailbox)
	inv := &recInvoker{}
	m.RegisterHandlers(inv, actor.NewSynchronizedDispatcher(300))

	m.PostSystemMessage(&actor.SuspendMailbox{})
	m.PostUserMessage("u1")
	m.PostSystemMessage("s1")
	if !slices.Equal(inv.got, []any{"s1"}) || m.UserMessageCount() != 1 {
		t.Fatalf("suspended: got %v, %d user messages queued", inv.got, m.UserMessageCount())
	}
	m.PostSystemMessage(&actor.ResumeMailbox{})
	if !slices.Equal(inv.got, []any{"s1", "u1"}) {
		t.Fatalf("resumed: got %v", inv.got)
	}

	// Posted from inside a turn: the system message overtakes the user message posted before it.
	inv.got = nil
	inv.hook = func(msg any) {
		if msg == "u2" {
			m.PostUserMessage("u3")
			m.PostSystemMessage("s2")
		}
	}
	m.PostUserMessage("u2")
	if !slices.Equal(inv.got, []any{"u2", "s2", "u3"}) {
		t.Fatalf("got %v, want [u2 s2 u3]", inv.got)
	}

	inv.got, inv.hook = nil, nil
	m.PostUserMessage("boom")
	m.PostUserMessage("u4") // the next pass goes on after the failure
	if len(inv.escalated) != 2 || inv.escalated[0] != "boom!" || inv.escalated[1] != "boom" {
		t.Fatalf("escalated %v", inv.escalated)
	}
	if !slices.Equal(inv.got, []any{"boom", "u4"}) {
		t.Fatalf("got %v", inv.got)
	}
	if m.user != nil || m.sys != nil || m.status.Load() != mailboxIdle {
		t.Fatalf("idle mailbox holds %v %v, status %d", m.user, m.sys, m.status.Load())
	}
}
