// The live dashboard (package transport/dashboard) in headless Debian chromium: the page loads and goes
// live over its own Pyre socket, the charts move under a bounded load that a second page drives with
// phoenix.js, and the supervision tree shows a channel crash and its restart in place. Run against a
// running conformance server:
//
//   PYRE_HTTP=http://127.0.0.1:4000 node --test dashboard.test.mjs
//
// CHROMIUM overrides the browser binary (default /usr/bin/chromium). The screenshot is written to
// $DASHBOARD_SCREENSHOT (default: dashboard.png in a new temporary directory), and its path printed.
import {test, before, after} from "node:test"
import assert from "node:assert/strict"
import {mkdtemp, rm} from "node:fs/promises"
import os from "node:os"
import path from "node:path"
import {chromium} from "playwright-core"

const base = process.env.PYRE_HTTP
if (!base) throw new Error("set PYRE_HTTP to the conformance server, e.g. http://127.0.0.1:4000")
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium"

// Liveness bound for every wait: generous, never a timing assertion.
const timeout = 20_000

let browser
const pageErrors = []

before(async () => {
  browser = await chromium.launch({
    executablePath,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  })
})

after(async () => {
  await browser?.close()
})

async function open(url, viewport) {
  const page = await browser.newPage({viewport})
  page.setDefaultTimeout(timeout)
  page.on("pageerror", (err) => pageErrors.push(`${url}: ${err.message}`))
  // The load's page is /health, whose missing favicon would be a console error: only the dashboard's count.
  if (url.startsWith("/dashboard/")) page.on("console", (msg) => { if (msg.type() === "error") pageErrors.push(`${url}: console: ${msg.text()}`) })
  await page.goto(new URL(url, base).href)
  return page
}

// The load: phoenix.js in a page of the same origin, 12 sockets with 7 channels each (restart:* restarts
// in place, echo:* is Phoenix-exact, presence:* tracks), then `rounds` echo pushes on every restart:
// channel, answered before the next round.
async function startLoad(page, rounds) {
  return page.evaluate(async ({rounds}) => {
    const {Socket} = await import("/assets/phoenix.mjs")
    const joined = (ch) => new Promise((ok, fail) => ch.join().receive("ok", ok).receive("error", fail).receive("timeout", fail))
    const pushed = (ch, ev) => new Promise((ok, fail) => ch.push(ev, {}).receive("ok", ok).receive("error", fail).receive("timeout", fail))
    const sockets = [], rooms = []
    window.load = {sockets, rooms}
    for (let i = 0; i < 12; i++) {
      const s = new Socket("/socket", {params: {user_id: `u${i}`}})
      s.connect()
      sockets.push(s)
      for (let j = 0; j < 4; j++) {
        const ch = s.channel(`restart:${i}-${j}`, {})
        await joined(ch)
        rooms.push(ch)
      }
      for (let j = 0; j < 2; j++) await joined(s.channel(`echo:${i}-${j}`, {}))
      await joined(s.channel("presence:lobby", {user: `u${i}`}))
    }
    // Paced over a few seconds, so that the charts show a shape rather than one spike.
    const pause = () => new Promise((ok) => setTimeout(ok, 100))
    for (let r = 0; r < rounds; r++) {
      await Promise.all(rooms.map((ch) => pushed(ch, "echo")))
      await pause()
    }
    window.crash = () => new Promise((ok) => rooms[0].push("crash", {}).receive("error", ok))
    return rooms.length
  }, {rounds})
}

// total is the sum of a chart's points, as the page drew it.
const total = (page, key) => page.locator(`#chart-${key}`).getAttribute("data-total").then(Number)

test("the dashboard goes live, its charts move under load, its tree shows a crash and its restart", async () => {
  const dash = await open("/dashboard/", {width: 1280, height: 720})
  await dash.locator("#conn.up").waitFor()
  await dash.waitForFunction(() => window.pyreDashboard.updates > 0)
  await dash.locator("#tree details[data-key=endpoint]").waitFor()

  const load = await open("/health", {width: 400, height: 300})
  assert.equal(await startLoad(load, 30), 48)

  // The tree: 12 sockets, 84 channels, restart: among the groups, all of them transient.
  await dash.waitForFunction(() => {
    const s = window.pyreDashboard.snapshot
    return s.endpoint.sockets >= 12 && s.channels.some((g) => g.prefix === "restart:" && g.channels === 48)
  })
  const restartGroup = dash.locator('#tree details[data-key="channels/restart:"] > summary')
  assert.match(await restartGroup.textContent(), /restart:\s*48 channels on 48 topics\s*transient 48/)
  assert.match(await dash.locator('#tree details[data-key="channels/echo:"] > summary').textContent(), /temporary 24/)

  // The charts moved: every connection, join and push was counted and drawn (the next samples bring the
  // last of them).
  await dash.waitForFunction(() => {
    const n = (k) => Number(document.querySelector(`#chart-${k}`)?.dataset.total)
    return n("connects") >= 12 && n("joins") >= 84 && n("in") >= 84 + 48 * 30 && n("out") >= 84 + 48 * 30
  })
  assert.equal(await total(dash, "crashes"), 0)

  // A crash on a push: the channel restarts in place; the tree, the restarts and the crashes show it.
  await load.evaluate(() => window.crash())
  await dash.waitForFunction(() => {
    const g = window.pyreDashboard.snapshot.channels.find((g) => g.prefix === "restart:")
    return g && g.recent_restarts === 1 && g.max_incarnation === 2
  })
  assert.match(await restartGroup.textContent(), /restarts 5 min: 1\s*restarted 1 · max incarnation 2/)
  await dash.locator("#restarts li", {hasText: "restart:0-0"}).waitFor()
  await dash.locator("#crashes li", {hasText: "crash requested"}).waitFor()
  await dash.waitForFunction(() => Number(document.querySelector("#chart-crashes").dataset.total) === 1)

  const shot = process.env.DASHBOARD_SCREENSHOT ||
    path.join(await mkdtemp(path.join(os.tmpdir(), "pyre-dashboard-")), "dashboard.png")
  await dash.screenshot({path: shot})
  console.log(`screenshot: ${shot}`)

  // Opening the group lists its channels, the restarted one first.
  await restartGroup.click()
  const firstRow = dash.locator('#tree details[data-key="channels/restart:"] table tr:nth-child(2)')
  await firstRow.waitFor()
  assert.match(await firstRow.textContent(), /^restart:0-0users_socket:u0transient2/)

  await load.evaluate(() => window.load.sockets.forEach((s) => s.disconnect()))
  assert.deepEqual(pageErrors, [])
})
