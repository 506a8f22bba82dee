// Replies from the echo channel: ok / error / bare ok / none / async / pushes / binary.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { clients, Client, unique } from "../lib/pyre.js";

async function echoChannel(t, client, events = []) {
  const c = new Client(t, client).connect();
  const ch = c.join(`echo:${unique("echo")}`, {}, { events });
  await ch.joinedOk();
  return { c, ch };
}

for (const client of clients) {
  describe(`${client.name}: echo`, () => {
    test("echo replies ok with the payload", async (t) => {
      const { ch } = await echoChannel(t, client);
      const payload = { s: "héllo ✓", n: 42, f: 1.5, b: true, z: null, a: [1, "two", { three: 3 }], o: { nested: {} } };
      assert.deepEqual(await ch.push("echo", payload), { status: "ok", response: payload });
    });

    test("error replies error with the payload", async (t) => {
      const { ch } = await echoChannel(t, client);
      assert.deepEqual(await ch.push("error", { why: "because" }), { status: "error", response: { why: "because" } });
    });

    test("reply_ok replies ok with {}", async (t) => {
      const { ch } = await echoChannel(t, client);
      assert.deepEqual(await ch.push("reply_ok", { ignored: true }), { status: "ok", response: {} });
    });

    test("noreply: the push times out", async (t) => {
      const { c, ch } = await echoChannel(t, client);
      const p = ch.push("noreply", { x: 1 }, 300);
      const r = await p;
      assert.equal(r.status, "timeout", c.dump());
      // and the channel is still fine
      assert.deepEqual(await ch.push("echo", { after: "noreply" }), { status: "ok", response: { after: "noreply" } });
      assert.equal(ch.count("error"), 0, c.dump());
    });

    test("async replies ok later", async (t) => {
      const { ch } = await echoChannel(t, client);
      const [a, b] = await Promise.all([ch.push("async", { n: 1 }), ch.push("async", { n: 2 })]);
      assert.deepEqual(a, { status: "ok", response: { n: 1 } });
      assert.deepEqual(b, { status: "ok", response: { n: 2 } });
    });

    test("push event arrives as a push", async (t) => {
      const { c, ch } = await echoChannel(t, client, ["push"]);
      ch.push("push", { pushed: "yes" });
      await ch.wait((x) => x.count("event", "push") >= 1, "push event");
      assert.deepEqual(ch.entries("event", "push")[0].payload, { pushed: "yes" });
      const frame = c.received(ch.topic, "push")[0];
      assert.equal(frame.join_ref, ch.channel.joinRef(), c.dump());
      assert.equal(frame.ref, null, c.dump());
    });

    test("binary payload round trip", async (t) => {
      const { c, ch } = await echoChannel(t, client);
      const bytes = new Uint8Array(512);
      for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7 + 3) & 0xff;
      const r = await ch.push("binary", bytes.buffer.slice(0));
      assert.equal(r.status, "ok", c.dump());
      assert.ok(r.response instanceof ArrayBuffer, `reply is not an ArrayBuffer: ${Object.prototype.toString.call(r.response)} ${JSON.stringify(r.response)}\n${c.dump()}`);
      assert.deepEqual(new Uint8Array(r.response), bytes);
      // And the channel still speaks JSON afterwards.
      assert.deepEqual(await ch.push("echo", { after: "binary" }), { status: "ok", response: { after: "binary" } });
    });

    test("empty binary payload round trip", async (t) => {
      const { c, ch } = await echoChannel(t, client);
      const r = await ch.push("binary", new ArrayBuffer(0));
      assert.equal(r.status, "ok", c.dump());
      assert.ok(r.response instanceof ArrayBuffer, c.dump());
      assert.equal(r.response.byteLength, 0);
    });
  });
}
