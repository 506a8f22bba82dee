// Pyre's supervised restarts (PROTOCOL.md §6) seen by phoenix.js: restart:* is echo:* under Transient.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { clients, Client, unique, endpointBroadcast } from "../lib/pyre.js";

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
  });
}
