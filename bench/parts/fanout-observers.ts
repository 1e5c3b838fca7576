/**
 * bench:fanout load process: N observers of one document, each on its own connection, the way N
 * browsers would be. Started by bench/fanout.ts; not meant to be run by hand.
 *
 * argv[2] is a JSON LoadConfig. Modes:
 *   webrtc-direct, websockets  each observer is the browser library's observe() with its own
 *                              libp2p node (own peer id, own connection, noise + yamux);
 *   ws, wss                    each observer is a plain `ws` client of the baseline broadcast
 *                              server (bench/parts/fanout-ws-server.ts), reading the same message bytes.
 * Every observer feeds messages through the same ObservedState a browser keeps.
 *
 * Talks JSON lines: stdout {connected, failed, ms} once all N dials settled; then, on stdin,
 * {"cmd":"report","from":a,"to":b,"waitMs":w} waits (at most w ms) until every live observer
 * holds seq b and answers with the latency of every delivery of seqs a..b (receive time minus the
 * frame's `t`, the authority's change() call time); {"cmd":"exit"} closes everything and exits.
 */
import { createInterface } from 'node:readline'
import { createRequire } from 'node:module'
import { webRTCDirect } from '@libp2p/webrtc'
import { webSockets } from '@libp2p/websockets'
import { noise } from '@libp2p/noise'
import { yamux } from '@libp2p/yamux'
import { identify } from '@libp2p/identify'
import { createLibp2p } from 'libp2p'
import { observe } from '../../browser/observe.ts'
import { ObservedState } from '../../src/observe/observed-state.ts'
import { parseServerMessage } from '../../src/observe/protocol.ts'
import { decodeVarintPrefix } from '../../src/observe/varint.ts'
import { now, percentile } from './common.ts'
import type { LiveView, ChangeDetail, ConnectionInfo } from '../../browser/observe.ts'
import { OBSERVER_YAMUX } from '../../browser/node.ts'
import type { ObserverNode } from '../../browser/node.ts'
import type { JsonObject } from '../../src/json.ts'

export type LoadMode = 'webrtc-direct' | 'websockets' | 'ws' | 'wss'

export interface LoadConfig {
  mode: LoadMode
  /** libp2p: the super-peer's observe multiaddr (with /p2p/); ws: the ws:// or wss:// URL. */
  addr: string
  /** libp2p: every observe address of that transport (one per edge worker); each observer picks one at random. */
  addrs?: string[]
  docId: string
  n: number
  /** Dials in flight at once while connecting. */
  concurrency: number
  /** Give up connecting after this long (the observers connected by then are used). */
  connectTimeoutMs: number
  /**
   * WebRTC-Direct: one DTLS certificate (ECDSA P-256, PEM) shared by every observer's node, so the
   * load process does not build an X.509 certificate in JavaScript per observer (a browser makes
   * its own natively). The super-peer's work per connection is the same either way.
   */
  certificate?: { privateKey: string, pem: string, certhash: string }
  /** libp2p observers' connection probe interval (observe()'s livenessIntervalMs). */
  livenessIntervalMs: number
  /**
   * observe()'s heartbeatTimeoutMs. The load processes share the cores with the server: one that
   * falls behind must not take its own stall for a silent super-peer and redial (bench/fanout.ts passes 10 s;
   * unset, observe()'s default).
   */
  heartbeatTimeoutMs?: number
  /** observe()'s first reconnect delay (default 60 s: a dropped observer stays dropped for the run). */
  backoffInitialMs?: number
  /**
   * Report every latency (ms, rounded to µs) as well as the percentiles, so a bench that splits
   * its observers over several load processes can take percentiles over all of them.
   */
  samples?: boolean
}

/** Minimal surface of the `ws` package used here (it ships no types; see bench/fanout.ts). */
interface WsClient {
  on (event: 'open', cb: () => void): void
  on (event: 'message', cb: (data: Buffer) => void): void
  on (event: 'error', cb: (err: Error) => void): void
  on (event: 'close', cb: () => void): void
  terminate (): void
}
type WsClientCtor = new (url: string, options: { rejectUnauthorized: boolean, perMessageDeflate: boolean }) => WsClient
const WebSocket = createRequire(import.meta.url)('ws') as WsClientCtor

const config = JSON.parse(process.argv[2]) as LoadConfig

// A failed redial inside libp2p's dial queue can surface as an unhandled rejection (seen with
// WebSockets under bench:hostile): counted and reported instead of ending every observer at once.
let unhandled = 0
process.on('unhandledRejection', (err: Error) => {
  if (unhandled++ === 0) process.stderr.write(`unhandled rejection in the load process: ${err?.stack ?? String(err)}\n`)
})
/** How often a connecting load process reports how many of its observers are live. */
const PROGRESS_MS = 5_000
const out = (value: unknown): void => { process.stdout.write(JSON.stringify(value) + '\n') }

/** One observer's receive side, the same for every mode. */
class Observer {
  /** Highest seq integrated. */
  seq = -1
  live = false
  /** Times it went from live to not live. */
  drops = 0
  error?: string
}

let latencies = new Float64Array(1 << 20)
let count = 0
let lastAt = 0
let window = { from: Number.POSITIVE_INFINITY, to: -1 }
let liveAtStart = 0
let resets = 0
let gaps = 0
const observers: Observer[] = []
const closers: Array<() => Promise<void> | void> = []

function record (observer: Observer, seq: number, data: JsonObject | null, receivedAt: number): void {
  observer.seq = seq
  if (seq < window.from || seq > window.to) return
  const t = data?.t
  if (typeof t !== 'number') return
  if (count === latencies.length) {
    const bigger = new Float64Array(latencies.length * 2)
    bigger.set(latencies)
    latencies = bigger
  }
  latencies[count++] = receivedAt - t
  if (receivedAt > lastAt) lastAt = receivedAt
}

// ---- libp2p observers (the browser library)

async function libp2pObserver (transport: 'webrtc-direct' | 'websockets'): Promise<Observer> {
  const observer = new Observer()
  // browser/node.ts createObserverNode, except no public STUN servers: the load runs offline and a
  // browser dialing WebRTC-Direct on loopback gets nothing from them either
  const node: ObserverNode = await createLibp2p({
    transports: [transport === 'webrtc-direct' ? webRTCDirect({ rtcConfiguration: { iceServers: [] }, certificate: config.certificate }) : webSockets()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux(OBSERVER_YAMUX)],
    services: { identify: identify() },
    connectionGater: { denyDialMultiaddr: () => false },
    connectionMonitor: { pingInterval: config.livenessIntervalMs, pingTimeout: { minTimeout: 5_000 } }
  })
  const view: LiveView = observe(config.docId, { bootstrap: config.addrs ?? [config.addr], transports: [transport], allowPrivateAddresses: true, node, heartbeatTimeoutMs: config.heartbeatTimeoutMs, backoff: { initialMs: config.backoffInitialMs ?? 60_000 } })
  closers.push(async () => {
    await view.close()
    await node.stop()
  })
  await new Promise<void>((resolve) => {
    view.addEventListener('change', (event) => {
      const { seq, data, reset } = (event as CustomEvent<ChangeDetail>).detail
      const at = now()
      if (reset) {
        resets++
        observer.seq = seq
        if (!observer.live) { observer.live = true; resolve() }
        return
      }
      record(observer, seq, data, at)
    })
    view.addEventListener('state', (event) => {
      const info = (event as CustomEvent<ConnectionInfo>).detail
      if (info.state === 'reconnecting' || info.state === 'closed') {
        if (info.error?.message?.startsWith('gap') === true) gaps++
        observer.error ??= `${info.state}: ${info.error?.code ?? ''} ${info.error?.message ?? ''}`
        if (observer.live) { observer.live = false; observer.drops++ }
        resolve()
      } else if (info.state === 'live' && observer.seq >= 0) {
        observer.live = true // back after a reconnect (a resume may bring frames, not a reset)
      }
    })
  })
  return observer
}

// ---- ws observers (the baseline)

async function wsObserver (): Promise<Observer> {
  const observer = new Observer()
  const state = new ObservedState()
  const socket = new WebSocket(config.addr, { rejectUnauthorized: false, perMessageDeflate: false })
  closers.push(() => { socket.terminate() })
  await new Promise<void>((resolve) => {
    socket.on('message', (bytes: Buffer) => {
      const at = now()
      const prefix = decodeVarintPrefix(bytes)
      const parsed = parseServerMessage(prefix === undefined ? bytes : bytes.subarray(prefix.length))
      if (!parsed.ok || !('seq' in parsed.value)) { observer.error ??= 'bad message'; return }
      const applied = state.apply(parsed.value)
      if (applied.kind === 'reset') {
        resets++
        observer.seq = applied.seq
        if (!observer.live) { observer.live = true; resolve() }
      } else if (applied.kind === 'frame') {
        record(observer, applied.seq, applied.data, at)
      } else if (applied.kind === 'gap') {
        gaps++
      }
    })
    socket.on('error', (err: Error) => { observer.error ??= err.message; resolve() })
    socket.on('close', () => { observer.live = false; observer.error ??= 'closed'; resolve() })
  })
  return observer
}

async function connectAll (): Promise<void> {
  const started = now()
  const deadline = started + config.connectTimeoutMs
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < config.n && now() < deadline) {
      next++
      const observer = config.mode === 'ws' || config.mode === 'wss'
        ? await wsObserver()
        : await libp2pObserver(config.mode)
      observers.push(observer)
    }
  }
  // progress for the bench to print: a large N takes minutes to connect
  const ticker = setInterval(() => { out({ progress: { live: observers.filter(o => o.live).length } }) }, PROGRESS_MS)
  await Promise.all(Array.from({ length: Math.min(config.concurrency, config.n) }, worker))
  clearInterval(ticker)
  const live = observers.filter(o => o.live).length
  const errors = [...new Set(observers.filter(o => !o.live).map(o => o.error))].slice(0, 3)
  out({ connected: live, failed: observers.length - live, ms: Math.round(now() - started), errors })
}

async function report (from: number, to: number, waitMs: number): Promise<void> {
  const deadline = now() + waitMs
  while (now() < deadline && observers.some(o => o.live && o.seq < to)) await new Promise(resolve => setTimeout(resolve, 10))
  const live = observers.filter(o => o.live)
  const sorted = latencies.slice(0, count).sort()
  const pick = (p: number): number => percentile(sorted, p)
  out({
    report: {
      deliveries: count,
      expected: liveAtStart * (to - from + 1),
      live: live.length,
      dropped: liveAtStart - live.length,
      everDropped: observers.filter(o => o.drops > 0).length,
      unhandled,
      behind: live.filter(o => o.seq < to).length,
      p50: pick(50),
      p90: pick(90),
      p99: pick(99),
      max: sorted.length === 0 ? Number.NaN : sorted[sorted.length - 1],
      lastAt,
      resets,
      gaps,
      ...(config.samples === true ? { latencies: Array.from(sorted, v => Math.round(v * 1000) / 1000) } : {})
    }
  })
}

const input = createInterface({ input: process.stdin, crlfDelay: Infinity })
input.on('line', (line) => {
  const message = JSON.parse(line) as { cmd: string, from?: number, to?: number, waitMs?: number }
  if (message.cmd === 'window') {
    // deliveries of these seqs are recorded from now on
    count = 0
    lastAt = 0
    liveAtStart = observers.filter(o => o.live).length
    window = { from: message.from as number, to: message.to as number }
    out({ window: true })
  } else if (message.cmd === 'report') {
    void report(message.from as number, message.to as number, message.waitMs ?? 10_000)
  } else if (message.cmd === 'exit') {
    void shutdown()
  }
})
input.on('close', () => { void shutdown() })

let shuttingDown = false
async function shutdown (): Promise<void> {
  if (shuttingDown) return
  shuttingDown = true
  const timer = setTimeout(() => process.exit(0), 10_000)
  timer.unref()
  await Promise.allSettled(closers.map(async close => { await close() }))
  process.exit(0)
}

await connectAll()
