// The Pyre dashboard page: it joins "pyre:dashboard" on the dashboard's own socket (phoenix.js, imported
// from the URL the server put in <html data-phoenix>) and redraws on every "snapshot" broadcast. No
// framework, no CDN: the charts are SVG drawn here.
const {Socket} = await import(document.documentElement.dataset.phoenix)

const $ = (id) => document.getElementById(id)
const esc = (v) => String(v ?? "").replace(/[&<>"']/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]))
const num = (n) => Number(n || 0).toLocaleString("en")
const plural = (n, one, many) => `${num(n)} ${n === 1 ? one : many}`
const time = (ms) => new Date(ms).toLocaleTimeString("en-GB")

const series = [
  {key: "connects", label: "connects", color: "#58a6ff"},
  {key: "joins", label: "joins", color: "#3cc7c0"},
  {key: "in", label: "messages in", color: "#4fc37a"},
  {key: "out", label: "messages out", color: "#b48cff"},
  {key: "crashes", label: "crashes", color: "#ff5566"},
]

// What the page knows: the history of the charts, the newest sample, the open groups and their rows.
const state = {history: [], points: 300, interval: 1000, snap: null, open: new Set(["endpoint", "sockets", "channels"]), rows: new Map()}
// For tests and the curious: how many updates arrived, and the newest.
window.pyreDashboard = {updates: 0, snapshot: null}

const socket = new Socket(new URL("socket", location.href).pathname, {})
socket.onOpen(() => { $("conn").className = "up"; $("conn").textContent = "live" })
socket.onClose(() => { $("conn").className = "down"; $("conn").textContent = "disconnected" })
socket.onError(() => { $("conn").className = "down"; $("conn").textContent = "disconnected" })
socket.connect()

const ch = socket.channel("pyre:dashboard", {})
ch.on("snapshot", (snap) => {
  state.history.push(...snap.rates)
  state.history.splice(0, Math.max(0, state.history.length - state.points))
  update(snap)
})
ch.join().receive("ok", (reply) => {
  state.history = reply.history
  state.points = Math.max(reply.points || 0, state.history.length, 2)
  state.interval = reply.interval || 1000
  if (reply.snapshot) update(reply.snapshot)
  else drawCharts()
})

function update(snap) {
  state.snap = snap
  window.pyreDashboard.updates++
  window.pyreDashboard.snapshot = snap
  $("at").textContent = "sampled " + time(snap.at)
  $("node").textContent = snap.node ? "node " + snap.node : ""
  drawCards(snap)
  drawCharts()
  drawNodes(snap.nodes)
  drawTree()
  drawLogs(snap)
  for (const key of state.open) if (key.includes("/")) fetchRows(key)
}

function drawCards(s) {
  const byTransport = s.sockets.map((g) => `${esc(g.transport)} ${num(g.sockets)}`).join(" · ") || "none"
  const cards = [
    [num(s.endpoint.sockets), "connections", byTransport],
    [num(s.endpoint.channels), "channels", `${num(s.endpoint.topics)} topics · ${s.channels.length} prefixes`],
    [num(s.presences), "presences", ""],
    [num(s.queues.queued), "queued frames", `max ${num(s.queues.max)} · ${num(s.queues.busy)} sockets waiting`],
    [num(s.slow_consumer_cuts), "slow-consumer cuts", ""],
    [num(s.endpoint.restarts), "channel restarts", "in place, since start"],
    [num(s.crashes.length), "recent crashes", ""],
    [num(s.endpoint.bad_frames), "bad frames", "malformed, refused, read panics"],
  ]
  $("cards").innerHTML = cards.map(([v, label, sub]) =>
    `<div class="card"><b>${v}</b>${esc(label)}<br><span>${sub}</span></div>`).join("")
}

function drawCharts() {
  const h = state.history
  const per = state.interval / 1000
  $("per").textContent = per === 1 ? "per second" : `per ${per} s`
  $("charts").innerHTML = series.map(({key, label, color}) => {
    const vals = h.map((p) => p[key] || 0)
    const top = Math.max(1, ...vals)
    const total = vals.reduce((a, b) => a + b, 0)
    // The last minute at least, the whole history once it is longer: a young history is not a flat line
    // with a spike at its end.
    const w = 300, ht = 64, n = Math.min(state.points, Math.max(60, vals.length))
    const x = (i) => (w * (n - vals.length + i) / (n - 1)).toFixed(1)
    const y = (v) => (ht - 2 - (ht - 4) * v / top).toFixed(1)
    const pts = vals.map((v, i) => `${x(i)},${y(v)}`).join(" ")
    const area = vals.length ? `${x(0)},${ht} ${pts} ${x(vals.length - 1)},${ht}` : ""
    return `<div class="chart" id="chart-${key}" data-total="${total}" data-max="${top}">
      <div class="title"><span>${esc(label)}</span><span>now <b>${num(vals.at(-1))}</b> · max ${num(top)}</span></div>
      <svg viewBox="0 0 ${w} ${ht}" preserveAspectRatio="none">
        <polygon points="${area}" fill="${color}" opacity=".15"/>
        <polyline points="${pts}" fill="none" stroke="${color}" stroke-width="1.5" vector-effect="non-scaling-stroke"/>
      </svg></div>`
  }).join("")
}

function drawNodes(nodes) {
  $("nodes-section").hidden = !nodes || nodes.length === 0
  if (!nodes) return
  $("nodes").innerHTML = "<tr><th>node</th><th>address</th><th>status</th></tr>" + nodes.map((n) =>
    `<tr><td>${esc(n.name)}${n.self ? " (this one)" : ""}</td><td>${esc(n.addr)}</td><td>${esc(n.status)}</td></tr>`).join("")
}

// A collapsible node of the tree: key names it in state.open across redraws.
function node(key, summary, body) {
  return `<details data-key="${esc(key)}"${state.open.has(key) ? " open" : ""}><summary>${summary}</summary>${body}</details>`
}

function restartTags(r) {
  return Object.entries(r).map(([k, v]) => `<span class="tag">${esc(k)} ${num(v)}</span>`).join("")
}

function drawTree() {
  const s = state.snap
  if (!s) return
  const infra = s.infrastructure.map((w) =>
    `<div class="leaf"><span class="kind">worker</span> ${esc(w.child)} <span class="muted">${esc(w.pid)}</span></div>`).join("")
  const sockets = s.sockets.map((g) => node(`sockets/${g.transport}`,
    `<span class="kind">${esc(g.transport)}</span> <span class="n">${num(g.sockets)}</span> sockets` +
    `<span class="tag">queued ${num(g.queued)} · max ${num(g.max_queued)}</span>`,
    rowsTable(`sockets/${g.transport}`, ["actor", "socket id", "channels", "queued"], (r) => [r.id, r.socket, r.channels, r.queued]))).join("")
  const channels = s.channels.map((g) => node(`channels/${g.prefix}`,
    `<span class="kind">${esc(g.prefix)}</span> <span class="n">${num(g.channels)}</span> channels on ${plural(g.topics, "topic", "topics")}` +
    restartTags(g.restart) +
    `<span class="tag${g.recent_restarts ? " warn" : ""}">restarts 5 min: ${num(g.recent_restarts)}</span>` +
    `<span class="tag">restarted ${num(g.restarted)} · max incarnation ${num(g.max_incarnation)}</span>`,
    rowsTable(`channels/${g.prefix}`, ["topic", "socket", "restart", "incarnation", "actor"], (r) => [r.topic, r.socket, r.restart, r.incarnation, r.id]))).join("")
  const status = s.endpoint.status === "running" ? `<span class="tag">running</span>` : `<span class="tag warn">${esc(s.endpoint.status)}</span>`
  $("tree").innerHTML = node("endpoint",
    `<span class="kind">endpoint supervisor</span> ${status}<span class="tag">one_for_one</span>`,
    node("infra", `<span class="kind">infrastructure</span> <span class="n">${s.infrastructure.length}</span> ${s.infrastructure.length === 1 ? "worker" : "workers"}`, infra) +
    node("sockets", `<span class="kind">socket supervisor</span> <span class="n">${num(s.endpoint.sockets)}</span> sockets <span class="tag">simple_one_for_one</span><span class="tag">temporary children</span>`, sockets) +
    node("channels", `<span class="kind">channels</span> <span class="n">${num(s.endpoint.channels)}</span> <span class="muted">children of their socket actor, by topic prefix</span>`, channels))
}

function rowsTable(key, heads, cells) {
  const g = state.rows.get(key)
  if (!g) return `<div class="leaf muted">loading…</div>`
  const more = g.more ? `<tr><td class="muted" colspan="${heads.length}">… and ${num(g.more)} more</td></tr>` : ""
  return `<table><tr>${heads.map((h) => `<th>${h}</th>`).join("")}</tr>` +
    g.rows.map((r) => `<tr>${cells(r).map((c) => `<td>${esc(c)}</td>`).join("")}</tr>`).join("") + more + "</table>"
}

function fetchRows(key) {
  const i = key.indexOf("/")
  ch.push("group", {kind: key.slice(0, i), key: key.slice(i + 1)}).receive("ok", (g) => {
    state.rows.set(key, g)
    if (state.open.has(key)) drawTree()
  })
}

// Opening or closing a group (toggle does not bubble: listen while capturing).
$("tree").addEventListener("toggle", (e) => {
  const key = e.target.dataset?.key
  if (!key || e.target.open === state.open.has(key)) return
  if (e.target.open) {
    state.open.add(key)
    if (key.includes("/")) fetchRows(key)
  } else {
    state.open.delete(key)
  }
}, true)

function drawLogs(s) {
  $("restarts").innerHTML = s.restarts.map((r) =>
    `<li><span class="t">${time(r.at)}</span><code>${esc(r.topic)}</code> → incarnation ${num(r.incarnation)}</li>`).join("") ||
    `<li class="muted">none</li>`
  $("crashes").innerHTML = s.crashes.map((c) =>
    `<li><span class="t">${time(c.at)}</span><code>${esc(c.topic)}</code> ${esc(c.reason)}${c.stack ? `<pre>${esc(c.stack)}</pre>` : ""}</li>`).join("") ||
    `<li class="muted">none</li>`
}
