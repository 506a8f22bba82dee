// Channel and connection lifecycle: crash and automatic rejoin, normal stops, kicks.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { clients, Client, waitFor, unique, endpointBroadcast } from "../lib/pyre.js";

for (const client of clients) {
  describe(`${client.name}: lifecycle`, () => {
    test("crash: onError fires, the channel rejoins by itself, other channels keep working", async (t) => {
      const c = new Client(t, client).connect();
      const crashing = c.join(`echo:${unique("crash")}`, {}, { events: ["welcome"] });
      const other = c.join(`echo:${unique("bystander")}`);
      await crashing.joinedOk();
      await other.joinedOk();
      await crashing.wait((x) => x.count("event", "welcome") >= 1, "first welcome");
      const firstJoinRef = crashing.channel.joinRef();

      // Phoenix-exact (Temporary) semantics: the crashing push gets no reply and times out.
      const crashPush = crashing.push("crash", { boom: true }, 2000);
      const during = other.push("echo", { during: "crash" });
      await crashing.wait((x) => x.count("error") >= 1, "channel onError after crash");
      const errFrame = c.received(crashing.topic, "phx_error")[0];
      assert.ok(errFrame, c.dump());
      assert.equal(errFrame.join_ref, firstJoinRef, c.dump());
      const afterError = other.push("echo", { after: "error" });
      assert.deepEqual(await during, { status: "ok", response: { during: "crash" } });
      assert.deepEqual(await afterError, { status: "ok", response: { after: "error" } });
      const crashReply = await crashPush;
      assert.equal(crashReply.status, "timeout", `the crashing push was answered: ${JSON.stringify(crashReply)}\n${c.dump()}`);

      // phoenix.js rejoins after its rejoin backoff (1 s); the server accepts the new join.
      await crashing.wait((x) => x.count("join_ok") >= 2, "automatic rejoin", 15000);
      assert.deepEqual(crashing.entries("join_ok")[1].payload, { joined: crashing.topic });
      assert.notEqual(crashing.channel.joinRef(), firstJoinRef);
      await crashing.wait((x) => x.count("event", "welcome") >= 2, "welcome after rejoin");
      assert.deepEqual(await crashing.push("echo", { after: "rejoin" }), { status: "ok", response: { after: "rejoin" } });
      assert.deepEqual(await other.push("echo", { after: "rejoin" }), { status: "ok", response: { after: "rejoin" } });
      assert.equal(other.count("error"), 0, c.dump());
      assert.equal(crashing.count("close"), 0, c.dump());
      assert.equal(c.count("close"), 0, `the socket closed because of a channel crash:\n${c.dump()}`);
      assert.equal(c.count("open"), 1, c.dump());
    });

    test("stop: the server closes the channel (onClose, no onError)", async (t) => {
      const c = new Client(t, client).connect();
      const ch = c.join(`echo:${unique("stop")}`);
      const other = c.join(`echo:${unique("other")}`);
      await ch.joinedOk();
      await other.joinedOk();
      const joinRef = ch.channel.joinRef();
      ch.push("stop", {}, 2000);
      await ch.wait((x) => x.count("close") >= 1, "onClose after stop");
      assert.equal(ch.count("error"), 0, c.dump());
      assert.equal(ch.channel.state, "closed");
      assert.equal(c.received(ch.topic, "phx_close")[0].join_ref, joinRef, c.dump());
      assert.deepEqual(await other.push("echo", { still: "alive" }), { status: "ok", response: { still: "alive" } });
      assert.equal(c.count("close"), 0, c.dump());
    });

    test("stop_reply: reply ok with the payload, then close", async (t) => {
      const c = new Client(t, client).connect();
      const ch = c.join(`echo:${unique("stopreply")}`);
      await ch.joinedOk();
      const r = await ch.push("stop_reply", { bye: "now" });
      assert.deepEqual(r, { status: "ok", response: { bye: "now" } });
      await ch.wait((x) => x.count("close") >= 1, "onClose after stop_reply");
      assert.ok(ch.indexOf("reply", "stop_reply") < ch.indexOf("close"), JSON.stringify(ch.log));
      assert.equal(ch.count("error"), 0, c.dump());
      // On the wire: the reply, then phx_close.
      const frames = c.received(ch.topic);
      const iReply = frames.findIndex((m) => m.event === "phx_reply" && m.payload.response && m.payload.response.bye === "now");
      const iClose = frames.findIndex((m) => m.event === "phx_close");
      assert.ok(iReply >= 0 && iReply < iClose, c.dump());
    });

    test("kick: disconnect broadcast to users_socket:ID closes with 1001; the client reconnects and rejoins", async (t) => {
      const userId = unique("kick");
      const a = new Client(t, client, { label: "kicked-1", params: { user_id: userId } }).connect();
      const b = new Client(t, client, { label: "kicked-2", params: { user_id: userId } }).connect();
      const other = new Client(t, client, { label: "bystander", params: { user_id: unique("bystander") } }).connect();
      const ca = a.join(`echo:${unique("kicka")}`);
      const cb = b.join(`echo:${unique("kickb")}`);
      const co = other.join(`echo:${unique("kicko")}`, {}, { events: ["marker"] });
      await ca.joinedOk();
      await cb.joinedOk();
      await co.joinedOk();

      await endpointBroadcast(`users_socket:${userId}`, "disconnect", { msg: "bye" });
      for (const [c, ch] of [[a, ca], [b, cb]]) {
        await waitFor(() => c.count("close") >= 1, { what: "socket close after kick", clients: [c] });
        const close = c.events.find((e) => e.type === "close");
        assert.equal(close.code, 1001, `kick closed with code ${close.code}:\n${c.dump()}`);
        await c.opened(2);
        await ch.wait((x) => x.count("join_ok") >= 2, "rejoin after reconnect", 15000);
        assert.deepEqual(await ch.push("echo", { back: true }), { status: "ok", response: { back: true } });
      }
      // The bystander was not kicked: a later broadcast from the same sender reached it.
      const marker = unique("m");
      await endpointBroadcast(co.topic, "marker", { msg: marker });
      await co.wait((x) => x.count("event", "marker") >= 1, "marker on the bystander");
      assert.equal(other.count("close"), 0, `bystander was disconnected:\n${other.dump()}`);
      assert.equal(co.count("join_ok"), 1, other.dump());
    });

    test("other events on users_socket:ID do not close the socket", async (t) => {
      const userId = unique("notkick");
      const c = new Client(t, client, { params: { user_id: userId } }).connect();
      const ch = c.join(`echo:${unique("nk")}`, {}, { events: ["marker"] });
      await ch.joinedOk();
      await endpointBroadcast(`users_socket:${userId}`, "something_else", { msg: "hi" });
      await endpointBroadcast(ch.topic, "marker", { msg: "after" });
      await ch.wait((x) => x.count("event", "marker") >= 1, "marker");
      assert.equal(c.count("close"), 0, c.dump());
      assert.equal(c.received(`users_socket:${userId}`).length, 0, c.dump());
    });
  });
}
