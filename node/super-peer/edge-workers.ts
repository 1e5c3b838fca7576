// The primary's side of the edge workers (docs/architecture.md, "An edge worker per core"): it
// forks one worker process per edge core (edge-worker.ts), admits the viewers they accept with
// the process's one ViewerAdmission (the replicas, the DocChannels and their privacy classes
// stay here, single), and passes each worker the messages for its viewers.
//
// Processes, not worker_threads: node-datachannel (WebRTC-Direct) binds its classes to the first
// JavaScript environment that loads it, and a second thread creating a data channel aborts the
// whole process ("Cannot create a handle without a HandleScope"). The IPC channel uses Node's
// "advanced" serialization (the structured clone), so bytes cross as bytes.
//
// Each viewer a worker holds is a RemoteSession here: a ViewerSession whose deliver() queues an
// op for its worker. A class's frame reaches every member in one loop, so consecutive deliveries
// of the same bytes coalesce into one op {seq, bytes, ids}: per frame a worker gets one post,
// and the bytes of each class cross once, whatever the number of viewers.

import { fork } from 'node:child_process'
import { X509Certificate } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'
import { ErrorCode, OBSERVE_PROTOCOL } from '../../src/observe/protocol.ts'
import { RateBucket } from '../../src/reduce/rate.ts'
import type { Rate } from '../../src/reduce/rate.ts'
import type { ObserveRequest } from '../../src/observe/protocol.ts'
import type { Json, JsonObject } from '../../src/json.ts'
import type { Connection, PrivateKey } from '@libp2p/interface'
import type { TransportCertificate } from '@libp2p/webrtc'
import type { EdgeLimits } from '../net/edge-node.ts'
import type { ViewerSession } from './observer-protocol.ts'
import type { ObserverLog, ObserverServerOptions, ObserverServerStats, RefusalCounter } from './observer-server.ts'
import { MAX_TIMER_MS } from './viewer-admission.ts'
import type { AdmittedViewer, ViewerAdmission } from './viewer-admission.ts'

/** What a worker is started with (its first message). */
export interface EdgeWorkerInit {
  index: number
  /** The edge key, shared by every worker (privateKeyToProtobuf). */
  privateKey: Uint8Array
  certificate: TransportCertificate
  listen: string[]
  announce: string[]
  limits: Partial<EdgeLimits>
  connectionManager: { maxConnections: number, inboundConnectionThreshold: number, maxIncomingPendingConnections: number }
  /** The observer server's settings, without relaying between browsers (not served by workers). */
  server: Omit<ObserverServerOptions, 'swarm'>
  statsIntervalMs: number
}

/** What the primary tells a worker to do for its sessions, in order. */
export type PrimaryOp =
  /** Deliver `bytes` (frame `seq`, or 0) to each session in `ids`. */
  | { o: 'd', seq: number, bytes: Uint8Array, ids: number[] }
  /** The viewer was admitted: serve its later messages. */
  | { o: 'admitted', id: number, skipThrough: number, writer: boolean }
  | { o: 'fail', id: number, code: ErrorCode, error: string }
  /** The reset a resync asked for. */
  | { o: 'reset', id: number, bytes: Uint8Array }

export type ToWorker =
  | { t: 'init', init: EdgeWorkerInit }
  | { t: 'ops', ops: PrimaryOp[] }
  /** A renewed WebRTC-Direct certificate, for connections from now on (edge-worker.ts). */
  | { t: 'certificate', certificate: TransportCertificate }
  | { t: 'stop' }

/** Observe streams and connections per transport (webrtc-direct, ws, wss). */
export type TransportCounts = Record<string, { observers: number, connections: number }>

export type WorkerStats = Omit<ObserverServerStats, 'classes'>

export type ToPrimary =
  | { t: 'ready', addrs: string[], stats: WorkerStats, transports: TransportCounts }
  | { t: 'join', id: number, peer: string, address: string, request: ObserveRequest }
  | { t: 'view', id: number, view: JsonObject }
  | { t: 'send', id: number, json: Json }
  | { t: 'reset', id: number }
  | { t: 'closed', id: number }
  | { t: 'refused', code: ErrorCode }
  | { t: 'counter', name: string }
  | { t: 'stats', stats: WorkerStats, transports: TransportCounts, status: string }
  /** The worker took a renewed certificate: its addresses (their certhash) changed. */
  | { t: 'addrs', addrs: string[] }
  | { t: 'fatal', error: string }

const isInt = (value: unknown): value is number => Number.isSafeInteger(value)
const isStringArray = (value: unknown): value is string[] => Array.isArray(value) && value.every(item => typeof item === 'string')
const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value)
/** Counters are summed into the process's totals: one that is not a count would poison them. */
const isStats = (value: unknown): value is WorkerStats => isObject(value) && Object.keys(ZERO_STATS).every(key => isInt(value[key]) && (value[key] as number) >= 0)

/**
 * Whether a message from a worker has the shape its `t` promises. A worker runs our own code, but
 * a bug there (or a version skew during an upgrade) must cost one counted message, never the
 * primary: the primary holds every replica and class of the host.
 */
export function isToPrimary (message: unknown): message is ToPrimary {
  if (!isObject(message)) return false
  const m = message
  switch (m.t) {
    case 'ready': return isStringArray(m.addrs) && isStats(m.stats) && isObject(m.transports)
    case 'join': return isInt(m.id) && typeof m.peer === 'string' && typeof m.address === 'string' && isObject(m.request) && typeof m.request.doc === 'string'
    case 'view': return isInt(m.id) && isObject(m.view)
    case 'send': return isInt(m.id) && 'json' in m
    case 'reset': case 'closed': return isInt(m.id)
    case 'refused': return typeof m.code === 'string'
    case 'counter': return typeof m.name === 'string' && /^[a-z0-9_]{1,64}$/.test(m.name)
    case 'stats': return isStats(m.stats) && isObject(m.transports) && typeof m.status === 'string'
    case 'addrs': return isStringArray(m.addrs)
    case 'fatal': return typeof m.error === 'string'
    default: return false
  }
}

/** Transport of an edge connection, for the observers{transport} gauges. */
export function transportOf (addr: string): string {
  if (addr.includes('/webrtc-direct')) return 'webrtc-direct'
  if (addr.includes('/wss') || addr.includes('/tls/ws')) return 'wss'
  if (addr.includes('/ws')) return 'ws'
  return 'other'
}

/** Observe streams and connections of an edge node, by transport. */
export function transportCounts (connections: readonly Connection[]): TransportCounts {
  const counts: TransportCounts = {}
  for (const connection of connections) {
    const entry = counts[transportOf(connection.remoteAddr.toString())] ??= { observers: 0, connections: 0 }
    entry.connections++
    entry.observers += connection.streams.filter(stream => stream.protocol === OBSERVE_PROTOCOL).length
  }
  return counts
}

/**
 * Worker `index`'s listen addresses: WebSockets on the configured port for every worker (they
 * share it with SO_REUSEPORT); WebRTC-Direct on the configured UDP port plus `index`
 * (node-datachannel's UDP mux cannot share a port), or a free one for port 0.
 */
export function workerListen (listen: readonly string[], index: number): string[] {
  return listen.map(addr => {
    if (transportOf(addr) !== 'webrtc-direct') return addr
    const port = Number(multiaddr(addr).getComponents().find(component => component.name === 'udp')?.value)
    return port > 0 ? addr.replace(`/udp/${port}/`, `/udp/${port + index}/`) : addr
  })
}

/**
 * `listen` with each port 0 replaced by the port the worker bound (read from its addresses), so
 * that a restarted worker comes back where browsers expect it and others share its WebSockets port.
 */
export function withBoundPorts (listen: readonly string[], bound: readonly string[], only?: 'tcp' | 'udp'): string[] {
  return listen.map(addr => {
    const component = multiaddr(addr).getComponents().find(c => c.name === 'tcp' || c.name === 'udp')
    if (component === undefined || component.value !== '0' || (only !== undefined && component.name !== only)) return addr
    const match = bound.find(b => transportOf(b) === transportOf(addr) && b.includes(`/${component.name}/`))
    const port = match === undefined ? undefined : multiaddr(match).getComponents().find(c => c.name === component.name)?.value
    return port === undefined ? addr : addr.replace(`/${component.name}/0`, `/${component.name}/${port}`)
  })
}

/** `auto`: one worker per core but one (the primary's), at least one. */
export function autoEdgeWorkers (cores: number): number {
  return Math.max(1, cores - 1)
}

export interface EdgeWorkersOptions {
  count: number
  privateKey: PrivateKey
  certificate: TransportCertificate
  listen: string[]
  announce: string[]
  limits: Partial<EdgeLimits>
  connectionManager: EdgeWorkerInit['connectionManager']
  server: Omit<ObserverServerOptions, 'swarm'>
  /** Counts refusals by reason (the process's Counters). */
  counters: RefusalCounter
  log: ObserverLog
  /** How often a worker reports its counters (for /status and /metrics). */
  statsIntervalMs?: number
  /** Wait before starting a worker again after it died; doubled while it keeps dying, up to 10 s. */
  restartDelayMs?: number
  /** A worker silent this long (hung, or stopped) is killed and started again. */
  silenceMs?: number
  /** Bytes of messages to one worker its IPC channel has not written (default WORKER_MAX_BACKLOG_BYTES)... */
  maxBacklogBytes?: number
  /** ...for longer than this (default WORKER_BACKLOG_GRACE_MS), and the worker is restarted. */
  backlogGraceMs?: number
  /**
   * A fresh WebRTC-Direct certificate (the edge datastore's, renewed once the current one is
   * within renewBeforeMs of its end). Absent, workers keep the certificate they started with.
   */
  renewCertificate?: () => Promise<TransportCertificate>
  /** Renew this long before the certificate ends (default EDGE_CERTIFICATE_RENEW_BEFORE_MS). */
  renewBeforeMs?: number
  /** Resets each worker may ask for at once and over time (default WORKER_RESYNC_RATE). */
  resyncRate?: Rate
  /** Starts a worker process (tests pass fakes of the child's IPC channel). */
  forkWorker?: () => WorkerProcess
}

/** What the primary uses of a worker's ChildProcess. */
export interface WorkerProcess {
  readonly pid?: number | undefined
  readonly connected: boolean
  send (message: ToWorker, callback: (err: Error | null) => void): boolean
  kill (signal: NodeJS.Signals): boolean
  on (event: 'message', listener: (message: unknown) => void): this
  on (event: 'error', listener: (err: Error) => void): this
  on (event: 'exit', listener: (code: number | null, signal: NodeJS.Signals | null) => void): this
  once (event: 'exit', listener: () => void): this
}

/** A worker reports four times a second: this long without a word, it is hung (or stopped). */
export const WORKER_SILENCE_MS = 5_000

/**
 * A healthy worker on the same host takes its IPC messages at hundreds of MiB/s; one that stays
 * this far behind (SIGSTOPped, starved of CPU, swapping) is not going to catch up, and every
 * frame more would stay in the primary's memory. Dropping frames instead would leave its viewers
 * with gaps they cannot see, so a worker over this bound for WORKER_BACKLOG_GRACE_MS is killed
 * and restarted like a hung one: its browsers reconnect and resume by deltas from their classes.
 */
export const WORKER_MAX_BACKLOG_BYTES = 64 * 1024 * 1024

/**
 * How long a backlog may stay over the bound: a burst (a reconnecting viewer's catch-up, a large
 * reset) goes over it for the milliseconds the worker takes to read it, and must not cost a restart.
 */
export const WORKER_BACKLOG_GRACE_MS = 1_000

/**
 * A worker asks for a viewer's reset when that viewer fell too far behind (a resync), and each
 * one costs the primary the class's view (encoded once per head) and its whole size in the IPC
 * channel. A healthy worker asks for one per viewer per backlog of --max-queued-bytes, rarely
 * many at once; a buggy or wedged one could ask without end. Past this rate the requests wait
 * (never dropped: that viewer gets no frame until its reset comes): a burst of 200, then 100 a second.
 */
export const WORKER_RESYNC_RATE: Rate = { messages: 200, perMs: 2_000 }

/**
 * @libp2p/webrtc renews a certificate it keeps in its datastore one day before its end
 * (DEFAULT_CERTIFICATE_RENEWAL_THRESHOLD, of 14 days): the primary renews the workers' at the
 * same moment, when the datastore's copy counts as due and a load makes a new one.
 */
export const EDGE_CERTIFICATE_RENEW_BEFORE_MS = 86_400_000

/** The end of a certificate's validity, in ms since the epoch. */
export function certificateExpiry (certificate: TransportCertificate): number {
  return Date.parse(new X509Certificate(certificate.pem).validTo)
}

/** Roughly the bytes an op takes in the IPC channel (its payload, 4 bytes per id, some framing). */
function opBytes (op: PrimaryOp): number {
  switch (op.o) {
    case 'd': return op.bytes.byteLength + 4 * op.ids.length + 32
    case 'reset': return op.bytes.byteLength + 32
    case 'fail': return op.error.length + 64
    case 'admitted': return 32
  }
}

const ZERO_STATS: WorkerStats = Object.freeze({ observers: 0, accepted: 0, refused: 0, ejected: 0, resyncs: 0, frozen: 0, refusedSends: 0, sent: 0, heartbeats: 0 })

/** Counters of a worker that died are kept, so the process's totals never go down. */
function addStats (a: WorkerStats, b: WorkerStats): WorkerStats {
  return {
    observers: a.observers + b.observers,
    accepted: a.accepted + b.accepted,
    refused: a.refused + b.refused,
    ejected: a.ejected + b.ejected,
    resyncs: a.resyncs + b.resyncs,
    frozen: a.frozen + b.frozen,
    refusedSends: a.refusedSends + b.refusedSends,
    sent: a.sent + b.sent,
    heartbeats: a.heartbeats + b.heartbeats
  }
}

/** A worker's viewer, as the primary's DocChannels see it. */
class RemoteSession implements ViewerSession {
  skipThrough = 0
  closed = false
  peer: string | undefined
  address: string | undefined
  admitted: AdmittedViewer | undefined
  private resetSource: (() => Uint8Array) | undefined
  private listeners: Array<() => void> = []
  private readonly slot: WorkerSlot
  readonly id: number

  constructor (slot: WorkerSlot, id: number, peer: string, address: string) {
    this.slot = slot
    this.id = id
    this.peer = peer
    this.address = address
  }

  deliver (seq: number, bytes: Uint8Array): void {
    if (this.closed || (seq !== 0 && seq <= this.skipThrough)) return
    this.slot.deliver(this.id, seq, bytes)
  }

  fail (code: ErrorCode, error: string): void {
    if (this.closed) return
    this.slot.push({ o: 'fail', id: this.id, code, error })
    this.ended()
  }

  setResetSource (source: () => Uint8Array): void {
    this.resetSource = source
  }

  /** The worker's session fell behind and asks for its view. */
  reset (): void {
    if (this.closed || this.resetSource === undefined) return
    this.slot.push({ o: 'reset', id: this.id, bytes: this.resetSource() })
  }

  onClose (listener: () => void): void {
    if (this.closed) listener()
    else this.listeners.push(listener)
  }

  /** The session is over (its stream closed, it was failed, or its worker died). */
  ended (): void {
    if (this.closed) return
    this.closed = true
    this.slot.ended(this)
    for (const listener of this.listeners.splice(0)) listener()
  }
}

interface BacklogBound { maxBytes: number, graceMs: number }

/** What a slot tells the EdgeWorkers that own it. */
interface SlotEvents {
  ended (session: RemoteSession): void
  /** The worker's backlog stayed over the bound too long, and `bytes` more are to go. */
  overflowed (slot: WorkerSlot, bytes: number): void
}

/** One worker process and what the primary keeps of it; a restart makes a new slot in its place. */
class WorkerSlot {
  readonly index: number
  readonly worker: WorkerProcess
  readonly sessions = new Map<number, RemoteSession>()
  addrs: string[] = []
  stats: WorkerStats = ZERO_STATS
  transports: TransportCounts = {}
  status = 'starting'
  /** Why the primary killed it ('hung', 'overflowed'): kept whatever the worker reports after. */
  killedAs: string | undefined
  /** The certhash of the certificate the worker serves (the one it was started with, or renewed to). */
  certhash: string
  /** When the worker last sent anything (it reports its counters a few times a second). */
  heardAt = Date.now()
  /** Bytes posted to the worker that its IPC channel has not written yet (the child not reading). */
  backlogBytes = 0
  private readonly backlog: BacklogBound
  /** Since when the backlog is over the bound. */
  private overSince: number | undefined
  private outbox: PrimaryOp[] = []
  private flushQueued = false
  private readonly events: SlotEvents
  /** The bound on the resets this worker asks for. */
  readonly resyncs: RateBucket
  /** Sessions whose reset waits for the bound, in the order they asked (each once). */
  readonly deferredResets = new Set<RemoteSession>()
  /** Whether a timer to serve deferredResets is armed. */
  resyncTimerArmed = false

  constructor (index: number, worker: WorkerProcess, certhash: string, backlog: BacklogBound, resyncRate: Rate, events: SlotEvents) {
    this.index = index
    this.worker = worker
    this.certhash = certhash
    this.backlog = backlog
    this.resyncs = new RateBucket(resyncRate, Date.now())
    this.events = events
  }

  /** Queues a delivery, joined to the previous op when it carries the same message. */
  deliver (id: number, seq: number, bytes: Uint8Array): void {
    const last = this.outbox[this.outbox.length - 1]
    if (last?.o === 'd' && last.bytes === bytes && last.seq === seq) {
      last.ids.push(id)
      return
    }
    this.push({ o: 'd', seq, bytes, ids: [id] })
  }

  push (op: PrimaryOp): void {
    this.outbox.push(op)
    if (this.flushQueued) return
    this.flushQueued = true
    // after the synchronous work that queued it (e.g. one frame for every class): one post
    queueMicrotask(() => { this.flush() })
  }

  ended (session: RemoteSession): void {
    this.sessions.delete(session.id)
    this.deferredResets.delete(session)
    this.events.ended(session)
  }

  /** Kills the worker for `reason`; its exit ends its sessions and starts another. */
  kill (reason: string): void {
    if (this.killedAs !== undefined) return
    this.killedAs = reason
    this.status = reason
    this.worker.kill('SIGKILL')
  }

  private flush (): void {
    this.flushQueued = false
    const ops = this.outbox
    this.outbox = []
    if (ops.length === 0 || this.status === 'dead') return
    this.send({ t: 'ops', ops }, ops.reduce((sum, op) => sum + opBytes(op), 0))
  }

  /** Whether the backlog has been over the bound for `graceMs` (not a burst such as a catch-up the worker is taking). */
  overTooLong (now: number): boolean {
    return this.overSince !== undefined && now - this.overSince >= this.backlog.graceMs
  }

  /** Posts a message, unless the backlog stayed over the bound too long (the owner then restarts the worker). */
  send (message: ToWorker, bytes = 64): void {
    if (!this.worker.connected || this.killedAs !== undefined) return
    const now = Date.now()
    if (this.overTooLong(now)) {
      this.events.overflowed(this, bytes)
      return
    }
    this.backlogBytes += bytes
    if (this.backlogBytes > this.backlog.maxBytes) this.overSince ??= now
    // called once the channel wrote it (or failed to: the worker is gone, and so is this slot)
    this.worker.send(message, () => {
      this.backlogBytes -= bytes
      if (this.backlogBytes <= this.backlog.maxBytes) this.overSince = undefined
    })
  }
}

/** Which module a worker runs: the TypeScript source in a clone, the built JavaScript from the package. */
const WORKER_MODULE = fileURLToPath(new URL(import.meta.url.endsWith('.ts') ? './edge-worker.ts' : './edge-worker.js', import.meta.url))

/** Forks a worker with the same Node and flags as this process (stdout is the super-peer's: its ready line). */
function forkEdgeWorker (): WorkerProcess {
  // not an inspector (its port is taken) or an --input-type (it refuses a module file)
  const execArgv = process.execArgv.filter(flag => !flag.startsWith('--inspect') && !flag.startsWith('--input-type'))
  return fork(WORKER_MODULE, [], { execArgv, serialization: 'advanced', stdio: ['ignore', 'ignore', 'inherit', 'ipc'] })
}

export class EdgeWorkers {
  private readonly options: EdgeWorkersOptions
  private readonly admission: ViewerAdmission
  private readonly slots: Array<WorkerSlot | undefined>
  /** Each worker's listen addresses once its ports are known (a restart binds the same). */
  private readonly listens: string[][] = []
  private readonly restarts: number[]
  /** The certificate workers serve and new ones start with (renewed before it ends). */
  private certificate: TransportCertificate
  private retired: WorkerStats = ZERO_STATS
  private stopping = false
  /** Set once every worker listened: from then on a worker that dies is started again. */
  private started = false
  private readonly timers = new Set<ReturnType<typeof setTimeout>>()
  private watchdog: ReturnType<typeof setInterval> | undefined

  constructor (admission: ViewerAdmission, options: EdgeWorkersOptions) {
    this.admission = admission
    this.options = options
    this.certificate = options.certificate
    this.slots = new Array(options.count).fill(undefined)
    this.restarts = new Array(options.count).fill(0)
  }

  /** Starts the first worker, then the others on its WebSockets port; resolves when all listen. */
  async start (): Promise<void> {
    const { listen, count } = this.options
    const first = await this.spawn(0, workerListen(listen, 0))
    this.listens[0] = withBoundPorts(listen, first.addrs)
    // the others share the first one's WebSockets port (a port 0 became a real one)
    const shared = withBoundPorts(listen, first.addrs, 'tcp')
    await Promise.all(Array.from({ length: count - 1 }, async (_, i) => {
      const slot = await this.spawn(i + 1, workerListen(shared, i + 1))
      this.listens[i + 1] = withBoundPorts(workerListen(shared, i + 1), slot.addrs)
    }))
    this.started = true
    this.startWatchdog()
    this.scheduleRenewal()
  }

  /** The certhash every worker's WebRTC-Direct addresses carry (or will, once a renewal reached it). */
  get certhash (): string {
    return this.certificate.certhash
  }

  /** Every worker's addresses (same peer id and certhash; one WebRTC-Direct port per worker). */
  addrs (): string[] {
    return [...new Set(this.slots.flatMap(slot => slot?.addrs ?? []))]
  }

  /** Counters summed over the workers (those that died included), with the primary's refusals and classes. */
  stats (): ObserverServerStats {
    let total = this.retired
    for (const slot of this.slots) if (slot !== undefined) total = addStats(total, slot.stats)
    const observers = this.slots.reduce((sum, slot) => sum + (slot?.stats.observers ?? 0), 0)
    return { ...total, observers, refused: total.refused + this.admission.refused, classes: this.admission.classes() }
  }

  transports (): TransportCounts {
    const totals: TransportCounts = {}
    for (const slot of this.slots) {
      for (const [transport, counts] of Object.entries(slot?.transports ?? {})) {
        const entry = totals[transport] ??= { observers: 0, connections: 0 }
        entry.observers += counts.observers
        entry.connections += counts.connections
      }
    }
    return totals
  }

  /** Per worker, for /status: its addresses, observers, state and how often it was restarted. */
  workers (): Array<{ index: number, status: string, pid: number | undefined, restarts: number, observers: number, viewers: number, backlogBytes: number, transports: TransportCounts, addrs: string[] }> {
    return this.slots.map((slot, index) => ({
      index,
      status: slot?.status ?? 'restarting',
      pid: slot?.worker.pid,
      restarts: this.restarts[index],
      observers: slot?.stats.observers ?? 0,
      /** Viewers admitted by the primary and held by this worker now. */
      viewers: slot?.sessions.size ?? 0,
      backlogBytes: slot?.backlogBytes ?? 0,
      transports: slot?.transports ?? {},
      addrs: slot?.addrs ?? []
    }))
  }

  problems (): string[] {
    return this.slots.flatMap((slot, index) => slot?.status === 'started' ? [] : [`edge worker ${index} is ${slot?.status ?? 'restarting'}`])
  }

  async stop (): Promise<void> {
    this.stopping = true
    clearInterval(this.watchdog)
    for (const timer of this.timers) clearTimeout(timer)
    this.timers.clear()
    await Promise.all(this.slots.map(async slot => {
      if (slot === undefined || slot.status === 'dead') return
      const exited = new Promise<void>(resolve => { slot.worker.once('exit', resolve) })
      // one still starting listens for nothing yet: it would never hear 'stop'
      if (slot.status === 'starting') slot.worker.kill('SIGKILL')
      else slot.send({ t: 'stop' })
      // a worker that does not stop in time is killed (its browsers are gone either way)
      const timer = setTimeout(() => { slot.worker.kill('SIGKILL') }, 10_000)
      await exited
      clearTimeout(timer)
    }))
  }

  /**
   * A hung worker (a blocked event loop, a stopped process) still holds its browsers' sockets,
   * and the primary's messages for it pile up: kill it, so its browsers go elsewhere and it restarts.
   */
  private startWatchdog (): void {
    const silenceMs = this.options.silenceMs ?? WORKER_SILENCE_MS
    this.watchdog = setInterval(() => {
      const now = Date.now()
      for (const slot of this.slots) {
        if (slot?.status !== 'started') continue
        // no message may be due to notice a backlog that stays over the bound
        if (slot.overTooLong(now)) this.onOverflow(slot, 0)
        if (now - slot.heardAt <= silenceMs || slot.killedAs !== undefined) continue
        this.options.log.warn({ worker: slot.index, pid: slot.worker.pid, silentMs: now - slot.heardAt }, 'edge worker silent; killing it')
        slot.kill('hung')
      }
    }, Math.min(1_000, silenceMs, this.options.backlogGraceMs ?? WORKER_BACKLOG_GRACE_MS))
    this.watchdog.unref()
  }

  /** A timer stop() clears; `fn` runs unless stopping. */
  private later (ms: number, fn: () => void): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer)
      if (!this.stopping) fn()
    }, Math.min(MAX_TIMER_MS, Math.max(0, ms)))
    timer.unref()
    this.timers.add(timer)
  }

  /** Arms the renewal of the workers' certificate for when the edge datastore's is due. */
  private scheduleRenewal (): void {
    if (this.options.renewCertificate === undefined) return
    const renewAt = certificateExpiry(this.certificate) - (this.options.renewBeforeMs ?? EDGE_CERTIFICATE_RENEW_BEFORE_MS)
    const wait = renewAt - Date.now()
    // a second late, so that the datastore's copy surely counts as due; a wait past the longest timer is re-armed
    if (wait > MAX_TIMER_MS) this.later(MAX_TIMER_MS, () => { this.scheduleRenewal() })
    else this.later(wait + 1_000, () => { this.renewCertificate() })
  }

  /**
   * Gives every worker a fresh certificate. A worker takes it for new connections, as
   * @libp2p/webrtc does when it renews its own (edge-worker.ts): connections open now stay up.
   * One that starts later gets it in its init; one that cannot take it exits, and is restarted with it.
   */
  private renewCertificate (): void {
    const renew = this.options.renewCertificate
    if (renew === undefined) return
    renew().then(certificate => {
      if (this.stopping) return
      if (certificate.certhash === this.certificate.certhash) {
        this.options.log.warn({ certhash: certificate.certhash }, 'edge certificate not renewed yet; trying again in a minute')
        this.later(60_000, () => { this.renewCertificate() })
        return
      }
      this.certificate = certificate
      this.options.counters.inc('edge_certificate_renewals')
      this.options.log.info?.({ certhash: certificate.certhash, expires: new Date(certificateExpiry(certificate)).toISOString() }, 'edge certificate renewed; passing it to the workers')
      for (const slot of this.slots) if (slot?.status === 'started') this.passCertificate(slot)
      this.scheduleRenewal()
    }, (err: Error) => {
      this.options.log.warn({ err }, 'renewing the edge certificate failed; trying again in a minute')
      this.later(60_000, () => { this.renewCertificate() })
    })
  }

  private passCertificate (slot: WorkerSlot): void {
    if (slot.certhash === this.certificate.certhash) return
    slot.certhash = this.certificate.certhash
    slot.send({ t: 'certificate', certificate: this.certificate }, this.certificate.pem.length + this.certificate.privateKey.length)
  }

  private async spawn (index: number, listen: string[]): Promise<WorkerSlot> {
    const init: EdgeWorkerInit = {
      index,
      privateKey: privateKeyToProtobuf(this.options.privateKey),
      certificate: this.certificate,
      listen,
      announce: this.options.announce.length === 0 ? [] : workerListen(this.options.announce, index),
      limits: this.options.limits,
      connectionManager: this.options.connectionManager,
      server: this.options.server,
      statsIntervalMs: this.options.statsIntervalMs ?? 250
    }
    const worker = (this.options.forkWorker ?? forkEdgeWorker)()
    const backlog = { maxBytes: this.options.maxBacklogBytes ?? WORKER_MAX_BACKLOG_BYTES, graceMs: this.options.backlogGraceMs ?? WORKER_BACKLOG_GRACE_MS }
    const slot = new WorkerSlot(index, worker, init.certificate.certhash, backlog, this.options.resyncRate ?? WORKER_RESYNC_RATE, {
      ended: session => { this.admission.leave(session) },
      overflowed: (overflowing, bytes) => { this.onOverflow(overflowing, bytes) }
    })
    this.slots[index] = slot
    slot.send({ t: 'init', init })
    return await new Promise<WorkerSlot>((resolve, reject) => {
      let ready = false
      const failed = (why: string): void => { if (!ready) reject(new Error(`edge worker ${index} ${why}`)) }
      worker.on('message', (message: unknown) => {
        slot.heardAt = Date.now()
        if (!isToPrimary(message)) {
          this.onBadMessage(slot, message)
          return
        }
        if (message.t === 'ready' && !ready) {
          ready = true
          this.onReady(slot, message)
          resolve(slot)
          return
        }
        if (message.t === 'fatal') failed(`failed to start: ${message.error}`)
        this.onMessage(slot, message)
      })
      worker.on('error', (err: Error) => {
        failed(`failed to start: ${err.message}`)
        if (ready) this.options.log.warn({ err, worker: index }, 'edge worker failed')
      })
      worker.on('exit', (code, signal) => {
        failed(`exited (${code ?? signal}) before it listened`)
        this.onExit(slot, code ?? signal ?? 'unknown')
      })
    })
  }

  private onReady (slot: WorkerSlot, message: Extract<ToPrimary, { t: 'ready' }>): void {
    slot.status = 'started'
    slot.addrs = message.addrs
    slot.stats = message.stats
    slot.transports = message.transports
    // renewed while it was starting (a message then would have gone unheard)
    this.passCertificate(slot)
  }

  /** Counted and dropped: a worker's bug must not take the primary (and every other worker's viewers) down. */
  private onBadMessage (slot: WorkerSlot, message: unknown): void {
    this.options.counters.inc('edge_worker_bad_messages')
    const t = isObject(message) ? String(message.t).slice(0, 32) : typeof message
    this.options.log.warn({ worker: slot.index, t }, 'malformed message from an edge worker; ignored')
  }

  private onOverflow (slot: WorkerSlot, bytes: number): void {
    if (slot.killedAs !== undefined) return
    this.options.counters.inc('edge_worker_backlog_overflows')
    this.options.log.warn({ worker: slot.index, pid: slot.worker.pid, backlogBytes: slot.backlogBytes, bytes }, 'edge worker too far behind; killing it')
    slot.kill('overflowed')
  }

  private onMessage (slot: WorkerSlot, message: ToPrimary): void {
    switch (message.t) {
      case 'join':
        this.join(slot, message)
        return
      case 'view':
        slot.sessions.get(message.id)?.admitted?.onView(message.view)
        return
      case 'send':
        slot.sessions.get(message.id)?.admitted?.handlers.onSend?.(message.json)
        return
      case 'reset': {
        const session = slot.sessions.get(message.id)
        if (session !== undefined) this.resync(slot, session)
        return
      }
      case 'closed':
        slot.sessions.get(message.id)?.ended()
        return
      case 'refused':
        this.options.counters.inc(`observe_refused_${message.code.replaceAll('-', '_')}`)
        return
      case 'counter':
        this.options.counters.inc(message.name)
        return
      case 'stats':
        slot.stats = message.stats
        slot.transports = message.transports
        if (slot.killedAs === undefined && slot.status !== 'dead') slot.status = message.status
        return
      case 'addrs':
        slot.addrs = message.addrs
        return
      case 'fatal':
        this.options.log.warn({ worker: slot.index, error: message.error }, 'edge worker failed; starting another')
        return
      case 'ready':
        // only the first one counts
    }
  }

  /**
   * A worker's viewer asks for its reset: at once within the worker's WORKER_RESYNC_RATE, else
   * deferred (and counted) until the bound allows it. A deferred reset is made when it is sent,
   * so it is the view as of then; a viewer that asks again while it waits is served once.
   */
  private resync (slot: WorkerSlot, session: RemoteSession): void {
    if (slot.deferredResets.size === 0 && slot.resyncs.take(Date.now())) {
      session.reset()
      return
    }
    this.options.counters.inc('edge_worker_resyncs_deferred')
    slot.deferredResets.add(session)
    this.armDeferredResets(slot)
  }

  private armDeferredResets (slot: WorkerSlot): void {
    if (slot.resyncTimerArmed) return
    slot.resyncTimerArmed = true
    this.later(Math.max(1, slot.resyncs.waitMs(Date.now())), () => {
      slot.resyncTimerArmed = false
      this.serveDeferredResets(slot)
    })
  }

  /** Serves the deferred resets the bound allows now, oldest first; arms a timer for the rest. */
  private serveDeferredResets (slot: WorkerSlot): void {
    // a worker that died took its sessions (and their resyncs) with it
    if (slot.status === 'dead' || this.slots[slot.index] !== slot) {
      slot.deferredResets.clear()
      return
    }
    const now = Date.now()
    for (const session of slot.deferredResets) {
      if (!slot.resyncs.take(now)) break
      slot.deferredResets.delete(session)
      session.reset()
    }
    if (slot.deferredResets.size > 0) this.armDeferredResets(slot)
  }

  /** A worker read a request: the primary admits the viewer, and tells the worker the outcome. */
  private join (slot: WorkerSlot, message: Extract<ToPrimary, { t: 'join' }>): void {
    if (slot.sessions.has(message.id)) {
      this.onBadMessage(slot, message)
      return
    }
    const session = new RemoteSession(slot, message.id, message.peer, message.address)
    slot.sessions.set(message.id, session)
    this.admission.admit(session, message.request).then(admitted => {
      if (admitted === undefined || session.closed) return
      session.admitted = admitted
      slot.push({ o: 'admitted', id: message.id, skipThrough: session.skipThrough, writer: admitted.handlers.onSend !== undefined })
    }, (err: Error) => {
      this.options.log.warn({ err }, 'admitting a viewer failed')
      session.fail(ErrorCode.busy, 'the super-peer could not admit this viewer')
    })
  }

  /** A worker ended: its viewers are gone (their browsers fail over); unless stopping, another starts. */
  private onExit (slot: WorkerSlot, code: number | string): void {
    slot.status = 'dead'
    this.retired = addStats(this.retired, { ...slot.stats, observers: 0 })
    slot.stats = ZERO_STATS
    for (const session of [...slot.sessions.values()]) session.ended()
    if (this.stopping || !this.started || this.slots[slot.index] !== slot) return
    this.slots[slot.index] = undefined
    const restarts = ++this.restarts[slot.index]
    this.options.log.warn({ worker: slot.index, code, restarts }, 'edge worker exited')
    const base = this.options.restartDelayMs ?? 250
    this.later(Math.min(10_000, base * 2 ** Math.min(6, Math.max(0, restarts - 1))), () => {
      const listen = this.listens[slot.index] ?? workerListen(this.options.listen, slot.index)
      this.spawn(slot.index, listen).catch((err: Error) => {
        this.options.log.warn({ err, worker: slot.index }, 'edge worker could not be restarted')
      })
    })
  }
}
