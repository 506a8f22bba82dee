package crdt_test

import (
	"fmt"

	"github.com/pyrehq/pyre/actors/presence/crdt"
)

func ExampleState_Merge() {
	a, b := crdt.New("node-a#1"), crdt.New("node-b#1")
	a.ReplicaUp("node-b#1") // in a tracker: on the first heartbeat from a peer
	b.ReplicaUp("node-a#1")

	a.Join("chan-1", "room:lobby", "alice", []byte(`{"device":"web"}`))
	a.Join("chan-2", "room:lobby", "bob", []byte(`{"device":"ios"}`))
	joins, leaves, _ := b.Merge(a.TakeDelta())
	fmt.Println("joins:", len(joins), "leaves:", len(leaves))

	a.Update("chan-1", "room:lobby", "alice", []byte(`{"device":"web","typing":true}`))
	a.LeaveOwner("chan-2") // the channel ended
	joins, leaves, _ = b.Merge(a.TakeDelta())
	for _, e := range leaves {
		fmt.Println("leave", e.Key, e.Dot)
	}
	for _, e := range joins {
		fmt.Println("join ", e.Key, e.Dot, string(e.Meta))
	}
	for _, e := range b.Get("room:lobby") {
		fmt.Println("online", e.Key, string(e.Meta))
	}
	// Output:
	// joins: 2 leaves: 0
	// leave alice node-a#1:1
	// leave bob node-a#1:2
	// join  alice node-a#1:3 {"device":"web","typing":true}
	// online alice {"device":"web","typing":true}
}
