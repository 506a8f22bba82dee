package host

import (
	"fmt"
	"testing"
)

// The table must answer the same below and above the size where it starts indexing.
func TestChannelTable(t *testing.T) {
	var tb channelTable
	want := map[string]*chanEntry{}
	check := func(step string) {
		t.Helper()
		if tb.len() != len(want) {
			t.Fatalf("%s: len %d, want %d", step, tb.len(), len(want))
		}
		for topic, e := range want {
			if got := tb.get(topic); got != e {
				t.Fatalf("%s: get(%q) = %v, want %v", step, topic, got, e)
			}
		}
		if tb.get("absent") != nil {
			t.Fatalf("%s: found an absent topic", step)
		}
	}
	for i := range 3 * tableSmall {
		topic := fmt.Sprintf("room:%d", i)
		e := &chanEntry{st: &chanState{topic: topic}}
		tb.put(e)
		want[topic] = e
		check(fmt.Sprintf("put %d", i))
	}
	for i := 0; i < 3*tableSmall; i += 2 {
		topic := fmt.Sprintf("room:%d", i)
		tb.delete(topic)
		delete(want, topic)
		check(fmt.Sprintf("delete %d", i))
	}
	tb.delete("absent")
	check("delete absent")
}
