package presence

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/pyrehq/pyre/actors/channel"
	"github.com/pyrehq/pyre/supervisor"
	"github.com/pyrehq/pyre/supervisor/chaos"
	"github.com/pyrehq/pyre/supervisor/chaos/pyrechaos"
	"github.com/pyrehq/pyre/transport"
	"github.com/pyrehq/pyre/transport/client"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// waitLimit bounds every wait: a liveness bound, not a timing assertion.
const waitLimit = 10 * time.Second

type afterJoin struct{}

// room tracks the connection's "user" with {"online_at":"1"} and pushes presence_state after joining.
type room struct {
	tr  *Tracker
	key string
}

func (r *room) Join(s *channel.Socket, _ string, _ channel.Payload) (any, error) {
	r.key, _ = channel.Get[string](s.Assigns(), "user")
	if err := r.tr.Track(s, r.key, map[string]string{"online_at": "1"}); err != nil {
		return nil, err
	}
	s.Send(afterJoin{})
	return nil, nil
}

func (r *room) HandleInfo(s *channel.Socket, msg any) error {
	if _, ok := msg.(afterJoin); ok {
		return r.tr.PushState(s)
	}
	return nil
}

func (r *room) HandleIn(s *channel.Socket, event string, p channel.Payload) (channel.Reply, error) {
	switch event {
	case "update":
		var meta map[string]any
		_ = p.Decode(&meta)
		if err := r.tr.Update(s, r.key, meta); err != nil {
			return channel.ReplyError(map[string]string{"reason": err.Error()}), nil
		}
	case "track_again":
		if err := r.tr.Track(s, r.key, nil); err != nil {
			return channel.ReplyError(map[string]string{"reason": err.Error()}), nil
		}
	case "untrack":
		r.tr.Untrack(s, r.key)
	case "tracked":
		meta, ok := r.tr.Tracked(s, r.key)
		if !ok {
			return channel.ReplyError(nil), nil
		}
		return channel.ReplyOK(meta), nil
	case "flap": // another key joins and leaves in one turn; replies with the meta it had
		if err := r.tr.Track(s, "ghost", map[string]string{"x": "1"}); err != nil {
			return channel.ReplyError(map[string]string{"reason": err.Error()}), nil
		}
		meta, _ := r.tr.Tracked(s, "ghost")
		r.tr.Untrack(s, "ghost")
		return channel.ReplyOK(meta), nil
	case "crash":
		panic("boom")
	}
	return channel.ReplyOK(nil), nil
}

type fixture struct {
	t  testing.TB
	ep *transport.Endpoint
	tr *Tracker
	ws string
}

func newFixture(t testing.TB, cfg Config) *fixture {
	t.Helper()
	return newFixtureOn(t, cfg, transport.Config{})
}

func newFixtureOn(t testing.TB, cfg Config, tcfg transport.Config) *fixture {
	t.Helper()
	ep := transport.NewEndpoint(tcfg)
	tr, err := Start(context.Background(), ep, cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := channel.NewRouter(channel.ConnectFunc(func(p url.Values, _ channel.ConnectInfo) (channel.Assigns, error) {
		return channel.Assigns{"user": p.Get("user")}, nil
	}))
	r.Channel("room:*", func() channel.Channel { return &room{tr: tr} }, channel.WithRestart(supervisor.Temporary))
	r.Channel("rs:*", func() channel.Channel { return &room{tr: tr} }) // restarted in place
	r.Channel("pj:*", func() channel.Channel { return stateInJoin{tr: tr} }, channel.WithRestart(supervisor.Temporary))
	ep.Socket("/socket", r)
	srv := httptest.NewServer(ep)
	t.Cleanup(func() {
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		if err := ep.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return &fixture{t: t, ep: ep, tr: tr, ws: "ws" + strings.TrimPrefix(srv.URL, "http") + "/socket/websocket?vsn=2.0.0"}
}

// member is a client joined to a topic that keeps the presence list as phoenix.js's Presence does.
type member struct {
	t      testing.TB
	conn   *client.Conn
	ch     *client.Channel
	view   map[string]map[string]json.RawMessage // key → phx_ref → meta
	state  bool                                  // presence_state seen; diffs before it wait
	wait   []json.RawMessage
	diffs  []json.RawMessage // every presence_diff, in order
	states []json.RawMessage // every presence_state, in order
}

func (f *fixture) join(user, topic string) *member {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	conn, err := client.Dial(ctx, f.ws, client.Options{Params: url.Values{"user": {user}}, MessageBuffer: 4096})
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { _ = conn.Close() })
	ch, reply, err := conn.Join(ctx, topic, nil)
	if err != nil || !reply.OK() {
		f.t.Fatalf("join %s as %s: %v %+v", topic, user, err, reply)
	}
	return &member{t: f.t, conn: conn, ch: ch, view: map[string]map[string]json.RawMessage{}}
}

func (m *member) push(event string, payload any) client.Reply {
	m.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	r, err := m.ch.Push(ctx, event, payload)
	var re *client.ReplyError
	if err != nil && !errors.As(err, &re) {
		m.t.Fatalf("push %s: %v", event, err)
	}
	return r
}

type wirePresence struct {
	Metas []json.RawMessage `json:"metas"`
}

func refOf(meta json.RawMessage) string {
	var m struct {
		Ref string `json:"phx_ref"`
	}
	_ = json.Unmarshal(meta, &m)
	return m.Ref
}

// drain applies every message received so far.
func (m *member) drain() {
	for {
		select {
		case msg := <-m.ch.Messages():
			switch msg.Event {
			case "presence_state":
				m.states = append(m.states, msg.Payload)
				var st map[string]wirePresence
				if err := json.Unmarshal(msg.Payload, &st); err != nil {
					m.t.Fatalf("presence_state %s: %v", msg.Payload, err)
				}
				m.view = map[string]map[string]json.RawMessage{}
				for k, p := range st {
					m.add(k, p.Metas)
				}
				m.state = true
				for _, d := range m.wait {
					m.applyDiff(d)
				}
				m.wait = nil
			case "presence_diff":
				m.diffs = append(m.diffs, msg.Payload)
				if m.state {
					m.applyDiff(msg.Payload)
				} else {
					m.wait = append(m.wait, msg.Payload)
				}
			}
		default:
			return
		}
	}
}

func (m *member) add(key string, metas []json.RawMessage) {
	if m.view[key] == nil {
		m.view[key] = map[string]json.RawMessage{}
	}
	for _, meta := range metas {
		m.view[key][refOf(meta)] = meta
	}
}

// applyDiff is phoenix.js's syncDiff: joins by phx_ref, then leaves by phx_ref.
func (m *member) applyDiff(raw json.RawMessage) {
	var d struct {
		Joins  map[string]wirePresence `json:"joins"`
		Leaves map[string]wirePresence `json:"leaves"`
	}
	if err := json.Unmarshal(raw, &d); err != nil || d.Joins == nil || d.Leaves == nil {
		m.t.Fatalf("presence_diff %s: %v", raw, err)
	}
	for k, p := range d.Joins {
		m.add(k, p.Metas)
	}
	for k, p := range d.Leaves {
		for _, meta := range p.Metas {
			delete(m.view[k], refOf(meta))
		}
		if len(m.view[k]) == 0 {
			delete(m.view, k)
		}
	}
}

// listed is a presence list as "key:ref,ref;key:ref" (sorted), to compare views.
func listed(v map[string][]string) string {
	keys := make([]string, 0, len(v))
	for k, refs := range v {
		slices.Sort(refs)
		keys = append(keys, k+":"+strings.Join(refs, ","))
	}
	slices.Sort(keys)
	return strings.Join(keys, ";")
}

func (m *member) listed() string {
	v := map[string][]string{}
	for k, refs := range m.view {
		for r := range refs {
			v[k] = append(v[k], r)
		}
	}
	return listed(v)
}

func (f *fixture) listed(topic string) string {
	v := map[string][]string{}
	for k, p := range f.tr.List(topic) {
		for _, meta := range p.Metas {
			v[k] = append(v[k], refOf(meta))
		}
	}
	return listed(v)
}

// converge waits until every member's view equals the server's list of topic, and returns it.
func (f *fixture) converge(topic string, ms ...*member) string {
	f.t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		want := f.listed(topic)
		ok := true
		for _, m := range ms {
			m.drain()
			if !m.state || m.listed() != want {
				ok = false
			}
		}
		if ok {
			return want
		}
		if time.Now().After(deadline) {
			var views []string
			for _, m := range ms {
				views = append(views, m.listed())
			}
			f.t.Fatalf("views did not converge to the server's %q: %q", want, views)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func keysOf(s string) []string {
	var keys []string
	for _, kv := range strings.Split(s, ";") {
		if k, _, ok := strings.Cut(kv, ":"); ok {
			keys = append(keys, k)
		}
	}
	return keys
}

func TestJoinsUpdatesLeavesConverge(t *testing.T) {
	f := newFixture(t, Config{Window: 5 * time.Millisecond})
	a, b, c := f.join("alice", "room:1"), f.join("bob", "room:1"), f.join("carol", "room:1")
	f.waitKeys("room:1", "alice", "bob", "carol")
	if got := keysOf(f.converge("room:1", a, b, c)); !slices.Equal(got, []string{"alice", "bob", "carol"}) {
		t.Fatalf("online: %v", got)
	}
	before := f.tr.List("room:1")["bob"].Metas[0]
	if r := b.push("update", map[string]string{"status": "away"}); !r.OK() {
		t.Fatalf("update: %+v", r)
	}
	for deadline := time.Now().Add(waitLimit); !strings.Contains(string(f.tr.List("room:1")["bob"].Metas[0]), "away"); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the update never reached the tracker")
		}
	}
	f.converge("room:1", a, b, c)
	after := f.tr.List("room:1")["bob"].Metas[0]
	var meta map[string]string
	_ = json.Unmarshal(after, &meta)
	if meta["status"] != "away" || meta["phx_ref_prev"] != refOf(before) || meta["phx_ref"] == refOf(before) {
		t.Fatalf("updated meta %s after %s", after, before)
	}
	// The update reached the others as a leave of the old meta and a join of the new.
	var found bool
	for _, d := range a.diffs {
		if strings.Contains(string(d), refOf(before)) && strings.Contains(string(d), `"status":"away"`) {
			found = true
		}
	}
	if !found {
		t.Fatalf("no diff with the leave of %s and the join of the update: %s", refOf(before), a.diffs)
	}
	// A leave and a closed connection untrack.
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := c.ch.Leave(ctx); err != nil {
		t.Fatal(err)
	}
	_ = b.conn.Close()
	f.waitKeys("room:1", "alice")
	if got := keysOf(f.converge("room:1", a)); !slices.Equal(got, []string{"alice"}) {
		t.Fatalf("online after a leave and a close: %v", got)
	}
}

func TestTrackTwiceIsAnError(t *testing.T) {
	f := newFixture(t, Config{})
	a := f.join("alice", "room:2")
	r := a.push("track_again", nil)
	if r.OK() || !strings.Contains(r.Reason(), "already tracked") {
		t.Fatalf("second Track of the same key: %+v", r)
	}
	if r := a.push("update", nil); !r.OK() {
		t.Fatalf("update of a tracked key: %+v", r)
	}
	a.push("untrack", nil)
	if r := a.push("update", nil); r.OK() || !strings.Contains(r.Reason(), "not tracked") {
		t.Fatalf("update after untrack: %+v", r)
	}
	if _, err := objectJSON([]int{1}); err == nil {
		t.Fatal("a meta that is not an object was accepted")
	}
}

// A channel restarted in place keeps its presence: same phx_ref, and no diff about it at all.
func TestRestartDoesNotFlap(t *testing.T) {
	f := newFixture(t, Config{Window: 5 * time.Millisecond})
	a, b := f.join("alice", "rs:1"), f.join("bob", "rs:1")
	f.waitKeys("rs:1", "alice", "bob")
	f.converge("rs:1", a, b)
	ref := refOf(f.tr.List("rs:1")["alice"].Metas[0])
	seen := len(b.diffs)
	if r := a.push("crash", nil); r.OK() {
		t.Fatalf("crash: %+v", r)
	}
	if r := a.push("ping", nil); !r.OK() { // answered by the restarted channel, after its Join
		t.Fatalf("after the restart: %+v", r)
	}
	// A marker: bob's own update goes after anything alice's restart could have sent.
	b.push("update", map[string]string{"marker": "1"})
	deadline := time.Now().Add(waitLimit)
	for !strings.Contains(strings.Join(rawStrings(b.diffs[seen:]), ""), `"marker":"1"`) {
		if time.Now().After(deadline) {
			t.Fatal("the marker's diff never came")
		}
		time.Sleep(5 * time.Millisecond)
		b.drain()
	}
	for _, d := range b.diffs[seen:] {
		if strings.Contains(string(d), "alice") {
			t.Fatalf("alice's restart reached bob as a diff: %s", d)
		}
	}
	if got := refOf(f.tr.List("rs:1")["alice"].Metas[0]); got != ref {
		t.Fatalf("alice's phx_ref %s after the restart, was %s", got, ref)
	}
	if r := a.push("tracked", nil); !r.OK() || !strings.Contains(string(r.Response), ref) {
		t.Fatalf("Tracked after the restart: %+v, want the kept meta with phx_ref %s", r, ref)
	}
	f.converge("rs:1", a, b)
}

func rawStrings(ds []json.RawMessage) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = string(d)
	}
	return out
}

// A crash of a channel that is not restarted (Temporary, as Phoenix) untracks it.
func TestCrashWithoutRestartLeaves(t *testing.T) {
	f := newFixture(t, Config{Window: 5 * time.Millisecond})
	a, b := f.join("alice", "room:3"), f.join("bob", "room:3")
	f.waitKeys("room:3", "alice", "bob")
	f.converge("room:3", a, b)
	if err := a.ch.PushNoReply("crash", nil); err != nil { // a Temporary channel dies without a reply
		t.Fatal(err)
	}
	f.waitKeys("room:3", "bob")
	if got := keysOf(f.converge("room:3", b)); !slices.Equal(got, []string{"bob"}) {
		t.Fatalf("online after alice crashed: %v", got)
	}
}

// A killed tracker is restarted: the diffs it had not sent go out, and it checks the set against the live
// channels, so a set that lost or gained entries (here on purpose) heals.
func TestKilledTrackerRebuildsFromChannels(t *testing.T) {
	f := newFixture(t, Config{Window: 5 * time.Millisecond})
	a, b := f.join("alice", "room:4"), f.join("bob", "room:4")
	f.waitKeys("room:4", "alice", "bob")
	f.converge("room:4", a, b)

	down := f.tr.pid.Swap(nil) // as if the tracker were down: no flush is asked of it
	a.push("untrack", nil)
	c := f.join("carol", "room:4")
	f.tr.mu.Lock() // the set breaks: bob vanishes from it, a ghost appears
	owner := f.tr.state.GetByKey("room:4", "bob")[0].Owner
	f.tr.state.LeaveOwner(owner)
	_, _ = f.tr.state.Join("ghost", "room:4", "ghost", json.RawMessage(`{"phx_ref":"ghost"}`))
	f.tr.mu.Unlock()
	var target *chaos.Target
	for _, tg := range pyrechaos.Population(f.ep).Targets() {
		if tg.Kind == chaos.Infrastructure && tg.ID == down.Id {
			target = &tg
		}
	}
	if target == nil {
		t.Fatalf("the tracker %s is not among the chaos targets: %+v", down.Id, pyrechaos.Population(f.ep).Targets())
	}
	if !target.Exit(nil) {
		t.Fatal("the tracker was already gone")
	}
	f.waitKeys("room:4", "bob", "carol")
	if got := keysOf(f.converge("room:4", a, b, c)); !slices.Equal(got, []string{"bob", "carol"}) {
		t.Fatalf("online after the rebuild: %v", got)
	}
	// The restarted tracker works as before.
	b.push("untrack", nil)
	f.waitKeys("room:4", "carol")
	if got := keysOf(f.converge("room:4", a, b, c)); !slices.Equal(got, []string{"carol"}) {
		t.Fatalf("online after bob untracked: %v", got)
	}
}

// A presence_state pushed right after the Track that joined lists the joiner (Track applies at once).
func TestStateAfterTrackListsTheJoiner(t *testing.T) {
	f := newFixture(t, Config{})
	for i := range 10 {
		m := f.join(fmt.Sprint("u", i), "room:6")
		deadline := time.Now().Add(waitLimit)
		for m.drain(); !m.state; m.drain() {
			if time.Now().After(deadline) {
				t.Fatal("no presence_state")
			}
			time.Sleep(5 * time.Millisecond)
		}
		var st map[string]wirePresence
		if err := json.Unmarshal(m.states[0], &st); err != nil || len(st[fmt.Sprint("u", i)].Metas) != 1 {
			t.Fatalf("u%d's presence_state does not list u%d: %s", i, i, m.states[0])
		}
	}
}

func TestFetchEnriches(t *testing.T) {
	f := newFixture(t, Config{Window: 5 * time.Millisecond, Fetch: func(_ string, ps map[string]Presence) map[string]Presence {
		for k, p := range ps {
			p.Extra = map[string]any{"user": map[string]string{"name": strings.ToUpper(k)}}
			ps[k] = p
		}
		return ps
	}})
	a := f.join("alice", "room:5")
	f.waitKeys("room:5", "alice")
	f.converge("room:5", a)
	p, ok := f.tr.GetByKey("room:5", "alice")
	if !ok {
		t.Fatal("alice not found")
	}
	raw, _ := json.Marshal(p)
	if !strings.Contains(string(raw), `"user":{"name":"ALICE"}`) || !strings.Contains(string(raw), `"metas":[{"online_at":"1","phx_ref":`) {
		t.Fatalf("fetched presence %s", raw)
	}
	b := f.join("bob", "room:5")
	f.waitKeys("room:5", "alice", "bob")
	f.converge("room:5", a, b)
	if !strings.Contains(strings.Join(rawStrings(a.diffs), ""), `"user":{"name":"BOB"}`) {
		t.Fatalf("diffs without the fetched data: %s", a.diffs)
	}
}

func TestWithRefs(t *testing.T) {
	for _, c := range []struct{ in, ref, prev, want string }{
		{`{}`, "R", "", `{"phx_ref":"R"}`},
		{`{ }`, "R", "", `{ "phx_ref":"R"}`},
		{`{"a":1}`, "R", "P", `{"a":1,"phx_ref":"R","phx_ref_prev":"P"}`},
	} {
		if got := string(withRefs(json.RawMessage(c.in), c.ref, c.prev)); got != c.want {
			t.Errorf("withRefs(%s) = %s, want %s", c.in, got, c.want)
		}
	}
}

func TestPresenceJSON(t *testing.T) {
	for _, c := range []struct {
		p    Presence
		want string
	}{
		{Presence{}, `{"metas":[]}`},
		{Presence{Metas: []json.RawMessage{json.RawMessage(`{"phx_ref":"a"}`)}}, `{"metas":[{"phx_ref":"a"}]}`},
		{Presence{Extra: map[string]any{"user": 1}}, `{"metas":[],"user":1}`},
	} {
		if got, err := json.Marshal(c.p); err != nil || string(got) != c.want {
			t.Errorf("%+v: %s %v, want %s", c.p, got, err, c.want)
		}
	}
}

// waitKeys waits until the server lists exactly keys in topic.
func (f *fixture) waitKeys(topic string, keys ...string) {
	f.t.Helper()
	for deadline := time.Now().Add(waitLimit); !slices.Equal(keysOf(f.listed(topic)), keys); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) { // a liveness bound
			f.t.Fatalf("the server lists %q in %s, want keys %v", f.listed(topic), topic, keys)
		}
	}
}

// With the default Config, clients get Phoenix's frames: one presence_diff per change, as it happens, in
// order — a join, another client's join, a join and a leave in the same instant, an update (a leave of
// the old meta and a join of the new, in one diff), a channel's exit — each a broadcast frame of its own.
func TestDiffsAsPhoenixSendsThem(t *testing.T) {
	f := newFixture(t, Config{})
	obs := f.join("obs", "room:phx")
	f.converge("room:phx", obs)
	var frames []string // the observer's presence_diff frames after its state, as sent
	tracked := func(m *member) string {
		t.Helper()
		r := m.push("tracked", nil)
		if !r.OK() {
			t.Fatalf("tracked: %+v", r)
		}
		return string(r.Response)
	}
	alice := f.join("alice", "room:phx")
	bob := f.join("bob", "room:phx")
	aliceMeta, bobMeta := tracked(alice), tracked(bob)
	r := alice.push("flap", nil)
	if !r.OK() {
		t.Fatalf("flap: %+v", r)
	}
	ghost := string(r.Response)
	alice.push("update", map[string]string{"status": "away"})
	aliceNew := tracked(alice)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := bob.ch.Leave(ctx); err != nil {
		t.Fatal(err)
	}
	f.waitKeys("room:phx", "alice", "obs")               // bob's channel has ended
	obs.push("update", map[string]string{"marker": "1"}) // the last change: nothing is sent after its diff
	obsNew := f.tr.List("room:phx")["obs"].Metas[0]
	obsOld := obs.states[0][len(`{"obs":{"metas":[`) : len(obs.states[0])-len(`]}}`)]
	want := []string{
		`{"joins":{"alice":{"metas":[` + aliceMeta + `]}},"leaves":{}}`,
		`{"joins":{"bob":{"metas":[` + bobMeta + `]}},"leaves":{}}`,
		`{"joins":{"ghost":{"metas":[` + ghost + `]}},"leaves":{}}`,
		`{"joins":{},"leaves":{"ghost":{"metas":[` + ghost + `]}}}`,
		`{"joins":{"alice":{"metas":[` + aliceNew + `]}},"leaves":{"alice":{"metas":[` + aliceMeta + `]}}}`,
		`{"joins":{},"leaves":{"bob":{"metas":[` + bobMeta + `]}}}`,
		`{"joins":{"obs":{"metas":[` + string(obsNew) + `]}},"leaves":{"obs":{"metas":[` + string(obsOld) + `]}}}`,
	}
	for deadline := time.Now().Add(waitLimit); len(frames) < len(want); time.Sleep(5 * time.Millisecond) {
		obs.drainRaw(&frames)
		if time.Now().After(deadline) {
			break
		}
	}
	if !slices.Equal(frames, want) {
		t.Fatalf("presence_diff frames:\n%s\nwant:\n%s", strings.Join(frames, "\n"), strings.Join(want, "\n"))
	}
}

// drainRaw appends the raw presence_diff frames received so far (as [J,R,T,E,P] with J and R null).
func (m *member) drainRaw(frames *[]string) {
	for {
		select {
		case msg := <-m.ch.Messages():
			if msg.Event != "presence_diff" {
				continue
			}
			if msg.JoinRef != "" || msg.Ref != "" {
				m.t.Fatalf("presence_diff with join_ref %q, ref %q: not a broadcast frame", msg.JoinRef, msg.Ref)
			}
			*frames = append(*frames, string(msg.Payload))
		default:
			return
		}
	}
}

// A change whose presence_diff would be over the endpoint's outbound limit is refused at its source
// (Track/Update return ErrMessageTooLarge), so no client's list goes stale behind a diff never sent.
func TestChangeOverOutboundLimitRefused(t *testing.T) {
	f := newFixtureOn(t, Config{}, transport.Config{MaxFrameSize: 64 << 10, MaxOutboundPayload: 4096})
	a := f.join("alice", "room:big")
	b := f.join("bob", "room:big")
	f.converge("room:big", a, b)
	if r := a.push("update", map[string]string{"bio": strings.Repeat("x", 4000)}); r.OK() || !strings.Contains(r.Reason(), "too large") {
		t.Fatalf("update over the limit: %+v, want refused as too large", r)
	}
	if r := a.push("update", map[string]string{"bio": strings.Repeat("x", 3000)}); !r.OK() {
		t.Fatalf("update within the limit: %+v", r)
	}
	// bob's list holds alice's meta as updated within the limit.
	f.converge("room:big", a, b)
	metas := b.view["alice"]
	if len(metas) != 1 {
		t.Fatalf("bob lists %d metas for alice, want 1", len(metas))
	}
	for _, meta := range metas {
		if !strings.Contains(string(meta), strings.Repeat("x", 3000)) {
			t.Fatalf("bob's meta for alice: %.80s…", meta)
		}
	}
}

// stateInJoin calls PushState inside Join, where a push is not allowed: the join is refused with its error.
type stateInJoin struct{ tr *Tracker }

func (c stateInJoin) Join(s *channel.Socket, _ string, _ channel.Payload) (any, error) {
	return nil, c.tr.PushState(s)
}

func (stateInJoin) HandleIn(*channel.Socket, string, channel.Payload) (channel.Reply, error) {
	return channel.NoReply, nil
}

// PushState inside Join is ErrPushInJoin, as Push is: the state is not silently dropped (or pushed before
// the join reply, depending on the topic's worker).
func TestPushStateInJoinIsAnError(t *testing.T) {
	f := newFixture(t, Config{})
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	conn, err := client.Dial(ctx, f.ws, client.Options{Params: url.Values{"user": {"alice"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, reply, err := conn.Join(ctx, "pj:1", nil)
	if err == nil || reply.OK() || !strings.Contains(reply.Reason(), "not allowed inside Join") {
		t.Fatalf("join whose Join calls PushState: %+v, %v; want refused with ErrPushInJoin", reply, err)
	}
}
