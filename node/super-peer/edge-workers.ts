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
import { fileURLToPath } from 'node:url'
import type { ChildProcess } from 'node:child_process'
import { privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'
import { ErrorCode, OBSERVE_PROTOCOL } from '../../src/observe/protocol.ts'
import type { ObserveRequest } from '../../src/observe/protocol.ts'
import type { Json, JsonObject } from '../../src/json.ts'
import type { Connection, PrivateKey } from '@libp2p/interface'
import type { TransportCertificate } from '@libp2p/webrtc'
import type { EdgeLimits } from '../net/edge-node.ts'
import type { ViewerSession } from './observer-protocol.ts'
import type { ObserverLog, ObserverServerOptions, ObserverServerStats, RefusalCounter } from './observer-server.ts'
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

export type ToWorker = { t: 'init', init: EdgeWorkerInit } | { t: 'ops', ops: PrimaryOp[] } | { t: 'stop' }

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
  | { t: 'fatal', error: string }

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
}

/** A worker reports four times a second: this long without a word, it is hung (or stopped). */
export const WORKER_SILENCE_MS = 5_000

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

/** One worker process and what the primary keeps of it; a restart makes a new slot in its place. */
class WorkerSlot {
  readonly index: number
  readonly worker: ChildProcess
  readonly sessions = new Map<number, RemoteSession>()
  addrs: string[] = []
  stats: WorkerStats = ZERO_STATS
  transports: TransportCounts = {}
  status = 'starting'
  /** When the worker last sent anything (it reports its counters a few times a second). */
  heardAt = Date.now()
  private outbox: PrimaryOp[] = []
  private flushQueued = false
  private readonly onEnded: (session: RemoteSession) => void

  constructor (index: number, worker: ChildProcess, onEnded: (session: RemoteSession) => void) {
    this.index = index
    this.worker = worker
    this.onEnded = onEnded
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
    this.onEnded(session)
  }

  private flush (): void {
    this.flushQueued = false
    const ops = this.outbox
    this.outbox = []
    if (ops.length === 0 || this.status === 'dead') return
    this.send({ t: 'ops', ops })
  }

  send (message: ToWorker): void {
    if (this.worker.connected) this.worker.send(message)
  }
}

/** Which module a worker runs: the TypeScript source in a clone, the built JavaScript from the package. */
const WORKER_MODULE = fileURLToPath(new URL(import.meta.url.endsWith('.ts') ? './edge-worker.ts' : './edge-worker.js', import.meta.url))

export class EdgeWorkers {
  private readonly options: EdgeWorkersOptions
  private readonly admission: ViewerAdmission
  private readonly slots: Array<WorkerSlot | undefined>
  /** Each worker's listen addresses once its ports are known (a restart binds the same). */
  private readonly listens: string[][] = []
  private readonly restarts: number[]
  private retired: WorkerStats = ZERO_STATS
  private stopping = false
  /** Set once every worker listened: from then on a worker that dies is started again. */
  private started = false
  private readonly timers = new Set<ReturnType<typeof setTimeout>>()
  private watchdog: ReturnType<typeof setInterval> | undefined

  constructor (admission: ViewerAdmission, options: EdgeWorkersOptions) {
    this.admission = admission
    this.options = options
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
    // A hung worker (a blocked event loop, a stopped process) still holds its browsers' sockets,
    // and the primary's messages for it pile up: kill it, so its browsers go elsewhere and it restarts.
    const silenceMs = this.options.silenceMs ?? WORKER_SILENCE_MS
    this.watchdog = setInterval(() => {
      const now = Date.now()
      for (const slot of this.slots) {
        if (slot?.status !== 'started' || now - slot.heardAt <= silenceMs) continue
        this.options.log.warn({ worker: slot.index, pid: slot.worker.pid, silentMs: now - slot.heardAt }, 'edge worker silent; killing it')
        slot.status = 'hung'
        slot.worker.kill('SIGKILL')
      }
    }, Math.min(1_000, silenceMs))
    this.watchdog.unref()
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
  workers (): Array<{ index: number, status: string, pid: number | undefined, restarts: number, observers: number, viewers: number, transports: TransportCounts, addrs: string[] }> {
    return this.slots.map((slot, index) => ({
      index,
      status: slot?.status ?? 'restarting',
      pid: slot?.worker.pid,
      restarts: this.restarts[index],
      observers: slot?.stats.observers ?? 0,
      /** Viewers admitted by the primary and held by this worker now. */
      viewers: slot?.sessions.size ?? 0,
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
    await Promise.all(this.slots.map(async slot => {
      if (slot === undefined || slot.status === 'dead') return
      const exited = new Promise(resolve => slot.worker.once('exit', resolve))
      slot.send({ t: 'stop' })
      // a worker that does not stop in time is killed (its browsers are gone either way)
      const timer = setTimeout(() => { slot.worker.kill('SIGKILL') }, 10_000)
      await exited
      clearTimeout(timer)
    }))
  }

  private async spawn (index: number, listen: string[]): Promise<WorkerSlot> {
    const init: EdgeWorkerInit = {
      index,
      privateKey: privateKeyToProtobuf(this.options.privateKey),
      certificate: this.options.certificate,
      listen,
      announce: this.options.announce.length === 0 ? [] : workerListen(this.options.announce, index),
      limits: this.options.limits,
      connectionManager: this.options.connectionManager,
      server: this.options.server,
      statsIntervalMs: this.options.statsIntervalMs ?? 250
    }
    // the same Node and flags as this process, but not an inspector (its port is taken) or an
    // --input-type (it refuses a module file); stdout is the super-peer's (its ready line)
    const execArgv = process.execArgv.filter(flag => !flag.startsWith('--inspect') && !flag.startsWith('--input-type'))
    const worker = fork(WORKER_MODULE, [], { execArgv, serialization: 'advanced', stdio: ['ignore', 'ignore', 'inherit', 'ipc'] })
    const slot = new WorkerSlot(index, worker, session => { this.admission.leave(session) })
    this.slots[index] = slot
    slot.send({ t: 'init', init })
    return await new Promise<WorkerSlot>((resolve, reject) => {
      let ready = false
      worker.on('message', (message: ToPrimary) => {
        slot.heardAt = Date.now()
        if (message.t === 'ready') {
          ready = true
          slot.status = 'started'
          slot.addrs = message.addrs
          slot.stats = message.stats
          slot.transports = message.transports
          resolve(slot)
          return
        }
        if (message.t === 'fatal' && !ready) reject(new Error(`edge worker ${index} failed to start: ${message.error}`))
        this.onMessage(slot, message)
      })
      worker.on('error', (err: Error) => {
        if (!ready) reject(new Error(`edge worker ${index} failed to start: ${err.message}`))
        else this.options.log.warn({ err, worker: index }, 'edge worker failed')
      })
      worker.on('exit', (code, signal) => {
        if (!ready) reject(new Error(`edge worker ${index} exited (${code ?? signal}) before it listened`))
        this.onExit(slot, code ?? signal ?? 'unknown')
      })
    })
  }

  private onMessage (slot: WorkerSlot, message: ToPrimary): void {
    switch (message.t) {
      case 'join': {
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
        return
      }
      case 'view':
        slot.sessions.get(message.id)?.admitted?.onView(message.view)
        return
      case 'send':
        slot.sessions.get(message.id)?.admitted?.handlers.onSend?.(message.json)
        return
      case 'reset':
        slot.sessions.get(message.id)?.reset()
        return
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
        if (slot.status !== 'dead' && slot.status !== 'hung') slot.status = message.status
        return
      case 'fatal':
        this.options.log.warn({ worker: slot.index, error: message.error }, 'edge worker failed; starting another')
    }
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
    const delay = Math.min(10_000, base * 2 ** Math.min(6, Math.max(0, restarts - 1)))
    const timer = setTimeout(() => {
      this.timers.delete(timer)
      if (this.stopping) return
      const listen = this.listens[slot.index] ?? workerListen(this.options.listen, slot.index)
      this.spawn(slot.index, listen).catch((err: Error) => {
        this.options.log.warn({ err, worker: slot.index }, 'edge worker could not be restarted')
      })
    }, delay)
    this.timers.add(timer)
  }
}
