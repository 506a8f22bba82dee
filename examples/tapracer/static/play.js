// The player's page: join "play" with a name, push "tap", follow race_state and winner, and show the
// racers online with phoenix.js's Presence (presence_state and presence_diff on "play").
import {Socket, Presence} from "/assets/phoenix.mjs"

window.tapracerReady = true
const $ = (id) => document.getElementById(id)

const socket = new Socket("/socket", {})
window.tapracerConn(socket)
socket.connect()

let channel = null
let me = null    // {id, name} from the join reply
let race = 0     // the race shown
let target = 0
let myTaps = 0
let over = false // the shown race has a winner

$("join-form").addEventListener("submit", (e) => {
  e.preventDefault()
  const name = $("name").value.trim()
  $("join-error").textContent = ""
  $("join").disabled = true
  if (channel) channel.leave()
  channel = socket.channel("play", {name})
  channel.on("race_state", render)
  channel.on("winner", render)
  const presence = new Presence(channel)
  presence.onSync(() => renderRacers(presence))
  channel.join()
    .receive("ok", (resp) => {
      // A rejoin (after a reconnect) makes a new player: its id is in each join reply.
      me = {id: resp.id, name: resp.name}
      renderRacers(presence)
      $("me").textContent = resp.name
      $("join-card").classList.add("hidden")
      $("game").classList.remove("hidden")
      $("tap").focus()
    })
    .receive("error", (resp) => {
      // A refused join is not retried by phoenix.js once we leave.
      channel.leave()
      channel = null
      $("join").disabled = false
      $("join-error").textContent = resp.reason || "Could not join"
    })
})

function tap() {
  if (!channel || over) return
  channel.push("tap", {})
    .receive("ok", (r) => {
      if (r.race === race && r.counted) {
        myTaps = Math.max(myTaps, r.taps)
        $("my-taps").textContent = myTaps
      }
    })
}

const button = $("tap")
button.addEventListener("pointerdown", (e) => { e.preventDefault(); tap() })
button.addEventListener("keydown", (e) => {
  if ((e.key === " " || e.key === "Enter") && !e.repeat) { e.preventDefault(); tap() }
})

function render(st) {
  if (st.race !== race) {
    race = st.race
    myTaps = 0
  }
  target = st.target
  const mine = me && st.players.find((p) => p.id === me.id)
  if (mine) myTaps = Math.max(myTaps, mine.taps)
  over = st.winner !== null
  $("race").textContent = "#" + st.race
  $("target").textContent = target
  $("my-taps").textContent = myTaps
  button.disabled = over

  const banner = $("winner")
  if (over) {
    const you = me && st.winner.id === me.id
    banner.textContent = you ? `★ You won race #${st.race}!` : `★ ${st.winner.name} wins race #${st.race}!`
    banner.classList.remove("hidden")
    $("status").textContent = "Waiting for the console to start a new race…"
  } else {
    banner.classList.add("hidden")
    $("status").textContent = `First to ${target} taps wins. Tap!`
  }

  const rows = st.players.map((p, i) => {
    const tr = document.createElement("tr")
    if (me && p.id === me.id) tr.className = "me"
    if (st.winner && p.id === st.winner.id) tr.classList.add("winner")
    for (const [text, cls] of [[i + 1, "num"], [p.name, ""], [p.taps, "num"]]) {
      const td = document.createElement("td")
      td.textContent = text
      if (cls) td.className = cls
      tr.append(td)
    }
    return tr
  })
  $("players").replaceChildren(...rows)
}

// The racers online: the presences of "play", keyed by player id, each with its name.
function renderRacers(presence) {
  const racers = presence.list((id, {metas}) => ({name: metas[0].name, me: me !== null && id === me.id}))
  racers.sort((a, b) => a.name.localeCompare(b.name))
  $("online").textContent = racers.length
  window.tapracerPeople($("racers"), racers)
}
