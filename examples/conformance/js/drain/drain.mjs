// Drives phoenix.js clients (1.8 and 1.7) through a server drain. Run by drain_test.go, not by the suite
// (node --test test/ does not see it). PYRE_URL/PYRE_HTTP are the server that drains, PYRE_B_URL and
// PYRE_B_HTTP the one the clients move to: each client's close callback points its socket there, as a
// client behind a load balancer would end up elsewhere.
//
// It prints READY once every client has joined (the Go side then sends SIGTERM to the first server) and
// exits 0 when every client saw a 1012 close from the server, reconnected to the second one, rejoined its
// channel there and got an ok reply; otherwise it throws (exit 1) with the wire logs.
import { clients, Client, waitFor } from "../lib/pyre.js";

const B_URL = process.env.PYRE_B_URL;
const B_HTTP = process.env.PYRE_B_HTTP;
const N = Number(process.env.DRAIN_CLIENTS || 20);
if (!B_URL || !B_HTTP) throw new Error("PYRE_B_URL and PYRE_B_HTTP are required");

const all = [];
for (let i = 0; i < N; i++) {
  const client = clients[i % clients.length];
  const c = new Client(null, client, { label: `${client.name} #${i}`, reconnectAfterMs: () => 50, rejoinAfterMs: () => 50 });
  c.socket.onClose(() => {
    c.socket.endPoint = `${B_URL}/websocket`;
  });
  c.connect();
  all.push({ c, ch: c.join(`echo:drain-${process.pid}-${i}`) });
}
for (const { ch } of all) await ch.joinedOk();
console.log("READY");

for (const { c, ch } of all) {
  // (ws answers the server's close frame by calling close() itself, so the wire log reads "client close";
  // the socket's close callback has the server's code.)
  await waitFor(() => c.count("close") >= 1, { what: "the server's close", clients: [c], timeout: 30000 });
  const { code } = c.events.find((e) => e.type === "close");
  if (code !== 1012) throw new Error(`${c.name}: closed with ${code}, want 1012\n${c.dump()}`);
  await waitFor(() => ch.count("join_ok") >= 2, { what: "the rejoin on the second server", clients: [c], timeout: 30000 });
  const url = c.transports.at(-1).url;
  if (!url.startsWith(`${B_URL}/websocket`)) throw new Error(`${c.name}: reconnected to ${url}, want the second server\n${c.dump()}`);
  const r = await ch.push("echo", { after: "drain" });
  if (r.status !== "ok" || r.response.after !== "drain") throw new Error(`${c.name}: echo after the move: ${JSON.stringify(r)}\n${c.dump()}`);
}
const stats = await (await fetch(`${B_HTTP}/stats`)).json();
if (stats.sockets < N) throw new Error(`the second server holds ${stats.sockets} sockets, want ${N}`);
console.log(`DRAINED ${N} clients: every one closed with 1012, rejoined on the second server and was answered there`);
await Promise.all(all.map(({ c }) => c.close()));
process.exit(0);
