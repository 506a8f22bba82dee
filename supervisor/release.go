package supervisor

import "github.com/asynkron/protoactor-go/actor"

// ReleaseChild is the one seam around two protoactor-go behaviours that keep a stopped child, and all it
// references, reachable from its parent (issue 11: dead connections pinned ~500 MB). Every actor that
// spawns children calls it on *actor.Terminated; supervisors do. supervisor's release_test.go checks that
// both behaviours are still what this fence expects.
//
//   - actor.PIDSet.Remove (the parent's child list) shortens its slice without clearing the slot it
//     vacates: the slot just past the end keeps a *PID, so a parent retains up to its peak number of
//     children. ctx.Children returns that very slice; the vacated slot is cleared.
//   - A *PID caches its process (unexported), and through it the dead actor's mailbox, context and value,
//     for as long as anyone holds the PID. protoactor drops the cache of a dead process the next time the
//     PID is used: a message that goes to dead letters without being logged does that.
//
// Call it in the parent's turn, with the Terminated's Who.
func ReleaseChild(ctx actor.Context, who *actor.PID) {
	if kids := ctx.Children(); len(kids) < cap(kids) {
		kids[:len(kids)+1][len(kids)] = nil
	}
	if who != nil {
		ctx.Send(who, released{})
	}
}

// released is sent to a stopped child's pid to drop its cached process; it ends in dead letters, unlogged.
type released struct{}

var _ actor.IgnoreDeadLetterLogging = released{}

func (released) IgnoreDeadLetterLogging() {}
