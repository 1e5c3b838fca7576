// bench:swarm — relaying between browsers, with browsers simulated in Node: each viewer is the
// browser library's LiveView on its own libp2p node, browser-to-browser links over @libp2p/webrtc
// (node-datachannel), signalled through the super-peer's relay. An authority and a super-peer run
// as OS processes. Two phases on the same viewers' document: relaying off (the baseline: every
// viewer fed directly), then on. Reported: offload ratio, latency added by relays against direct
// viewers, super-peer CPU and egress per viewer in each phase, re-parent time after relay kills,
// gaps and forged messages accepted.
//
// Knobs: SWARM_VIEWERS (default 12), SWARM_FRAMES (per phase, default 120), SWARM_RATE (frames/s,
// default 20), SWARM_KILLS (default 2). Chromium pages are in test/browser/swarm.test.ts.

import { readFile, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { observe } from '../browser/observe.ts'
import { createObserverNode } from '../browser/node.ts'
import { AuthorityDriver } from '../test/helpers/authority-driver.ts'
import { authorityArgs, killAll, startCli, superPeerArgs, waitFor } from '../test/helpers/processes.ts'
import { intEnv, machine, now, percentile, sleep } from './parts/common.ts'
import type { LiveView } from '../browser/observe.ts'
import type { ObserverNode } from '../browser/node.ts'
import type { JsonObject } from '../src/json.ts'

const VIEWERS = intEnv('SWARM_VIEWERS', 12)
const FRAMES = intEnv('SWARM_FRAMES', 120)
const RATE = intEnv('SWARM_RATE', 20)
const KILLS = Number(process.env.SWARM_KILLS ?? 2)

interface Seat { peer: string, parent: string | null, feed: string | null }
interface SwarmStatus { classes: Array<{ bytesDirect: number, bytesRelayed: number }>, seats: Seat[] }

interface Viewer { view: LiveView, node: ObserverNode, peer: string, arrivals: Map<number, number>, seqs: number[], seen: Array<[number, unknown]>, closed: boolean }

const policy = (relay: boolean): JsonObject => ({ version: 1, observe: { anonymous: true, identified: false }, relay, fields: { '/n': 'public', '/pad': 'public' } })

async function cpuMs (pid: number): Promise<number> {
  const fields = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1].split(' ')
  return (Number(fields[11]) + Number(fields[12])) * 10 // utime + stime, in 10 ms ticks
}

const dir = await mkdtemp(join(tmpdir(), 'dc12-bench-swarm-'))
try {
  for (const line of await machine({ loadRemark: 'shared machine' })) console.log(line)
  console.log(`viewers ${VIEWERS}, ${FRAMES} frames per phase at ${RATE}/s, ${KILLS} relay kills`)
  const authority = await startCli(authorityArgs({ dir: join(dir, 'authority'), name: 'swarm' }))
  const driver = new AuthorityDriver(authority)
  const docId = authority.ready.docId
  const superPeer = await startCli(superPeerArgs({ dataDir: join(dir, 'sp'), docId, bootstrap: [authority.ready.addrs[0]], observe: true }))
  const spPid = superPeer.child.pid!
  const swarm = async (): Promise<SwarmStatus> => await superPeer.admin(`/docs/${encodeURIComponent(docId)}/swarm`)
  let n = 0
  const sentAt = new Map<number, number>()
  /** The counter each frame set: a viewer holding another value after that frame integrated a forged message. */
  const counterAt = new Map<number, number>()
  const change = async (delta: JsonObject): Promise<number> => {
    const id = driver.send(delta)
    await driver.until(`change ${id}`, () => driver.acked.has(id) || driver.errors.has(id))
    return (await authority.admin('/status')).seq
  }
  await change({ '@policy': policy(false), n: 0, pad: 'x'.repeat(200) })

  const viewers: Viewer[] = []
  for (let i = 0; i < VIEWERS; i++) {
    const node = await createObserverNode({ transports: ['websockets'], allowPrivateAddresses: true, livenessIntervalMs: 15_000, livenessTimeoutMs: 10_000, swarm: {} })
    const view = observe(docId, { bootstrap: superPeer.ready.observe.addrs, allowPrivateAddresses: true, transports: ['websockets'], node, swarm: { capacity: 3 } })
    const viewer: Viewer = { view, node, peer: node.peerId.toString(), arrivals: new Map(), seqs: [], seen: [], closed: false }
    view.addEventListener('change', (event: Event) => {
      const { seq } = (event as CustomEvent).detail
      viewer.arrivals.set(seq, now())
      viewer.seqs.push(seq)
      viewer.seen.push([seq, view.state.n])
    })
    viewers.push(viewer)
  }
  await waitFor('viewers live', () => viewers.every(v => v.view.connection.state === 'live') || undefined, { timeoutMs: 60_000 })

  /** Frames at RATE; resolves when every open viewer has the last one. */
  const run = async (label: string, during?: (i: number) => Promise<void>): Promise<{ first: number, last: number, cpu: number }> => {
    const cpu0 = await cpuMs(spPid)
    let first = 0
    let last = 0
    for (let i = 0; i < FRAMES; i++) {
      const started = now()
      n++
      const id = driver.send({ n, pad: `${n}`.padEnd(200, 'x') })
      const at = now()
      await driver.until(`change ${id}`, () => driver.acked.has(id) || driver.errors.has(id))
      last = (await authority.admin('/status')).seq
      sentAt.set(last, at)
      counterAt.set(last, n)
      if (first === 0) first = last
      await during?.(i)
      if ((i + 1) % 40 === 0) console.log(`  ${label}: ${i + 1}/${FRAMES} frames`)
      await sleep(Math.max(0, 1000 / RATE - (now() - started)))
    }
    await waitFor(`${label}: every viewer at ${last}`, () => viewers.every(v => v.closed || (v.view.seq ?? 0) >= last) || undefined, { timeoutMs: 60_000 })
    return { first, last, cpu: await cpuMs(spPid) - cpu0 }
  }

  console.log('phase 1: relaying off (every viewer fed by the super-peer)')
  const direct = await run('direct')
  const directLatency = viewers.flatMap(v => [...v.arrivals].filter(([seq]) => seq >= direct.first && seq <= direct.last).map(([seq, at]) => at - sentAt.get(seq)!))

  console.log('phase 2: relaying on')
  await change({ '@policy': policy(true) })
  await waitFor('swarm formed', async () => {
    const seats = (await swarm()).seats
    return seats.length === VIEWERS && seats.every(s => s.feed === s.parent) && seats.filter(s => s.parent !== null).length >= VIEWERS / 2 ? true : undefined
  }, { timeoutMs: 90_000, intervalMs: 250 })
  const before = (await swarm()).classes[0]
  const reparents: number[] = []
  const kills = new Set<number>(Array.from({ length: KILLS }, (_, k) => Math.floor(FRAMES * (k + 1) / (KILLS + 2))))
  const relayed = await run('relayed', async i => {
    if (!kills.has(i)) return
    const status = await swarm()
    const victim = status.seats.find(s => s.parent !== null ? false : status.seats.some(c => c.feed === s.peer))
    if (victim === undefined) return
    const children = status.seats.filter(s => s.feed === victim.peer).map(s => s.peer)
    const viewer = viewers.find(v => v.peer === victim.peer)!
    const killedAt = now()
    viewer.closed = true
    await viewer.view.close()
    await viewer.node.stop()
    await waitFor('re-parented', async () => {
      const seats = (await swarm()).seats
      return children.every(c => { const s = seats.find(x => x.peer === c); return s !== undefined && s.feed !== victim.peer && (s.feed === null || s.feed === s.parent) }) || undefined
    }, { timeoutMs: 30_000, intervalMs: 20 })
    reparents.push(now() - killedAt)
  })
  const after = await swarm()
  const bytesDirect = after.classes[0].bytesDirect - before.bytesDirect
  const bytesRelayed = after.classes[0].bytesRelayed - before.bytesRelayed
  const framesRelayed = relayed.last - relayed.first + 1

  // added latency: each viewer's arrival against the earliest arrival at a directly fed viewer, per frame
  const added: number[] = []
  for (let seq = relayed.first; seq <= relayed.last; seq++) {
    const arrivals = viewers.map(v => v.arrivals.get(seq)).filter((at): at is number => at !== undefined)
    if (arrivals.length === 0) continue
    const firstAt = Math.min(...arrivals)
    for (const at of arrivals) if (at > firstAt) added.push(at - firstAt)
  }
  let gaps = 0
  for (const v of viewers) {
    const seqs = v.seqs.filter(seq => seq >= direct.first)
    for (let i = 1; i < seqs.length; i++) if (seqs[i] !== seqs[i - 1] + 1) gaps++
  }
  let forged = 0
  for (const v of viewers) for (const [seq, value] of v.seen) if (counterAt.has(seq) && value !== counterAt.get(seq)) forged++
  const sorted = (values: number[]): Float64Array => Float64Array.from(values).sort()
  const addedSorted = sorted(added)
  const directSorted = sorted(directLatency)
  const open = viewers.filter(v => !v.closed).length
  const result = {
    viewers: VIEWERS,
    frames_per_phase: FRAMES,
    offload_ratio: Number((bytesRelayed / (bytesDirect + bytesRelayed)).toFixed(3)),
    added_latency_ms_p50: Number(percentile(addedSorted, 50).toFixed(1)),
    added_latency_ms_p99: Number(percentile(addedSorted, 99).toFixed(1)),
    direct_latency_ms_p50: Number(percentile(directSorted, 50).toFixed(1)),
    direct_latency_ms_p99: Number(percentile(directSorted, 99).toFixed(1)),
    // what the super-peer sends each viewer per frame: all of it when relaying is off (the same class bytes to every viewer)
    edge_egress_bytes_per_viewer_direct: Math.round((bytesDirect + bytesRelayed) / framesRelayed / open),
    edge_egress_bytes_per_viewer_swarm: Math.round(bytesDirect / framesRelayed / open),
    edge_cpu_ms_per_frame_direct: Number((direct.cpu / FRAMES).toFixed(2)),
    edge_cpu_ms_per_frame_swarm: Number((relayed.cpu / FRAMES).toFixed(2)),
    reparent_ms_p50: Number(percentile(sorted(reparents), 50).toFixed(0)),
    reparent_ms_p99: Number(percentile(sorted(reparents), 99).toFixed(0)),
    relay_kills: reparents.length,
    gaps,
    forged_accepted: forged
  }
  console.log(`offload ${(result.offload_ratio * 100).toFixed(1)}% (goal >= 70%); added latency p50 ${result.added_latency_ms_p50} ms, p99 ${result.added_latency_ms_p99} ms (goal p99 <= 100 ms at depth 2)`)
  console.log(`super-peer per frame: CPU ${result.edge_cpu_ms_per_frame_direct} ms direct vs ${result.edge_cpu_ms_per_frame_swarm} ms relaying; egress per viewer ${result.edge_egress_bytes_per_viewer_direct} B vs ${result.edge_egress_bytes_per_viewer_swarm} B`)
  console.log(`re-parent after ${result.relay_kills} relay kills: p50 ${result.reparent_ms_p50} ms, p99 ${result.reparent_ms_p99} ms; gaps ${gaps}`)
  for (const v of viewers) if (!v.closed) { await v.view.close(); await v.node.stop() }
  console.log(`RESULT ${JSON.stringify(result)}`)
} finally {
  await killAll()
  await rm(dir, { recursive: true, force: true })
}
