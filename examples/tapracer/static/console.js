// The race console: join "console", show every race_state and winner, start new races, and show the
// racers online with phoenix.js's Presence (the presence of "play", relayed on "console").
import {Socket, Presence} from "/assets/phoenix.mjs"

window.tapracerReady = true
const $ = (id) => document.getElementById(id)

const socket = new Socket("/socket", {})
window.tapracerConn(socket)
socket.connect()

const channel = socket.channel("console", {})
let version = -1
channel.on("race_state", render)
channel.on("winner", render)
const presence = new Presence(channel)
presence.onSync(() => {
  const racers = presence.list((id, {metas}) => ({name: metas[0].name}))
  racers.sort((a, b) => a.name.localeCompare(b.name))
  $("online").textContent = racers.length
  $("no-racers").classList.toggle("hidden", racers.length > 0)
  window.tapracerPeople($("racers"), racers)
})
channel.join()
  .receive("error", (resp) => { $("console-error").textContent = resp.reason || "Could not join the console" })

$("new-race-form").addEventListener("submit", (e) => {
  e.preventDefault()
  $("console-error").textContent = ""
  const raw = $("new-target").value.trim()
  const payload = raw === "" ? {} : {target: Number(raw)}
  channel.push("new_race", payload)
    .receive("ok", (st) => { $("new-target").value = ""; render(st) })
    .receive("error", (resp) => { $("console-error").textContent = resp.reason || "Could not start a race" })
    .receive("timeout", () => { $("console-error").textContent = "The server did not answer" })
})

function render(st) {
  // States are published in order, but a reply to new_race may trail a newer broadcast: keep the newest.
  if (st.version < version) return
  version = st.version
  $("race").textContent = "#" + st.race
  $("target").textContent = st.target
  $("new-target").placeholder = st.target
  $("count").textContent = st.players.length
  $("status").textContent = st.winner ? "finished" : "racing"

  const banner = $("winner")
  if (st.winner) {
    banner.textContent = `★ ${st.winner.name} wins race #${st.race} with ${st.winner.taps} taps!`
    banner.classList.remove("hidden")
  } else {
    banner.classList.add("hidden")
  }

  $("empty").classList.toggle("hidden", st.players.length > 0)
  const rows = st.players.map((p, i) => {
    const tr = document.createElement("tr")
    if (st.winner && p.id === st.winner.id) tr.className = "winner"
    const cells = [[i + 1, "num"], [p.name, "name"], [p.taps, "num taps"]]
    for (const [text, cls] of cells) {
      const td = document.createElement("td")
      td.textContent = text
      td.className = cls
      tr.append(td)
    }
    const td = document.createElement("td")
    const bar = document.createElement("div")
    bar.className = "bar"
    const fill = document.createElement("div")
    fill.style.width = Math.min(100, (100 * p.taps) / st.target) + "%"
    bar.append(fill)
    td.append(bar)
    tr.append(td)
    return tr
  })
  $("players").replaceChildren(...rows)
}
