package presence

import (
	"encoding/json"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/pyrehq/pyre/actors/presence/presencepb"
)

// FuzzRemoteMessage feeds bytes from another node, decoded as each message type, to a clustered tracker
// that knows the sender: no panic, and the set stays listable and encodable (every meta a JSON object).
func FuzzRemoteMessage(f *testing.F) {
	// Seeds: the messages a real exchange produces.
	nw := newNet()
	a, b := nw.node("a:1", "A"), nw.node("b:1", "B")
	a.cl.set(a.member(), b.member())
	b.cl.set(a.member(), b.member())
	a.track("$1", "alice", "ra")
	a.track("$2", "bob", "rb")
	a.tr.apply(op{kind: opUpdate, owner: "$2", topic: "room:1", key: "bob", meta: metaOf("rb2"), prev: metaOf("rb")})
	a.sync()
	b.sync()
	a.tick()
	nw.mu.Lock()
	for _, m := range nw.q {
		raw, _ := proto.Marshal(m.m)
		f.Add(raw)
	}
	nw.mu.Unlock()
	t0 := &presencepb.Transfer{Node: "A", Replica: string(a.tr.state.Replica()), Seq: 1, Delta: deltaToPB(a.tr.state.Extract(b.tr.state.Context()))}
	raw, _ := proto.Marshal(t0)
	f.Add(raw)
	f.Add([]byte{})

	f.Fuzz(func(t *testing.T, in []byte) {
		nw := newNet()
		a, b := nw.node("a:1", "A"), nw.node("b:1", "B")
		a.cl.set(a.member(), b.member())
		b.cl.set(a.member(), b.member())
		b.track("$1", "own", "ro")
		b.sync()
		for _, m := range []proto.Message{&presencepb.Heartbeat{}, &presencepb.Transfer{}, &presencepb.TransferReq{}, &presencepb.Ack{}} {
			if proto.Unmarshal(in, m) != nil {
				continue
			}
			switch m := m.(type) { // from the known peer
			case *presencepb.Heartbeat:
				m.Node = "A"
			case *presencepb.Transfer:
				m.Node = "A"
			case *presencepb.TransferReq:
				m.Node = "A"
			case *presencepb.Ack:
				m.Node = "A"
			}
			b.tr.handleRemote(m)
		}
		for _, p := range b.tr.List("room:1") {
			for _, meta := range p.Metas {
				if !json.Valid(meta) {
					t.Fatalf("listed meta %q", meta)
				}
			}
		}
		b.tr.mu.Lock()
		es := b.tr.state.Get("room:1")
		b.tr.mu.Unlock()
		if _, err := b.tr.encodeState("room:1", es); err != nil {
			t.Fatal(err)
		}
		b.diffs()
	})
}
