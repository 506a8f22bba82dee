// The chat: join chat:<room> with a name (the seed's ChatChannel, with presence), push new_msg, show every
// new_msg pushed back, and the room's members with phoenix.js's Presence.
import {Socket, Presence} from "/assets/phoenix.mjs"

window.tapracerReady = true
const $ = (id) => document.getElementById(id)

const socket = new Socket("/socket", {})
window.tapracerConn(socket)
socket.connect()

let channel = null
let myName = null // the name the room knows us by (the join reply's "user")

$("room").addEventListener("input", () => { $("topic").textContent = "chat:" + $("room").value.trim() })

$("room-form").addEventListener("submit", (e) => {
  e.preventDefault()
  const topic = "chat:" + $("room").value.trim()
  leave()
  $("chat-error").textContent = ""
  $("join").disabled = true
  const ch = socket.channel(topic, {user: $("nick").value.trim()})
  channel = ch
  ch.on("new_msg", (msg) => show(msg.user || "anonymous", msg.body ?? ""))
  const presence = new Presence(ch)
  presence.onSync(() => { if (channel === ch) renderMembers(presence) })
  ch.join()
    .receive("ok", (resp) => {
      myName = resp.user
      renderMembers(presence)
      $("room-title").textContent = topic
      $("messages").replaceChildren()
      system(`You joined ${topic}.`)
      $("room-card").classList.remove("hidden")
      $("leave").classList.remove("hidden")
      $("join").disabled = false
      $("body").focus()
    })
    .receive("error", (resp) => {
      // Stop phoenix.js from retrying a refused join.
      ch.leave()
      if (channel === ch) channel = null
      $("join").disabled = false
      $("chat-error").textContent = `Could not join ${topic}: ${resp.reason || "refused"}`
    })
})

$("leave").addEventListener("click", leave)

function leave() {
  if (channel) channel.leave()
  channel = null
  myName = null
  $("members").replaceChildren()
  $("online").textContent = "0"
  $("room-card").classList.add("hidden")
  $("leave").classList.add("hidden")
}

$("send-form").addEventListener("submit", (e) => {
  e.preventDefault()
  const body = $("body").value.trim()
  if (!channel || body === "") return
  channel.push("new_msg", {body, user: myName || "anonymous"})
  $("body").value = ""
})

function show(who, body) {
  const li = document.createElement("li")
  const b = document.createElement("span")
  b.className = "who"
  b.textContent = who
  li.append(b, document.createTextNode(body))
  append(li)
}

function system(text) {
  const li = document.createElement("li")
  li.className = "system"
  li.textContent = text
  append(li)
}

function append(li) {
  const list = $("messages")
  list.append(li)
  list.scrollTop = list.scrollHeight
}

// The room's members: one presence key per name, one meta per joined tab.
function renderMembers(presence) {
  const members = presence.list((name, {metas}) => ({name, me: name === myName, count: metas.length}))
  members.sort((a, b) => a.name.localeCompare(b.name))
  $("online").textContent = members.length
  window.tapracerPeople($("members"), members)
}
