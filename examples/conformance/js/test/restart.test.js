// Pyre's supervised restarts (transport/PROTOCOL.md §6) seen by phoenix.js: restart:* is echo:* under Transient.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { clients, Client, unique, endpointBroadcast, httpGet, waitFor } from "../lib/pyre.js";

async function kill(query) {
  const r = await httpGet("/chaos/kill", query);
  assert.equal(r.status, 200, `GET /chaos/kill ${JSON.stringify(query)}: ${r.status} ${r.body}`);
  return JSON.parse(r.body);
}

const crashed = { status: "error", response: { reason: "channel_crash" } };

for (const client of clients) {
  describe(`${client.name}: restart`, () => {
    test("a crash restarts the channel in place: the push gets channel_crash, nothing else changes", async (t) => {
      const c = new Client(t, client).connect();
      const ch = c.join(`restart:${unique("r")}`, {}, { events: ["welcome", "news"] });
      await ch.joinedOk();
      const joinRef = ch.channel.joinRef();
      assert.deepEqual(await ch.push("count", {}), { status: "ok", response: { count: 1 } });
      assert.deepEqual(await ch.push("count", {}), { status: "ok", response: { count: 2 } });

      // The crashing push and one queued behind it, without waiting in between.
      const crash = ch.push("crash", {});
      const queued = ch.push("echo", { queued: true });
      assert.deepEqual(await crash, crashed, c.dump());
      assert.deepEqual(await queued, { status: "ok", response: { queued: true } }, c.dump());

      // A fresh channel value (the counter starts over), the second start, same join_ref.
      assert.deepEqual(await ch.push("count", {}), { status: "ok", response: { count: 1 } });
      assert.deepEqual(await ch.push("incarnation", {}), { status: "ok", response: { incarnation: 2 } });
      assert.equal(ch.channel.joinRef(), joinRef);
      assert.equal(ch.channel.state, "joined");

      // The subscription was kept.
      await endpointBroadcast(ch.topic, "news", { msg: "after restart" });
      await ch.wait((x) => x.count("event", "news") >= 1, "broadcast after restart");

      // The client saw no error, no close, no rejoin.
      assert.equal(ch.count("error"), 0, c.dump());
      assert.equal(ch.count("close"), 0, c.dump());
      assert.equal(ch.count("join_ok"), 1, c.dump());
      assert.equal(c.received(ch.topic, "phx_error").length, 0, c.dump());
      assert.equal(c.count("close"), 0, c.dump());
    });

    test("past the channel's intensity: phx_error, and the client's rejoin starts afresh", async (t) => {
      const c = new Client(t, client).connect();
      const ch = c.join(`restart:${unique("i")}`);
      await ch.joinedOk();
      // Default intensity: 3 restarts per 5 s; the fourth crash in a row gives up.
      for (let i = 1; i <= 3; i++) assert.deepEqual(await ch.push("crash", {}), crashed, c.dump());
      assert.deepEqual(await ch.push("incarnation", {}), { status: "ok", response: { incarnation: 4 } });
      assert.deepEqual(await ch.push("crash", {}), crashed, c.dump());
      await ch.wait((x) => x.count("error") >= 1, "onError past the intensity");
      await ch.wait((x) => x.count("join_ok") >= 2, "automatic rejoin", 15000);
      assert.deepEqual(await ch.push("incarnation", {}), { status: "ok", response: { incarnation: 1 } });
      assert.equal(c.count("close"), 0, c.dump());
    });

    for (const method of ["exit", "panic"]) {
      test(`a killed channel (${method}) is restarted in place; the client notices nothing`, async (t) => {
        const userId = unique("kc");
        const c = new Client(t, client, { params: { user_id: userId } }).connect();
        const ch = c.join(`restart:${unique("k")}`, {}, { events: ["news"] });
        await ch.joinedOk();
        assert.deepEqual(await ch.push("count", {}), { status: "ok", response: { count: 1 } });
        const killed = await kill({ kind: "channel", topic: ch.topic, method });
        assert.equal(killed.labels.topic, ch.topic);
        // The kill reached the channel's mailbox before this push did, so the restarted channel answers it.
        assert.deepEqual(await ch.push("incarnation", {}), { status: "ok", response: { incarnation: 2 } }, c.dump());
        assert.deepEqual(await ch.push("count", {}), { status: "ok", response: { count: 1 } });
        await endpointBroadcast(ch.topic, "news", { msg: "after kill" });
        await ch.wait((x) => x.count("event", "news") >= 1, "broadcast after kill");
        assert.equal(ch.count("error"), 0, c.dump());
        assert.equal(c.count("close"), 0, c.dump());
      });

      test(`a killed socket actor (${method}) closes with 1011; phoenix.js reconnects and rejoins`, async (t) => {
        const userId = unique("ks");
        const c = new Client(t, client, { params: { user_id: userId } }).connect();
        const bystander = new Client(t, client, { label: "bystander", params: { user_id: unique("by") } }).connect();
        const topic = `restart:${unique("ks")}`;
        const ch = c.join(topic);
        const other = bystander.join(topic);
        await ch.joinedOk();
        await other.joinedOk();
        await kill({ kind: "socket", socket_id: `users_socket:${userId}`, method });
        await waitFor(() => c.count("close") >= 1, { what: "socket close after kill", clients: [c] });
        const close = c.events.find((e) => e.type === "close");
        assert.equal(close.code, 1011, `killed socket closed with code ${close.code}:\n${c.dump()}`);
        await c.opened(2);
        await ch.wait((x) => x.count("join_ok") >= 2, "rejoin after reconnect", 15000);
        assert.deepEqual(await ch.push("echo", { back: true }), { status: "ok", response: { back: true } });
        assert.deepEqual(await other.push("echo", { still: true }), { status: "ok", response: { still: true } });
        assert.equal(bystander.count("close"), 0, bystander.dump());
      });
    }
  });
}
