// phoenix.js over long-poll in headless Debian chromium: the browser's own XMLHttpRequest, cross-origin
// (the page comes from a second loopback server, so every POST is preceded by a CORS preflight), and
// phoenix 1.8's fallback from a WebSocket the server refuses to long-poll. Run against a running
// conformance server:
//
//   PYRE_HTTP=http://127.0.0.1:4000 node --test longpoll.test.mjs
//
// CHROMIUM overrides the browser binary (default /usr/bin/chromium).
import {test, before, after} from "node:test"
import assert from "node:assert/strict"
import {mkdtemp, readFile, rm} from "node:fs/promises"
import http from "node:http"
import os from "node:os"
import path from "node:path"
import {chromium} from "playwright-core"

const pyreHTTP = process.env.PYRE_HTTP
if (!pyreHTTP) throw new Error("set PYRE_HTTP to the conformance server, e.g. http://127.0.0.1:4000")
const socketURL = pyreHTTP.replace(/^http/, "ws") + "/socket"
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium"

// Liveness bound for every wait: generous, never a timing assertion.
const timeout = 15_000

// The page: both phoenix.js versions, and run(), which drives one socket and reports what happened.
const page = `<!doctype html><meta charset="utf-8"><title>pyre long-poll</title>
<script type="module">
import * as p18 from "/phoenix.mjs"
import * as p17 from "/phoenix17.mjs"
const libs = {"1.8": p18, "1.7": p17}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
async function until(pred, what) {
  for (const end = Date.now() + ${timeout}; !pred(); await sleep(10)) {
    if (Date.now() > end) throw new Error("timed out waiting for " + what)
  }
}
const reply = (push) => new Promise((resolve) => push
  .receive("ok", (r) => resolve({status: "ok", response: r}))
  .receive("error", (r) => resolve({status: "error", response: r}))
  .receive("timeout", () => resolve({status: "timeout"})))

window.run = async ({lib, url, httpBase, topic, fallback}) => {
  const {Socket, LongPoll} = libs[lib]
  const opts = fallback
    ? {params: {refuse_websocket: "1"}, longPollFallbackMs: 5000}
    : {transport: LongPoll, params: {user_id: topic}}
  const socket = new Socket(url, opts)
  const events = []
  socket.onOpen(() => events.push("open"))
  socket.onError(() => events.push("error"))
  socket.onClose(() => events.push("close"))
  socket.connect()
  await until(() => socket.isConnected(), "socket open")
  const transport = socket.conn instanceof LongPoll ? "longpoll" : "websocket"
  const tokenInURL = /[?&]token=/.test(socket.conn.endpointURL ? socket.conn.endpointURL() : "")

  const ch = socket.channel(topic, {})
  const announced = []
  ch.on("announce", (p) => announced.push(p))
  const join = await reply(ch.join())
  const echo = await reply(ch.push("echo", {n: 1, s: "é"}))
  const burst = await Promise.all(Array.from({length: 10}, (_, i) => reply(ch.push("echo", {i}))))
  // /broadcast sends no CORS headers: the request goes through, its answer stays opaque.
  await fetch(httpBase + "/broadcast?topic=" + encodeURIComponent(topic) + "&event=announce&msg=hi", {mode: "no-cors"})
  await until(() => announced.length > 0, "the endpoint broadcast")
  const leave = await reply(ch.leave())
  const memo = sessionStorage.getItem("phx:fallback:LongPoll")
  const before = events.slice() // what happened while connected, not the disconnect below
  socket.disconnect()
  return {transport, tokenInURL, events: before, join, echo, burst: burst.map((r) => r.response.i), announced, leave, memo}
}
window.ready = true
</script>`

let context
let userDataDir
let pageServer
let pageBase
const pageErrors = []

before(async () => {
  const files = {
    "/phoenix.mjs": await readFile(new URL("./node_modules/phoenix/priv/static/phoenix.mjs", import.meta.url)),
    "/phoenix17.mjs": await readFile(new URL("./node_modules/phoenix17/priv/static/phoenix.mjs", import.meta.url)),
  }
  // The page's own origin, another port than the socket's: the long-poll requests are cross-origin.
  pageServer = http.createServer((req, res) => {
    const body = req.url === "/" ? page : files[req.url]
    if (body === undefined) {
      res.writeHead(404).end()
      return
    }
    res.writeHead(200, {"content-type": req.url === "/" ? "text/html; charset=utf-8" : "text/javascript"}).end(body)
  })
  await new Promise((resolve) => pageServer.listen(0, "127.0.0.1", resolve))
  pageBase = `http://127.0.0.1:${pageServer.address().port}/`

  userDataDir = await mkdtemp(path.join(os.tmpdir(), "pyre-longpoll-chromium-"))
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  })
  context.setDefaultTimeout(timeout)
})

after(async () => {
  await context?.close()
  if (userDataDir) await rm(userDataDir, {recursive: true, force: true})
  await new Promise((resolve) => (pageServer ? pageServer.close(resolve) : resolve()))
})

// open loads the page in a fresh tab (a fresh sessionStorage) and records its uncaught errors.
async function open(name) {
  const p = await context.newPage()
  p.on("pageerror", (err) => pageErrors.push(`${name}: ${err.message}`))
  await p.goto(pageBase)
  await p.waitForFunction(() => window.ready === true)
  return p
}

let n = 0
const topic = (prefix) => `echo:${prefix}-${process.pid}-${++n}`

for (const lib of ["1.8", "1.7"]) {
  test(`phoenix ${lib} over long-poll: join, push/reply, broadcast, leave`, async () => {
    const p = await open(`lp ${lib}`)
    const seen = []
    p.on("request", (r) => { if (r.url().includes("/socket/longpoll")) seen.push(`${r.method()} ${r.resourceType()}`) })
    const t = topic(`lp${lib}`)
    const r = await p.evaluate((args) => window.run(args), {lib, url: socketURL, httpBase: pyreHTTP, topic: t, fallback: false})
    assert.equal(r.transport, "longpoll")
    assert.deepEqual(r.events, ["open"])
    assert.deepEqual(r.join, {status: "ok", response: {joined: t}})
    assert.deepEqual(r.echo, {status: "ok", response: {n: 1, s: "é"}})
    assert.deepEqual(r.burst, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    assert.deepEqual(r.announced, [{msg: "hi"}])
    assert.deepEqual(r.leave, {status: "ok", response: {}})
    // Both versions poll with the browser's XMLHttpRequest and carry the session token in the URL.
    assert.ok(r.tokenInURL, "no token in the poll URL")
    assert.ok(seen.includes("GET xhr") && seen.includes("POST xhr"), `long-poll requests: ${seen.join(", ")}`)
    await p.close()
    assert.deepEqual(pageErrors, [])
  })
}

test("phoenix 1.8 longPollFallbackMs: a refused WebSocket falls back to long-poll", async () => {
  const p = await open("fallback")
  const t = topic("fallback")
  const r = await p.evaluate((args) => window.run(args), {lib: "1.8", url: socketURL, httpBase: pyreHTTP, topic: t, fallback: true})
  assert.equal(r.transport, "longpoll")
  // The refused WebSocket is an error before the long-poll session opens.
  assert.deepEqual(r.events.slice(-1), ["open"])
  assert.ok(r.events.includes("error"), `events ${r.events}`)
  assert.deepEqual(r.join, {status: "ok", response: {joined: t}})
  assert.deepEqual(r.echo, {status: "ok", response: {n: 1, s: "é"}})
  assert.deepEqual(r.announced, [{msg: "hi"}])
  assert.equal(r.memo, "true", "the fallback is not memorized for the session")
  await p.close()
  assert.deepEqual(pageErrors, [])
})
