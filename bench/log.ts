/**
 * bench:log — how fast one authority drives its signed log into a mesh of super-peers.
 *
 * The authority runs inside this process as the library (the way an application embeds it),
 * bound to the mesh by startAuthorityNode on 127.0.0.1 TCP. Three super-peers run as separate OS
 * processes (`deltacast super-peer`): sp1 bootstraps to the authority, sp2 and sp3 to sp1. Each
 * super-peer's admin SSE stream (/docs/<docId>/events) tells when its replica applied each seq.
 *
 * Phases (after a short unmeasured warm-up burst):
 *   1. latency: issue changes at fixed rates; for each change, latency = the last of the three
 *      replicas' apply time for the change's seq minus the time change() was called;
 *   2. throughput: issue changes as fast as possible, at most BENCH_INFLIGHT unacknowledged, and
 *      measure acked (durable) changes/s, frames/s, bytes per change, and the time until every
 *      replica holds the last frame (end-to-end changes/s).
 *
 * Not a test: it prints figures and fails only if the system does not converge. Loopback only,
 * every loop bounded; processes and temporary directories are removed on exit or error.
 *
 * Knobs (environment): BENCH_CHANGES (phase 2 changes, default 500000), BENCH_SECONDS (phase 2
 * time cap, default 12), BENCH_INFLIGHT (default 20000), BENCH_RATES (phase 1 changes/s, comma
 * separated, default "5000,20000"; "0" skips phase 1), BENCH_RATE_SECONDS (default 5).
 */
import { mkdtemp, open, readFile, rm } from 'node:fs/promises'
import { cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { bytesToHex } from '@noble/hashes/utils.js'
import { GENESIS_HASH, docIdFor, signFrameSync, topicFor, verifyFrameSync } from '../src/log/index.ts'
import { Authority } from '../node/authority/authority.ts'
import { startAuthorityNode } from '../node/authority/authority-node.ts'
import { createLogger } from '../node/log.ts'
import { killAll, startCli, waitFor } from '../test/helpers/processes.ts'
import { seededRandom, unwrapListOp } from '../test/helpers/workload.ts'
import { listInsert, listMove, listRemove, mergeInto } from '../src/delta/index.ts'
import { intEnv, machine as machineBase, now, percentile, sleep } from './parts/common.ts'
import type { JsonObject } from '../src/json.ts'
import type { Frame } from '../src/log/index.ts'
import type { AuthorityNode } from '../node/authority/authority-node.ts'
import type { Running } from '../test/helpers/processes.ts'

const CHANGES = intEnv('BENCH_CHANGES', 500_000)
const SECONDS = intEnv('BENCH_SECONDS', 12)
const INFLIGHT = intEnv('BENCH_INFLIGHT', 20_000)
const RATES = (process.env.BENCH_RATES ?? '5000,20000').split(',').map(Number).filter(n => n > 0)
const RATE_SECONDS = intEnv('BENCH_RATE_SECONDS', 5)
const REPLICAS = 3

const fmt = (n: number, digits = 0): string => n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
const ms = (n: number): string => `${fmt(n, n < 10 ? 2 : 1)} ms`

// ---------------------------------------------------------------------------------------------
// Machine and microbenchmarks

async function machine (): Promise<string[]> {
  return [...await machineBase({ mhz: true }), `log dir  ${tmpdir()}`]
}

/** ed25519 sign and verify cost per frame, alone on the CPU (before any process starts). */
async function cryptoMicrobench (): Promise<string[]> {
  const key = await generateKeyPair('Ed25519')
  const docId = docIdFor(key.publicKey.raw, 'micro')
  const workload = new Workload(99)
  const rows: string[] = []
  for (const perFrame of [1, 2048]) {
    const count = 1_000
    const changes: JsonObject[] = []
    for (let i = 0; i < perFrame; i++) changes.push(workload.next())
    const unsigned = { docId, epoch: 1, seq: 1, time: Date.now(), prevHash: GENESIS_HASH, changes }
    signFrameSync(key, unsigned) // warm up
    let frame: Frame | undefined
    const t0 = performance.now()
    for (let i = 0; i < count; i++) frame = signFrameSync(key, { ...unsigned, seq: i + 1 })
    const signUs = (performance.now() - t0) * 1000 / count
    const bytes = frame!.bytes
    const limits = { maxFrameBytes: 1 << 22 }
    if (!verifyFrameSync(bytes, docId, limits).ok) throw new Error('microbench frame does not verify')
    const t1 = performance.now()
    for (let i = 0; i < count; i++) verifyFrameSync(bytes, docId, limits)
    const verifyUs = (performance.now() - t1) * 1000 / count
    rows.push(`| ${fmt(perFrame)} | ${fmt(bytes.length)} | ${fmt(signUs, 1)} | ${fmt(verifyUs, 1)} |`)
  }
  return rows
}

/** Append + fdatasync, the authority's durability step (once per batch of frames). */
async function fsyncMicrobench (dir: string): Promise<number> {
  const handle = await open(join(dir, 'fsync-probe'), 'a')
  const block = new Uint8Array(64 * 1024)
  try {
    const count = 100
    const t0 = performance.now()
    for (let i = 0; i < count; i++) {
      await handle.write(block)
      await handle.datasync()
    }
    return (performance.now() - t0) / count
  } finally {
    await handle.close()
  }
}

// ---------------------------------------------------------------------------------------------
// The mesh

/** When each replica applied each seq, from the super-peers' SSE streams. */
class ApplyTimes {
  readonly at: Array<Map<number, number>> = []
  readonly head: number[] = []
  private readonly abort = new AbortController()
  private readonly done: Array<Promise<void>> = []

  async subscribe (adminUrl: string, docId: string): Promise<void> {
    const index = this.at.length
    const times = new Map<number, number>()
    this.at.push(times)
    this.head.push(0)
    const res = await fetch(`${adminUrl}/docs/${encodeURIComponent(docId)}/events`, { signal: this.abort.signal })
    if (!res.ok || res.body === null) throw new Error(`SSE ${adminUrl}: ${res.status}`)
    const reader = res.body.getReader()
    const decoder = new TextDecoder()
    this.done.push((async () => {
      let buffered = ''
      try {
        while (true) {
          const { done, value } = await reader.read()
          if (done) return
          buffered += decoder.decode(value, { stream: true })
          let end: number
          while ((end = buffered.indexOf('\n\n')) >= 0) {
            const event = buffered.slice(0, end)
            buffered = buffered.slice(end + 2)
            for (const line of event.split('\n')) {
              if (!line.startsWith('data:')) continue
              const { seq, at } = JSON.parse(line.slice(5)) as { seq: number, at: number }
              times.set(seq, at)
              if (seq > this.head[index]) this.head[index] = seq
            }
          }
        }
      } catch (err) {
        if (!this.abort.signal.aborted) throw err
      }
    })())
  }

  /** Latest apply time of seq over all replicas (undefined until every replica has it). */
  lastApply (seq: number): number | undefined {
    let last = 0
    for (const times of this.at) {
      const at = times.get(seq)
      if (at === undefined) return undefined
      if (at > last) last = at
    }
    return last
  }

  async reached (seq: number, timeoutMs: number): Promise<void> {
    await waitFor(`every replica at seq ${seq} (heads ${this.head.join(', ')})`,
      () => this.head.every(h => h >= seq) ? true : undefined, { timeoutMs, intervalMs: 5 })
  }

  async close (): Promise<void> {
    this.abort.abort()
    await Promise.allSettled(this.done)
  }
}

/** CPU seconds (user + system) of a process, from /proc. */
async function cpuSeconds (pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) / 100 // utime, stime in clock ticks (USER_HZ 100)
}

async function cpuSnapshot (pids: number[]): Promise<number[]> {
  return await Promise.all(pids.map(cpuSeconds))
}

/** Busy CPU seconds of the whole machine (all processes), from /proc/stat. */
async function machineBusySeconds (): Promise<number> {
  const line = (await readFile('/proc/stat', 'utf8')).split('\n')[0]
  const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number)
  return (user + nice + system + irq + softirq + steal) / 100
}

/**
 * Measures CPU over an interval: this process, the super-peers, and everything else on the
 * machine (other workloads skew the figures on a small machine, so the bench reports them).
 */
class CpuMeter {
  private readonly pids: number[]
  private startWall = 0
  private startSelf = process.cpuUsage()
  private startPeers: number[] = []
  private startBusy = 0

  constructor (pids: number[]) {
    this.pids = pids
  }

  async start (): Promise<void> {
    this.startWall = performance.now()
    this.startSelf = process.cpuUsage()
    this.startPeers = await cpuSnapshot(this.pids)
    this.startBusy = await machineBusySeconds()
  }

  async stop (): Promise<{ seconds: number, self: number, peers: number[], others: number }> {
    const self = process.cpuUsage(this.startSelf)
    const peers = (await cpuSnapshot(this.pids)).map((c, i) => c - this.startPeers[i])
    const busy = await machineBusySeconds() - this.startBusy
    const selfSeconds = (self.user + self.system) / 1e6
    const others = Math.max(0, busy - selfSeconds - peers.reduce((a, b) => a + b, 0))
    return { seconds: (performance.now() - this.startWall) / 1000, self: selfSeconds, peers, others }
  }
}

// ---------------------------------------------------------------------------------------------
// Drivers

interface Run {
  count: number
  callAt: Float64Array
  ackAt: Float64Array
  seqOf: Float64Array
  firstSeq: number
  lastSeq: number
  frames: number
  frameBytes: number
  startedAt: number
  issuedUntil: number
  ackedAt: number
}

function newRun (count: number): Run {
  return {
    count,
    callAt: new Float64Array(count),
    ackAt: new Float64Array(count),
    seqOf: new Float64Array(count),
    firstSeq: Number.POSITIVE_INFINITY,
    lastSeq: 0,
    frames: 0,
    frameBytes: 0,
    startedAt: 0,
    issuedUntil: 0,
    ackedAt: 0
  }
}

class Driver {
  private run: Run | undefined
  private inflight = 0
  private failure: Error | undefined
  private wake: (() => void) | undefined
  private wakeBelow = 0
  private readonly authority: Authority

  constructor (authority: Authority) {
    this.authority = authority
    authority.on('frame', frame => {
      const run = this.run
      if (run === undefined) return
      run.frames++
      run.frameBytes += frame.bytes.byteLength
      if (frame.seq < run.firstSeq) run.firstSeq = frame.seq
      if (frame.seq > run.lastSeq) run.lastSeq = frame.seq
    })
  }

  private issue (run: Run, i: number, change: JsonObject): void {
    this.inflight++
    run.callAt[i] = now()
    this.authority.change(change).then(ack => {
      run.ackAt[i] = now()
      run.seqOf[i] = ack.seq
      this.settle()
    }, (err: Error) => {
      this.failure ??= err
      this.settle()
    })
  }

  private settle (): void {
    this.inflight--
    if (this.wake !== undefined && this.inflight <= this.wakeBelow) {
      const wake = this.wake
      this.wake = undefined
      wake()
    }
  }

  private async until (inflightAtMost: number): Promise<void> {
    if (this.inflight <= inflightAtMost) return
    this.wakeBelow = inflightAtMost
    await new Promise<void>(resolve => { this.wake = resolve })
  }

  private check (): void {
    if (this.failure !== undefined) throw this.failure
  }

  /** As fast as possible, at most `window` changes unacknowledged; stops issuing after `capMs`. */
  async saturate (changes: JsonObject[], window: number, capMs: number): Promise<Run> {
    const run = newRun(changes.length)
    this.run = run
    run.startedAt = now()
    const deadline = run.startedAt + capMs
    let next = 0
    // Refill in chunks so acks and I/O interleave with issuing.
    const chunk = Math.max(1, Math.floor(window / 8))
    while (next < changes.length && now() < deadline) {
      await this.until(window - chunk)
      this.check()
      const end = Math.min(changes.length, next + (window - this.inflight))
      while (next < end) { this.issue(run, next, changes[next]); next++ }
    }
    run.count = next
    return await this.finish(run)
  }

  /** Everything issued: wait for the last acks and close the run. */
  private async finish (run: Run): Promise<Run> {
    run.issuedUntil = now()
    await this.until(0)
    this.check()
    run.ackedAt = now()
    this.run = undefined
    return run
  }

  /** At a fixed rate (changes/s), issuing what is due every millisecond. */
  async paced (changes: JsonObject[], rate: number): Promise<Run> {
    const run = newRun(changes.length)
    this.run = run
    run.startedAt = now()
    let next = 0
    while (next < changes.length) {
      const due = Math.min(changes.length, Math.floor((now() - run.startedAt) * rate / 1000) + 1)
      while (next < due) { this.issue(run, next, changes[next]); next++ }
      this.check()
      await sleep(1)
    }
    return await this.finish(run)
  }
}

interface LatencyFigures {
  apply: Float64Array
  durable: Float64Array
}

/** Per change: last replica's apply time minus call time, and ack time minus call time (sorted). */
function latencies (run: Run, applied: ApplyTimes): LatencyFigures {
  const apply = new Float64Array(run.count)
  const durable = new Float64Array(run.count)
  for (let i = 0; i < run.count; i++) {
    const at = applied.lastApply(run.seqOf[i])
    if (at === undefined) throw new Error(`seq ${run.seqOf[i]} missing from a replica's event stream`)
    apply[i] = at - run.callAt[i]
    durable[i] = run.ackAt[i] - run.callAt[i]
  }
  apply.sort()
  durable.sort()
  // Call and apply times come from different processes' clocks (performance.timeOrigin + now());
  // on one machine they agree to well under a millisecond, so a negative latency means trouble.
  if (apply[0] < -1) throw new Error(`negative latency ${apply[0]} ms: process clocks disagree`)
  return { apply, durable }
}

/**
 * A deterministic stream of small, realistic changes on a document that stays bounded in size
 * (test/helpers/workload.ts grows its list without bound, which a 500k-change run cannot afford):
 * half score updates, then counters, notes, and list inserts, removes and moves on a ~40-item
 * list. The local model mirrors the authority's tree so every change is valid in order.
 */
class Workload {
  model: JsonObject = {}
  private step = 0
  private nextItem = 0
  private readonly random: (below: number) => number

  constructor (seed: number) {
    this.random = seededRandom(seed)
  }

  /** Continue from the authority's tree (after changes that were generated but never sent). */
  resetTo (tree: JsonObject): void {
    this.model = structuredClone(tree)
  }

  next (): JsonObject {
    const change = this.pick(this.step++)
    mergeInto(this.model, change)
    return change
  }

  private pick (n: number): JsonObject {
    const feed = (this.model.feed as { '@o'?: string[] } | undefined)?.['@o'] ?? []
    switch (n % 10) {
      case 5: return { counter: n, phase: n % 20 === 5 ? 'deal' : 'play' }
      case 6:
      case 7: return feed.length < 40
        ? unwrapListOp(listInsert(this.model, ['feed'], `e${this.nextItem++}`, { kind: 'move', by: `p${this.random(100)}`, card: this.random(52) }, this.random(feed.length + 1)))
        : unwrapListOp(listRemove(this.model, ['feed'], feed[this.random(feed.length)]))
      case 8: return feed.length > 1
        ? unwrapListOp(listMove(this.model, ['feed'], feed[this.random(feed.length)], this.random(feed.length)))
        : { counter: n }
      case 9: return { notes: { [`n${n % 7}`]: `note ${n} ✓` } }
      default: return { players: { [`p${this.random(100)}`]: { score: n, seen: n % 3 === 0 } } }
    }
  }
}

function generate (workload: Workload, count: number): JsonObject[] {
  const changes: JsonObject[] = new Array(count)
  for (let i = 0; i < count; i++) changes[i] = workload.next()
  return changes
}

// ---------------------------------------------------------------------------------------------

async function main (): Promise<void> {
  const out = (line = ''): void => { process.stdout.write(line + '\n') }
  out('# bench:log')
  out()
  for (const line of await machine()) out(line)
  out()

  const dir = await mkdtemp(join(tmpdir(), 'deltacast-bench-log-'))
  const applied = new ApplyTimes()
  let authority: Authority | undefined
  let authorityNode: AuthorityNode | undefined
  const superPeers: Running[] = []
  let interrupted = false
  const onSignal = (): void => {
    if (interrupted) process.exit(130)
    interrupted = true
    process.stderr.write('interrupted; cleaning up\n')
    void cleanup().finally(() => process.exit(130))
  }
  let cleaned: Promise<void> | undefined
  const cleanup = async (): Promise<void> => {
    cleaned ??= (async () => {
      await applied.close()
      await Promise.allSettled(superPeers.map(async peer => {
        const exited = peer.kill('SIGTERM')
        await Promise.race([exited, sleep(5_000)])
      }))
      await killAll()
      await authorityNode?.stop().catch(() => {})
      await authority?.close().catch(() => {})
      await rm(dir, { recursive: true, force: true })
    })()
    await cleaned
  }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)

  try {
    out('## Context (alone on the CPU, before the mesh starts)')
    out()
    out('| changes per frame | frame bytes | sign (encode + ed25519 + sha256) µs | verify (decode + JSON + ed25519) µs |')
    out('|---:|---:|---:|---:|')
    for (const row of await cryptoMicrobench()) out(row)
    out()
    out(`fsync: append 64 KiB + fdatasync in ${dir}: ${ms(await fsyncMicrobench(dir))} each (mean of 100)`)
    const idle = new CpuMeter([])
    await idle.start()
    await sleep(1_000)
    const background = await idle.stop()
    let worstOthers = background.others / background.seconds
    out(`background load: ${fmt(worstOthers, 2)} cores used by other processes (1 s sample)`)
    out()

    // The authority, embedded.
    const log = createLogger('bench-authority', 'warn')
    authority = await Authority.open({ dir: join(dir, 'authority'), name: 'bench', log })
    const docId = authority.docId
    const topic = topicFor(docId)
    authorityNode = await startAuthorityNode(authority, {
      peerKey: await generateKeyPair('Ed25519'),
      listen: ['/ip4/127.0.0.1/tcp/0']
    }, log)
    const authorityAddrs = authorityNode.node.getMultiaddrs().map(String)

    // Three super-peers: sp1 bootstraps to the authority, sp2 and sp3 to sp1.
    const startPeer = async (name: string, bootstrap: string[]): Promise<Running> => {
      const peer = await startCli(['super-peer', '--data-dir', join(dir, name), '--listen', '/ip4/127.0.0.1/tcp/0',
        ...bootstrap.flatMap(addr => ['--bootstrap', addr]), '--doc', docId, '--admin', '127.0.0.1:0',
        '--observe-listen', 'none', '--topology', 'flat']) // the gossipsub mesh; bench:tiers measures tiers
      superPeers.push(peer)
      return peer
    }
    const sp1 = await startPeer('sp1', authorityAddrs)
    await startPeer('sp2', sp1.ready.addrs)
    await startPeer('sp3', sp1.ready.addrs)
    for (const peer of superPeers) await applied.subscribe(peer.ready.admin, docId)

    const pubsub = authorityNode.node.services.pubsub
    await waitFor('sp1 subscribed at the authority', () =>
      pubsub.getSubscribers(topic).some(p => p.toString() === sp1.ready.peerId) ? true : undefined)
    await waitFor('sp2 and sp3 subscribed at sp1', async () => {
      const status = await sp1.admin('/status')
      return status.docs[docId].subscribers >= 3 ? true : undefined
    })

    // Warm-up: wait until frames reach every replica by gossip (the mesh is grafted) rather than
    // by the periodic catch-up, i.e. each of 5 consecutive changes arrives everywhere in < 250 ms.
    const workload = new Workload(1)
    let fast = 0
    await waitFor('the gossipsub mesh to carry frames to every replica', async () => {
      const { seq } = await authority!.change(workload.next())
      const deadline = Date.now() + 250
      while (Date.now() < deadline && applied.lastApply(seq) === undefined) await sleep(5)
      fast = applied.lastApply(seq) === undefined ? 0 : fast + 1
      return fast >= 5 ? true : undefined
    }, { timeoutMs: 30_000, intervalMs: 50 })
    out('mesh: authority + 3 super-peers on 127.0.0.1 (sp1 -> authority, sp2 and sp3 -> sp1), gossip reaches all')

    const peerPids = superPeers.map(p => p.child.pid!)
    const results: string[] = []

    const driver = new Driver(authority)
    // JIT warm-up for every process (not measured): a short burst at full speed.
    const warmRun = await driver.saturate(generate(workload, 50_000), INFLIGHT, 10_000)
    await applied.reached(authority.head.seq, 60_000)
    out(`warm-up: ${fmt(warmRun.count)} changes, all replicas at seq ${fmt(authority.head.seq)}`)
    out()

    // ---- Phase 1: latency at steady rates
    out('## Phase 1: latency at a steady rate (call -> applied on the last of 3 replicas)')
    out()
    out('| rate (changes/s) | changes | frames/s | changes/frame | bytes/change | durable p50 | durable p99 | replicas p50 | replicas p99 | replicas max | other load (cores) |')
    out('|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|')
    for (const rate of RATES) {
      const changes = generate(workload, rate * RATE_SECONDS)
      const meter = new CpuMeter(peerPids)
      await meter.start()
      const run = await driver.paced(changes, rate)
      await applied.reached(authority.head.seq, 60_000)
      const cpu = await meter.stop()
      worstOthers = Math.max(worstOthers, cpu.others / cpu.seconds)
      const lat = latencies(run, applied)
      const seconds = (run.ackedAt - run.startedAt) / 1000
      out(`| ${fmt(rate)} | ${fmt(run.count)} | ${fmt(run.frames / seconds, 1)} | ${fmt(run.count / run.frames, 1)} | ${fmt(run.frameBytes / run.count, 1)} | ` +
        `${ms(percentile(lat.durable, 50))} | ${ms(percentile(lat.durable, 99))} | ` +
        `${ms(percentile(lat.apply, 50))} | ${ms(percentile(lat.apply, 99))} | ${ms(lat.apply[lat.apply.length - 1])} | ${fmt(cpu.others / cpu.seconds, 2)} |`)
      results.push(`${fmt(rate)}/s: p50 ${ms(percentile(lat.apply, 50))}, p99 ${ms(percentile(lat.apply, 99))}`)
    }
    out()

    // ---- Phase 2: throughput
    const bulk = generate(workload, CHANGES)
    const avgChangeBytes = bulk.reduce((sum, c, i) => i < 10_000 ? sum + Buffer.byteLength(JSON.stringify(c)) : sum, 0) / Math.min(10_000, bulk.length)
    const meter = new CpuMeter(peerPids)
    await meter.start()
    const t = await driver.saturate(bulk, INFLIGHT, SECONDS * 1000)
    const lastSeq = authority.head.seq
    await applied.reached(lastSeq, 120_000)
    const cpu = await meter.stop()
    worstOthers = Math.max(worstOthers, cpu.others / cpu.seconds)
    const replicatedAt = applied.lastApply(lastSeq)!
    if (t.count < bulk.length) workload.resetTo(authority.tree) // the unissued tail never happened
    const ackSeconds = (t.ackedAt - t.startedAt) / 1000
    const e2eSeconds = (replicatedAt - t.startedAt) / 1000
    const sat = latencies(t, applied)
    out('## Phase 2: throughput')
    out()
    out(`${fmt(t.count)} changes (mean ${fmt(avgChangeBytes, 1)} bytes of JSON each), at most ${fmt(INFLIGHT)} unacknowledged`)
    out()
    out('| figure | value |')
    out('|---|---:|')
    const tp = [
      ['changes/s acknowledged (durable)', fmt(t.count / ackSeconds)],
      ['changes/s end to end (all 3 replicas applied)', fmt(t.count / e2eSeconds)],
      ['frames/s', fmt(t.frames / ackSeconds, 1)],
      ['changes per frame (mean)', fmt(t.count / t.frames, 1)],
      ['bytes per change (frame bytes / changes)', fmt(t.frameBytes / t.count, 1)],
      ['frame MB/s published', fmt(t.frameBytes / ackSeconds / 1e6, 2)],
      ['time to ack all / to replicate all', `${fmt(ackSeconds, 2)} s / ${fmt(e2eSeconds, 2)} s`],
      ['latency under saturation, call -> durable p50 / p99', `${ms(percentile(sat.durable, 50))} / ${ms(percentile(sat.durable, 99))}`],
      ['latency under saturation, call -> all replicas p50 / p99', `${ms(percentile(sat.apply, 50))} / ${ms(percentile(sat.apply, 99))}`],
      [`CPU cores used over ${fmt(cpu.seconds, 1)} s: bench+authority process`, fmt(cpu.self / cpu.seconds, 2)],
      ['CPU cores used: super-peers sp1 / sp2 / sp3', cpu.peers.map(c => fmt(c / cpu.seconds, 2)).join(' / ')],
      ['CPU cores used: other processes on the machine', fmt(cpu.others / cpu.seconds, 2)],
      ['CPU µs per change: authority process / each super-peer (mean)', `${fmt(cpu.self * 1e6 / t.count, 1)} / ${fmt(cpu.peers.reduce((a, b) => a + b, 0) / 3 * 1e6 / t.count, 1)}`]
    ]
    for (const [name, value] of tp) out(`| ${name} | ${value} |`)
    out()
    results.push(`throughput ${fmt(t.count / ackSeconds)} changes/s durable, ${fmt(t.count / e2eSeconds)} changes/s to all replicas`)

    // Sanity: every replica holds the authority's head and document.
    const head = bytesToHex(authority.head.hash)
    const truth = JSON.stringify(authority.tree)
    for (const peer of superPeers) {
      const state = await peer.admin(`/docs/${docId}/state`)
      if (state.seq !== authority.head.seq || state.head !== head || JSON.stringify(state.tree) !== truth) {
        throw new Error(`${peer.ready.peerId as string} diverged: seq ${state.seq as number} vs ${authority.head.seq}`)
      }
    }
    out(`converged: all 3 replicas at seq ${fmt(authority.head.seq)} with the authority's head hash and document`)
    out()
    out(`summary: ${results.join('; ')}`)
    const round = (n: number, digits = 1): number => Math.round(n * 10 ** digits) / 10 ** digits
    out('RESULT ' + JSON.stringify({
      changes_per_s_durable: Math.round(t.count / ackSeconds),
      changes_per_s_replicated: Math.round(t.count / e2eSeconds),
      frames_per_s: round(t.frames / ackSeconds),
      bytes_per_change: round(t.frameBytes / t.count),
      saturation_durable_ms_p50: round(percentile(sat.durable, 50)),
      saturation_replicas_ms_p99: round(percentile(sat.apply, 99)),
      cpu_us_per_change_authority: round(cpu.self * 1e6 / t.count),
      other_load_cores: round(worstOthers, 2)
    }))
    if (worstOthers > 0.2) {
      out()
      out(`WARNING: other processes used up to ${fmt(worstOthers, 2)} of ${cpus().length} cores during the run; these figures are disturbed. Rerun on a quiet machine.`)
    }
  } finally {
    await cleanup()
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
}

await main()
