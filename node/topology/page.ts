/**
 * The topology page: plain HTML and one small script that polls `viewPath` (the serving
 * process's merged view: `deltacast topology`, or a node's admin endpoint) and draws each document's tree as SVG. No framework and nothing fetched from
 * elsewhere, so it works on a network with no way out. Each node is a <g class="node"> with
 * data-doc, data-peer, data-role and data-up, for tests and for anyone scripting the page.
 */
export const topologyPage = (viewPath: string): string => PAGE.replace('@VIEW_PATH@', JSON.stringify(viewPath))

const PAGE = String.raw`<!doctype html>
<html lang="en">
<meta charset="utf-8">
<title>deltacast topology</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; color: #1d2430; background: #f7f8fa }
  h1 { font-size: 1.3rem; margin: 0 0 .25rem }
  h2 { font-size: 1rem; margin: 1.5rem 0 .5rem; font-family: ui-monospace, monospace; word-break: break-all }
  #state { color: #556; margin-bottom: 1rem }
  svg { background: #fff; border: 1px solid #dde1e7; border-radius: 6px; max-width: 100% }
  svg text { font: 12px ui-monospace, monospace; fill: #1d2430 }
  svg text.title { font-weight: 700 }
  table { border-collapse: collapse; margin-top: 1rem; background: #fff }
  td, th { border: 1px solid #dde1e7; padding: .25rem .6rem; text-align: left; font-family: ui-monospace, monospace; font-size: 12px }
  .down { color: #b3261e; font-weight: 700 }
  .legend span { display: inline-block; margin-right: 1rem }
  .swatch { display: inline-block; width: .8rem; height: .8rem; border-radius: 2px; vertical-align: middle; margin-right: .3rem }
</style>
<h1>deltacast topology</h1>
<div id="state">waiting for the first poll…</div>
<div class="legend">
  <span><i class="swatch" style="background:#dbe8ff;border:1px solid #2f6fdb"></i>proxy</span>
  <span><i class="swatch" style="background:#e6f4ea;border:1px solid #2e7d32"></i>member (holds viewers)</span>
  <span><i class="swatch" style="background:#fff4e0;border:1px solid #c77700"></i>silent, lagging or failed over</span>
  <span><i class="swatch" style="background:#eee;border:1px solid #b3261e"></i>down</span>
  <span>dashed edge: on the gossip fallback</span>
</div>
<div id="docs"></div>
<table id="endpoints"></table>
<script>
const SVG = 'http://www.w3.org/2000/svg'
const W = 320, H = 96, GAP_X = 24, GAP_Y = 56, PAD = 16
const AUTHORITY = '@authority'

function short (id) { return id.length > 16 ? id.slice(0, 8) + '…' + id.slice(-6) : id }

function el (name, attrs, parent) {
  const node = document.createElementNS(SVG, name)
  for (const key in attrs) node.setAttribute(key, attrs[key])
  if (parent) parent.appendChild(node)
  return node
}

function text (parent, x, y, value, cls) {
  const t = el('text', { x: x, y: y }, parent)
  if (cls) t.setAttribute('class', cls)
  t.textContent = value
  return t
}

function partialsText (info) {
  return info && typeof info.partialsPerSecond === 'number' ? info.partialsPerSecond.toFixed(1) + '/s' : '—'
}

function relayedText (info) {
  if (!info || !info.swarm) return '—'
  const { direct, relayed } = info.swarm
  return Math.round(100 * relayed / (direct + relayed)) + '% relayed'
}

function viewersLine (info) {
  if (!info || !info.viewers) return 'viewers: n/a'
  const parts = Object.keys(info.viewers).sort().map(k => k + ' ' + info.viewers[k])
  const total = Object.values(info.viewers).reduce((a, b) => a + b, 0)
  return 'viewers ' + total + (parts.length ? ' (' + parts.join(', ') + ')' : '') + (info.classes !== undefined ? ' · classes ' + info.classes : '') + (info.swarm ? ' · ' + relayedText(info) : '')
}

/** Children by parent, from what each node follows now (a node that is down: what it followed last). */
function treeOf (doc) {
  // A parent that is not polled (its admin endpoint was not given) is drawn as an unlisted box.
  const listed = new Set(doc.nodes.map(n => n.peerId))
  for (const n of doc.nodes.slice()) {
    if (n.parent !== undefined && n.parent !== 'gossip' && n.parent !== AUTHORITY && !listed.has(n.parent)) {
      listed.add(n.parent)
      doc.nodes.push({ peerId: n.parent, unlisted: true, up: true, role: 'proxy', health: [], children: [], seq: undefined })
    }
  }
  const ids = new Set(doc.nodes.map(n => n.peerId))
  const kids = new Map([[AUTHORITY, []]])
  const parentOf = new Map()
  for (const n of doc.nodes) parentOf.set(n.peerId, n.parent !== undefined && ids.has(n.parent) ? n.parent : AUTHORITY)
  // Views that briefly disagree can make a loop: hang anything not reaching the authority from it.
  for (const n of doc.nodes) {
    const seen = new Set()
    let at = n.peerId
    while (at !== AUTHORITY && !seen.has(at)) { seen.add(at); at = parentOf.get(at) }
    if (at !== AUTHORITY) parentOf.set(n.peerId, AUTHORITY)
  }
  for (const n of doc.nodes) {
    const p = parentOf.get(n.peerId)
    if (!kids.has(p)) kids.set(p, [])
    kids.get(p).push(n.peerId)
  }
  // Live nodes first, proxies before members.
  const byId = new Map(doc.nodes.map(n => [n.peerId, n]))
  for (const list of kids.values()) list.sort((a, b) => rank(byId.get(a)) - rank(byId.get(b)) || a.localeCompare(b))
  return kids
}

function rank (n) { return (n.up ? 0 : 2) + (n.role === 'proxy' ? 0 : 1) }

function layout (kids) {
  const pos = new Map()
  let next = 0
  let depth = 0
  function place (id, d) {
    depth = Math.max(depth, d)
    const children = kids.get(id) || []
    if (children.length === 0) { pos.set(id, { x: next++, d: d }); return }
    for (const c of children) place(c, d + 1)
    const first = pos.get(children[0]).x, last = pos.get(children[children.length - 1]).x
    pos.set(id, { x: (first + last) / 2, d: d })
  }
  place(AUTHORITY, 0)
  return { pos: pos, width: Math.max(1, next), depth: depth }
}

function drawDoc (doc, nodesById) {
  const section = document.createElement('section')
  const h = document.createElement('h2')
  h.textContent = 'document ' + doc.docId + (doc.authoritySeq !== undefined ? '  ·  authority seq ' + doc.authoritySeq : '')
  section.appendChild(h)
  const kids = treeOf(doc)
  const { pos, width, depth } = layout(kids)
  const svg = el('svg', { width: PAD * 2 + width * (W + GAP_X) - GAP_X, height: PAD * 2 + (depth + 1) * (H + GAP_Y) - GAP_Y, 'data-doc': doc.docId })
  const at = id => { const p = pos.get(id); return { x: PAD + p.x * (W + GAP_X), y: PAD + p.d * (H + GAP_Y) } }
  const byId = new Map(doc.nodes.map(n => [n.peerId, n]))
  for (const [parent, children] of kids) {
    for (const child of children) {
      const a = at(parent), b = at(child), n = byId.get(child)
      el('path', {
        d: 'M' + (a.x + W / 2) + ' ' + (a.y + H) + ' C' + (a.x + W / 2) + ' ' + (a.y + H + GAP_Y / 2) + ' ' + (b.x + W / 2) + ' ' + (b.y - GAP_Y / 2) + ' ' + (b.x + W / 2) + ' ' + b.y,
        fill: 'none', stroke: n.up ? '#8896ab' : '#d9a0a0', 'stroke-width': 2, 'stroke-dasharray': n.parent === 'gossip' || !n.up ? '5 4' : ''
      }, svg)
    }
  }
  const root = at(AUTHORITY)
  const g = el('g', { class: 'node', 'data-doc': doc.docId, 'data-peer': AUTHORITY, 'data-role': 'authority', 'data-up': 'true' }, svg)
  el('rect', { x: root.x, y: root.y, width: W, height: H, rx: 8, fill: '#f1ecff', stroke: '#6a4bc4', 'stroke-width': 2 }, g)
  text(g, root.x + 10, root.y + 22, 'AUTHORITY', 'title')
  text(g, root.x + 10, root.y + 42, doc.authoritySeq !== undefined ? 'head seq ' + doc.authoritySeq : 'head: not announced yet')
  for (const n of doc.nodes) {
    const p = at(n.peerId)
    if (n.unlisted) {
      const u = el('g', { class: 'node', 'data-doc': doc.docId, 'data-peer': n.peerId, 'data-role': 'unlisted', 'data-up': 'unknown' }, svg)
      el('rect', { x: p.x, y: p.y, width: W, height: H, rx: 8, fill: '#fafafa', stroke: '#8896ab', 'stroke-width': 2, 'stroke-dasharray': '5 4' }, u)
      text(u, p.x + 10, p.y + 18, 'NOT POLLED  ' + short(n.peerId), 'title')
      text(u, p.x + 10, p.y + 35, 'followed by listed nodes; give its --admin')
      continue
    }
    const warn = n.health.some(x => x !== 'down' && x !== 'gossip')
    const fill = !n.up ? '#eeeeee' : warn ? '#fff4e0' : n.role === 'proxy' ? '#dbe8ff' : '#e6f4ea'
    const stroke = !n.up ? '#b3261e' : warn ? '#c77700' : n.role === 'proxy' ? '#2f6fdb' : '#2e7d32'
    const g = el('g', { class: 'node', 'data-doc': doc.docId, 'data-peer': n.peerId, 'data-role': n.role, 'data-up': String(n.up), 'data-health': n.health.join(',') }, svg)
    el('rect', { x: p.x, y: p.y, width: W, height: H, rx: 8, fill: fill, stroke: stroke, 'stroke-width': 2 }, g)
    const info = nodesById.get(n.peerId)
    text(g, p.x + 10, p.y + 18, (n.up ? n.role.toUpperCase() : 'DOWN (was ' + n.role + ')') + '  ' + short(n.peerId), 'title')
    text(g, p.x + 10, p.y + 35, 'region ' + (n.region || '?') + (n.depth !== undefined ? ' · depth ' + n.depth : '') + (n.electedRole && n.electedRole !== n.role ? ' · elected ' + n.electedRole : ''))
    text(g, p.x + 10, p.y + 52, viewersLine(info))
    text(g, p.x + 10, p.y + 69, 'seq ' + n.seq + ' · ' + (n.framesPerSecond !== undefined && n.framesPerSecond !== null ? n.framesPerSecond.toFixed(1) : '–') + ' fr/s · lag ' + (n.lag !== undefined ? n.lag : '?') + ' · partials ↑ ' + partialsText(info))
    const health = n.health.length === 0 ? 'ok' : n.health.join(', ') + (n.failedOverFrom && n.health.includes('failed over') ? ' from ' + short(n.failedOverFrom === AUTHORITY ? 'authority' : n.failedOverFrom) : '')
    text(g, p.x + 10, p.y + 86, health)
  }
  section.appendChild(svg)
  return section
}

function draw (view) {
  const nodesById = new Map(view.nodes.map(n => [n.id, n]))
  const down = view.nodes.filter(n => !n.up).length
  document.getElementById('state').textContent = view.nodes.length + ' endpoints polled every ' + view.intervalMs + ' ms, ' + down + ' down · ' + view.docs.length + ' documents · updated ' + new Date(view.at).toLocaleTimeString()
  const docs = document.getElementById('docs')
  docs.replaceChildren(...view.docs.map(doc => drawDoc(doc, nodesById)))
  const table = document.getElementById('endpoints')
  table.replaceChildren()
  const head = table.insertRow()
  for (const name of ['endpoint', 'kind', 'peer', 'region', 'state', 'partials ↑', 'swarm']) { const th = document.createElement('th'); th.textContent = name; head.appendChild(th) }
  for (const n of view.nodes) {
    const row = table.insertRow()
    row.dataset.url = n.url
    row.dataset.up = String(n.up)
    for (const value of [n.url, n.kind, n.id === n.url ? '?' : short(n.id), n.region || '', n.up ? 'up' : 'down: ' + (n.error || 'no answer'), partialsText(n), relayedText(n)]) row.insertCell().textContent = value
    if (!n.up) row.cells[4].className = 'down'
  }
}

async function tick () {
  try {
    const res = await fetch(@VIEW_PATH@, { cache: 'no-store' })
    if (res.ok) { draw(await res.json()); document.body.dataset.polls = String(Number(document.body.dataset.polls || 0) + 1) }
    else document.getElementById('state').textContent = 'topology server: ' + (await res.json()).error
  } catch (err) {
    document.getElementById('state').textContent = 'topology server unreachable: ' + err.message
  }
  setTimeout(tick, 1000)
}
tick()
</script>
</html>
`
