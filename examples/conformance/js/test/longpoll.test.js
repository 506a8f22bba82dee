// The long-poll transport (transport/PROTOCOL.md §7) with phoenix.js's own LongPoll: connect, join, push/reply,
// broadcasts, leave, refusal, the session expiring, and 1.8's fallback from a refused WebSocket.
//
// Under Node, phoenix 1.8's Ajax uses fetch; 1.7's needs XMLHttpRequest, which Node lacks: FetchXHR below
// provides the little of it that Ajax uses, installed only while the 1.7 tests run (1.8 would prefer it to
// fetch). The conformance server's window is 2 s, so an idle session expires after about 3 s.
import "../lib/self.js";
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { clients, Client, waitFor, unique, endpointBroadcast, PYRE_HTTP } from "../lib/pyre.js";

class FetchXHR {
  constructor() {
    this.readyState = 0;
    this.status = 0;
    this.responseText = "";
    this.timeout = 0;
    this.headers = {};
    this.controller = new AbortController();
  }
  open(method, url) {
    this.method = method;
    this.url = url;
    this.readyState = 1;
  }
  setRequestHeader(k, v) {
    this.headers[k] = v;
  }
  send(body) {
    let timer;
    if (this.timeout > 0) timer = setTimeout(() => { this.timedOut = true; this.controller.abort(); }, this.timeout);
    fetch(this.url, { method: this.method, headers: this.headers, body: body ?? undefined, signal: this.controller.signal })
      .then(async (res) => {
        const text = await res.text();
        this.status = res.status;
        this.responseText = text;
        this.complete();
      })
      .catch(() => {
        if (this.aborted) return;
        if (this.timedOut) {
          this.readyState = 4;
          if (this.ontimeout) this.ontimeout();
          return;
        }
        this.complete(); // a network error completes with no response, as in a browser
      })
      .finally(() => clearTimeout(timer));
  }
  complete() {
    this.readyState = 4;
    if (this.onreadystatechange) this.onreadystatechange();
  }
  abort() {
    this.aborted = true;
    this.controller.abort();
  }
}

const is17 = (client) => / 1\.7\./.test(client.name);

/**
 * A Client whose transport is phoenix.js's LongPoll, with its traffic in the wire log. gate.blocked holds
 * back the client's next polls (as if its network stalled) until gate.release().
 */
function lpClient(t, client, opts = {}) {
  const start = Date.now();
  const conns = [];
  let c;
  const rec = (...args) => c && c.frames.push([Date.now() - start, ...args]);
  const gate = {
    blocked: false,
    pending: [],
    release() {
      this.blocked = false;
      for (const poll of this.pending.splice(0)) poll();
    },
  };
  class LoggingLongPoll extends client.phx.LongPoll {
    constructor(endPoint, protocols) {
      super(endPoint, protocols);
      conns.push(this);
      rec("connect", "longpoll", endPoint);
    }
    set onmessage(fn) {
      this._onmessage = fn;
    }
    get onmessage() {
      return (e) => {
        rec("<", e.data);
        this._onmessage(e);
      };
    }
    poll() {
      if (gate.blocked) {
        rec("poll held back");
        gate.pending.push(() => super.poll());
        return;
      }
      super.poll();
    }
    send(body) {
      rec(">", body);
      super.send(body);
    }
    close(code, reason, wasClean) {
      rec("close", code, reason);
      super.close(code, reason, wasClean);
    }
  }
  c = new Client(t, client, { transport: LoggingLongPoll, ...opts });
  c.gate = gate;
  c.lpConns = conns;
  if (t) {
    t.after(() => {
      gate.pending.length = 0;
      for (const conn of conns) if (conn.readyState !== 3) conn.close(1000, "test over", true);
    });
  }
  return c;
}

/** POSTs a heartbeat with token, bypassing phoenix.js; returns the logical status (410: no session). */
async function probe(token) {
  const res = await fetch(`${PYRE_HTTP}/socket/longpoll?vsn=2.0.0`, {
    method: "POST",
    headers: { "X-Phoenix-Longpoll-Token": token, "Content-Type": "application/x-ndjson" },
    body: JSON.stringify([null, unique("probe"), "phoenix", "heartbeat", {}]),
  });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("cache-control"), "no-store");
  return (await res.json()).status;
}

for (const client of clients) {
  describe(`${client.name}: long-poll`, () => {
    before(() => {
      if (is17(client)) globalThis.XMLHttpRequest = FetchXHR;
    });
    after(() => {
      delete globalThis.XMLHttpRequest;
    });

    test("connect, join, push/reply, error reply, leave", async (t) => {
      const c = lpClient(t, client, { params: { user_id: unique("u") } }).connect();
      await c.opened();
      assert.ok(c.socket.conn instanceof client.phx.LongPoll, c.dump());
      assert.match(c.socket.conn.token, /\S+/, "no session token");
      const ch = c.join(`echo:${unique("lp")}`, {}, { events: ["welcome"] });
      assert.deepEqual(await ch.joinedOk(), { joined: ch.topic });
      await ch.wait((x) => x.count("event", "welcome") >= 1, "welcome push after the join");
      assert.deepEqual(await ch.push("echo", { n: 1, s: "é" }), { status: "ok", response: { n: 1, s: "é" } });
      assert.deepEqual(await ch.push("error", { why: "x" }), { status: "error", response: { why: "x" } });
      // Pushes sent back to back travel in one ndjson POST and are answered in order.
      const many = await Promise.all(Array.from({ length: 20 }, (_, i) => ch.push("echo", { i })));
      assert.deepEqual(many.map((r) => r.response.i), Array.from({ length: 20 }, (_, i) => i), c.dump());
      const replies = c.msgs.filter((m) => m.topic === ch.topic && m.event === "phx_reply" && m.payload.response && m.payload.response.i !== undefined);
      assert.deepEqual(replies.map((m) => m.payload.response.i), Array.from({ length: 20 }, (_, i) => i), "replies out of order");

      const left = await new Promise((resolve) => {
        ch.channel.leave().receive("ok", () => resolve("ok")).receive("timeout", () => resolve("timeout"));
      });
      assert.equal(left, "ok", c.dump());
      await ch.wait((x) => x.count("close") >= 1, "onClose after leave");
      assert.equal(c.count("close"), 0, c.dump());
      assert.equal(c.count("error"), 0, c.dump());
    });

    test("broadcasts reach long-poll and WebSocket clients alike", async (t) => {
      const topic = `echo:${unique("lpbc")}`;
      const a = lpClient(t, client, { label: "LP-A" }).connect();
      const b = lpClient(t, client, { label: "LP-B" }).connect();
      const w = new Client(t, client, { label: "WS" }).connect();
      const chans = [a, b, w].map((c) => c.join(topic, {}, { events: ["broadcast", "announce"] }));
      for (const ch of chans) await ch.joinedOk();
      const payload = { body: unique("hello"), n: [1, 2, 3] };
      chans[0].push("broadcast", payload);
      await waitFor(() => chans.every((ch) => ch.count("event", "broadcast") >= 1), { what: "broadcast everywhere", clients: [a, b, w] });
      for (const ch of chans) assert.deepEqual(ch.entries("event", "broadcast")[0].payload, payload);
      await endpointBroadcast(topic, "announce", { msg: "from the endpoint" });
      await waitFor(() => chans.every((ch) => ch.count("event", "announce") >= 1), { what: "endpoint broadcast everywhere", clients: [a, b, w] });
      assert.equal(a.received(topic, "announce")[0].join_ref, null, a.dump());
    });

    test("connect refused: 403, socket error, never open", async (t) => {
      const c = lpClient(t, client, { params: { reject: "1" } }).connect();
      await waitFor(() => c.count("error") >= 1 && c.count("close") >= 1, { what: "socket error and close", clients: [c] });
      assert.equal(c.count("open"), 0, c.dump());
      assert.ok(c.frames.some(([, kind, code, reason]) => kind === "close" && code === 1008 && reason === "forbidden"), c.dump());
    });

    test("the session expires when nobody polls; the client gets a new one", async (t) => {
      const c = lpClient(t, client).connect();
      await c.opened();
      const ch = c.join(`echo:${unique("exp")}`);
      await ch.joinedOk();
      const token = c.socket.conn.token;
      c.gate.blocked = true;
      // The poll in flight ends within the window; then nobody polls and the server ends the session.
      for (const deadline = Date.now() + 15000; ; ) {
        if ((await probe(token)) === 410) break;
        if (Date.now() > deadline) throw new Error(`the unpolled session did not expire\n${c.dump()}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      c.gate.release();
      if (!is17(client)) {
        // 1.8: a 410 on a session it had is an error: it reconnects and rejoins its channels.
        await c.opened(2);
        await ch.wait((x) => x.count("join_ok") >= 2, "rejoin after the new session", 15000);
        assert.notEqual(c.socket.conn.token, token);
        assert.deepEqual(await ch.push("echo", { after: "expiry" }), { status: "ok", response: { after: "expiry" } });
        return;
      }
      // 1.7 adopts the new session silently and does not rejoin: its channel is gone on the server, which
      // answers as Phoenix does. A new join works.
      await waitFor(() => c.count("open") >= 2 && c.socket.conn.token !== token, { what: "new session", clients: [c] });
      assert.deepEqual(await ch.push("echo", { after: "expiry" }), { status: "error", response: { reason: "unmatched topic" } });
      const again = c.join(`echo:${unique("exp2")}`);
      await again.joinedOk();
      assert.deepEqual(await again.push("echo", { ok: 1 }), { status: "ok", response: { ok: 1 } });
    });

    if (!is17(client)) {
      test("longPollFallbackMs: a refused WebSocket falls back to long-poll", async (t) => {
        const store = new Map();
        const sessionStorage = { getItem: (k) => store.get(k) ?? null, setItem: (k, v) => store.set(k, v), removeItem: (k) => store.delete(k) };
        const c = new Client(t, client, { params: { refuse_websocket: "1" }, longPollFallbackMs: 5000, sessionStorage }).connect();
        await c.opened();
        assert.ok(c.socket.conn instanceof client.phx.LongPoll, `not on long-poll:\n${c.dump()}`);
        assert.ok(c.frames.some(([, kind, url]) => kind === "connect" && /\/websocket/.test(url)), `WebSocket not tried first:\n${c.dump()}`);
        const ch = c.join(`echo:${unique("fb")}`);
        assert.deepEqual(await ch.joinedOk(), { joined: ch.topic });
        assert.deepEqual(await ch.push("echo", { via: "fallback" }), { status: "ok", response: { via: "fallback" } });
        assert.equal(store.get("phx:fallback:LongPoll"), "true", "fallback not memorized");
      });
    }
  });
}
