// The chat: join chat:<room> (the seed's ChatChannel), push new_msg, show every new_msg pushed back.
import {Socket} from "/assets/phoenix.mjs"

window.tapracerReady = true
const $ = (id) => document.getElementById(id)

const socket = new Socket("/socket", {})
window.tapracerConn(socket)
socket.connect()

let channel = null

$("room").addEventListener("input", () => { $("topic").textContent = "chat:" + $("room").value.trim() })

$("room-form").addEventListener("submit", (e) => {
  e.preventDefault()
  const topic = "chat:" + $("room").value.trim()
  leave()
  $("chat-error").textContent = ""
  $("join").disabled = true
  const ch = socket.channel(topic, {})
  channel = ch
  ch.on("new_msg", (msg) => show(msg.user || "anonymous", msg.body ?? ""))
  ch.join()
    .receive("ok", () => {
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
  $("room-card").classList.add("hidden")
  $("leave").classList.add("hidden")
}

$("send-form").addEventListener("submit", (e) => {
  e.preventDefault()
  const body = $("body").value.trim()
  if (!channel || body === "") return
  channel.push("new_msg", {body, user: $("nick").value.trim() || "anonymous"})
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
