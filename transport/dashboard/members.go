package dashboard

import (
	"slices"
	"strings"
	"sync"
)

// maxNodes bounds the node rows, as the cluster events could name any number.
const maxNodes = 64

// memberList is the cluster's other nodes, as the member events report them.
type memberList struct {
	mu sync.Mutex
	m  map[string]Node // by node id
}

func (l *memberList) join(id, addr string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m == nil {
		l.m = map[string]Node{}
	}
	if _, ok := l.m[id]; ok || len(l.m) < maxNodes {
		l.m[id] = Node{Name: id, Addr: addr, Status: "up"}
	}
}

func (l *memberList) leave(id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.m, id)
}

// list is this node (named self) then the others by name; nil when no other node was reported.
func (l *memberList) list(self string) []Node {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.m) == 0 {
		return nil
	}
	out := make([]Node, 0, len(l.m)+1)
	out = append(out, Node{Name: self, Status: "up", Self: true})
	for _, n := range l.m {
		out = append(out, n)
	}
	slices.SortFunc(out[1:], func(a, b Node) int { return strings.Compare(a.Name, b.Name) })
	return out
}
