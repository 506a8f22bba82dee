package supervisor

import (
	"context"
	"testing"
)

// A request without a deadline (Host.Open starts a child per connection this way) allocates the request,
// its reply channel and no context: a timer bounds it.
func TestCallAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under the race detector")
	}
	sys := newSystem(t)
	s := startSup(t, sys, Config{})
	got := testing.AllocsPerRun(200, func() {
		if _, err := s.CountChildren(context.Background()); err != nil {
			t.Fatal(err)
		}
	})
	if got > 7 { // 9 with a context.WithTimeout per request
		t.Fatalf("a request without a deadline: %v allocations, want at most 7", got)
	}
}
