/**
 * bench:fanout — how many browsers one super-peer serves, and at what cost, against plain `ws`.
 *
 * The authority runs inside this process as the library (Authority + startAuthorityNode on
 * 127.0.0.1 TCP) and changes the document at a fixed rate, one change per frame, each change
 * `{t, n}` carrying the wall-clock time change() was called. For every N and transport, a fresh
 * server process and a fresh load process (bench/parts/fanout-observers.ts) are started:
 *
 *   webrtc-direct, websockets  one `deltacast super-peer` process (bootstrapped to the authority)
 *                              serving N observe() clients, each with its own libp2p node and
 *                              connection, over WebRTC-Direct or WebSockets;
 *   ws, wss                    one plain `ws` broadcast server process (bench/parts/fanout-ws-server.ts)
 *                              fed the same observe-protocol message bytes by this process on each
 *                              durable frame, serving N `ws` clients, without and with TLS.
 *
 * Figures per run: deliveries/s (frames integrated by observers, over the time from the first
 * change call to the last delivery), the share of (observers x frames) delivered, latency from
 * change() to an observer's receipt (p50, p99: the same machine clock, so it includes the
 * authority's sign + fsync), server RSS growth per observer (VmRSS before connecting the observers,
 * and the median of readings every 500 ms through the measured window, divided by N; the last
 * reading alone is printed beside it), server CPU with the observers connected
 * but no frames (keep-alive cost), server CPU per delivery (keep-alive included), and the CPU the load
 * process and anything else on the machine used during the window (the load shares the cores).
 *
 * Not a test: it prints figures and fails only if nothing gets delivered. Loopback only, every
 * wait bounded; processes and temporary directories are removed on exit or error. The wss
 * baseline needs the openssl CLI (a self-signed ECDSA P-256 certificate made at start).
 *
 * Knobs (environment): BENCH_FANOUT_N (comma separated, default "100,300,1000"),
 * BENCH_FANOUT_MODES (default "webrtc-direct,websockets,ws,wss"), BENCH_FANOUT_RATE (frames/s,
 * default 20), BENCH_FANOUT_SECONDS (measured window, default 8), BENCH_FANOUT_CONNECT_S (cap on
 * connecting N observers, default 90), BENCH_FANOUT_CONCURRENCY (dials in flight, default 32),
 * BENCH_FANOUT_LIVENESS_MS (observers' libp2p probe interval, default 60000 as observe()),
 * BENCH_FANOUT_NODE_FLAGS (node flags for the server and load processes, e.g. to profile them),
 * BENCH_FANOUT_SUPER_PEER_ARGS (extra super-peer flags, e.g. "--observe-heartbeat-ms 0").
 *
 * Saturation mode (BENCH_FANOUT_SATURATE=1): after the runs above, each mode climbs a ladder of N
 * (BENCH_FANOUT_LADDER, default "50,100,200,300,500,700,1000,1500,2000,3000,4000") from the bottom
 * until a run no longer keeps up (a step already run above is not run again); the largest N that
 * kept up is max_n_<mode>. Keeping up: every observer connected, every frame delivered, none left
 * behind, p99 <= BENCH_FANOUT_MAX_P99_MS (default 250).
 * BENCH_FANOUT_MEMORY_N (e.g. 10000) adds one WebSockets and one ws run at that N for memory.
 */
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { Authority } from '../node/authority/authority.ts'
import { startAuthorityNode } from '../node/authority/authority-node.ts'
import { createLogger } from '../node/log.ts'
import { encodeMessage, frameMessage } from '../src/observe/protocol.ts'
import { mergeInto } from '../src/delta/index.ts'
import { buildBrowser } from '../scripts/build-browser.ts'
import { waitFor } from '../test/helpers/processes.ts'
import { Child, children, intEnv, machine as machineBase, now, percentile, rssBytes, sleep } from './parts/common.ts'
import type { JsonObject } from '../src/json.ts'
import type { Frame } from '../src/log/index.ts'
import type { AuthorityNode } from '../node/authority/authority-node.ts'
import type { LoadConfig, LoadMode } from './parts/fanout-observers.ts'

const NS = (process.env.BENCH_FANOUT_N ?? '100,300,1000').split(',').map(Number).filter(n => Number.isInteger(n) && n > 0)
const MODES = (process.env.BENCH_FANOUT_MODES ?? 'webrtc-direct,websockets,ws,wss').split(',') as LoadMode[]
const RATE = intEnv('BENCH_FANOUT_RATE', 20)
const SECONDS = intEnv('BENCH_FANOUT_SECONDS', 8)
const CONNECT_S = intEnv('BENCH_FANOUT_CONNECT_S', 90)
const CONCURRENCY = intEnv('BENCH_FANOUT_CONCURRENCY', 32)
const WARMUP_S = 2
const IDLE_S = 3
/** How often the server's RSS is read during the measured window (its median is the figure). */
const RSS_SAMPLE_MS = 500
/** libp2p observers per load process (N above this is split over more processes), and the most processes. */
const OBSERVERS_PER_LOAD = intEnv('BENCH_FANOUT_OBSERVERS_PER_LOAD', 250)
const LOAD_PROCS_MAX = intEnv('BENCH_FANOUT_LOAD_PROCS_MAX', 4)
/** The load's observe() heartbeatTimeoutMs: a load process that falls behind must not redial (ms). */
const LOAD_HEARTBEAT_TIMEOUT_MS = intEnv('BENCH_FANOUT_HEARTBEAT_TIMEOUT_MS', 10_000)
/** observe()'s default liveness probe interval (each probe opens a stream to the super-peer). */
const LIVENESS_MS = intEnv('BENCH_FANOUT_LIVENESS_MS', 60_000)

const SATURATE = process.env.BENCH_FANOUT_SATURATE === '1'
const LADDER = (process.env.BENCH_FANOUT_LADDER ?? '50,100,200,300,500,700,1000,1500,2000,3000,4000').split(',').map(Number).filter(n => Number.isInteger(n) && n > 0).sort((a, b) => a - b)
const MAX_P99_MS = intEnv('BENCH_FANOUT_MAX_P99_MS', 250)
const MEMORY_N = process.env.BENCH_FANOUT_MEMORY_N === undefined ? undefined : intEnv('BENCH_FANOUT_MEMORY_N', 10_000)

/** Extra `deltacast super-peer` flags, e.g. "--observe-heartbeat-ms 0" to compare keep-alive costs. */
const SUPER_PEER_ARGS = (process.env.BENCH_FANOUT_SUPER_PEER_ARGS ?? '').split(' ').filter(arg => arg !== '')

/** Extra node flags for the server and load processes, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof". */
const NODE_FLAGS = (process.env.BENCH_FANOUT_NODE_FLAGS ?? '').split(' ').filter(flag => flag !== '')

const HERE = fileURLToPath(new URL('.', import.meta.url))
const CLI = fileURLToPath(new URL('../bin/deltacast.js', import.meta.url))
const LOAD = join(HERE, 'parts', 'fanout-observers.ts')
const WS_SERVER = join(HERE, 'parts', 'fanout-ws-server.ts')

const fmt = (n: number, digits = 0): string => Number.isFinite(n) ? n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }) : '–'
const ms = (n: number): string => Number.isFinite(n) ? `${fmt(n, n < 10 ? 2 : 1)} ms` : '–'
const kib = (bytes: number): string => `${fmt(bytes / 1024, 1)} KiB`
const out = (line = ''): void => { process.stdout.write(line + '\n') }
const note = (line: string): void => { process.stderr.write(`[bench:fanout] ${line}\n`) }

/** The `ws` package (no bundled types; the client surface this file uses). */
interface WsClient {
  readonly readyState: number
  send (data: Uint8Array): void
  once (event: 'open', cb: () => void): void
  once (event: 'error', cb: (err: Error) => void): void
  terminate (): void
}
const WebSocket = createRequire(import.meta.url)('ws') as new (url: string, options: { rejectUnauthorized: boolean, perMessageDeflate: boolean }) => WsClient

// ---------------------------------------------------------------------------------------------
// Processes

/** CPU seconds used by the whole machine (all cores), from /proc/stat. */
async function machineCpuSeconds (): Promise<number> {
  const fields = (await readFile('/proc/stat', 'utf8')).split('\n')[0].trim().split(/\s+/).slice(1).map(Number)
  const [user, nice, system, , , irq, softirq, steal] = fields
  return (user + nice + system + irq + softirq + steal) / 100
}

/** A process and its descendants (a super-peer's edge worker processes), from /proc. */
async function processTree (pid: number): Promise<number[]> {
  const children = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').catch(() => '')
  const kids = children.trim().split(' ').filter(c => c !== '').map(Number)
  return [pid, ...(await Promise.all(kids.map(processTree))).flat()]
}

/** CPU seconds of one process in user space and in the kernel, from /proc (USER_HZ 100); 0 once it is gone. */
async function ownCpuSplit (pid: number): Promise<{ user: number, system: number }> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined)
  if (stat === undefined) return { user: 0, system: 0 }
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return { user: Number(fields[11]) / 100, system: Number(fields[12]) / 100 }
}

/** CPU seconds (user + system) of one process. */
async function ownCpuSeconds (pid: number): Promise<number> {
  const { user, system } = await ownCpuSplit(pid)
  return user + system
}

/** CPU seconds of a process and its descendants (a super-peer and its edge worker processes), user and kernel. */
async function treeCpuSplit (pid: number): Promise<{ user: number, system: number }> {
  const each = await Promise.all((await processTree(pid)).map(ownCpuSplit))
  return each.reduce((sum, one) => ({ user: sum.user + one.user, system: sum.system + one.system }), { user: 0, system: 0 })
}

/** CPU seconds (user + system) of a process and its descendants. */
async function cpuSeconds (pid: number): Promise<number> {
  const { user, system } = await treeCpuSplit(pid)
  return user + system
}

/** Resident memory of a process and its descendants. */
async function treeRssBytes (pid: number): Promise<number> {
  return (await Promise.all((await processTree(pid)).map(async each => await rssBytes(each).catch(() => 0)))).reduce((a, b) => a + b, 0)
}

/**
 * The server tree's RSS read every `everyMs` until stopped; `stop()` adds one last reading and
 * gives the median. One reading at the end of the window could land just before a collection
 * and count the garbage of a whole window (276 KiB per observer once, 56 KiB in the next run);
 * the median over the window is what the server holds most of the time.
 */
function sampleTreeRss (pid: number, everyMs: number): { stop: () => Promise<{ median: number, last: number, samples: number }> } {
  const samples: number[] = []
  let pending = treeRssBytes(pid).then(b => { samples.push(b) })
  const timer = setInterval(() => { pending = pending.then(async () => { samples.push(await treeRssBytes(pid)) }) }, everyMs)
  return {
    stop: async () => {
      clearInterval(timer)
      await pending
      const last = await treeRssBytes(pid)
      samples.push(last)
      const sorted = Float64Array.from(samples).sort()
      return { median: sorted[Math.floor(sorted.length / 2)], last, samples: samples.length }
    }
  }
}


// ---------------------------------------------------------------------------------------------
// A self-signed certificate for the wss baseline (ECDSA P-256, as a typical TLS deployment)

async function selfSignedCert (dir: string): Promise<{ key: string, cert: string }> {
  const key = join(dir, 'tls-key.pem')
  const cert = join(dir, 'tls-cert.pem')
  const openssl = spawn('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  openssl.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  const code = await new Promise<number | null>((resolve, reject) => { openssl.once('error', reject); openssl.once('exit', resolve) })
    .catch((err: Error) => { throw new Error(`the wss baseline needs the openssl CLI for a self-signed certificate: ${err.message}`) })
  if (code !== 0) throw new Error(`openssl req failed (${code}): ${stderr}`)
  return { key: await readFile(key, 'utf8'), cert: await readFile(cert, 'utf8') }
}

/** The same certificate as @libp2p/webrtc wants it (certhash: multibase base64url of the sha2-256 multihash of the DER). */
function transportCertificate (tls: { key: string, cert: string }): { privateKey: string, pem: string, certhash: string } {
  const der = Buffer.from(tls.cert.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64')
  const multihash = Buffer.concat([Buffer.from([0x12, 0x20]), createHash('sha256').update(der).digest()])
  return { privateKey: tls.key, pem: tls.cert, certhash: 'u' + multihash.toString('base64url') }
}

// ---------------------------------------------------------------------------------------------
// The measured runs

interface Result {
  mode: LoadMode
  n: number
  connected: number
  connectMs: number
  frames: number
  deliveries: number
  expected: number
  deliveriesPerS: number
  p50: number
  p99: number
  max: number
  /** From the median of the window's RSS readings (sampleTreeRss). */
  rssPerObserver: number
  /** From the last reading alone, as runs before the median were measured. */
  rssEndPerObserver: number
  rssSamples: number
  rssBefore: number
  rssAfter: number
  serverCpu: number
  serverUsPerDelivery: number
  /** Of serverUsPerDelivery, the part spent in the kernel (socket writes and reads). */
  serverSystemUsPerDelivery: number
  /** Server CPU with the N observers connected and no frames (cores). */
  serverIdleCpu: number
  loadCpu: number
  /** CPU used during the window by processes other than the server, the load and this one (cores). */
  otherCpu: number
  /** The authority's own part of the latency: change() call to durable, p50. */
  durableP50: number
  behind: number
  resyncs: number
}

interface Server {
  pid: number
  /** Where observers connect: multiaddrs, or the URL. */
  addrs: string[]
  stop (): Promise<void>
}

/** How many load processes drive N observers of a mode (the libp2p ones are the costly clients). */
function loadProcesses (mode: LoadMode, n: number): number {
  if (mode === 'ws' || mode === 'wss') return 1
  return Math.max(1, Math.min(LOAD_PROCS_MAX, Math.ceil(n / OBSERVERS_PER_LOAD)))
}

interface LoadReport {
  deliveries: number
  expected: number
  live: number
  behind: number
  p50: number
  p99: number
  max: number
  lastAt: number
  resets: number
}

/**
 * N observers split over one or more load processes (bench/parts/fanout-observers.ts), each observer
 * still its own libp2p node, peer id and connection: the server sees the same N browsers, and the
 * clients' work is spread over more than one event loop (and, when the server leaves room, core).
 */
class LoadFleet {
  readonly children: Child[]

  constructor (config: LoadConfig, processes: number) {
    const base = Math.floor(config.n / processes)
    this.children = Array.from({ length: processes }, (_, i) => {
      const n = base + (i < config.n % processes ? 1 : 0)
      // the dials in flight stay config.concurrency in all: the server sees the same connect storm
      const concurrency = Math.max(1, Math.round(config.concurrency / processes))
      return new Child(NODE_FLAGS, [LOAD, JSON.stringify({ ...config, n, concurrency, samples: processes > 1 })])
    })
  }

  get size (): number { return this.children.length }
  get pids (): number[] { return this.children.map(child => child.pid) }

  async connected (what: string, timeoutMs: number, progress: (live: number) => void): Promise<{ connected: number, failed: number, ms: number, errors: string[] }> {
    const live = this.children.map(() => 0)
    this.children.forEach((child, i) => {
      child.onProgress = (p) => { live[i] = p.live as number; if (i === 0) progress(live.reduce((a, b) => a + b, 0)) }
    })
    const answers = await Promise.all(this.children.map(async child => await child.next(what, timeoutMs)))
    for (const child of this.children) child.onProgress = undefined
    return {
      connected: answers.reduce((sum, a) => sum + (a.connected as number), 0),
      failed: answers.reduce((sum, a) => sum + (a.failed as number), 0),
      ms: Math.max(...answers.map(a => a.ms as number)),
      errors: [...new Set(answers.flatMap(a => a.errors as string[]))].slice(0, 3)
    }
  }

  /** Deliveries of seqs from..to are recorded from now on. */
  async window (from: number, to: number): Promise<void> {
    for (const child of this.children) child.send({ cmd: 'window', from, to })
    await Promise.all(this.children.map(async child => await child.next('window ack', 10_000)))
  }

  /** Waits (at most waitMs) until every live observer holds `to`; percentiles over all processes. */
  async report (from: number, to: number, waitMs: number): Promise<LoadReport> {
    for (const child of this.children) child.send({ cmd: 'report', from, to, waitMs })
    const reports = (await Promise.all(this.children.map(async child => await child.next('report', waitMs + 15_000)))).map(r => r.report)
    if (reports.length === 1) return reports[0] as LoadReport
    const sum = (key: string): number => reports.reduce((total, r) => total + (r[key] as number), 0)
    const sorted = Float64Array.from(reports.flatMap(r => r.latencies as number[])).sort()
    return {
      deliveries: sum('deliveries'),
      expected: sum('expected'),
      live: sum('live'),
      behind: sum('behind'),
      resets: sum('resets'),
      p50: percentile(sorted, 50),
      p99: percentile(sorted, 99),
      max: sorted.length === 0 ? Number.NaN : sorted[sorted.length - 1],
      lastAt: Math.max(...reports.map(r => r.lastAt as number))
    }
  }

  async stop (): Promise<void> {
    await Promise.all(this.children.map(async child => {
      child.send({ cmd: 'exit' })
      await Promise.race([child.exited, sleep(15_000)])
      await child.stop()
    }))
  }
}

class Bench {
  readonly dir: string
  readonly authority: Authority
  readonly authorityNode: AuthorityNode
  readonly tls: { key: string, cert: string }
  private n = 0

  constructor (dir: string, authority: Authority, authorityNode: AuthorityNode, tls: { key: string, cert: string }) {
    this.dir = dir
    this.authority = authority
    this.authorityNode = authorityNode
    this.tls = tls
  }

  /** A change; a rejected promise, not a throw, once the authority is closed (an interrupted run). */
  async change (): Promise<{ seq: number }> {
    return await this.authority.change({ t: now(), n: this.n++ })
  }

  /** Changes at RATE per second for `seconds`, each in its own frame; resolves when all are durable, with each change's call-to-durable time. */
  async paced (seconds: number): Promise<number[]> {
    const total = Math.round(RATE * seconds)
    const started = now()
    const acks: Array<Promise<number>> = []
    for (let i = 0; i < total; i++) {
      const due = started + i * 1000 / RATE
      const wait = due - now()
      if (wait > 0) await sleep(wait)
      const calledAt = now()
      acks.push(this.change().then(() => now() - calledAt))
    }
    return await Promise.all(acks)
  }

  async startSuperPeer (name: string): Promise<Server> {
    const peer = new Child(NODE_FLAGS, [CLI, 'super-peer', '--data-dir', join(this.dir, name),
      '--listen', '/ip4/127.0.0.1/tcp/0',
      '--observe-listen', '/ip4/127.0.0.1/udp/0/webrtc-direct', '--observe-listen', '/ip4/127.0.0.1/tcp/0/ws',
      '--max-observers', '100000', '--max-connections', '100000',
      // every observer comes from 127.0.0.1: the per-address limits would refuse all but 64
      '--observe-max-connections-per-address', '100000', '--observe-new-connections-per-address', '100000',
      ...this.authorityNode.node.getMultiaddrs().flatMap(addr => ['--bootstrap', addr.toString()]),
      '--doc', this.authority.docId, '--admin', '127.0.0.1:0', ...SUPER_PEER_ARGS])
    const ready = await peer.next('super-peer ready', 30_000)
    const status = async (): Promise<{ docs: Record<string, { seq: number }> }> => await (await fetch(`${ready.admin as string}/status`)).json()
    // warm: frames reach the super-peer by gossip (not the periodic catch-up) 3 times in a row
    let fast = 0
    await waitFor('the super-peer to receive frames by gossip', async () => {
      const { seq } = await this.change()
      const deadline = Date.now() + 250
      while (Date.now() < deadline && (await status()).docs[this.authority.docId].seq < seq) await sleep(10)
      fast = (await status()).docs[this.authority.docId].seq >= seq ? fast + 1 : 0
      return fast >= 3 ? true : undefined
    }, { timeoutMs: 30_000, intervalMs: 20 })
    return { pid: peer.pid, addrs: ready.observe.addrs as string[], stop: async () => { await peer.stop() } }
  }

  async startWsServer (tls: boolean): Promise<Server> {
    const server = new Child(NODE_FLAGS, [WS_SERVER, JSON.stringify(tls ? { tls: this.tls } : {})])
    const { port } = await server.next('ws server ready', 15_000)
    const url = `${tls ? 'wss' : 'ws'}://127.0.0.1:${port as number}`
    const publisher = new WebSocket(`${url}/publish`, { rejectUnauthorized: false, perMessageDeflate: false })
    await new Promise<void>((resolve, reject) => { publisher.once('open', resolve); publisher.once('error', reject) })
    // the relay: each durable frame's observer message, as the super-peer composes it
    const relay = (frame: Frame): void => {
      const data: JsonObject = {}
      for (const change of frame.changes) mergeInto(data, change)
      if (publisher.readyState === 1) publisher.send(encodeMessage(frameMessage(frame.seq, data)))
    }
    this.authority.on('frame', relay)
    await this.change() // the server's document is no longer empty
    return {
      pid: server.pid,
      addrs: [url],
      stop: async () => {
        this.authority.off('frame', relay)
        publisher.terminate()
        await server.stop()
      }
    }
  }

  async run (mode: LoadMode, n: number): Promise<Result> {
    let server: Server | undefined
    let load: LoadFleet | undefined
    try {
      server = mode === 'ws' || mode === 'wss' ? await this.startWsServer(mode === 'wss') : await this.startSuperPeer(`sp-${mode}-${n}`)
      const want = { 'webrtc-direct': '/webrtc-direct/', websockets: '/ws/', ws: 'ws:', wss: 'wss:' }[mode]
      const addr = server.addrs.find(a => a.includes(want))
      if (addr === undefined) throw new Error(`no ${mode} address among ${server.addrs.join(' ')}`)
      await sleep(1000)
      const rssBefore = await treeRssBytes(server.pid)

      const config: LoadConfig = {
        mode, addr, addrs: server.addrs.filter(a => a.includes(want)), docId: this.authority.docId, n, concurrency: CONCURRENCY, connectTimeoutMs: CONNECT_S * 1000,
        certificate: mode === 'webrtc-direct' ? transportCertificate(this.tls) : undefined,
        livenessIntervalMs: LIVENESS_MS,
        heartbeatTimeoutMs: LOAD_HEARTBEAT_TIMEOUT_MS
      }
      load = new LoadFleet(config, loadProcesses(mode, n))
      const connected = await load.connected(`${mode}: connecting ${n} observers`, CONNECT_S * 1000 + 60_000,
        live => { note(`${mode} N=${n}: ${live.toLocaleString('en-US')} of ${n.toLocaleString('en-US')} connected`) })
      note(`${mode} N=${n}: ${connected.connected} connected, ${connected.failed} failed in ${connected.ms} ms over ${load.size} load process${load.size === 1 ? '' : 'es'}${connected.errors.length > 0 ? ` (${connected.errors.join('; ')})` : ''}`)
      if (connected.connected === 0) throw new Error(`${mode}: no observer connected`)

      // what N idle observers cost (keep-alive pings), before any frame flows
      await sleep(2000)
      const idle0 = await cpuSeconds(server.pid)
      await sleep(IDLE_S * 1000)
      const serverIdleCpu = (await cpuSeconds(server.pid) - idle0) / IDLE_S

      await this.paced(WARMUP_S)
      const from = this.authority.head.seq + 1
      await load.window(from, Number.MAX_SAFE_INTEGER)
      // the server with its edge workers; this process and the load processes each alone (the
      // bench process is the parent of all the others)
      const pids = [server.pid, process.pid, ...load.pids]
      const cpuOf = (pid: number, i: number): Promise<number> => i === 0 ? cpuSeconds(pid) : ownCpuSeconds(pid)
      // and the server's kernel part (socket writes: the work plain ws does as well)
      const [cpu0, { system: system0 }] = await Promise.all([Promise.all([...pids.map(cpuOf), machineCpuSeconds()]), treeCpuSplit(server.pid)])
      const started = now()
      const rss = sampleTreeRss(server.pid, RSS_SAMPLE_MS)
      const durable = (await this.paced(SECONDS)).sort((a, b) => a - b)
      const sentFor = (now() - started) / 1000
      const to = this.authority.head.seq
      const [cpu1, { median: rssAfter, last: rssEnd, samples: rssSamples }] = await Promise.all([Promise.all([...pids.map(cpuOf), machineCpuSeconds()]), rss.stop()])
      const used = cpu1.map((c, i) => (c - cpu0[i]) / sentFor)
      const [serverCpu, benchCpu] = used
      const machineCpu = used[used.length - 1]
      const loadCpu = used.slice(2, -1).reduce((a, b) => a + b, 0)
      const report = await load.report(from, to, 15_000)
      const serverThroughReport = await treeCpuSplit(server.pid)
      const serverCpuThroughReport = serverThroughReport.user + serverThroughReport.system - cpu0[0]
      const serverSystemThroughReport = serverThroughReport.system - system0
      const span = (report.lastAt - started) / 1000
      return {
        mode,
        n,
        connected: connected.connected,
        connectMs: connected.ms,
        frames: to - from + 1,
        deliveries: report.deliveries,
        expected: report.expected,
        deliveriesPerS: report.deliveries / Math.max(span, sentFor),
        p50: report.p50,
        p99: report.p99,
        max: report.max,
        rssPerObserver: (rssAfter - rssBefore) / connected.connected,
        rssEndPerObserver: (rssEnd - rssBefore) / connected.connected,
        rssSamples,
        rssBefore,
        rssAfter,
        serverCpu,
        serverIdleCpu,
        serverUsPerDelivery: serverCpuThroughReport * 1e6 / report.deliveries,
        serverSystemUsPerDelivery: serverSystemThroughReport * 1e6 / report.deliveries,
        loadCpu,
        otherCpu: Math.max(0, machineCpu - serverCpu - loadCpu - benchCpu),
        durableP50: durable[Math.floor(durable.length / 2)],
        behind: report.behind,
        resyncs: report.resets - connected.connected
      }
    } finally {
      await load?.stop()
      await server?.stop()
    }
  }
}

// ---------------------------------------------------------------------------------------------

async function machine (): Promise<string[]> {
  return await machineBase({ loadRemark: '1/5/15 min averages at start; other work on the machine skews every figure' })
}

const LABEL: Record<LoadMode, string> = {
  'webrtc-direct': 'deltacast WebRTC-Direct',
  websockets: 'deltacast WebSockets',
  ws: 'plain ws',
  wss: 'ws over TLS (wss)'
}

function table (results: Result[]): void {
  out('| transport | N | deliveries/s | delivered | p50 | p99 | max | server RSS / observer (median · end) | server CPU idle | server CPU | server CPU µs / delivery | of it kernel | load CPU | other CPU |')
  out('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|')
  for (const r of results) {
    const delivered = r.deliveries === r.expected ? '100%' : `${fmt(100 * r.deliveries / r.expected, 1)}%`
    const pct = (cores: number): string => `${fmt(cores * 100)}%`
    out(`| ${LABEL[r.mode]} | ${fmt(r.connected)}${r.connected < r.n ? ` of ${fmt(r.n)}` : ''} | ${fmt(r.deliveriesPerS)} | ${delivered}${r.resyncs > 0 ? ` (${fmt(r.resyncs)} resyncs)` : ''} | ${ms(r.p50)} | ${ms(r.p99)} | ${ms(r.max)} | ${kib(r.rssPerObserver)} · ${kib(r.rssEndPerObserver)} | ${pct(r.serverIdleCpu)} | ${pct(r.serverCpu)} | ${fmt(r.serverUsPerDelivery, 1)} | ${fmt(r.serverSystemUsPerDelivery, 1)} | ${pct(r.loadCpu)} | ${pct(r.otherCpu)} |`)
  }
  const durable = results.map(r => r.durableP50).sort((a, b) => a - b)
  out()
  out(`Latency is change() call -> observer; the authority's own part (call -> durable: sign + fsync) has p50 ${ms(durable[0])} to ${ms(durable[durable.length - 1])} across runs. ` +
    'CPU is in cores (100% = one core) over the measured window; "idle" is the server with the N observers connected and no frames for ' +
    `${IDLE_S} s (keep-alive pings); µs / delivery is all server CPU from the window's start until the last delivery (keep-alive included) ` +
    'divided by the deliveries, and "of it kernel" its system time (socket writes and reads: the part plain ws pays too); "other" is CPU used by anything else on the machine meanwhile.')
  out()
  const ratio = (a: number, b: number): string => Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? `${fmt(a / b, 2)}×` : '–'
  const baselines = results.filter(r => r.mode === 'ws' || r.mode === 'wss')
  const ours = results.filter(r => r.mode === 'webrtc-direct' || r.mode === 'websockets')
  if (baselines.length === 0 || ours.length === 0) return
  out('Ratios (deltacast ÷ baseline at the same N; deliveries/s above 1 is better, the rest below 1 is better):')
  out()
  out('| transport | N | vs | deliveries/s | p50 | p99 | RSS / observer | server CPU / delivery |')
  out('|---|---:|---|---:|---:|---:|---:|---:|')
  for (const r of ours) {
    for (const b of baselines.filter(b => b.n === r.n)) {
      out(`| ${LABEL[r.mode]} | ${fmt(r.n)} | ${b.mode} | ${ratio(r.deliveriesPerS, b.deliveriesPerS)} | ${ratio(r.p50, b.p50)} | ${ratio(r.p99, b.p99)} | ${ratio(r.rssPerObserver, b.rssPerObserver)} | ${ratio(r.serverUsPerDelivery, b.serverUsPerDelivery)} |`)
    }
  }
  out()
}

async function main (): Promise<void> {
  out('# bench:fanout')
  out()
  for (const line of await machine()) out(line)
  out()

  const dir = await mkdtemp(join(tmpdir(), 'deltacast-bench-fanout-'))
  let authority: Authority | undefined
  let authorityNode: AuthorityNode | undefined
  let cleaned: Promise<void> | undefined
  const cleanup = async (): Promise<void> => {
    cleaned ??= (async () => {
      await Promise.allSettled([...children].map(async child => { await child.stop() }))
      await authorityNode?.stop().catch(() => {})
      await authority?.close().catch(() => {})
      await rm(dir, { recursive: true, force: true })
    })()
    await cleaned
  }
  let interrupted = false
  const onSignal = (): void => {
    if (interrupted) process.exit(130)
    interrupted = true
    note('interrupted; cleaning up')
    void cleanup().finally(() => process.exit(130))
  }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)

  try {
    const bundle = await buildBrowser({ outfile: join(dir, 'deltacast-browser.js') })
    out(`browser bundle (scripts/build-browser.ts: esbuild, minified, ES2022): ${kib(bundle.bytes)} minified, ${kib(bundle.gzipBytes)} gzipped`)
    out()

    const log = createLogger('bench-authority', 'warn')
    authority = await Authority.open({ dir: join(dir, 'authority'), name: 'bench', log })
    authorityNode = await startAuthorityNode(authority, { peerKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'] }, log)
    const tls = await selfSignedCert(dir)
    const bench = new Bench(dir, authority, authorityNode, tls)

    out(`workload: one document; the authority (in this process) makes ${RATE} changes/s, one frame each, change = {t: <ms>, n}; ` +
      `${WARMUP_S} s warm-up then ${SECONDS} s measured per run; a fresh server and load process per run; all on 127.0.0.1`)
    out()
    const results: Result[] = []
    const attempt = async (mode: LoadMode, n: number): Promise<Result | undefined> => {
      note(`${mode} N=${n}: starting`)
      try {
        const result = await bench.run(mode, n)
        results.push(result)
        note(`${mode} N=${n}: ${fmt(result.deliveriesPerS)} deliveries/s, p50 ${ms(result.p50)}, p99 ${ms(result.p99)}, ${kib(result.rssPerObserver)}/observer (median of ${result.rssSamples} readings; ${kib(result.rssEndPerObserver)} at the end), server CPU ${fmt(result.serverCpu * 100)}%${keepsUp(result) ? '' : ` — does not keep up: ${whyBehind(result)}`}`)
        return result
      } catch (err) {
        note(`${mode} N=${n} failed: ${(err as Error).message}`)
        out(`${LABEL[mode]} N=${n}: failed: ${(err as Error).message.split('\n')[0]}`)
        return undefined
      }
    }
    for (const n of NS) for (const mode of MODES) await attempt(mode, n)
    const saturation = new Map<LoadMode, Saturation>()
    if (SATURATE) {
      for (const mode of MODES) {
        let found: Saturation = { maxN: null, capped: true }
        for (const n of LADDER) {
          const result = results.find(r => r.mode === mode && r.n === n) ?? await attempt(mode, n)
          if (result === undefined || !keepsUp(result)) { found = { maxN: found.maxN, capped: false, failedAt: n }; break }
          found = { maxN: n, capped: true }
        }
        saturation.set(mode, found)
      }
    }
    const memory: Result[] = []
    if (MEMORY_N !== undefined) {
      for (const mode of ['websockets', 'ws'] as const) {
        const result = await attempt(mode, MEMORY_N)
        if (result !== undefined) memory.push(result)
      }
    }
    out()
    table(results)
    if (results.every(r => r.deliveries === 0)) throw new Error('nothing was delivered')
    goals(results, saturation, memory)
    out('RESULT ' + JSON.stringify(headline(results, saturation)))
  } catch (err) {
    // an interrupted run fails wherever it was (its processes are being stopped): not news
    if (!interrupted) throw err
  } finally {
    await cleanup()
  }
}

/** The largest N a mode kept up with, from the saturation ladder. */
interface Saturation {
  maxN: number | null
  /** The largest N tried kept up too (the real limit is higher). */
  capped: boolean
  failedAt?: number
}

/** Every observer connected and every frame delivered (latency aside). */
function complete (r: Result): boolean {
  return r.connected === r.n && r.deliveries >= r.expected
}

/**
 * The N the ratios against plain ws are taken at: the largest at which both `mode` and plain ws
 * kept up, else the largest at which both ran complete. A run where the load process could not
 * connect or feed every observer would compare different work; and a super-peer that falls
 * behind coalesces each observer's queued frames into one write, so a saturated run's cost per
 * delivery flatters it against a ws server that keeps up.
 */
function largestComplete (results: Result[], mode: LoadMode): number | undefined {
  const shared = (ok: (r: Result) => boolean): number[] => results.filter(r => r.mode === mode && ok(r) && results.some(b => b.mode === 'ws' && b.n === r.n && ok(b))).map(r => r.n)
  const ns = shared(keepsUp).length > 0 ? shared(keepsUp) : shared(complete)
  return ns.length === 0 ? undefined : Math.max(...ns)
}

/** Every observer connected and got every frame, none left behind, p99 within MAX_P99_MS. */
function keepsUp (r: Result): boolean {
  return complete(r) && r.behind === 0 && r.p99 <= MAX_P99_MS
}

function whyBehind (r: Result): string {
  const reasons: string[] = []
  if (r.connected < r.n) reasons.push(`${fmt(r.n - r.connected)} of ${fmt(r.n)} did not connect`)
  if (r.deliveries < r.expected) reasons.push(`${fmt(100 * r.deliveries / r.expected, 1)}% delivered`)
  if (r.behind > 0) reasons.push(`${fmt(r.behind)} behind`)
  if (r.p99 > MAX_P99_MS) reasons.push(`p99 ${ms(r.p99)} > ${MAX_P99_MS} ms`)
  return reasons.join(', ')
}

/**
 * Server memory per additional observer between the smallest and the largest complete run of a
 * mode: what one more observer costs, without the process's fixed growth under load (V8's young
 * generation grows to its maximum once the process allocates fast, tens of MiB that the plain
 * per-observer figure spreads over N). Undefined without two complete runs.
 */
function marginalRss (results: Result[], mode: LoadMode): { from: number, to: number, bytes: number } | undefined {
  const runs = results.filter(r => r.mode === mode && complete(r)).sort((a, b) => a.n - b.n)
  if (runs.length < 2) return undefined
  const [low, high] = [runs[0], runs[runs.length - 1]]
  const grown = (r: Result): number => r.rssAfter - r.rssBefore
  return { from: low.n, to: high.n, bytes: (grown(high) - grown(low)) / (high.n - low.n) }
}

/** Issue 10's goals, each beside the plain ws figure of the same run. */
function goals (results: Result[], saturation: Map<LoadMode, Saturation>, memory: Result[]): void {
  const at = (mode: LoadMode, n: number, from = results): Result | undefined => from.find(r => r.mode === mode && r.n === n && r.deliveries > 0)
  const shared = (mode: LoadMode): number | undefined => largestComplete(results, mode)
  const verdict = (ok: boolean | undefined): string => ok === undefined ? '' : ok ? ' — met' : ' — NOT met'
  const ratioLine = (label: string, mode: LoadMode, figure: (r: Result) => number, unit: (v: number) => string, target: number): void => {
    const n = shared(mode)
    const a = n === undefined ? undefined : at(mode, n)
    const b = n === undefined ? undefined : at('ws', n)
    if (a === undefined || b === undefined) { out(`- ${label}: not measured (needs ${mode} and ws at the same N)`); return }
    const ratio = figure(a) / figure(b)
    out(`- ${label} (N=${fmt(n!)}): ${unit(figure(a))} vs plain ws ${unit(figure(b))} = ${fmt(ratio, 2)}× (goal ≤ ${target}×)${verdict(ratio <= target)}`)
  }
  const us = (v: number): string => `${fmt(v, 1)} µs`
  out('Goals (issue 10), each beside plain ws in this run:')
  out()
  ratioLine('WebSockets server CPU per delivery', 'websockets', r => r.serverUsPerDelivery, us, 2)
  ratioLine('WebSockets server memory per observer', 'websockets', r => r.rssPerObserver, kib, 3)
  ratioLine('WebRTC-Direct server CPU per delivery', 'webrtc-direct', r => r.serverUsPerDelivery, us, 3)
  const webrtcN = shared('webrtc-direct')
  const webrtc = webrtcN === undefined ? undefined : at('webrtc-direct', webrtcN)
  if (webrtc !== undefined) out(`- WebRTC-Direct memory per observer (N=${fmt(webrtc.n)}): ${kib(webrtc.rssPerObserver)} vs plain ws ${kib(at('ws', webrtc.n)!.rssPerObserver)} (goal ≤ 128 KiB)${verdict(webrtc.rssPerObserver <= 128 * 1024)}`)
  const idle = at('webrtc-direct', 1000)
  out(idle === undefined
    ? '- WebRTC-Direct idle keep-alive CPU with 1,000 observers: not measured (no WebRTC-Direct run at N=1000)'
    : `- WebRTC-Direct idle keep-alive CPU with 1,000 observers: ${fmt(idle.serverIdleCpu * 100, 1)}% of a core vs plain ws ${at('ws', 1000) === undefined ? '–' : `${fmt(at('ws', 1000)!.serverIdleCpu * 100, 1)}%`} (goal ≤ 5%)${verdict(idle.serverIdleCpu <= 0.05)}`)
  const n1000 = at('websockets', 1000)
  const ws1000 = at('ws', 1000)
  out(n1000 === undefined
    ? '- N=1,000 WebSockets latency: not measured'
    : `- N=1,000 WebSockets at ${RATE} frames/s: p50 ${ms(n1000.p50)}, p99 ${ms(n1000.p99)} vs plain ws p50 ${ms(ws1000?.p50 ?? NaN)}, p99 ${ms(ws1000?.p99 ?? NaN)} (goal p50 ≤ 20 ms, p99 ≤ 100 ms)${verdict(n1000.p50 <= 20 && n1000.p99 <= 100)}`)
  const rtc1000 = at('webrtc-direct', 1000)
  if (rtc1000 !== undefined) out(`- N=1,000 WebRTC-Direct at ${RATE} frames/s: p50 ${ms(rtc1000.p50)}, p99 ${ms(rtc1000.p99)}`)
  if (saturation.size > 0) {
    const describe = (mode: LoadMode): string => {
      const s = saturation.get(mode)
      if (s === undefined) return 'not run'
      return s.maxN === null ? `none kept up (from N=${fmt(s.failedAt ?? NaN)})` : `${s.capped ? '≥ ' : ''}${fmt(s.maxN)}${s.failedAt !== undefined ? ` (N=${fmt(s.failedAt)} did not)` : ''}`
    }
    out(`- Largest N that keeps up (p99 ≤ ${MAX_P99_MS} ms, all delivered): ${MODES.map(mode => `${LABEL[mode]} ${describe(mode)}`).join('; ')}`)
  } else {
    out('- Largest N that keeps up: run with BENCH_FANOUT_SATURATE=1')
  }
  for (const r of memory) {
    const base = memory.find(b => b.mode === 'ws')
    out(`- Memory at N=${fmt(r.n)} (${LABEL[r.mode]}): ${fmt(r.connected)} connected, ${kib(r.rssPerObserver)} per observer${r.mode !== 'ws' && base !== undefined ? ` vs plain ws ${kib(base.rssPerObserver)} = ${fmt(r.rssPerObserver / base.rssPerObserver, 2)}×` : ''}`)
  }
  for (const mode of ['websockets', 'webrtc-direct', 'ws'] as const) {
    const m = marginalRss(results, mode)
    if (m === undefined) continue
    const base = mode === 'ws' ? undefined : marginalRss(results, 'ws')
    out(`- Marginal memory per observer, ${LABEL[mode]} (N=${fmt(m.from)} → ${fmt(m.to)}): ${kib(m.bytes)}${base !== undefined && base.bytes > 0 ? ` vs plain ws ${kib(base.bytes)} (N=${fmt(base.from)} → ${fmt(base.to)}) = ${fmt(m.bytes / base.bytes, 2)}×` : ''}`)
  }
  out('- Every core and failover: not measured here (see docs/benchmarks.md and test/browser/real-network.test.ts)')
  out()
}

/**
 * The headline figures under issue 10's keys, each ratio against plain ws at the same N in the
 * same run (the largest N both ran); max_n_* come from the saturation ladder (null without it).
 */
function headline (results: Result[], saturation: Map<LoadMode, Saturation>): Record<string, number | null> {
  const at = (mode: LoadMode, n: number): Result | undefined => results.find(r => r.mode === mode && r.n === n && r.deliveries > 0)
  const largestShared = (mode: LoadMode): number | undefined => largestComplete(results, mode)
  const ratio = (mode: LoadMode, figure: (r: Result) => number): number | null => {
    const n = largestShared(mode)
    const a = n === undefined || !Number.isFinite(n) ? undefined : at(mode, n)
    const b = n === undefined || !Number.isFinite(n) ? undefined : at('ws', n)
    return a === undefined || b === undefined ? null : Math.round(figure(a) / figure(b) * 100) / 100
  }
  const webrtcN = largestComplete(results, 'webrtc-direct')
  const webrtc = webrtcN === undefined ? undefined : at('webrtc-direct', webrtcN)
  const n1000 = at('websockets', 1000)
  const webrtc1000 = at('webrtc-direct', 1000)
  const marginal = (mode: LoadMode): number | undefined => marginalRss(results, mode)?.bytes
  const wsMarginal = marginal('ws')
  const websocketsMarginal = marginal('websockets')
  const webrtcMarginal = marginal('webrtc-direct')
  return {
    websockets_cpu_ratio: ratio('websockets', r => r.serverUsPerDelivery),
    websockets_rss_ratio: ratio('websockets', r => r.rssPerObserver),
    webrtc_cpu_ratio: ratio('webrtc-direct', r => r.serverUsPerDelivery),
    webrtc_rss_kib_per_observer: webrtc === undefined ? null : Math.round(webrtc.rssPerObserver / 1024),
    webrtc_idle_cpu_1000: webrtc1000 === undefined ? null : Math.round(webrtc1000.serverIdleCpu * 1000) / 1000,
    n1000_websockets_p50_ms: n1000 === undefined ? null : Math.round(n1000.p50 * 10) / 10,
    n1000_websockets_p99_ms: n1000 === undefined ? null : Math.round(n1000.p99 * 10) / 10,
    max_n_websockets: saturation.get('websockets')?.maxN ?? null,
    max_n_webrtc: saturation.get('webrtc-direct')?.maxN ?? null,
    max_n_ws: saturation.get('ws')?.maxN ?? null,
    // beyond the issue's keys: memory per additional observer (marginalRss), where two N ran
    websockets_rss_marginal_ratio: websocketsMarginal === undefined || wsMarginal === undefined || wsMarginal <= 0 ? null : Math.round(websocketsMarginal / wsMarginal * 100) / 100,
    webrtc_rss_marginal_kib_per_observer: webrtcMarginal === undefined ? null : Math.round(webrtcMarginal / 1024)
  }
}

await main()
