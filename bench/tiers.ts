// npm run bench:tiers: the flat mesh against tiers, on the same simulated network, in one run.
//
// Three regions (eu, us, ap), each a network namespace holding its super-peers, and the
// authority in a fourth; viewers (bench/parts/tiers-observers.ts) inside eu and us, none in ap. Bytes
// are the kernel's own counters on each site's link, so they include every protocol's overhead
// (Noise, yamux, gossipsub control, membership). Then, under tiers only, the eu region proxy is
// killed -9 again and again, timing how long its region's viewers wait for the next frame.
//
// First, in this process, one host's trees under membership churn at BENCH_TIERS_DOCUMENTS
// documents (bench/parts/tiers-churn.ts): trees recomputed and ms per membership change, against
// recomputing every tree.
//
// Needs root (network namespaces). Knobs: BENCH_TIERS_PER_REGION (3), BENCH_TIERS_FRAMES (100),
// BENCH_TIERS_FRAMES_PER_S (20), BENCH_TIERS_CHANGE_BYTES (512), BENCH_TIERS_KILLS (20),
// BENCH_TIERS_DOCUMENTS (10000).

import { spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { GENESIS_HASH, docIdFor, signFrameSync } from '../src/log/index.ts'
import { AuthorityDriver } from '../test/helpers/authority-driver.ts'
import { TestNetwork } from '../test/helpers/netns.ts'
import { killAll, startCli, waitFor } from '../test/helpers/processes.ts'
import { refreshPeriodMs } from '../src/membership/index.ts'
import { intEnv, machine, now, percentile, sleep } from './parts/common.ts'
import { calibrate, calibrationLines } from './parts/tiers-sim.ts'
import { churn, churnLines } from './parts/tiers-churn.ts'
import type { TiersObserved } from './parts/tiers-sim.ts'
import type { ChildProcess } from 'node:child_process'
import type { Site } from '../test/helpers/netns.ts'
import type { Running } from '../test/helpers/processes.ts'

const PER_REGION = intEnv('BENCH_TIERS_PER_REGION', 3)
const FRAMES = intEnv('BENCH_TIERS_FRAMES', 100)
const RATE = intEnv('BENCH_TIERS_FRAMES_PER_S', 20)
const CHANGE_BYTES = intEnv('BENCH_TIERS_CHANGE_BYTES', 512)
const KILLS = intEnv('BENCH_TIERS_KILLS', 20)
const DOCUMENTS = intEnv('BENCH_TIERS_DOCUMENTS', 10_000)
const REGIONS = ['eu', 'us', 'ap'] as const
const WITH_VIEWERS = ['eu', 'us'] as const
// Nine processes starting at once on a shared 2-core machine can take longer than a test's 30 s.
const READY_TIMEOUT_MS = 120_000
const OBSERVERS = fileURLToPath(new URL('./parts/tiers-observers.ts', import.meta.url))

type Mode = 'flat' | 'tiers'

interface Arrival { viewer: number, seq: number, at: number }

/** One region's viewers: a process in the region's namespace, and what it saw. */
class RegionViewers {
  readonly arrivals: Arrival[] = []
  readonly latest = new Map<number, number>()
  readonly ready: Promise<void>
  private readonly child: ChildProcess

  constructor (site: Site, docId: string, addrs: string[]) {
    this.child = spawn('ip', ['netns', 'exec', site.netns, process.execPath, OBSERVERS, docId, ...addrs], { stdio: ['ignore', 'pipe', 'inherit'] })
    this.ready = new Promise((resolve, reject) => {
      this.child.once('exit', code => { reject(new Error(`viewers in ${site.name} exited (${String(code)})`)) })
      createInterface({ input: this.child.stdout! }).on('line', line => {
        const message = JSON.parse(line) as Partial<Arrival> & { ready?: number }
        if (message.ready !== undefined) { resolve(); return }
        const arrival = message as Arrival
        this.arrivals.push(arrival)
        this.latest.set(arrival.viewer, arrival.seq)
      })
    })
  }

  /** Every viewer at `seq` or later. */
  reached (seq: number): boolean {
    return this.latest.size > 0 && [...this.latest.values()].every(s => s >= seq)
  }

  firstAt (seq: number): Map<number, number> {
    const at = new Map<number, number>()
    for (const a of this.arrivals) if (a.seq === seq && !at.has(a.viewer)) at.set(a.viewer, a.at)
    return at
  }

  /** Seqs each viewer skipped, and seqs it saw again (a view's seq never goes back on its own). */
  gapsAndDuplicates (): { gaps: number, duplicates: number } {
    const last = new Map<number, number>()
    let gaps = 0
    let duplicates = 0
    for (const { viewer, seq } of this.arrivals) {
      const prev = last.get(viewer)
      if (prev !== undefined) {
        if (seq <= prev) duplicates++
        else gaps += seq - prev - 1
      }
      last.set(viewer, Math.max(prev ?? 0, seq))
    }
    return { gaps, duplicates }
  }

  stop (): void {
    this.child.kill('SIGTERM')
  }
}

interface ModeResult {
  mode: Mode
  authorityEgressPerFrame: number
  totalBytesPerFrame: number
  crossRegionBytesPerFrame: number
  crossRegionCopiesPerFrame: number
  apIngressPerFrame: number
  latencies: Float64Array
  /** Under tiers: what the simulator is compared with. */
  observed?: TiersObserved
  failover?: { ms: Float64Array, gaps: number, duplicates: number, kills: number }
}

const log = (line: string): void => { process.stderr.write(`${line}\n`) }

async function runMode (mode: Mode, frameBytes: number): Promise<ModeResult> {
  const dir = await mkdtemp(join(tmpdir(), `deltacast-bench-tiers-${mode}-`))
  const network = await TestNetwork.create()
  const viewers: RegionViewers[] = []
  try {
    const authoritySite = await network.addSite('auth')
    const sites = new Map<string, Site>()
    for (const region of REGIONS) sites.set(region, await network.addSite(region, PER_REGION))
    const [address] = authoritySite.addresses
    const authority = await startCli(['authority', '--dir', join(dir, 'authority'), '--name', 'bench',
      '--listen', `/ip4/${address}/tcp/4100`, '--admin', `${address}:9100`, '--stdin'], { netns: authoritySite.netns, readyTimeoutMs: READY_TIMEOUT_MS })
    const driver = new AuthorityDriver(authority)
    const docId = authority.ready.docId as string
    let n = 0
    const pad = 'x'.repeat(CHANGE_BYTES)
    const change = async (): Promise<{ seq: number, at: number }> => {
      const id = driver.send({ n: ++n, pad })
      await driver.until('ack', () => driver.acked.has(id))
      return { seq: driver.acked.get(id)!, at: now() }
    }

    const start = async (region: string, i: number): Promise<Running> => {
      const site = sites.get(region)!
      const addr = site.addresses[i]
      return await startCli(['super-peer', '--data-dir', join(dir, `${region}${i}`), '--region', region, '--topology', mode,
        ...(mode === 'flat' ? ['--doc', docId] : []), '--listen', `/ip4/${addr}/tcp/4200`, '--admin', `${addr}:9200`,
        '--observe-listen', `/ip4/${addr}/tcp/4300/ws`, '--sync-interval-ms', '1000', '--linger-ms', '5000',
        ...(authority.ready.addrs as string[]).flatMap(a => ['--bootstrap', a])], { netns: site.netns, readyTimeoutMs: READY_TIMEOUT_MS })
    }
    const superPeers = new Map<string, Running[]>()
    for (const region of REGIONS) superPeers.set(region, await Promise.all(Array.from({ length: PER_REGION }, async (_, i) => await start(region, i))))
    await change()
    for (const region of WITH_VIEWERS) {
      const addrs = superPeers.get(region)!.map(p => (p.ready.observe.addrs as string[])[0])
      viewers.push(new RegionViewers(sites.get(region)!, docId, addrs))
    }
    await Promise.all(viewers.map(async v => { await v.ready }))
    // Warm up: trees formed (or meshes grafted), everyone level.
    for (let i = 0; i < 10; i++) await change()
    const warm = (await change()).seq
    await waitFor('viewers level after warm-up', () => viewers.every(v => v.reached(warm)) ? true : undefined, { timeoutMs: 60_000 })
    await sleep(2_000) // let membership and meshes settle before counting bytes

    const allBytes = async (): Promise<Map<string, { egress: number, ingress: number }>> =>
      new Map(await Promise.all([...sites.entries(), ['auth', authoritySite] as const].map(async ([name, site]) => [name, await site.bytes()] as const)))
    const egressOf = (a: Map<string, { egress: number }>, b: Map<string, { egress: number }>, name?: string): number =>
      [...b.keys()].filter(k => name === undefined || k === name).reduce((sum, k) => sum + b.get(k)!.egress - a.get(k)!.egress, 0)
    const ingressOf = (a: Map<string, { ingress: number }>, b: Map<string, { ingress: number }>): number =>
      WITH_VIEWERS.reduce((sum, k) => sum + b.get(k)!.ingress - a.get(k)!.ingress, 0)
    // The same network with no frames for as long as the frames take: what the sim's frame counts leave out.
    const idleMs = FRAMES * 1000 / RATE
    const idleBefore = await allBytes()
    const idleFrom = now()
    await sleep(idleMs)
    const idleAfter = await allBytes()
    const idleS = (now() - idleFrom) / 1000

    const bytesBefore = await allBytes()
    const relayedBefore = await crossed(superPeers)
    const countersBefore = await tiersCounters(authority, superPeers)
    const membershipFrom = now()
    const acks = new Map<number, number>()
    const started = now()
    for (let i = 0; i < FRAMES; i++) {
      const { seq, at } = await change()
      acks.set(seq, at)
      if (i % 10 === 9) log(`  ${mode}: ${i + 1}/${FRAMES} frames`)
      const due = started + (i + 1) * 1000 / RATE
      if (due > now()) await sleep(due - now())
    }
    const last = Math.max(...acks.keys())
    await waitFor('viewers at the last frame', () => viewers.every(v => v.reached(last)) ? true : undefined, { timeoutMs: 60_000 })
    await sleep(500)
    const bytesAfter = new Map(await Promise.all([...sites.entries(), ['auth', authoritySite] as const].map(async ([name, site]) => [name, await site.bytes()] as const)))
    const delta = (name: string, key: 'egress' | 'ingress'): number => bytesAfter.get(name)![key] - bytesBefore.get(name)![key]
    const relayed = (await crossed(superPeers)) - relayedBefore
    const countersAfter = await tiersCounters(authority, superPeers)
    const framesMs = now() - started

    const latencies: number[] = []
    for (const v of viewers) {
      for (const [seq, ackAt] of acks) for (const at of v.firstAt(seq).values()) latencies.push(at - ackAt)
    }
    const crossRegionBytes = WITH_VIEWERS.reduce((sum, r) => sum + delta(r, 'ingress'), 0) + delta('ap', 'ingress')
    const result: ModeResult = {
      mode,
      authorityEgressPerFrame: delta('auth', 'egress') / FRAMES,
      totalBytesPerFrame: [...bytesAfter.keys()].reduce((sum, name) => sum + delta(name, 'egress'), 0) / FRAMES,
      crossRegionBytesPerFrame: crossRegionBytes / FRAMES,
      // Under tiers the super-peers count the frames that crossed into their region; flat has no
      // such count, so it is estimated from the bytes that entered the viewers' regions.
      crossRegionCopiesPerFrame: mode === 'tiers'
        ? relayed / FRAMES / WITH_VIEWERS.length
        : WITH_VIEWERS.reduce((sum, r) => sum + delta(r, 'ingress'), 0) / frameBytes / FRAMES / WITH_VIEWERS.length,
      apIngressPerFrame: delta('ap', 'ingress') / FRAMES,
      latencies: Float64Array.from(latencies).sort()
    }
    if (mode === 'tiers') {
      // Membership over one whole refresh period, so each member's lease renewal falls in it once.
      const refreshMs = refreshPeriodMs(PER_REGION)
      if (now() - membershipFrom < refreshMs) await sleep(refreshMs - (now() - membershipFrom))
      const membershipAfter = await tiersCounters(authority, superPeers)
      const superPeerCount = REGIONS.length * PER_REGION
      const scale = framesMs / 1000 / idleS
      result.observed = {
        docId,
        regions: REGIONS,
        withViewers: WITH_VIEWERS,
        frames: FRAMES,
        frameRate: RATE,
        frameBytes,
        superPeers: await Promise.all([...superPeers.values()].flat().map(async peer => {
          const topology = await peer.admin('/topology')
          const doc = topology.docs[docId]
          return { peerId: topology.peerId, region: topology.region, fanout: topology.fanout, addrs: (await peer.admin('/status')).addrs, role: doc?.role, scope: doc?.scope, tree: doc?.tree }
        })),
        authorityFramesSent: countersAfter.authorityFramesSent - countersBefore.authorityFramesSent,
        relayFramesSent: countersAfter.relayFramesSent - countersBefore.relayFramesSent,
        copiesIntoRegions: relayed,
        membershipPerNodePerS: (membershipAfter.membershipAccepted - countersBefore.membershipAccepted) / superPeerCount / ((now() - membershipFrom) / 1000),
        authorityEgress: egressOf(bytesBefore, bytesAfter, 'auth'),
        viewerRegionsIngress: ingressOf(bytesBefore, bytesAfter),
        totalEgress: egressOf(bytesBefore, bytesAfter),
        idleAuthorityEgress: egressOf(idleBefore, idleAfter, 'auth') * scale,
        idleViewerRegionsIngress: ingressOf(idleBefore, idleAfter) * scale,
        idleTotalEgress: egressOf(idleBefore, idleAfter) * scale,
        idleTotalEgressPerS: egressOf(idleBefore, idleAfter) / idleS
      }
    }

    if (mode === 'tiers') {
      const eu = superPeers.get('eu')!
      const euViewers = viewers[0]
      const failovers: number[] = []
      for (let k = 0; k < KILLS; k++) {
        const proxy = await waitFor('an agreed eu proxy', async () => {
          const views = await Promise.all(eu.map(async p => (await p.admin('/topology')).docs[docId]))
          const proxies = new Set(views.filter(v => v !== undefined).map(v => v.tree.regions.find((r: any) => r.region === 'eu')?.proxy))
          return proxies.size === 1 ? eu.find(p => p.ready.peerId === [...proxies][0]) : undefined
        }, { timeoutMs: 60_000 })
        const index = eu.indexOf(proxy!)
        const killedAt = now()
        await proxy!.kill('SIGKILL')
        const { seq } = await change()
        await waitFor(`eu viewers at seq ${seq} after kill ${k + 1}`, () => euViewers.reached(seq) ? true : undefined, { timeoutMs: 30_000, intervalMs: 10 })
        failovers.push(Math.max(...euViewers.firstAt(seq).values()) - killedAt)
        log(`  failover ${k + 1}/${KILLS}: ${Math.round(failovers[failovers.length - 1])} ms`)
        eu[index] = await start('eu', index)
        // Its viewers may come back to it: wait until they are level before the next kill.
        const level = (await change()).seq
        await waitFor('eu viewers level', () => euViewers.reached(level) ? true : undefined, { timeoutMs: 30_000 })
      }
      const counts = viewers.map(v => v.gapsAndDuplicates()).reduce((a, b) => ({ gaps: a.gaps + b.gaps, duplicates: a.duplicates + b.duplicates }))
      result.failover = { ms: Float64Array.from(failovers).sort(), kills: KILLS, ...counts }
    }
    return result
  } finally {
    for (const v of viewers) v.stop()
    await killAll()
    await network.destroy()
    await rm(dir, { recursive: true, force: true, maxRetries: 5 }) // a killed process may still be flushing its datastore
  }
}

/** Frames that crossed into their region, summed over every super-peer (tiers counts them). */
async function crossed (superPeers: Map<string, Running[]>): Promise<number> {
  let sum = 0
  for (const peers of superPeers.values()) {
    for (const peer of peers) {
      if (peer.child.exitCode !== null || peer.child.signalCode !== null) continue
      sum += ((await peer.admin('/status')).counters.frames_relayed_from_outside_region as number | undefined) ?? 0
    }
  }
  return sum
}

/** The counters the simulator's message counts are compared with, summed over the live super-peers. */
async function tiersCounters (authority: Running, superPeers: Map<string, Running[]>): Promise<{ authorityFramesSent: number, relayFramesSent: number, membershipAccepted: number }> {
  const sums = { authorityFramesSent: ((await authority.admin('/status')).counters.relay_frames_sent as number | undefined) ?? 0, relayFramesSent: 0, membershipAccepted: 0 }
  for (const peer of [...superPeers.values()].flat()) {
    if (peer.child.exitCode !== null || peer.child.signalCode !== null) continue
    const counters = (await peer.admin('/status')).counters
    sums.relayFramesSent += (counters.relay_frames_sent as number | undefined) ?? 0
    sums.membershipAccepted += (counters.membership_accepted as number | undefined) ?? 0
  }
  return sums
}

/** Bytes of one frame carrying one change like the ones sent (signature, header, JSON). */
async function frameBytesOf (): Promise<number> {
  const key = await generateKeyPair('Ed25519')
  return signFrameSync(key, {
    docId: docIdFor(key.publicKey.raw, 'bench'), epoch: 1, seq: 1000, time: Date.now(), prevHash: GENESIS_HASH, changes: [{ n: 1000, pad: 'x'.repeat(CHANGE_BYTES) }]
  }).bytes.byteLength
}

if (process.getuid?.() !== 0) {
  process.stderr.write('bench:tiers needs root: it builds network namespaces for the regions\n')
  process.exit(2)
}

for (const line of await machine({ loadRemark: 'other work on the machine skews these figures' })) console.log(line)
log(`churn: ${DOCUMENTS} documents in process...`)
const churned = await churn(DOCUMENTS)
for (const line of churnLines(churned)) console.log(line)
const frameBytes = await frameBytesOf()
console.log(`setup    3 regions × ${PER_REGION} super-peers in network namespaces, authority in a fourth; viewers in eu and us only`)
console.log(`load     ${FRAMES} frames at ${RATE}/s, one change of ${CHANGE_BYTES} bytes each (${frameBytes}-byte frames); ${KILLS} proxy kills`)
const results: ModeResult[] = []
for (const mode of ['flat', 'tiers'] as const) {
  log(`running ${mode}...`)
  results.push(await runMode(mode, frameBytes))
}
const [flat, tiers] = results
const calibration = await calibrate(tiers.observed!)
const ms = (sorted: Float64Array, p: number): number => Math.round(percentile(sorted, p) * 10) / 10
console.log('')
console.log('figure                                   flat       tiers')
const row = (name: string, a: number, b: number): void => { console.log(`${name.padEnd(40)} ${String(Math.round(a)).padStart(8)} ${String(Math.round(b)).padStart(10)}`) }
row('authority egress, bytes per frame', flat.authorityEgressPerFrame, tiers.authorityEgressPerFrame)
row('all sites egress, bytes per frame', flat.totalBytesPerFrame, tiers.totalBytesPerFrame)
row('into regions, bytes per frame', flat.crossRegionBytesPerFrame, tiers.crossRegionBytesPerFrame)
row('into ap (no viewers), bytes per frame', flat.apIngressPerFrame, tiers.apIngressPerFrame)
console.log(`${'copies into each region with viewers'.padEnd(40)} ${flat.crossRegionCopiesPerFrame.toFixed(2).padStart(8)} ${tiers.crossRegionCopiesPerFrame.toFixed(2).padStart(10)}`)
console.log(`${'latency ack -> viewer p50 / p99, ms'.padEnd(40)} ${`${ms(flat.latencies, 50)} / ${ms(flat.latencies, 99)}`.padStart(8)} ${`${ms(tiers.latencies, 50)} / ${ms(tiers.latencies, 99)}`.padStart(10)}`)
const f = tiers.failover!
console.log(`failover after kill -9 of the eu proxy (${f.kills} kills): p50 ${ms(f.ms, 50)} ms, p99 ${ms(f.ms, 99)} ms, max ${ms(f.ms, 100)} ms; gaps ${f.gaps}, duplicates ${f.duplicates}`)
console.log('')
for (const line of calibrationLines(calibration)) console.log(line)
console.log('RESULT ' + JSON.stringify({
  cross_region_copies_per_frame: Math.round(tiers.crossRegionCopiesPerFrame * 100) / 100,
  cross_region_copies_per_frame_flat: Math.round(flat.crossRegionCopiesPerFrame * 100) / 100,
  authority_egress_bytes_per_frame_flat: Math.round(flat.authorityEgressPerFrame),
  authority_egress_bytes_per_frame_tiers: Math.round(tiers.authorityEgressPerFrame),
  total_bytes_per_frame_flat: Math.round(flat.totalBytesPerFrame),
  total_bytes_per_frame_tiers: Math.round(tiers.totalBytesPerFrame),
  latency_ms_p50: ms(tiers.latencies, 50),
  latency_ms_p99: ms(tiers.latencies, 99),
  latency_ms_p50_flat: ms(flat.latencies, 50),
  latency_ms_p99_flat: ms(flat.latencies, 99),
  failover_kills: f.kills,
  failover_ms_p50: ms(f.ms, 50),
  failover_ms_p99: ms(f.ms, 99),
  failover_ms_max: ms(f.ms, 100),
  failover_gaps: f.gaps,
  failover_duplicates: f.duplicates,
  churn_documents: churned.documents,
  trees_recomputed_per_change: Math.round(churned.treesPerChange * 10) / 10,
  membership_change_ms: Math.round(churned.msPerChange * 10) / 10,
  full_recompute_ms: Math.round(churned.fullRecomputeMs * 10) / 10,
  sim_trees_equal: calibration.treesEqual,
  sim_within_20pct: Object.fromEntries(calibration.rows.map(r => [r.figure, r.within])),
  sim_ratio: Object.fromEntries(calibration.rows.map(r => [r.figure, Math.round(r.ratio * 1000) / 1000]))
}))
process.exit(0)
