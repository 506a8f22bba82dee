// Broadcasts: from a channel, excluding the sender, intercepted (chat new_msg), from the endpoint.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { clients, Client, waitFor, unique, endpointBroadcast } from "../lib/pyre.js";

for (const client of clients) {
  describe(`${client.name}: broadcast`, () => {
    test("broadcast reaches both clients, sender included", async (t) => {
      const a = new Client(t, client, { label: "A" }).connect();
      const b = new Client(t, client, { label: "B" }).connect();
      const topic = `echo:${unique("bc")}`;
      const ca = a.join(topic, {}, { events: ["broadcast"] });
      const cb = b.join(topic, {}, { events: ["broadcast"] });
      await ca.joinedOk();
      await cb.joinedOk();
      const payload = { body: unique("hello"), n: [1, 2, 3] };
      ca.push("broadcast", payload);
      await waitFor(() => ca.count("event", "broadcast") >= 1 && cb.count("event", "broadcast") >= 1, {
        what: "broadcast on both clients", clients: [a, b],
      });
      assert.deepEqual(ca.entries("event", "broadcast")[0].payload, payload);
      assert.deepEqual(cb.entries("event", "broadcast")[0].payload, payload);
      // Not intercepted: a plain broadcast frame, no join_ref.
      for (const c of [a, b]) assert.equal(c.received(topic, "broadcast")[0].join_ref, null, c.dump());
    });

    test("broadcast_from excludes the sender", async (t) => {
      const a = new Client(t, client, { label: "sender" }).connect();
      const b = new Client(t, client, { label: "other" }).connect();
      const topic = `echo:${unique("bcf")}`;
      const ca = a.join(topic, {}, { events: ["broadcast", "broadcast_from"] });
      const cb = b.join(topic, {}, { events: ["broadcast", "broadcast_from"] });
      await ca.joinedOk();
      await cb.joinedOk();
      const payload = { body: unique("from") };
      ca.push("broadcast_from", payload);
      await cb.wait((x) => x.count("event", "broadcast_from") >= 1, "broadcast_from on the other client");
      assert.deepEqual(cb.entries("event", "broadcast_from")[0].payload, payload);
      // A later broadcast from the same channel includes the sender; once it arrived there,
      // the earlier broadcast_from would have arrived too had it been sent to the sender.
      const marker = { marker: unique("m") };
      ca.push("broadcast", marker);
      await ca.wait((x) => x.count("event", "broadcast") >= 1, "marker broadcast on the sender");
      assert.equal(ca.count("event", "broadcast_from"), 0, `sender received its own broadcast_from:\n${a.dump()}`);
      await cb.wait((x) => x.count("event", "broadcast") >= 1, "marker broadcast on the other client");
    });

    test("chat: any event is rebroadcast as new_msg, intercepted and pushed to every member", async (t) => {
      const members = ["A", "B", "C"].map((label) => new Client(t, client, { label }).connect());
      const chans = members.map((c) => c.join("chat:lobby", {}, { events: ["new_msg"] }));
      for (const ch of chans) await ch.joinedOk();
      const body = unique("shout");
      chans[0].push("shout", { body, user: "A" });
      const mine = (ch) => ch.entries("event", "new_msg").filter((e) => e.payload && e.payload.body === body);
      await waitFor(() => chans.every((ch) => mine(ch).length >= 1), { what: "new_msg on all members", clients: members });
      for (let i = 0; i < members.length; i++) {
        assert.deepEqual(mine(chans[i])[0].payload, { body, user: "A" });
        const frame = members[i].received("chat:lobby", "new_msg").find((m) => m.payload.body === body);
        // Intercepted: HandleOut pushes it, so it carries the member's join_ref.
        assert.equal(frame.join_ref, chans[i].channel.joinRef(), `new_msg not delivered as a push:\n${members[i].dump()}`);
      }
      // The original event is not delivered.
      for (const c of members) assert.equal(c.received("chat:lobby", "shout").length, 0, c.dump());
    });

    test("endpoint broadcast through HTTP reaches a joined client", async (t) => {
      const c = new Client(t, client).connect();
      const topic = `echo:${unique("ep")}`;
      const ch = c.join(topic, {}, { events: ["announce", "data"] });
      await ch.joinedOk();
      const msg = unique("news");
      await endpointBroadcast(topic, "announce", { msg });
      await ch.wait((x) => x.count("event", "announce") >= 1, "announce");
      assert.deepEqual(ch.entries("event", "announce")[0].payload, { msg });
      assert.equal(c.received(topic, "announce")[0].join_ref, null, c.dump());
      const payload = { a: 1, b: [true, null, "x"], c: { d: "é" } };
      await endpointBroadcast(topic, "data", { payload });
      await ch.wait((x) => x.count("event", "data") >= 1, "data");
      assert.deepEqual(ch.entries("event", "data")[0].payload, payload);
    });
  });
}
