package crdt

import "testing"

// FuzzMerge runs cluster scenarios whose every choice (operation, replica, owner, topic, key, delivery
// order, duplicates, losses, corruptions) is read from the input: no panic, exact diffs, consistent
// indexes, and convergence once everything is delivered.
func FuzzMerge(f *testing.F) {
	f.Add([]byte{0})
	f.Add([]byte{1, 0, 0, 0, 0, 0, 6, 1, 8, 0, 0, 0, 0, 9, 2})
	f.Add([]byte("\x01join-leave-update-take-deliver-transfer-down-up\x00\x07\x08\x09\x0a\x0b\x0c"))
	for seed := range uint64(8) {
		choose := rngChooser(seed)
		in := make([]byte, 400)
		for i := range in {
			in[i] = byte(choose(256))
		}
		f.Add(in)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		pos := 0
		choose := func(n int) int {
			if pos >= len(in) {
				pos++
				return 0
			}
			v := int(in[pos])
			pos++
			return v % n
		}
		c := newCluster(t, 3+choose(2), choose)
		for pos < len(in) {
			c.step()
		}
		c.converge()
	})
}
