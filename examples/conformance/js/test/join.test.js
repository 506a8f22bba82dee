// Joining: replies, refusals, unmatched topics, leaving and the per-connection channel cap.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { clients, Client, waitFor, unique, endpointBroadcast } from "../lib/pyre.js";

for (const client of clients) {
  describe(`${client.name}: join`, () => {
    test("join ok: reply {joined: topic}, then the welcome push", async (t) => {
      const c = new Client(t, client).connect();
      const topic = `echo:${unique("join")}`;
      const ch = c.join(topic, {}, { events: ["welcome"] });
      assert.deepEqual(await ch.joinedOk(), { joined: topic });
      await ch.wait((x) => x.count("event", "welcome") >= 1, "welcome push");
      assert.deepEqual(ch.entries("event", "welcome")[0].payload, { topic });
      assert.ok(ch.indexOf("join_ok") < ch.indexOf("event", "welcome"),
        `welcome arrived before the join reply: ${JSON.stringify(ch.log)}\n${c.dump()}`);
      // On the wire too: the join's phx_reply precedes the channel's first push.
      const frames = c.received(topic);
      const iReply = frames.findIndex((m) => m.event === "phx_reply");
      const iWelcome = frames.findIndex((m) => m.event === "welcome");
      assert.ok(iReply >= 0 && iReply < iWelcome, c.dump());
      // A push from a channel carries the channel's join_ref.
      assert.equal(frames[iWelcome].join_ref, ch.channel.joinRef(), c.dump());
    });

    test("join chat:lobby and another chat room ok", async (t) => {
      const c = new Client(t, client).connect();
      const lobby = c.join("chat:lobby");
      const room = c.join(`chat:${unique("room")}`);
      await lobby.joinedOk();
      await room.joinedOk();
    });

    test("join refused: chat:secret", async (t) => {
      const c = new Client(t, client).connect();
      const ch = c.join("chat:secret");
      const r = await ch.joined();
      assert.equal(r.kind, "join_error", c.dump());
      assert.deepEqual(r.payload, { reason: "You don't have permission!" });
      ch.channel.leave(); // stop phoenix.js from retrying the join
    });

    test("join on an unmatched topic", async (t) => {
      const c = new Client(t, client).connect();
      const ch = c.join(`nope:${unique("x")}`);
      const r = await ch.joined();
      assert.equal(r.kind, "join_error", c.dump());
      assert.deepEqual(r.payload, { reason: "unmatched topic" });
      ch.channel.leave();
    });

    test("leave: ok reply, phx_close, no more broadcasts for the topic", async (t) => {
      const c = new Client(t, client).connect();
      const gone = c.join(`echo:${unique("leave")}`);
      const kept = c.join(`echo:${unique("kept")}`, {}, { events: ["ping"] });
      await gone.joinedOk();
      await kept.joinedOk();
      const joinRef = gone.channel.joinRef();
      const leavePush = gone.channel.leave();
      let left = null;
      leavePush.receive("ok", (r) => (left = { status: "ok", response: r }));
      leavePush.receive("timeout", () => (left = { status: "timeout" }));
      await gone.wait((x) => x.count("close") >= 1, "channel close after leave");
      // phoenix.js closes the channel locally on a timeout too: check the server's reply itself.
      await waitFor(() => c.received(gone.topic, "phx_reply").some((m) => m.ref === leavePush.ref), {
        what: "the server's reply to phx_leave", clients: [c],
      });
      const reply = c.received(gone.topic, "phx_reply").find((m) => m.ref === leavePush.ref);
      assert.deepEqual(reply.payload, { status: "ok", response: {} }, c.dump());
      assert.deepEqual(left, { status: "ok", response: {} }, c.dump());
      await waitFor(() => c.received(gone.topic, "phx_close").length >= 1, { what: "phx_close after the leave reply", clients: [c] });
      assert.equal(c.received(gone.topic, "phx_close")[0].join_ref, joinRef, c.dump());
      assert.equal(gone.channel.state, "closed");
      // The left topic no longer reaches this connection; a later broadcast on a joined
      // topic from the same sender proves the first one had its chance to arrive.
      const marker = unique("m");
      await endpointBroadcast(gone.topic, "ping", { msg: marker });
      await endpointBroadcast(kept.topic, "ping", { msg: marker });
      await kept.wait((x) => x.entries("event", "ping").some((e) => e.payload.msg === marker), "broadcast on the kept topic");
      assert.equal(c.received(gone.topic, "ping").length, 0, `broadcast delivered after leave:\n${c.dump()}`);
    });

    test("101st channel on one connection is refused", async (t) => {
      const c = new Client(t, client).connect();
      await c.opened();
      const base = unique("cap");
      const chans = [];
      for (let i = 1; i <= 100; i++) chans.push(c.join(`presence:${base}:${i}`));
      await waitFor(() => chans.every((ch) => ch.count("join_ok") === 1), {
        what: "100 joins ok", timeout: 20000, clients: [c],
      });
      const extra = c.join(`presence:${base}:101`);
      const r = await extra.joined();
      assert.equal(r.kind, "join_error", c.dump(120));
      assert.deepEqual(r.payload, { reason: "too many channels joined" });
      extra.channel.leave();
      // Leaving one frees a slot.
      let leftOk = false;
      chans[0].channel.leave().receive("ok", () => (leftOk = true));
      await waitFor(() => leftOk && c.received(chans[0].topic, "phx_close").length >= 1, {
        what: "leave of channel 1 (reply and phx_close)", clients: [c],
      });
      const again = c.join(`presence:${base}:102`);
      const r2 = await again.joined();
      assert.equal(r2.kind, "join_ok", `join after leaving one of 100 channels: ${JSON.stringify(r2)}\n${c.dump()}`);
    });
  });
}
