package chaos

import (
	"fmt"
	"slices"
	"strings"
)

// Kind is the kind of actor a Target is.
type Kind string

// Kinds of targets the runtime lists. A runtime may list other kinds; selectors match them by name.
const (
	Socket         Kind = "socket"
	Channel        Kind = "channel"
	Infrastructure Kind = "infrastructure" // pubsub, presence and other runtime workers
)

// Well-known Target labels.
const (
	// LabelTopic is a channel's topic ("room:lobby").
	LabelTopic = "topic"
	// LabelSocketID is the socket's id (Phoenix's Socket id/1). A socket target carries its own id, a
	// channel target its socket's, so that Selector{SocketID: id} selects a socket and its channels.
	LabelSocketID = "socket_id"
	// LabelChild is the child id a supervisor knows the actor by.
	LabelChild = "child_id"
)

// Target is one live actor that can be killed. Exit and Panic are asynchronous and must not block: they
// ask the actor to die and return.
type Target struct {
	Kind   Kind              // Socket, Channel or Infrastructure
	ID     string            // unique and stable for this actor's life (e.g. its PID id)
	Labels map[string]string // e.g. LabelTopic, LabelSocketID, LabelChild
	// Exit makes the actor exit with reason (OTP exit/2). It returns false if the actor was already gone.
	// A Target with a nil Exit is never chosen by the Exit method.
	Exit func(reason error) bool
	// Panic makes the actor panic with value inside its own Receive. It returns false if the actor was
	// already gone. A Target with a nil Panic is never chosen by the Panic method.
	Panic func(value any) bool
}

// Population lists the live targets of a running system. Targets returns a snapshot that the caller may
// keep; it must be safe for concurrent use.
type Population interface {
	// Targets lists the live targets now; it is called once per strike, from the Monkey's goroutine.
	Targets() []Target
}

// PopulationFunc adapts a function to a Population.
type PopulationFunc func() []Target

// Targets returns f().
func (f PopulationFunc) Targets() []Target { return f() }

// Selector chooses which targets may be killed. The zero value selects every target. The fields combine
// with AND.
type Selector struct {
	// Kinds the target must be one of. Empty: any kind.
	Kinds []Kind
	// Topic is a Phoenix-style pattern on Labels[LabelTopic]: "room:*" matches topics that start with
	// "room:", "*" matches any topic, anything else matches exactly. A non-empty pattern never matches a
	// target without a topic label (a socket, a pubsub worker). Empty: no constraint.
	Topic string
	// SocketID must equal Labels[LabelSocketID]. Empty: no constraint.
	SocketID string
	// Match is an extra predicate. Nil: none.
	Match func(Target) bool
}

// Matches reports whether s selects t.
func (s Selector) Matches(t Target) bool {
	if len(s.Kinds) > 0 && !slices.Contains(s.Kinds, t.Kind) {
		return false
	}
	if s.Topic != "" {
		topic, ok := t.Labels[LabelTopic]
		if !ok || !topicMatches(s.Topic, topic) {
			return false
		}
	}
	if s.SocketID != "" && t.Labels[LabelSocketID] != s.SocketID {
		return false
	}
	return s.Match == nil || s.Match(t)
}

func topicMatches(pattern, topic string) bool {
	if prefix, ok := strings.CutSuffix(pattern, "*"); ok {
		return strings.HasPrefix(topic, prefix)
	}
	return pattern == topic
}

func checkTopicPattern(pattern string) error {
	if i := strings.IndexByte(pattern, '*'); i >= 0 && i != len(pattern)-1 {
		return fmt.Errorf("%w: %q", ErrTopicPattern, pattern)
	}
	return nil
}

// Method is how a target is killed.
type Method uint8

const (
	// Exit makes the target exit with Config.Reason (OTP exit/2), an abnormal exit by default. It is the
	// zero value.
	Exit Method = iota
	// Panic injects a panic with Config.PanicValue into the target's own Receive.
	Panic
)

func (m Method) String() string {
	switch m {
	case Exit:
		return "exit"
	case Panic:
		return "panic"
	}
	return fmt.Sprintf("Method(%d)", uint8(m))
}
