// Socket authentication with signed tokens (transport/token) on the /auth socket: the token as a connect
// param, or as phoenix.js 1.8's authToken (sent in Sec-WebSocket-Protocol); refused when missing,
// forged or expired.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { clients, Client, waitFor, httpGet, unique, sleep, PYRE_URL } from "../lib/pyre.js";

const AUTH_URL = PYRE_URL.replace(/\/socket\/?$/, "/auth");

async function tokenFor(user, query = {}) {
  const r = await httpGet("/token", { user, ...query });
  assert.equal(r.status, 200, r.body);
  return r.body;
}

async function refused(c) {
  await waitFor(() => c.count("error") >= 1 && c.count("close") >= 1, { what: "socket error and close", clients: [c] });
  assert.equal(c.count("open"), 0, `socket opened without a valid token:\n${c.dump()}`);
  assert.match(String(c.events.find((e) => e.type === "error").message), /\b403\b/, c.dump());
}

for (const client of clients) {
  describe(`${client.name}: token authentication`, () => {
    test("a signed token as the token param: joined as its user", async (t) => {
      const user = unique("alice");
      const c = new Client(t, client, { url: AUTH_URL, params: { token: await tokenFor(user) } }).connect();
      const ch = c.join("whoami");
      assert.deepEqual(await ch.joinedOk(), { user_id: user, transport: "websocket" });
    });

    test("no token, a forged token, an expired token: HTTP 403", async (t) => {
      await refused(new Client(t, client, { url: AUTH_URL, reconnectAfterMs: () => 60000 }).connect());
      const good = await tokenFor(unique("mallory"));
      const [h, p, sig] = good.split(".");
      const forged = `${h}.${p}.${sig.startsWith("A") ? "B" : "A"}${sig.slice(1)}`;
      await refused(new Client(t, client, { url: AUTH_URL, params: { token: forged }, reconnectAfterMs: () => 60000 }).connect());
      const short = await tokenFor(unique("late"), { max_age: "1ms" });
      await sleep(5);
      await refused(new Client(t, client, { url: AUTH_URL, params: { token: short }, reconnectAfterMs: () => 60000 }).connect());
    });
  });
}

// authToken is a phoenix.js 1.8 option.
const v18 = clients[0];
describe(`${v18.name}: authToken`, () => {
  test("the token as authToken (Sec-WebSocket-Protocol): joined as its user", async (t) => {
    const user = unique("bob");
    const c = new Client(t, v18, { url: AUTH_URL, authToken: await tokenFor(user) }).connect();
    const ch = c.join("whoami");
    assert.deepEqual(await ch.joinedOk(), { user_id: user, transport: "websocket" });
  });
});
