// phoenix.js clients (1.8 and 1.7) on three nodes of one Pyre cluster. Run by cluster_test.go, not by the
// suite. PYRE_NODES is "ws://.../socket http://...,..." (three nodes). Checks, each across nodes: a channel
// broadcast reaches every client, broadcast_from all but its sender, an endpoint broadcast (GET /broadcast
// on the third node) everyone, and GET /disconnect on the first node closes user 42's socket on every node
// with 1001. Exits 0 when all held, else throws with the wire logs.
import { clients, Client, waitFor, unique } from "../lib/pyre.js";

const nodes = (process.env.PYRE_NODES || "").split(",").map((s) => {
  const [ws, http] = s.split(" ");
  return { ws, http };
});
if (nodes.length !== 3) throw new Error("PYRE_NODES must name three nodes");

const user = unique("u");
const topic = `echo:${unique("cluster")}`;
const events = ["broadcast", "broadcast_from", "from_endpoint"];
const all = nodes.map((n, i) => {
  const client = clients[i % clients.length];
  const c = new Client(null, client, {
    label: `${client.name} on node ${i + 1}`, url: n.ws, params: { user_id: user }, reconnectAfterMs: () => 60000,
  }).connect();
  return { c, ch: c.join(topic, {}, { events }) };
});
for (const { ch } of all) await ch.joinedOk();
const cs = all.map(({ c }) => c);

// A channel's broadcast, pushed on node 1: everyone, the sender included, as a broadcast (null join_ref).
const p1 = { body: unique("b"), n: [1, 2, 3] };
all[0].ch.push("broadcast", p1);
await waitFor(() => all.every(({ ch }) => ch.count("event", "broadcast") >= 1), { what: "broadcast on every node", clients: cs });
for (const { c, ch } of all) {
  if (JSON.stringify(ch.entries("event", "broadcast")[0].payload) !== JSON.stringify(p1)) throw new Error(`payload on ${c.name}\n${c.dump()}`);
  if (c.received(topic, "broadcast")[0].join_ref !== null) throw new Error(`not a broadcast frame on ${c.name}\n${c.dump()}`);
}

// broadcast_from on node 2: the others; then a marker broadcast from the same channel is the barrier.
const p2 = { body: unique("bf") };
all[1].ch.push("broadcast_from", p2);
const marker = { marker: unique("m") };
all[1].ch.push("broadcast", marker);
const hasMarker = (ch) => ch.entries("event", "broadcast").some((e) => e.payload.marker === marker.marker);
await waitFor(() => all.every(({ ch }) => hasMarker(ch)), { what: "the marker on every node", clients: cs });
for (const [i, { c, ch }] of all.entries()) {
  const got = ch.count("event", "broadcast_from");
  if (got !== (i === 1 ? 0 : 1)) throw new Error(`${c.name}: ${got} broadcast_from, want ${i === 1 ? 0 : 1}\n${c.dump()}`);
}

// Endpoint.Broadcast on node 3 (HTTP).
const p3 = { msg: unique("e") };
const r = await fetch(`${nodes[2].http}/broadcast?topic=${encodeURIComponent(topic)}&event=from_endpoint&msg=${p3.msg}`);
if (!r.ok) throw new Error(`GET /broadcast: ${r.status}`);
await waitFor(() => all.every(({ ch }) => ch.count("event", "from_endpoint") >= 1), { what: "endpoint broadcast on every node", clients: cs });

// Endpoint.Disconnect on node 1: user's socket closes with 1001 on every node.
const d = await fetch(`${nodes[0].http}/disconnect?id=users_socket:${user}`);
if (!d.ok) throw new Error(`GET /disconnect: ${d.status}`);
await waitFor(() => cs.every((c) => c.count("close") >= 1), { what: "the disconnect on every node", clients: cs, timeout: 10000 });
for (const c of cs) {
  const { code } = c.events.find((e) => e.type === "close");
  if (code !== 1001) throw new Error(`${c.name}: closed with ${code}, want 1001\n${c.dump()}`);
}
console.log("CLUSTER OK: broadcast, broadcast_from, endpoint broadcast and disconnect across three nodes");
await Promise.all(cs.map((c) => c.close()));
process.exit(0);
