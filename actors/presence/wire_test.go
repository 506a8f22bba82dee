package presence

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/pyrehq/pyre/actors/presence/crdt"
)

// Merged in order, the chunks of a delta (a transfer's full state, or a heartbeat's delta with removals)
// leave a receiver exactly as the whole delta does, whatever the limit.
func TestChunksMergeAsTheWhole(t *testing.T) {
	for seed := range uint64(40) {
		rng := rand.New(rand.NewPCG(seed, 1))
		src, other := crdt.New("S"), crdt.New("T")
		live := map[string]bool{}
		step := func(st *crdt.State, n int) {
			for range n {
				owner := fmt.Sprint("o", rng.IntN(30))
				topic, key := fmt.Sprint("room:", rng.IntN(3)), fmt.Sprint("u", rng.IntN(10))
				meta := json.RawMessage(fmt.Sprintf(`{"x":"%0*d"}`, rng.IntN(200), 1))
				id := owner + topic + key
				switch {
				case !live[id]:
					if _, err := st.Join(owner, topic, key, meta); err == nil {
						live[id] = true
					}
				case rng.IntN(2) == 0:
					st.Leave(owner, topic, key)
					delete(live, id)
				default:
					st.Update(owner, topic, key, meta)
				}
			}
		}
		step(src, 60)
		step(other, 20)
		early := src.TakeDelta()
		step(src, 60)
		late := src.TakeDelta()
		recv := func() *crdt.State {
			r := crdt.New("R")
			r.ReplicaUp("S")
			r.ReplicaUp("T")
			if seed%2 == 0 {
				if _, _, err := r.Merge(early); err != nil {
					t.Fatal(err)
				}
			}
			return r
		}
		full := crdt.Delta{}
		for _, d := range []crdt.Delta{src.Extract(recv().Context()), other.Extract(recv().Context())} {
			full.Ranges = append(full.Ranges, d.Ranges...)
			full.Entries = append(full.Entries, d.Entries...)
		}
		cases := []crdt.Delta{full}
		if seed%2 == 0 {
			cases = append(cases, late)
		}
		for ci, d := range cases {
			for _, limit := range []int{1, 50, 300, 1000, 1 << 20} {
				whole, parts := recv(), recv()
				if _, _, err := whole.Merge(d); err != nil {
					t.Fatal(err)
				}
				cs := chunks(d, limit)
				for _, c := range cs {
					if _, _, err := parts.Merge(c); err != nil {
						t.Fatalf("seed %d case %d limit %d: %v", seed, ci, limit, err)
					}
				}
				for _, topic := range []string{"room:0", "room:1", "room:2"} {
					if a, b := whole.Get(topic), parts.Get(topic); !reflect.DeepEqual(a, b) {
						t.Fatalf("seed %d case %d limit %d (%d chunks): %s differs\n%v\n%v", seed, ci, limit, len(cs), topic, a, b)
					}
				}
				if a, b := whole.Context(), parts.Context(); !reflect.DeepEqual(a, b) {
					t.Fatalf("seed %d limit %d: contexts %v %v", seed, limit, a, b)
				}
				if limit == 1 && len(d.Entries) > 1 && len(cs) < 2 {
					t.Fatalf("%d entries in %d chunks at limit 1", len(d.Entries), len(cs))
				}
			}
		}
	}
}
