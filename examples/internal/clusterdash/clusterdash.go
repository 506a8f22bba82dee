// Package clusterdash shows a cluster node's live members on the dashboard (package transport/dashboard),
// which does not import the cluster package so that single-node users do not link protoactor's remote.
package clusterdash

import (
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
