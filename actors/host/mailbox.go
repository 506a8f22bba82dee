package host

import (
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"
)

// leanMailbox is the mailbox of the host's actors (issue 16): protoactor's lock-free one costs 176 B per
// actor, idle (its struct, two queues, each with a node kept as the stub), this one 96 B, and an empty queue
// holds no buffer. It behaves as protoactor's default mailbox: system messages first, suspension by
// SuspendMailbox/ResumeMailbox, Throughput messages per pass before yielding, a panic escalated with the
// message that caused it. Senders take a mutex for the append only.
type leanMailbox struct {
	mu         sync.Mutex
	sys, user  []any // pending, oldest first; nil when empty
	status     atomic.Int32
	suspended  atomic.Bool
	invoker    actor.MessageInvoker
	dispatcher actor.Dispatcher
}

const (
	mailboxIdle int32 = iota
	mailboxRunning
)

func newLeanMailbox() actor.Mailbox { return &leanMailbox{} }

func (m *leanMailbox) PostUserMessage(msg any) {
	// As protoactor's mailbox: a batch's messages are posted one by one, then the batch itself.
	if batch, ok := msg.(actor.MessageBatch); ok {
		for _, b := range batch.GetMessages() {
			m.PostUserMessage(b)
		}
	}
	if env, ok := msg.(*actor.MessageEnvelope); ok {
		if batch, ok := env.Message.(actor.MessageBatch); ok {
			for _, b := range batch.GetMessages() {
				m.PostUserMessage(b)
			}
		}
	}
	m.mu.Lock()
	m.user = append(m.user, msg)
	m.mu.Unlock()
	m.schedule()
}

func (m *leanMailbox) PostSystemMessage(msg any) {
	m.mu.Lock()
	m.sys = append(m.sys, msg)
	m.mu.Unlock()
	m.schedule()
}

func (m *leanMailbox) RegisterHandlers(invoker actor.MessageInvoker, dispatcher actor.Dispatcher) {
	m.invoker, m.dispatcher = invoker, dispatcher
}

func (m *leanMailbox) Start() {}

func (m *leanMailbox) UserMessageCount() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.user)
}

func (m *leanMailbox) schedule() {
	if m.status.CompareAndSwap(mailboxIdle, mailboxRunning) {
		m.dispatcher.Schedule(m.process)
	}
}

// process is one pass, run by the dispatcher: it handles messages until none is left (or the mailbox is
// suspended with only user messages left), then goes idle unless a message arrived meanwhile.
func (m *leanMailbox) process() {
	for {
		m.run()
		m.status.Store(mailboxIdle)
		m.mu.Lock()
		more := len(m.sys) > 0 || (!m.suspended.Load() && len(m.user) > 0)
		m.mu.Unlock()
		if !more || !m.status.CompareAndSwap(mailboxIdle, mailboxRunning) {
			return
		}
	}
}

func (m *leanMailbox) run() {
	var msg any
	defer func() {
		if r := recover(); r != nil {
			m.invoker.EscalateFailure(r, msg)
		}
	}()
	i, t := 0, m.dispatcher.Throughput()
	for {
		if i > t {
			i = 0
			runtime.Gosched()
		}
		i++
		var sys bool
		msg, sys = m.next()
		switch {
		case msg == nil:
			return
		case sys:
			switch msg.(type) {
			case *actor.SuspendMailbox:
				m.suspended.Store(true)
			case *actor.ResumeMailbox:
				m.suspended.Store(false)
			default:
				m.invoker.InvokeSystemMessage(msg)
			}
		default:
			m.invoker.InvokeUserMessage(msg)
		}
	}
}

// next takes the oldest system message, else the oldest user message unless suspended; nil when none.
func (m *leanMailbox) next() (msg any, sys bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.sys) > 0 {
		return pop(&m.sys), true
	}
	if len(m.user) > 0 && !m.suspended.Load() {
		return pop(&m.user), false
	}
	return nil, false
}

// pop removes q's first message; a queue emptied lets its buffer go.
func pop(q *[]any) any {
	v := (*q)[0]
	(*q)[0] = nil
	if len(*q) == 1 {
		*q = nil
	} else {
		*q = (*q)[1:]
	}
	return v
}
