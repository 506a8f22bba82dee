// Package clusterdash shows a cluster node's live members: on the dashboard (package transport/dashboard,
// which does not import the cluster package so that single-node users do not link protoactor's remote) and
// at GET /cluster.
package clusterdash

import (
	"encoding/json"
	"net/http"
	"slices"

	"github.com/pyrehq/pyre/actors/cluster"
	"github.com/pyrehq/pyre/transport/dashboard"
)

// Nodes is dashboard.Config.Nodes for node: every live member, this node marked Self. It returns nil for a
// nil node (a single node: the dashboard shows no node table).
func Nodes(node *cluster.Node) func() []dashboard.Node {
	if node == nil {
		return nil
	}
	return func() []dashboard.Node {
		members := node.Members()
		out := make([]dashboard.Node, 0, len(members))
		for _, m := range members {
			out = append(out, dashboard.Node{Name: m.Name, Addr: m.Address, Status: "up", Self: m.ID == node.ID()})
		}
		return out
	}
}

// Members answers GET /cluster for the node called name: {"node": name, "members": [live member names,
// sorted]}. A nil node (a single node) is its only member.
func Members(name string, node *cluster.Node) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		names := []string{name}
		if node != nil {
			names = names[:0]
			for _, m := range node.Members() {
				names = append(names, m.Name)
			}
			slices.Sort(names)
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"node": name, "members": names})
	}
}
