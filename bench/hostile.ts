/**
 * bench:hostile: a super-peer serving observers while hostile clients flood its observe port.
 *
 * One document, its authority in this process; one super-peer process. OBSERVERS observers (the
 * browser library over WebSockets, in a load process, bench/parts/fanout-observers.ts) follow it, and
 * FROZEN more observers, each its own process, are stopped with SIGSTOP (reading nothing, not even
 * TCP). Then FLOOD connections hit the WebSockets observe port from another loopback address
 * (127.0.0.2): half never send a byte, half send garbage. It reports the observers kept live and
 * their lag, the super-peer's RSS before, at peak and after, refusals by reason, what became of
 * the frozen readers, and how long until every observer was live and every attacker gone.
 *
 * Knobs: BENCH_HOSTILE_OBSERVERS (100), BENCH_HOSTILE_FLOOD (2000), BENCH_HOSTILE_FROZEN (5),
 * BENCH_HOSTILE_RATE (changes/s, 10), BENCH_HOSTILE_CHANGE_BYTES (1000; every 10th change 100 KB).
 */
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { createConnection } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { Authority } from '../node/authority/authority.ts'
import { startAuthorityNode } from '../node/authority/authority-node.ts'
import { createLogger } from '../node/log.ts'
import { Child, children, intEnv, machine, now, rssBytes, sleep } from './parts/common.ts'
import type { AuthorityNode } from '../node/authority/authority-node.ts'
import type { LoadConfig } from './parts/fanout-observers.ts'

const OBSERVERS = intEnv('BENCH_HOSTILE_OBSERVERS', 100)
const FLOOD = intEnv('BENCH_HOSTILE_FLOOD', 2000)
const FROZEN = intEnv('BENCH_HOSTILE_FROZEN', 5)
const RATE = intEnv('BENCH_HOSTILE_RATE', 10)
const CHANGE_BYTES = intEnv('BENCH_HOSTILE_CHANGE_BYTES', 1000)
/** Every BIG_EVERY-th change carries BIG_BYTES, so a frozen reader passes the 1 MiB backlog within seconds. */
const BIG_EVERY = 10
const BIG_BYTES = 100_000
/** Steady state measured before the flood, and how long the flood's sockets are held open. */
const BASELINE_S = 5
const HOLD_S = 10
const CLOSE_WAIT_S = 60
/** Observers come from 127.0.0.1, attackers from here: the per-address limits apply to them alone. */
const ATTACKER_ADDRESS = '127.0.0.2'

const HERE = fileURLToPath(new URL('.', import.meta.url))
const CLI = fileURLToPath(new URL('../bin/deltacast.js', import.meta.url))
const LOAD = join(HERE, 'parts', 'fanout-observers.ts')
const FROZEN_CHILD = fileURLToPath(new URL('../test/helpers/observer-child.ts', import.meta.url))

const out = (line = ''): void => { process.stdout.write(line + '\n') }
const note = (line: string): void => { process.stderr.write(`[bench:hostile] ${line}\n`) }
const mb = (bytes: number): number => Math.round(bytes / 2 ** 20 * 10) / 10

interface Report { unhandled: number, live: number, dropped: number, everDropped: number, behind: number, p50: number, p99: number, max: number, deliveries: number, expected: number }

/** Opens one attacking socket; resolves with the time the server closed it (or null if it was refused at connect). */
async function attack (port: number, garbage: boolean): Promise<{ closedAt: Promise<number> }> {
  const socket = createConnection({ host: '127.0.0.1', port, localAddress: ATTACKER_ADDRESS })
  socket.on('error', () => {})
  const closedAt = new Promise<number>(resolve => socket.once('close', () => { resolve(now()) }))
  await new Promise<void>(resolve => { socket.once('connect', resolve); socket.once('close', () => { resolve() }) })
  if (garbage) socket.write(randomBytes(200))
  return { closedAt }
}

async function main (): Promise<void> {
  out('# bench:hostile')
  out()
  for (const line of await machine({ loadRemark: 'at start' })) out(line)
  out()
  out(`workload: ${OBSERVERS} observers (WebSockets, browser library), ${FROZEN} frozen readers (SIGSTOP), ` +
    `${RATE} changes/s of ${CHANGE_BYTES} bytes (every ${BIG_EVERY}th ${BIG_BYTES}), then ${FLOOD} connections from ${ATTACKER_ADDRESS} (half silent, half garbage) held ${HOLD_S} s`)
  out()

  const dir = await mkdtemp(join(tmpdir(), 'dc15-bench-hostile-'))
  const log = createLogger('bench-authority', 'warn')
  let authority: Authority | undefined
  let authorityNode: AuthorityNode | undefined
  const frozen: Array<ReturnType<typeof spawn>> = []
  let pacing = true
  try {
    authority = await Authority.open({ dir: join(dir, 'authority'), name: 'hostile', log })
    authorityNode = await startAuthorityNode(authority, { peerKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'] }, log)
    const docId = authority.docId
    let n = 0
    const change = async (): Promise<{ seq: number }> => await authority!.change({ t: now(), n: n++, pad: randomBytes((n % BIG_EVERY === 0 ? BIG_BYTES : CHANGE_BYTES) / 2).toString('hex') })
    await change()

    const peer = new Child([], [CLI, 'super-peer', '--data-dir', join(dir, 'sp'), '--listen', '/ip4/127.0.0.1/tcp/0',
      '--observe-listen', '/ip4/127.0.0.1/tcp/0/ws', '--observe-listen', '/ip4/127.0.0.1/udp/0/webrtc-direct',
      // all observers share 127.0.0.1: room for them (the attackers have their own address)
      '--observe-max-connections-per-address', String(OBSERVERS + FROZEN + 16), '--observe-new-connections-per-address', String(OBSERVERS + FROZEN),
      ...authorityNode.node.getMultiaddrs().flatMap(addr => ['--bootstrap', addr.toString()]),
      '--doc', docId, '--admin', '127.0.0.1:0'])
    const ready = await peer.next('super-peer ready', 30_000)
    const admin = async (path: string): Promise<any> => await (await fetch(`${ready.admin as string}${path}`)).json()
    const wsAddr = (ready.observe.addrs as string[]).find(a => a.includes('/ws/'))!
    const wsPort = Number(/\/tcp\/(\d+)\//.exec(wsAddr)![1])
    while ((await admin('/status')).docs[docId].seq < authority.head.seq) await sleep(50)

    const paced = (async () => {
      const started = now()
      for (let i = 0; pacing; i++) {
        const wait = started + i * 1000 / RATE - now()
        if (wait > 0) await sleep(wait)
        await change()
      }
    })()

    const config: LoadConfig = { mode: 'websockets', addr: wsAddr, docId, n: OBSERVERS, concurrency: 16, connectTimeoutMs: 90_000, livenessIntervalMs: 15_000, backoffInitialMs: 500 }
    const load = new Child([], [LOAD, JSON.stringify(config)])
    const connected = await load.next('observers connecting', 150_000)
    note(`${connected.connected as number} observers connected, ${connected.failed as number} failed in ${connected.ms as number} ms`)

    for (let i = 0; i < FROZEN; i++) {
      const child = spawn(process.execPath, [FROZEN_CHILD, wsAddr, docId], { stdio: ['ignore', 'pipe', 'inherit'] })
      frozen.push(child)
      const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]()
      while (!((await lines.next()).value as string ?? 'seq').includes('seq')) { /* until its reset */ }
      child.kill('SIGSTOP')
    }
    note(`${FROZEN} frozen readers stopped`)

    /** The observers' state over seqs from..to (waits up to waitMs for them to get there). */
    const report = async (from: number, to: number, waitMs: number): Promise<Report> => {
      load.send({ cmd: 'window', from, to })
      await load.next('window ack', 10_000)
      await sleep(Math.max(0, (to - authority!.head.seq) * 1000 / RATE))
      load.send({ cmd: 'report', from, to, waitMs })
      return (await load.next('report', waitMs + 20_000)).report as Report
    }

    await sleep(2000)
    const rssBefore = await rssBytes(peer.pid)
    const statusBefore = await admin('/status')
    const baseFrom = authority.head.seq + 1
    const baseline = await report(baseFrom, baseFrom + BASELINE_S * RATE, 10_000)
    out(`baseline (${BASELINE_S} s, before the flood): ${baseline.live} live, lag p50 ${baseline.p50.toFixed(1)} ms, p99 ${baseline.p99.toFixed(1)} ms; super-peer RSS ${mb(rssBefore)} MB`)

    // The flood: FLOOD sockets as fast as the machine opens them, RSS sampled throughout.
    let rssPeak = rssBefore
    let sampling = true
    const sampler = (async () => { while (sampling) { rssPeak = Math.max(rssPeak, await rssBytes(peer.pid).catch(() => 0)); await sleep(200) } })()
    const floodFrom = authority.head.seq + 1
    const floodStarted = now()
    load.send({ cmd: 'window', from: floodFrom, to: Number.MAX_SAFE_INTEGER })
    await load.next('window ack', 10_000)
    const sockets: Array<{ closedAt: Promise<number> }> = []
    for (let i = 0; i < FLOOD; i += 100) {
      sockets.push(...await Promise.all(Array.from({ length: Math.min(100, FLOOD - i) }, async (_, j) => await attack(wsPort, (i + j) % 2 === 1))))
      if (i % 500 === 0) note(`flood: ${i + 100} connections opened`)
    }
    const openedMs = now() - floodStarted
    note(`flood: ${FLOOD} connections opened in ${Math.round(openedMs)} ms; holding ${HOLD_S} s`)
    const rssDuring = await rssBytes(peer.pid)
    await sleep(Math.max(0, HOLD_S * 1000 - openedMs))
    const floodTo = authority.head.seq
    load.send({ cmd: 'report', from: floodFrom, to: floodTo, waitMs: 10_000 })
    const during = (await load.next('report', 30_000)).report as Report
    out(`during the flood: ${during.live} of ${OBSERVERS} live (${during.everDropped} ever dropped), lag p50 ${during.p50.toFixed(1)} ms, p99 ${during.p99.toFixed(1)} ms, max ${during.max.toFixed(1)} ms; ${during.deliveries} of ${during.expected} deliveries`)

    // Recovered: every observer live and at the head again.
    let recoveredS = Number.NaN
    let after: Report | undefined
    for (let tries = 0; tries < 30; tries++) {
      const from = authority.head.seq + 1
      after = await report(from, from + RATE, 5_000)
      note(`recovery check ${tries + 1}: ${after.live} live, ${after.behind} behind`)
      if (after.live === OBSERVERS && after.behind === 0) { recoveredS = (now() - floodStarted) / 1000; break }
    }
    // Every attacker must be hung up on by the super-peer; give up waiting after CLOSE_WAIT_S.
    const closedAt = await Promise.all(sockets.map(async s => await Promise.race([s.closedAt, sleep(CLOSE_WAIT_S * 1000).then(() => Number.NaN)])))
    const stillOpen = closedAt.filter(at => Number.isNaN(at)).length
    const allClosedS = (Math.max(...closedAt.filter(at => !Number.isNaN(at))) - floodStarted) / 1000
    note(`${FLOOD - stillOpen} attacking sockets closed by the super-peer, the last ${allClosedS.toFixed(1)} s after the flood began; ${stillOpen} still open after ${CLOSE_WAIT_S} s`)
    sampling = false
    await sampler
    await sleep(3000)
    const rssAfter = await rssBytes(peer.pid)
    const status = await admin('/status')
    const refusals = Object.fromEntries(Object.entries(status.counters as Record<string, number>).filter(([name]) => name.startsWith('observe_refused_'))
      .map(([name, value]) => [name.slice('observe_refused_'.length), value - (statusBefore.counters[name] ?? 0)]))
    const frozenResynced = status.observe.resyncs - statusBefore.observe.resyncs
    const frozenDropped = status.observe.frozen - statusBefore.observe.frozen
    const alive = peer.child.exitCode === null && peer.child.signalCode === null
    out(`after the flood: ${after?.live ?? 0} of ${OBSERVERS} live, lag p50 ${after?.p50.toFixed(1)} ms, p99 ${after?.p99.toFixed(1)} ms; all live and at the head ${recoveredS.toFixed(1)} s after the flood began`)
    out(`super-peer RSS: before ${mb(rssBefore)} MB, during ${mb(rssDuring)} MB, peak ${mb(rssPeak)} MB, after ${mb(rssAfter)} MB (3 s after every attacker was gone)`)
    out(`attackers: ${FLOOD} sockets, ${FLOOD - stillOpen} closed by the super-peer within ${allClosedS.toFixed(1)} s, ${stillOpen} still open after ${CLOSE_WAIT_S} s; refusals counted by reason: ${JSON.stringify(refusals)}`)
    if (during.unhandled > 0) out(`note: the load process saw ${during.unhandled} unhandled rejections (failed redials inside libp2p); see stderr`)
    out(`frozen readers: ${frozenResynced} resynced past the 1 MiB backlog, ${frozenDropped} dropped after the stall timeout, of ${FROZEN}`)
    out()
    pacing = false
    await paced
    load.send({ cmd: 'exit' })
    await peer.stop()
    out('RESULT ' + JSON.stringify({
      process_alive: alive,
      observers_total: OBSERVERS,
      observers_dropped: during.everDropped,
      observers_live_during: during.live,
      observers_recovered_s: Number.isFinite(recoveredS) ? Math.round(recoveredS * 10) / 10 : null,
      lag_p50_ms_before: Math.round(baseline.p50 * 10) / 10,
      lag_p99_ms_before: Math.round(baseline.p99 * 10) / 10,
      lag_p50_ms_during: Math.round(during.p50 * 10) / 10,
      lag_p99_ms_during: Math.round(during.p99 * 10) / 10,
      rss_mb_before: mb(rssBefore),
      rss_mb_during: mb(rssDuring),
      rss_mb_peak: mb(rssPeak),
      rss_mb_after: mb(rssAfter),
      flood: FLOOD,
      flood_closed_s: Math.round(allClosedS * 10) / 10,
      flood_still_open: stillOpen,
      refusals,
      frozen_total: FROZEN,
      frozen_resynced: frozenResynced,
      frozen_dropped: frozenDropped
    }))
  } finally {
    pacing = false
    for (const child of frozen) child.kill('SIGKILL')
    await Promise.allSettled([...children].map(async child => { await child.stop() }))
    await authorityNode?.stop().catch(() => {})
    await authority?.close().catch(() => {})
    await rm(dir, { recursive: true, force: true })
  }
}

await main()
