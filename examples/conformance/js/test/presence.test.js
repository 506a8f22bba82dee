// Presence (transport/PROTOCOL.md §8) seen through phoenix.js's own Presence class: every client's list() must
// converge to the server's list (GET /presence?topic=T) after joins, updates, leaves, closed sockets,
// crashes and kills. presence:* tracks the socket's user_id (or the join's params.user) with
// {"online_at"}, pushes presence_state after joining, and is restarted in place (Transient).
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { clients, Client, unique, httpGet, sleep } from "../lib/pyre.js";

async function kill(query) {
  const r = await httpGet("/chaos/kill", query);
  assert.equal(r.status, 200, `GET /chaos/kill ${JSON.stringify(query)}: ${r.status} ${r.body}`);
  return JSON.parse(r.body);
}

const crashed = { status: "error", response: { reason: "channel_crash" } };

/** A presence list as {key: metas sorted by phx_ref}, from the server's JSON or a Presence's list(). */
function normalize(byKey) {
  const out = {};
  for (const key of Object.keys(byKey).sort()) {
    out[key] = [...byKey[key].metas].sort((a, b) => (a.phx_ref < b.phx_ref ? -1 : a.phx_ref > b.phx_ref ? 1 : 0));
  }
  return out;
}

/** JSON with sorted object keys, to compare lists cheaply. */
function canon(v) {
  if (Array.isArray(v)) return `[${v.map(canon).join(",")}]`;
  if (v && typeof v === "object") return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canon(v[k])}`).join(",")}}`;
  return JSON.stringify(v);
}

async function serverList(topic) {
  const r = await httpGet("/presence", { topic });
  assert.equal(r.status, 200, `GET /presence?topic=${topic}: ${r.status} ${r.body}`);
  return normalize(JSON.parse(r.body));
}

/**
 * One phoenix.js client in a presence topic: its own socket, the channel, and the official Presence
 * class of its phoenix.js version, with every onJoin/onLeave recorded.
 */
class Member {
  constructor(t, client, topic, { user, params = {}, label } = {}) {
    this.user = user;
    this.c = new Client(t, client, { label: label || user, params: user ? { user_id: user } : {} }).connect();
    this.ch = this.c.join(topic, params);
    this.presence = new client.phx.Presence(this.ch.channel);
    this.events = []; // {kind: "join"|"leave", key, refs, appeared|gone}
    this.syncs = 0;
    this.presence.onJoin((key, current, joined) =>
      this.events.push({ kind: "join", key, refs: joined.metas.map((m) => m.phx_ref), appeared: !current }));
    this.presence.onLeave((key, current, left) =>
      this.events.push({ kind: "leave", key, refs: left.metas.map((m) => m.phx_ref), gone: current.metas.length === 0 }));
    this.presence.onSync(() => this.syncs++);
  }

  /** Presence.list() as {key: metas sorted by phx_ref}. */
  view() {
    return normalize(Object.fromEntries(this.presence.list((key, p) => [key, p])));
  }

  /** The events of key since mark (an index into events). */
  since(mark, key) {
    return this.events.slice(mark).filter((e) => e.key === key);
  }

  /** presence_state messages received so far. */
  states() {
    return this.c.received(this.ch.topic, "presence_state").length;
  }

  dump() {
    return `${this.c.dump(60)}\n  presence events: ${JSON.stringify(this.events)}\n  list: ${JSON.stringify(this.view())}`;
  }
}

/**
 * Waits until the server's list of topic satisfies expect and every member's Presence.list() equals it
 * (keys, and each key's metas with their phx_ref). Returns the server's list.
 */
async function converge(topic, members, { what, expect = () => true, timeout = 15000 }) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const server = await serverList(topic);
    const want = canon(server);
    const behind = expect(server) ? members.filter((m) => canon(m.view()) !== want) : null;
    if (behind && behind.length === 0) return server;
    if (Date.now() > deadline) {
      const why = behind ? `${behind.length} of ${members.length} clients differ from it` : "the server's list does not satisfy the expectation";
      const shown = (behind && behind.length ? behind : members).slice(0, 3);
      throw new Error(`timed out after ${timeout} ms waiting for ${what}: ${why}\nserver: ${JSON.stringify(server)}\n` +
        shown.map((m) => m.dump()).join("\n"));
    }
    await sleep(20);
  }
}

const keys = (list) => Object.keys(list).sort().join(",");
const onlyMeta = (list, key) => (list[key] && list[key].length === 1 ? list[key][0] : null);

/** Two members a and b joined to a fresh topic, converged. */
async function pair(t, client, prefix) {
  const topic = `presence:${unique(prefix)}`;
  const [ua, ub] = [unique("a"), unique("b")];
  const a = new Member(t, client, topic, { user: ua });
  const b = new Member(t, client, topic, { user: ub });
  await a.ch.joinedOk();
  await b.ch.joinedOk();
  const list = await converge(topic, [a, b], { what: "both joins", expect: (l) => keys(l) === [ua, ub].sort().join(",") });
  // Each presence_state holds exactly the diffs its client got before it (phoenix.js applies those again
  // after it, harmlessly) and the client gets every later diff after it: once both lists equal the
  // server's, no diff about the joins is still on its way, and a test's later marks start after them.
  return { topic, a, b, ua, ub, list };
}

/**
 * After a restart in place of a's channel (crash or kill): a's presence never left, onJoin/onLeave
 * never fired for it, and the restarted channel keeps tracking (an update from it reaches everyone).
 */
async function assertNoFlap({ topic, a, b, ua, ub }, ref, marks) {
  // The re-run Join pushes presence_state again: the restart is over once a has it.
  await a.ch.wait(() => a.states() >= 2, "presence_state from the restarted channel");
  // A later change (b's) tells that every diff about the restart has arrived: the tracker applies and
  // broadcasts changes in order.
  const marker = unique("m");
  assert.deepEqual(await b.ch.push("update", { marker }), { status: "ok", response: {} }, b.dump());
  await converge(topic, [a, b], {
    what: "b's marker after the restart",
    expect: (l) => keys(l) === [ua, ub].sort().join(",") && onlyMeta(l, ub)?.marker === marker,
  });
  const server = await serverList(topic);
  assert.equal(onlyMeta(server, ua)?.phx_ref, ref, `the restart changed ${ua}'s phx_ref: ${JSON.stringify(server)}`);
  for (const [m, mark] of [[a, marks[0]], [b, marks[1]]]) {
    assert.deepEqual(m.since(mark, ua), [], `onJoin/onLeave fired for ${ua} on a restart in place:\n${m.dump()}`);
  }
  // The restarted channel still tracks: its update is a leave of the old meta and a join of the new.
  assert.deepEqual(await a.ch.push("update", { marker }), { status: "ok", response: {} }, a.dump());
  const after = await converge(topic, [a, b], {
    what: "a's update after the restart",
    expect: (l) => onlyMeta(l, ua)?.marker === marker,
  });
  assert.equal(onlyMeta(after, ua).phx_ref_prev, ref, JSON.stringify(after));
  // No error, no rejoin: the client saw nothing of the restart.
  for (const m of [a, b]) {
    assert.equal(m.ch.count("error"), 0, m.dump());
    assert.equal(m.ch.count("join_ok"), 1, m.dump());
    assert.equal(m.c.received(topic, "phx_error").length, 0, m.dump());
    assert.equal(m.c.count("close"), 0, m.dump());
  }
}

for (const [index, client] of clients.entries()) {
  describe(`${client.name}: presence`, () => {
    test("two clients: joins, an update, a leave and an untrack converge to the server's list", async (t) => {
      const p = await pair(t, client, "basic");
      const { topic, a, b, ua, ub } = p;
      // presence_state came after each join; each client's list has both, with their metas.
      for (const m of [a, b]) {
        assert.ok(m.states() >= 1, m.dump());
        assert.ok(m.syncs >= 1, m.dump());
        assert.ok(m.events.some((e) => e.kind === "join" && e.key === ua), m.dump());
        assert.ok(m.events.some((e) => e.kind === "join" && e.key === ub), m.dump());
        assert.match(m.view()[ua][0].online_at, /^\d+$/);
      }
      const oldRef = onlyMeta(p.list, ua).phx_ref;
      assert.ok(oldRef, JSON.stringify(p.list));

      // update: the meta changes, with a new phx_ref and phx_ref_prev = the old one.
      const marks = [a.events.length, b.events.length];
      assert.deepEqual(await a.ch.push("update", { status: "away" }), { status: "ok", response: {} }, a.dump());
      const updated = await converge(topic, [a, b], { what: "the update", expect: (l) => onlyMeta(l, ua)?.status === "away" });
      const meta = onlyMeta(updated, ua);
      assert.notEqual(meta.phx_ref, oldRef);
      assert.equal(meta.phx_ref_prev, oldRef);
      assert.equal(meta.online_at, onlyMeta(p.list, ua).online_at);
      // Each client saw one diff: a join of the new meta, then a leave of the old one (never absent).
      for (const [m, mark] of [[a, marks[0]], [b, marks[1]]]) {
        assert.deepEqual(m.since(mark, ua), [
          { kind: "join", key: ua, refs: [meta.phx_ref], appeared: false },
          { kind: "leave", key: ua, refs: [oldRef], gone: false },
        ], m.dump());
        assert.equal(m.view()[ua][0].phx_ref_prev, oldRef);
      }

      // a leaves the channel: its presence leaves everyone's list.
      const markB = b.events.length;
      a.ch.channel.leave();
      await converge(topic, [b], { what: "a's leave", expect: (l) => keys(l) === ub });
      assert.deepEqual(b.since(markB, ua), [{ kind: "leave", key: ua, refs: [meta.phx_ref], gone: true }], b.dump());

      // b untracks itself while staying joined.
      assert.deepEqual(await b.ch.push("untrack", {}), { status: "ok", response: {} }, b.dump());
      await converge(topic, [b], { what: "b's untrack", expect: (l) => keys(l) === "" });
      assert.deepEqual(b.view(), {});
    });

    test("a closed socket is untracked", async (t) => {
      const { topic, a, b, ua, ub } = await pair(t, client, "closed");
      const mark = b.events.length;
      await a.c.close();
      await converge(topic, [b], { what: "the closed socket's leave", expect: (l) => keys(l) === ub });
      assert.deepEqual(b.since(mark, ua).map((e) => [e.kind, e.gone]), [["leave", true]], b.dump());
    });

    test("a crash restarts the channel in place: the lists do not change, no onLeave/onJoin", async (t) => {
      const p = await pair(t, client, "crash");
      const ref = onlyMeta(p.list, p.ua).phx_ref;
      const marks = [p.a.events.length, p.b.events.length];
      assert.deepEqual(await p.a.ch.push("crash", {}), crashed, p.a.dump());
      await assertNoFlap(p, ref, marks);
    });

    for (const method of ["exit", "panic"]) {
      test(`a killed channel (${method}) is restarted in place: the lists do not change, no onLeave/onJoin`, async (t) => {
        const p = await pair(t, client, `kill-${method}`);
        const ref = onlyMeta(p.list, p.ua).phx_ref;
        const marks = [p.a.events.length, p.b.events.length];
        const killed = await kill({ kind: "channel", topic: p.topic, socket_id: `users_socket:${p.ua}`, method });
        assert.equal(killed.labels.socket_id, `users_socket:${p.ua}`);
        await assertNoFlap(p, ref, marks);
      });
    }

    test("a killed socket: the client reconnects and rejoins, its presence leaves and comes back", async (t) => {
      const { topic, a, b, ua, ub, list } = await pair(t, client, "killsock");
      const ref = onlyMeta(list, ua).phx_ref;
      const marks = [a.events.length, b.events.length];
      await kill({ kind: "socket", socket_id: `users_socket:${ua}`, method: "exit" });
      await a.ch.wait((x) => x.count("join_ok") >= 2, "rejoin after reconnect", 15000);
      const after = await converge(topic, [a, b], {
        what: "the rejoined presence",
        expect: (l) => keys(l) === [ua, ub].sort().join(",") && onlyMeta(l, ua).phx_ref !== ref,
      });
      const newRef = onlyMeta(after, ua).phx_ref;
      assert.equal(onlyMeta(after, ua).phx_ref_prev, undefined, "a rejoin is a new presence, not an update");
      // Both clients saw the old presence leave and the new one join (in one diff or two).
      for (const [m, mark] of [[a, marks[0]], [b, marks[1]]]) {
        const evs = m.since(mark, ua);
        assert.ok(evs.some((e) => e.kind === "leave" && e.refs.includes(ref)), m.dump());
        assert.ok(evs.some((e) => e.kind === "join" && e.refs.includes(newRef)), m.dump());
      }
      assert.equal(b.c.count("close"), 0, b.dump());
      assert.deepEqual(b.since(marks[1], ub), [], b.dump());
    });

    // The tracker is an endpoint worker: its restarts count toward the endpoint supervisor's intensity
    // (3 in 5 s; past it the endpoint shuts down, by design). One kill per client version, each with its
    // own method, keeps the suite well inside it.
    const method = index % 2 === 0 ? "exit" : "panic";
    test(`a killed presence tracker (${method}) rebuilds from the live channels: lists stay right, a change right after is seen`, async (t) => {
      const p = await pair(t, client, `tracker-${method}`);
      const { topic, a, b, ua, ub, list } = p;
      const marks = [a.events.length, b.events.length];
      const killed = await kill({ kind: "infrastructure", child: "presence", method });
      assert.equal(killed.labels.child_id, "presence", JSON.stringify(killed));
      // Right after the kill, before the tracker is known to be back: an update and a new member.
      const marker = unique("m");
      const update = a.ch.push("update", { marker });
      const uc = unique("c");
      const c = new Member(t, client, topic, { user: uc });
      assert.deepEqual(await update, { status: "ok", response: {} }, a.dump());
      await c.ch.joinedOk();
      const after = await converge(topic, [a, b, c], {
        what: "the change made right after the tracker's kill",
        expect: (l) => keys(l) === [ua, ub, uc].sort().join(",") && onlyMeta(l, ua)?.marker === marker,
      });
      assert.equal(onlyMeta(after, ua).phx_ref_prev, onlyMeta(list, ua).phx_ref);
      assert.deepEqual(after[ub], list[ub], "b's presence changed across the tracker's restart");
      // Nobody left on the way.
      for (const [m, mark] of [[a, marks[0]], [b, marks[1]]]) {
        const gone = m.events.slice(mark).filter((e) => e.kind === "leave" && e.gone);
        assert.deepEqual(gone, [], m.dump());
        assert.deepEqual(m.since(mark, ub), [], m.dump());
      }
    });

    test("a hundred clients in one topic converge, and again after half of them leave", async (t) => {
      const topic = `presence:${unique("crowd")}`;
      const n = 100;
      // Keys from the join params (params.user), one socket each, all joining at once. Closing a
      // phoenix.js socket waits for the close in 150 ms steps: close them all at once, not one by one.
      let members = [];
      t.after(() => Promise.all(members.map((m) => m.c.close())));
      members = Array.from({ length: n }, (_, i) =>
        new Member(t, client, topic, { params: { user: `u${String(i).padStart(3, "0")}` }, label: `u${i}` }));
      await Promise.all(members.map((m) => m.ch.joinedOk()));
      const all = members.map((m, i) => `u${String(i).padStart(3, "0")}`).join(",");
      await converge(topic, members, { what: `${n} joins`, expect: (l) => keys(l) === all, timeout: 30000 });

      // Half of them close their sockets at once, and one of the others updates its meta.
      const [gone, stay] = [members.filter((_, i) => i % 2 === 1), members.filter((_, i) => i % 2 === 0)];
      await Promise.all(gone.map((m) => m.c.close()));
      assert.deepEqual(await stay[0].ch.push("update", { status: "last" }), { status: "ok", response: {} });
      const left = members.map((m, i) => `u${String(i).padStart(3, "0")}`).filter((_, i) => i % 2 === 0).join(",");
      await converge(topic, stay, {
        what: `${n / 2} leaves and an update`,
        expect: (l) => keys(l) === left && onlyMeta(l, "u000")?.status === "last",
        timeout: 30000,
      });
    });
  });
}
