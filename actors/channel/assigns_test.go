package channel

import "testing"

// A channel with no assigns at all has a writable Assigns map all the same (it is made on first use).
func TestAssignsMadeOnFirstUse(t *testing.T) {
	s := &Socket{}
	if len(s.Assigns()) != 0 {
		t.Fatalf("assigns %v", s.Assigns())
	}
	s.Assigns()["a"] = 1
	s.Assign("b", 2)
	if s.Assigns()["a"] != 1 || s.Assigns()["b"] != 2 {
		t.Fatalf("assigns %v", s.Assigns())
	}
}
