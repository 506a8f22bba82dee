// Shared helpers for the phoenix.js conformance suite. Every test file imports this
// module; it is kept outside test/ so that `node --test test/` does not run it.
import "./self.js"; // must stay the first import: phoenix reads `self` when it loads
import * as phoenix18 from "phoenix";
import * as phoenix17 from "phoenix17";
import WebSocket from "ws";
import { readFileSync } from "node:fs";

function pkgVersion(dir) {
  const url = new URL(`../node_modules/${dir}/package.json`, import.meta.url);
  return JSON.parse(readFileSync(url, "utf8")).version;
}

/** The client versions every test runs against. */
export const clients = [
  { name: `phoenix ${pkgVersion("phoenix")}`, phx: phoenix18 },
  { name: `phoenix ${pkgVersion("phoenix17")}`, phx: phoenix17 },
];

/** Socket endpoint (without /websocket) and HTTP base of the server under test. */
export const PYRE_URL = process.env.PYRE_URL || "ws://127.0.0.1:4000/socket";
export const PYRE_HTTP = process.env.PYRE_HTTP ||
  PYRE_URL.replace(/^ws/, "http").replace(/\/socket\/?$/, "");

let uniq = 0;
/** A name unique within this process, for topics and user ids. */
export function unique(prefix = "t") {
  uniq++;
  return `${prefix}-${process.pid}-${uniq}-${Math.random().toString(36).slice(2, 8)}`;
}

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function fmtData(data) {
  if (typeof data === "string") return data;
  let bytes;
  if (data instanceof ArrayBuffer) bytes = new Uint8Array(data);
  else if (ArrayBuffer.isView(data)) bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  else if (Array.isArray(data)) return data.map(fmtData).join("");
  else return String(data);
  return `<binary ${bytes.length} bytes: ${Buffer.from(bytes).toString("hex")}>`;
}

/**
 * A phoenix.js Socket plus a record of everything that happened on it:
 *  - frames: raw wire traffic and transport events, for failure messages;
 *  - msgs:   every decoded inbound message ({join_ref, ref, topic, event, payload});
 *  - events: socket-level callbacks (open / close with code / error).
 */
export class Client {
  constructor(t, client, opts = {}) {
    const frames = (this.frames = []);
    this.msgs = [];
    this.events = [];
    this.name = opts.label || "client";
    this.transports = [];
    this.chans = [];
    const transports = this.transports;
    const start = Date.now();
    const rec = (...args) => frames.push([Date.now() - start, ...args]);
    // The ws WebSocket with wire logging; phoenix.js instantiates it as `new T(url, protocols)`.
    class LoggingWebSocket extends WebSocket {
      constructor(url, protocols) {
        super(url, protocols);
        transports.push(this);
        rec("connect", url);
        this.addEventListener("open", () => rec("open"));
        this.addEventListener("message", (e) => rec("<", fmtData(e.data)));
        this.addEventListener("error", (e) => rec("transport error", e.message));
        this.addEventListener("close", (e) => rec("close", e.code, e.reason, this.closedByClient ? "(closed by client)" : "(closed by server)"));
      }
      send(data, ...rest) {
        rec(">", fmtData(data));
        return super.send(data, ...rest);
      }
      close(code, reason) {
        if (this.readyState === WebSocket.OPEN || this.readyState === WebSocket.CONNECTING) {
          this.closedByClient = true;
          rec("client close", code, reason);
        }
        return super.close(code, reason);
      }
      terminate() {
        this.closedByClient = true;
        return super.terminate();
      }
    }
    const { label, url, ...socketOpts } = opts;
    this.socket = new client.phx.Socket(url || PYRE_URL, { transport: LoggingWebSocket, ...socketOpts });
    this.socket.onOpen(() => this.events.push({ type: "open" }));
    this.socket.onClose((e) => this.events.push({ type: "close", code: e && e.code, reason: e && e.reason }));
    this.socket.onError((e) => this.events.push({ type: "error", message: e && e.message }));
    this.socket.onMessage((msg) => this.msgs.push(msg));
    if (t) t.after(() => this.close());
  }

  connect() {
    this.socket.connect();
    return this;
  }

  /** Transport closes the server initiated (not phoenix.js's own closes, not cleanup). */
  serverCloses() {
    return this.frames.filter(([, kind, , , who]) => kind === "close" && who === "(closed by server)");
  }

  count(type) {
    return this.events.filter((e) => e.type === type).length;
  }

  /** Waits for the socket to be open (the open callback fired at least n times). */
  async opened(n = 1) {
    await waitFor(() => this.count("open") >= n && this.socket.isConnected(), { what: `socket open #${n}`, clients: [this] });
  }

  /** Inbound messages on a topic, optionally of one event. */
  received(topic, event) {
    return this.msgs.filter((m) => m.topic === topic && (event === undefined || m.event === event));
  }

  /** Joins topic; returns a Chan that records what happens to the channel. */
  join(topic, params = {}, { events = [], timeout } = {}) {
    return new Chan(this, topic, params, events, timeout);
  }

  dump(max = 150) {
    const lines = this.frames.slice(-max).map(([ms, kind, ...rest]) => `  +${ms}ms ${kind} ${rest.map((x) => (typeof x === "string" ? x : JSON.stringify(x))).join(" ")}`);
    const skipped = this.frames.length > max ? `  (${this.frames.length - max} earlier frames omitted)\n` : "";
    return `${this.name} wire log:\n${skipped}${lines.join("\n")}\n  socket callbacks: ${JSON.stringify(this.events)}`;
  }

  /** Disconnects and makes sure the transport is really gone, so the process can exit. */
  async close() {
    const socket = this.socket;
    await new Promise((resolve) => {
      const timer = setTimeout(resolve, 3000);
      try {
        socket.disconnect(() => {
          clearTimeout(timer);
          resolve();
        });
      } catch {
        clearTimeout(timer);
        resolve();
      }
    });
    for (const ws of this.transports) {
      if (ws.readyState !== WebSocket.CLOSED) ws.terminate();
    }
    // Pending push and rejoin timers would keep the process alive until they fire.
    for (const chan of this.chans) chan.stopTimers();
  }
}

/** A channel plus an ordered log of what happened to it. */
export class Chan {
  constructor(client, topic, params, events, timeout) {
    this.client = client;
    this.topic = topic;
    this.log = [];
    this.pushes = [];
    client.chans.push(this);
    const ch = (this.channel = client.socket.channel(topic, params));
    ch.onError((reason) => this.log.push({ kind: "error", payload: reason }));
    ch.onClose((payload) => this.log.push({ kind: "close", payload }));
    for (const event of events) ch.on(event, (payload) => this.log.push({ kind: "event", event, payload }));
    this.joinPush = ch.join(timeout);
    this.joinPush
      .receive("ok", (resp) => this.log.push({ kind: "join_ok", payload: resp }))
      .receive("error", (resp) => this.log.push({ kind: "join_error", payload: resp }))
      .receive("timeout", () => this.log.push({ kind: "join_timeout" }));
  }

  entries(kind, event) {
    return this.log.filter((e) => e.kind === kind && (event === undefined || e.event === event));
  }

  count(kind, event) {
    return this.entries(kind, event).length;
  }

  /** Index in the log of the n-th (1-based) entry of a kind. */
  indexOf(kind, event, n = 1) {
    let seen = 0;
    for (let i = 0; i < this.log.length; i++) {
      const e = this.log[i];
      if (e.kind === kind && (event === undefined || e.event === event) && ++seen === n) return i;
    }
    return -1;
  }

  /** Waits for the join reply (ok, error or timeout) number n and returns it. */
  async joined(n = 1) {
    await waitFor(() => this.log.filter((e) => e.kind.startsWith("join_")).length >= n, {
      what: `join reply #${n} on ${this.topic}`,
      clients: [this.client],
    });
    return this.log.filter((e) => e.kind.startsWith("join_"))[n - 1];
  }

  /** Waits for an ok join and returns its response. */
  async joinedOk() {
    const r = await this.joined();
    if (r.kind !== "join_ok") throw new Error(`join of ${this.topic} answered ${JSON.stringify(r)}\n${this.client.dump()}`);
    return r.payload;
  }

  /** Pushes and resolves with {status, response} on ok, error or timeout; the push is in .push. */
  push(event, payload, timeout = 10000) {
    const entry = { kind: "push", event, result: null };
    const done = new Promise((resolve) => {
      const push = this.channel.push(event, payload, timeout);
      entry.push = push;
      this.pushes.push(push);
      const settle = (status) => (response) => {
        if (entry.result) return;
        entry.result = { status, response };
        this.log.push({ kind: "reply", event, status, payload: response });
        resolve(entry.result);
      };
      push.receive("ok", settle("ok")).receive("error", settle("error")).receive("timeout", settle("timeout"));
    });
    done.push = entry.push;
    return done;
  }

  stopTimers() {
    this.channel.rejoinTimer.reset();
    this.joinPush.cancelTimeout();
    for (const push of this.pushes) push.cancelTimeout();
  }

  wait(pred, what, timeout) {
    return waitFor(() => pred(this), { what: `${what} on ${this.topic}`, clients: [this.client], timeout });
  }
}

/**
 * Polls predicate every 10 ms until it returns truthy; on timeout throws an error carrying
 * the wire logs of the given clients.
 */
export async function waitFor(predicate, { timeout = 10000, what = "condition", clients = [] } = {}) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const v = predicate();
    if (v) return v;
    if (Date.now() > deadline) {
      const dumps = clients.map((c) => c.dump()).join("\n");
      throw new Error(`timed out after ${timeout} ms waiting for ${what}\n${dumps}`);
    }
    await sleep(10);
  }
}

/** GET on the server's HTTP side; returns {status, body}. */
export async function httpGet(path, query = {}) {
  const url = new URL(path, PYRE_HTTP);
  for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
  const res = await fetch(url);
  return { status: res.status, body: await res.text() };
}

/** Endpoint broadcast through GET /broadcast; payload is {msg} unless payload is given. */
export async function endpointBroadcast(topic, event, { msg, payload } = {}) {
  const q = { topic, event };
  if (payload !== undefined) q.payload = JSON.stringify(payload);
  else if (msg !== undefined) q.msg = msg;
  const r = await httpGet("/broadcast", q);
  if (r.status < 200 || r.status > 299) throw new Error(`GET /broadcast ${JSON.stringify(q)} answered HTTP ${r.status}: ${r.body}`);
  return r;
}
