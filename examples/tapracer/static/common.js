// Shared by every page (a classic script, loaded before the page's module): if the page's module never ran,
// phoenix.js could not be loaded, and the page says how to fix it.
window.addEventListener("load", () => {
  if (window.tapracerReady) return
  const el = document.getElementById("fatal")
  if (!el) return
  el.textContent = "Could not load /assets/phoenix.mjs. Install the official phoenix.js with " +
    "`npm ci --prefix examples/tapracer/assets` (or `make run`) and reload."
  el.classList.remove("hidden")
})

// Shows the socket's state in the header, and the node it is on when the app runs as a cluster
// (`make cluster`: GET /node names it; a single node answers nothing).
window.tapracerConn = (socket) => {
  const el = document.getElementById("conn")
  fetch("/node").then((r) => (r.ok ? r.text() : "")).then((name) => {
    if (!name) return
    const node = document.createElement("span")
    node.className = "node"
    node.textContent = "node " + name
    node.title = "the cluster node this page's socket is on"
    el.before(node)
  }).catch(() => {})
  const set = (up) => {
    el.textContent = up ? "connected" : "reconnecting…"
    el.className = "conn " + (up ? "up" : "down")
  }
  socket.onOpen(() => set(true))
  socket.onError(() => set(false))
  socket.onClose(() => set(false))
}

// Renders who is online (from phoenix.js's Presence) into a <ul class="people">: people are
// {name, me, count}, shown in the order given; count > 1 is shown as "×count" (one key, several tabs).
window.tapracerPeople = (list, people) => {
  list.replaceChildren(...people.map(({name, me, count}) => {
    const li = document.createElement("li")
    if (me) li.className = "me"
    li.textContent = me ? `${name} (you)` : name
    if (count > 1) {
      const n = document.createElement("span")
      n.className = "count"
      n.textContent = "×" + count
      li.append(n)
    }
    return li
  }))
}
