package cluster

import (
	"net"
	"strconv"
	"testing"
	"time"

	protocluster "github.com/asynkron/protoactor-go/cluster"

	"github.com/pyrehq/pyre/actors/cluster/clusterprovider"
)

// fakeProvider stands for k8s/etcd/consul: it reports members through the member list, as they do.
type fakeProvider struct {
	members []*protocluster.Member
	c       *protocluster.Cluster
	stopped bool
}

func (f *fakeProvider) StartMember(c *protocluster.Cluster) error {
	f.c = c
	c.MemberList.UpdateClusterTopology(f.members)
	return nil
}
func (f *fakeProvider) StartClient(*protocluster.Cluster) error { return nil }
func (f *fakeProvider) Shutdown(bool) error                     { f.stopped = true; return nil }

func protoMember(tb testing.TB, id, addr string) *protocluster.Member {
	host, port, err := net.SplitHostPort(addr)
	p, perr := strconv.Atoi(port)
	if err != nil || perr != nil {
		tb.Fatal(addr)
	}
	return &protocluster.Member{Id: id, Host: host, Port: int32(p)}
}

// A node whose candidates come from a protoactor cluster provider joins the members the provider lists,
// and lets go of a member that is no longer a candidate. (The provider itself is not made to drop B:
// protoactor's member list then publishes EndpointTerminatedEvent, and a writer's stream goroutine that
// handles it races with remote.Shutdown on endpointManager.connections, an upstream data race.)
func TestProtoactorProvider(t *testing.T) {
	if !isolated(t) {
		return
	}
	addrs := freeAddrs(t, 2)
	fake := &fakeProvider{members: []*protocluster.Member{protoMember(t, "a", addrs[0]), protoMember(t, "b", addrs[1])}}
	b := spawnNode(t, addrs[1], addrs)
	a := startNode(t, addrs[0], func(c *Config) {
		c.HeartbeatInterval, c.DeadAfter = 0, 0
		c.Provider = &clusterprovider.Adapter{System: c.System, Provider: fake}
	})
	waitFor(t, "b joins through the provider", 10*time.Second, func() bool { return hasMember(a.node, b.id) })
	connect(addrs[:1], a)
	waitFor(t, "b leaves when no longer a candidate", 10*time.Second, func() bool { return len(a.node.Members()) == 1 })
	a.stop(t)
	if !fake.stopped {
		t.Fatal("the provider was not shut down")
	}
}
