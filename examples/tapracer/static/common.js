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

// Shows the socket's state in the header.
window.tapracerConn = (socket) => {
  const el = document.getElementById("conn")
  const set = (up) => {
    el.textContent = up ? "connected" : "reconnecting…"
    el.className = "conn " + (up ? "up" : "down")
  }
  socket.onOpen(() => set(true))
  socket.onError(() => set(false))
  socket.onClose(() => set(false))
}
