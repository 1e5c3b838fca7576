// The demo page: follows the demo document through the super-peers listed in /config.json and
// renders it. Query options: ?transport=ws|webrtc, ?region=<name>.

import { connect, keysOf } from '../index.ts'
import type { BrowserTransport, ConnectionInfo, Json } from '../index.ts'

interface SuperPeerInfo { name: string, region: string, peerId: string, addrs: string[] }
interface DemoConfig { docId: string, superPeers: SuperPeerInfo[], topologyUrl?: string }
interface Player { name: string, score: number, hue: number }
interface FeedEntry { text: string, kind: string, at: number }

const params = new URLSearchParams(location.search)
const TRANSPORTS: Record<string, BrowserTransport[]> = { ws: ['websockets'], webrtc: ['webrtc-direct'] }
const transports = TRANSPORTS[params.get('transport') ?? ''] ?? ['webrtc-direct', 'websockets']
const region = params.get('region')
// each tab starts at a different super-peer, so several tabs spread over the mesh
const start = Math.floor(Math.random() * 1000)

const $ = (id: string): HTMLElement => document.getElementById(id) as HTMLElement

let config: DemoConfig = await loadConfig()

async function loadConfig (): Promise<DemoConfig> {
  const res = await fetch('/config.json', { cache: 'no-store' })
  if (!res.ok) throw new Error(`config.json: ${res.status}`)
  return await res.json() as DemoConfig
}

/** Re-read before each connection: super-peers that stopped drop out of the list. */
async function bootstrap (): Promise<string[]> {
  config = await loadConfig().catch(() => config)
  const peers = config.superPeers.filter(peer => region === null || peer.region === region)
  const rotated = peers.map((_, i) => peers[(start + i) % peers.length])
  return rotated.flatMap(peer => peer.addrs)
}

// A writer: the live view, plus reactions sent up the tree (merged on each super-peer and tier).
const view = connect(config.docId, { bootstrap, transports, allowPrivateAddresses: true, backoff: { initialMs: 200, maxMs: 2000 } })
$('doc').textContent = config.docId
if (config.topologyUrl !== undefined) {
  ($('topology') as HTMLAnchorElement).href = config.topologyUrl
  $('topology-link').hidden = false
}

// ---- connection ----

function transportOf (addr: string | undefined): string {
  if (addr === undefined) return ''
  return addr.includes('/webrtc-direct') ? 'WebRTC-Direct' : addr.includes('/ws') ? 'WebSockets' : 'unknown'
}

function renderConnection (info: ConnectionInfo): void {
  $('connection').dataset.state = info.state
  $('state').textContent = info.state === 'stale'
    ? `stale · no word from the authority for ${Math.round((info.upstreamAgeMs ?? 0) / 1000)} s`
    : info.state
  const peer = config.superPeers.find(p => p.peerId === info.peerId)
  if ((info.state === 'live' || info.state === 'stale') && info.peerId !== undefined) {
    $('peer').textContent = `${peer?.name ?? 'super-peer'} · ${peer?.region ?? '?'} · ${transportOf(info.addr)}`
    $('addr').textContent = `${info.peerId.slice(0, 10)}…${info.peerId.slice(-6)}`
    $('addr').title = info.addr ?? ''
  } else if (info.state === 'closed') {
    $('peer').textContent = '–'
    $('addr').textContent = info.error?.message ?? ''
  } else {
    $('peer').textContent = 'dialing…'
    $('addr').textContent = info.addr ?? info.error?.message ?? ''
  }
}
view.addEventListener('state', event => { renderConnection((event as CustomEvent<ConnectionInfo>).detail) })
renderConnection(view.connection)

// ---- document ----

let scheduled = false
const frameTimes: number[] = []
view.addEventListener('change', () => {
  frameTimes.push(performance.now())
  if (scheduled) return
  scheduled = true
  requestAnimationFrame(() => { scheduled = false; render() })
})

function render (): void {
  const state = view.state
  $('seq').textContent = String(view.seq ?? '–')
  const now = performance.now()
  while (frameTimes.length > 1 && frameTimes[0] < now - 5000) frameTimes.shift()
  const span = (frameTimes[frameTimes.length - 1] - frameTimes[0]) / 1000
  if (span > 0.5) $('rate').textContent = `${((frameTimes.length - 1) / span).toFixed(1)} frames/s`
  if (typeof state.title === 'string') $('title').textContent = state.title
  $('round').textContent = String(state.round ?? '–')
  $('tick').textContent = String(state.tick ?? '–')
  if (typeof state.updatedAt === 'number') $('lag').textContent = `updated ${Math.max(0, Date.now() - state.updatedAt)} ms after the authority wrote it`
  renderLeaderboard(state.players)
  renderFeed(state.feed)
  renderReactions(state.reactions)
}

// ---- reactions (input up the tree) ----

const EMOJI: Record<string, string> = { clap: '👏', fire: '🔥', laugh: '😂', wow: '😮', love: '❤️' }
let sent = 0
let acked = 0
for (const button of Array.from(document.querySelectorAll<HTMLButtonElement>('#reactions button'))) {
  const reaction = button.dataset.reaction as string
  button.textContent = `${EMOJI[reaction] ?? reaction} 0`
  button.addEventListener('click', () => {
    sent++
    renderSent('')
    view.send('reactions', reaction).then(receipt => {
      acked++
      renderSent(`counted at seq ${receipt.seq}`)
    }, (err: Error) => { renderSent(err.message) })
  })
}

function renderSent (last: string): void {
  $('reacted').textContent = `you sent ${sent}, ${acked} counted${last === '' ? '' : ` · ${last}`}`
}

function renderReactions (value: Json | undefined): void {
  const counts = (value as { counts?: Record<string, number> } | undefined)?.counts ?? {}
  for (const button of Array.from(document.querySelectorAll<HTMLButtonElement>('#reactions button'))) {
    const reaction = button.dataset.reaction as string
    button.textContent = `${EMOJI[reaction] ?? reaction} ${counts[reaction] ?? 0}`
  }
}

/** Keyed rows, reordered in place and animated from where they were (FLIP). */
const rows = new Map<string, HTMLLIElement>()
function renderLeaderboard (list: Json | undefined): void {
  const players = Array.isArray(list) ? list as unknown as Player[] : []
  const ids = players.length > 0 ? keysOf(list as Json[]).map(String) : []
  const board = $('leaderboard')
  const before = new Map([...rows].map(([id, row]) => [id, row.getBoundingClientRect().top]))
  const top = Math.max(1, ...players.map(p => p.score))
  for (const [id, row] of rows) if (!ids.includes(id)) { row.remove(); rows.delete(id) }
  ids.forEach((id, i) => {
    let row = rows.get(id)
    if (row === undefined) {
      row = document.createElement('li')
      row.className = 'new'
      row.dataset.id = id
      row.innerHTML = '<span class="rank"></span><span class="name"><span></span><span class="bar"></span></span><span class="score"></span>'
      rows.set(id, row)
    }
    const player = players[i]
    const [rank, name, score] = row.children as unknown as HTMLElement[]
    rank.textContent = String(i + 1)
    name.firstElementChild!.textContent = player.name
    const bar = name.lastElementChild as HTMLElement
    bar.style.width = `${(100 * player.score / top).toFixed(1)}%`
    bar.style.background = `hsl(${player.hue} 70% 60%)`
    score.textContent = String(player.score)
    if (board.children[i] !== row) board.insertBefore(row, board.children[i] ?? null)
  })
  for (const [id, row] of rows) {
    const was = before.get(id)
    if (was === undefined) continue
    const dy = was - row.getBoundingClientRect().top
    if (dy === 0) continue
    row.animate([{ transform: `translateY(${dy}px)` }, { transform: 'none' }], { duration: 300, easing: 'ease-out' })
  }
}

function renderFeed (list: Json | undefined): void {
  const entries = Array.isArray(list) ? list as unknown as FeedEntry[] : []
  const ids = entries.length > 0 ? keysOf(list as Json[]).map(String) : []
  const feed = $('feed')
  if (feed.dataset.ids === ids.join()) return
  feed.dataset.ids = ids.join()
  feed.replaceChildren(...entries.map(entry => {
    const li = document.createElement('li')
    const time = document.createElement('time')
    time.textContent = new Date(entry.at).toLocaleTimeString()
    const text = document.createElement('span')
    text.className = entry.kind
    text.textContent = entry.text
    li.append(time, text)
    return li
  }))
}

// for the console: the live view and its state
;(globalThis as unknown as { view: typeof view }).view = view
