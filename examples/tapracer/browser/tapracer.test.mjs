// Drives the TapRacer pages in headless Debian chromium: a race between two players watched from the
// console, the racers online (phoenix.js Presence) on the console and the players' pages, and the chat
// with its members. Run against a running server:
//
//   TAPRACER_URL=http://127.0.0.1:4000 node --test tapracer.test.mjs
//
// CHROMIUM overrides the browser binary (default /usr/bin/chromium). The console screenshot is written
// (with play.png and chat.png beside it) under TAPRACER_SCREENSHOT_DIR (default: a new temporary
// directory), and its path printed; dashboard.png there is the live dashboard at /dashboard/.
import {test, before, after} from "node:test"
import assert from "node:assert/strict"
import {mkdtemp, mkdir, rm} from "node:fs/promises"
import os from "node:os"
import path from "node:path"
import {chromium} from "playwright-core"

const base = process.env.TAPRACER_URL
if (!base) throw new Error("set TAPRACER_URL to the TapRacer server, e.g. http://127.0.0.1:4000")
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium"

// Liveness bound for every wait: generous, never a timing assertion.
const timeout = 15_000

let context
let userDataDir
const pageErrors = []

before(async () => {
  userDataDir = await mkdtemp(path.join(os.tmpdir(), "tapracer-chromium-"))
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
    viewport: {width: 1000, height: 860},
  })
  context.setDefaultTimeout(timeout)
})

after(async () => {
  await context?.close()
  if (userDataDir) await rm(userDataDir, {recursive: true, force: true})
})

// open loads a page of the app and fails the test on uncaught errors and failed module loads.
async function open(route) {
  const page = await context.newPage()
  page.on("pageerror", (err) => pageErrors.push(`${route}: ${err.message}`))
  page.on("console", (msg) => { if (msg.type() === "error") pageErrors.push(`${route}: console: ${msg.text()}`) })
  await page.goto(new URL(route, base).href)
  // The page module ran (phoenix.js loaded) and the socket is up.
  await page.waitForFunction(() => window.tapracerReady === true)
  await page.locator("#conn.up").waitFor()
  return page
}

// screenshotDir is $TAPRACER_SCREENSHOT_DIR, else a new temporary directory (one per run).
let shots
async function screenshotDir() {
  if (!shots) {
    shots = process.env.TAPRACER_SCREENSHOT_DIR || await mkdtemp(path.join(os.tmpdir(), "tapracer-screenshots-"))
    await mkdir(shots, {recursive: true})
  }
  return shots
}

// people is the names listed in a <ul class="people"> (who is online), sorted.
async function people(page, list) {
  const names = await page.locator(`${list} li`).evaluateAll((lis) => lis.map((li) => li.firstChild.textContent))
  return names.sort()
}

// waitPeople waits until a who-is-online list shows exactly names (with " (you)" after the page's own).
async function waitPeople(page, list, names) {
  const want = [...names].sort()
  await page.waitForFunction(([sel, want]) => {
    const got = [...document.querySelectorAll(`${sel} li`)].map((li) => li.firstChild.textContent).sort()
    return JSON.stringify(got) === JSON.stringify(want)
  }, [list, want])
  assert.deepEqual(await people(page, list), want)
}

async function joinRace(page, name) {
  await page.bringToFront()
  await page.fill("#name", name)
  await page.click("#join")
  await page.locator("#game").waitFor({state: "visible"})
  assert.equal(await page.textContent("#me"), name)
}

test("two players race, the console shows the winner", async () => {
  const console_ = await open("/console")
  await console_.locator("#race").filter({hasText: /^#\d+$/}).waitFor()

  // A fresh race with a small target, whatever happened on this server before.
  const before = Number((await console_.textContent("#race")).slice(1))
  await console_.fill("#new-target", "10")
  await console_.click("#new-race")
  await console_.locator("#race").filter({hasText: `#${before + 1}`}).waitFor()
  await console_.locator("#target").filter({hasText: /^10$/}).waitFor()

  const ada = await open("/play")
  const linus = await open("/play")
  await joinRace(ada, "Ada")
  await joinRace(linus, "Linus")
  await console_.locator("#players tr").nth(1).waitFor()

  // Presence: the racers online, on the console and on each player's page (which marks its own name).
  await waitPeople(console_, "#racers", ["Ada", "Linus"])
  assert.equal(await console_.textContent("#online"), "2")
  assert.equal(await console_.locator("#no-racers").isVisible(), false)
  await waitPeople(ada, "#racers", ["Ada (you)", "Linus"])
  await waitPeople(linus, "#racers", ["Ada", "Linus (you)"])

  // A background tab gets no animation frames, which Playwright's clicks wait for: tap in the front tab.
  await linus.bringToFront()
  for (let i = 0; i < 3; i++) await linus.click("#tap")
  await ada.bringToFront()
  for (let i = 0; i < 10; i++) await ada.click("#tap")
  await console_.bringToFront()

  // The console names the winner, and its table agrees.
  const banner = console_.locator("#winner")
  await banner.filter({hasText: "Ada wins"}).waitFor()
  assert.match(await banner.textContent(), /Ada wins race #\d+ with 10 taps/)
  const winnerRow = console_.locator("#players tr.winner")
  await winnerRow.locator("td.taps").filter({hasText: /^10$/}).waitFor()
  assert.equal(await winnerRow.locator("td.name").textContent(), "Ada")
  await console_.locator("#players tr", {hasText: "Linus"}).locator("td.taps").filter({hasText: /^3$/}).waitFor()
  assert.equal(await console_.textContent("#status"), "finished")

  // Both players see it; the loser can no longer tap.
  await ada.locator("#winner").filter({hasText: "You won"}).waitFor()
  await linus.locator("#winner").filter({hasText: "Ada wins"}).waitFor()
  assert.equal(await ada.textContent("#my-taps"), "10")
  assert.equal(await linus.isDisabled("#tap"), true)

  const dir = await screenshotDir()
  const shot = path.join(dir, "console.png")
  await console_.screenshot({path: shot, fullPage: true})
  console.log(`console screenshot: ${shot}`)
  await ada.bringToFront()
  await ada.screenshot({path: path.join(dir, "play.png"), fullPage: true})

  // Closing a player's page takes them out of the race, and out of the racers online.
  await linus.close()
  await console_.locator("#count").filter({hasText: /^1$/}).waitFor()
  await waitPeople(console_, "#racers", ["Ada"])
  assert.equal(await console_.textContent("#online"), "1")
  await waitPeople(ada, "#racers", ["Ada (you)"])
  await console_.screenshot({path: path.join(dir, "console-racers.png"), fullPage: true})
  await ada.close()
  await waitPeople(console_, "#racers", [])
  await console_.locator("#no-racers").waitFor({state: "visible"})
  await console_.close()
})

test("chat: the room lists its members, a message reaches the other member; chat:secret is refused", async () => {
  const a = await open("/chat")
  const b = await open("/chat")
  for (const [page, name] of [[a, "ada"], [b, "grace"]]) {
    await page.bringToFront()
    await page.fill("#room", "lobby")
    await page.fill("#nick", name)
    await page.click("#join")
    await page.locator("#room-title").filter({hasText: "chat:lobby"}).waitFor()
  }
  // Presence: each page lists both members, its own marked.
  await waitPeople(a, "#members", ["ada (you)", "grace"])
  await waitPeople(b, "#members", ["ada", "grace (you)"])
  assert.equal(await a.textContent("#online"), "2")

  await a.bringToFront()
  await a.fill("#body", "hello from the first page")
  await a.click("#send")
  const got = b.locator("#messages li", {hasText: "hello from the first page"})
  await got.waitFor()
  assert.equal(await got.locator(".who").textContent(), "ada")
  // The sender gets its own message back too (broadcast, then pushed from handle_out).
  await a.locator("#messages li", {hasText: "hello from the first page"}).waitFor()

  await b.bringToFront()
  await b.screenshot({path: path.join(await screenshotDir(), "chat.png"), fullPage: true})
  await b.fill("#room", "secret")
  await b.click("#join")
  await b.locator("#chat-error").filter({hasText: "You don't have permission!"}).waitFor()
  assert.equal(await b.locator("#room-card").isVisible(), false)
  // Trying another room left the lobby: ada is alone there now.
  await waitPeople(a, "#members", ["ada (you)"])
  await b.screenshot({path: path.join(await screenshotDir(), "chat-secret.png"), fullPage: true})
  await a.close()
  await b.close()
})

// fits checks that nothing scrolls sideways and the connection label is whole, and takes a screenshot.
async function fits(page, label, width) {
  const m = await page.evaluate(() => {
    const conn = document.querySelector("#conn")?.getBoundingClientRect() ?? {left: 0, right: 0} // the index has none
    return {scroll: document.documentElement.scrollWidth, inner: window.innerWidth, connRight: conn.right, connLeft: conn.left}
  })
  assert.ok(m.scroll <= m.inner, `${label} at ${width} px scrolls sideways: ${m.scroll} px wide`)
  assert.ok(m.connLeft >= 0 && m.connRight <= m.inner, `${label} at ${width} px clips the connection label: ${JSON.stringify(m)}`)
  await page.screenshot({path: path.join(await screenshotDir(), `${label}-${width}.png`), fullPage: true})
}

test("every page fits a phone (390 px) and a desktop (1280 px)", async () => {
  for (const [width, height] of [[390, 844], [1280, 800]]) {
    for (const route of ["/", "/play", "/console", "/chat"]) {
      let page
      if (route === "/") { // a static page: no socket
        page = await context.newPage()
        await page.goto(new URL(route, base).href)
      } else {
        page = await open(route)
      }
      await page.setViewportSize({width, height})
      const label = route === "/" ? "index" : route.slice(1)
      await fits(page, label, width)
      if (route === "/play") { // the game itself, with a long name
        await joinRace(page, "Wolfgang Amadeus M")
        await fits(page, "play-game", width)
      }
      if (route === "/chat") {
        await page.fill("#room", "phones")
        await page.fill("#nick", "grace")
        await page.click("#join")
        await page.locator("#room-title").filter({hasText: "chat:phones"}).waitFor()
        await fits(page, "chat-room", width)
      }
      await page.close()
    }
  }
})

test("the dashboard at /dashboard/ shows TapRacer's own supervision tree, live", async () => {
  const console_ = await open("/console")
  const ada = await open("/play")
  await joinRace(ada, "Ada")

  const dash = await context.newPage()
  dash.on("pageerror", (err) => pageErrors.push(`/dashboard/: ${err.message}`))
  dash.on("console", (msg) => { if (msg.type() === "error") pageErrors.push(`/dashboard/: console: ${msg.text()}`) })
  await dash.goto(new URL("/dashboard/", base).href)
  await dash.locator("#conn.up").waitFor()
  // The console's and the player's channels, grouped by topic; the presence tracker among the workers.
  await dash.locator('#tree details[data-key="channels/console"] > summary').filter({hasText: /console\s*1 channels? on 1 topic/}).waitFor()
  await dash.locator('#tree details[data-key="channels/play"] > summary').filter({hasText: /play\s*1 channels? on 1 topic/}).waitFor()
  await dash.waitForFunction(() => window.pyreDashboard.snapshot.presences === 1 &&
    window.pyreDashboard.snapshot.infrastructure.some((w) => w.child === "presence"))
  await dash.screenshot({path: path.join(await screenshotDir(), "dashboard.png"), fullPage: true})
  await Promise.all([dash.close(), ada.close(), console_.close()])
})

test("no page errors", () => {
  assert.deepEqual(pageErrors, [])
})
