package cluster

import (
	"github.com/pyrehq/pyre/actors/telemetry"

	"cmp"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/pyrehq/pyre/actors/cluster/clusterpb"
)

type (
	// candidates is the provider's latest address list.
	candidates []string
	// tick is the heartbeat clock.
	tick time.Time
	// flush asks the manager to send a link's queue.
	flush struct{ l *link }
	// probed is a TCP probe's outcome for a candidate that is not a member.
	probed struct {
		addr string
		ok   bool
	}
)

// manager owns membership and the sending side of every link. Membership is heartbeat timing only, as
// Phoenix.Tracker: every HeartbeatInterval it pings each candidate's membership actor (and answers theirs);
// a peer whose last Pong is older than DeadAfter leaves; a Pong from a new member id at a known address is
// a restart (the old one leaves).
type manager struct {
	n          *Node
	candidates []string
	peers      map[string]*peer // by address
	probing    map[string]bool
}

type peer struct {
	m        Member
	lastPong time.Time
	link     *link
}

func newManager(n *Node) *manager {
	return &manager{n: n, peers: make(map[string]*peer), probing: make(map[string]bool)}
}

// rebuild takes back, after a restart, what the node kept: the candidates, and a peer for each link
// (a member as of the last publish), heard from now. Nothing when the manager first starts.
func (m *manager) rebuild() {
	m.candidates = slices.Clone(m.n.candidates)
	now := time.Now()
	for _, l := range *m.n.links.Load() {
		m.peers[l.peer.Address] = &peer{m: l.peer, link: l, lastPong: now}
	}
}

func (m *manager) Receive(ctx actor.Context) {
	switch msg := ctx.Message().(type) {
	case *actor.Started:
		m.rebuild()
	case candidates:
		m.candidates = m.candidates[:0]
		for _, a := range msg {
			if a != m.n.cfg.Address && !slices.Contains(m.candidates, a) {
				m.candidates = append(m.candidates, a)
			}
		}
		for addr, p := range m.peers {
			if !slices.Contains(m.candidates, addr) {
				m.leave(ctx, p, "no longer a candidate")
			}
		}
		m.n.candidates = slices.Clone(m.candidates)
		m.ping(ctx)
	case tick:
		now := time.Time(msg)
		m.ping(ctx)
		for _, p := range m.peers {
			if now.Sub(p.lastPong) > m.n.cfg.DeadAfter {
				m.leave(ctx, p, "heartbeat timeout")
				continue
			}
			l := p.link
			if l.sent > l.acked && now.Sub(l.since) > max(m.n.cfg.DeadAfter, minLossTimeout) {
				m.n.lostBatches.Add(l.sent - l.acked)
				l.acked = l.sent
				m.sendBatches(ctx, l)
			}
		}
	case *clusterpb.Ping:
		ctx.Respond(&clusterpb.Pong{Node: m.n.id, Address: m.n.cfg.Address, Name: m.n.cfg.Name})
	case *clusterpb.Pong:
		m.pong(ctx, msg)
	case *clusterpb.Ack:
		if p := m.peers[ctx.Sender().GetAddress()]; p != nil && p.m.ID == msg.Node {
			m.ack(ctx, p.link, msg.Seq)
		} else if p := m.byID(msg.Node); p != nil {
			m.ack(ctx, p.link, msg.Seq)
		}
	case probed:
		delete(m.probing, msg.addr)
		if msg.ok && m.peers[msg.addr] == nil && slices.Contains(m.candidates, msg.addr) {
			ctx.Request(actor.NewPID(msg.addr, membershipName), &clusterpb.Ping{Node: m.n.id, Address: m.n.cfg.Address})
		}
	case flush:
		if p := m.peers[msg.l.peer.Address]; p != nil && p.link == msg.l {
			m.sendBatches(ctx, msg.l)
		}
	}
}

// ping heartbeats the members through remote. A candidate that is not a member gets a TCP probe first
// and a ping only once its port answers: each remote send to a dead address makes protoactor start an
// endpoint writer that dials, fails, sleeps 2 s and dead-letters what it holds.
func (m *manager) ping(ctx actor.Context) {
	ping := &clusterpb.Ping{Node: m.n.id, Address: m.n.cfg.Address}
	for _, addr := range m.candidates {
		if m.peers[addr] != nil {
			ctx.Request(actor.NewPID(addr, membershipName), ping)
		} else if !m.probing[addr] {
			m.probing[addr] = true
			m.n.probe(addr)
		}
	}
}

func (m *manager) byID(id string) *peer {
	for _, p := range m.peers {
		if p.m.ID == id {
			return p
		}
	}
	return nil
}

func (m *manager) pong(ctx actor.Context, msg *clusterpb.Pong) {
	if !slices.Contains(m.candidates, msg.Address) {
		return
	}
	p := m.peers[msg.Address]
	if p != nil && p.m.ID != msg.Node {
		m.leave(ctx, p, "restarted")
		p = nil
	}
	if p == nil {
		mem := Member{ID: msg.Node, Address: msg.Address, Name: cmp.Or(msg.Name, msg.Address)}
		p = &peer{m: mem, link: newLink(m.n, mem)}
		m.peers[msg.Address] = p
		m.publish()
		m.n.cfg.Logger.Info("cluster: member joined", slog.String("name", mem.Name), slog.String("id", mem.ID), slog.String("address", mem.Address))
		if f := m.n.cfg.Events.MemberJoined; f != nil {
			f(telemetry.Member{ID: mem.ID, Name: mem.Name, Address: mem.Address, Members: len(m.peers) + 1})
		}
	}
	p.lastPong = time.Now()
}

func (m *manager) leave(ctx actor.Context, p *peer, why string) {
	delete(m.peers, p.m.Address)
	p.link.close()
	if p.link.sent > p.link.acked {
		m.n.lostBatches.Add(p.link.sent - p.link.acked)
	}
	ctx.Send(m.n.relay, forget(p.m.ID))
	m.publish()
	m.n.cfg.Logger.Info("cluster: member left", slog.String("name", p.m.Name), slog.String("id", p.m.ID), slog.String("address", p.m.Address), slog.String("why", why))
	if f := m.n.cfg.Events.MemberLeft; f != nil {
		f(telemetry.Member{ID: p.m.ID, Name: p.m.Name, Address: p.m.Address, Members: len(m.peers) + 1})
	}
}

// publish replaces the snapshots publishers and Members read.
func (m *manager) publish() {
	links := make([]*link, 0, len(m.peers))
	members := []Member{m.n.self()}
	for _, p := range m.peers {
		links = append(links, p.link)
		members = append(members, p.m)
	}
	slices.SortFunc(members, func(a, b Member) int { return strings.Compare(a.Address, b.Address) })
	m.n.links.Store(&links)
	m.n.members.Store(&members)
	m.n.notify()
}

func (m *manager) ack(ctx actor.Context, l *link, seq uint64) {
	if seq <= l.acked || seq > l.sent {
		return // stale: counted lost already, or not ours
	}
	l.acked = seq
	l.since = time.Now()
	m.sendBatches(ctx, l)
}

// sendBatches sends batches while the window has room. With the window full, scheduled stays set and the
// next ack (or the loss timeout) sends again.
func (m *manager) sendBatches(ctx actor.Context, l *link) {
	for l.sent-l.acked < window {
		items := l.take()
		if items == nil {
			return
		}
		if l.sent == l.acked {
			l.since = time.Now()
		}
		l.sent++
		ctx.Request(l.target, &clusterpb.Batch{Node: m.n.id, Seq: l.sent, Broadcasts: items})
	}
}
