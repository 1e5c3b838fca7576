// Serves the observe protocol: browsers follow documents this super-peer holds, read-only.

import { ErrorCode, DEFAULT_MAX_MESSAGE_BYTES, OBSERVE_PROTOCOL, encodeMessage, frameMessage } from '../../src/observe/protocol.ts'
import { ObserverSession, readRequest } from './observer-protocol.ts'
import { viewerAdmission } from './viewer-admission.ts'
import type { RequestResult, SessionCounters } from './observer-protocol.ts'
import type { ObservableDoc } from '../../src/observe/observable-doc.ts'
import type { ClassOffload, SwarmCounters, SwarmSeat } from './swarm-coordinator.ts'
import type { SwarmLimits } from '../../src/swarm/index.ts'
import type { Json } from '../../src/json.ts'
import type { WriterLink } from '../reduce/doc-input.ts'
import type { Connection, Libp2p, PrivateKey, Stream } from '@libp2p/interface'

export type { ObservableDoc }

/** Relaying between browsers (documents whose policy says "relay": true); off without a key. */
export interface SwarmServerOptions {
  /** The edge node's key, which seals class messages. */
  key: PrivateKey
  limits?: Partial<SwarmLimits>
  /** Whether the edge's signalling relay holds a reservation for a peer (only then can it have children). */
  reachable?: (peer: string) => boolean
  counters?: SwarmCounters
}

export interface ObserverServerOptions {
  /** Observer streams served at once, across all documents; more are refused with "busy". */
  maxObservers: number
  /**
   * Per observer: bytes waiting to be sent (our queue plus what the stream still holds) before
   * the queue is dropped and the observer is resynced.
   */
  maxQueuedBytes: number
  /** Per observer: a stream that accepts nothing for this long is dropped (the reader stopped). */
  stallTimeoutMs: number
  /** Largest message payload sent; a bigger frame or snapshot ends that observer with "too-large". */
  maxMessageBytes: number
  /** Observe streams one connection may hold open at once; the next is refused with "too-many-streams". */
  maxStreamsPerConnection: number
  /** How long a browser may take to send its request. */
  requestTimeoutMs: number
  /**
   * An observer sent nothing for this long gets a heartbeat (its head seq again, a no-op), so a
   * browser notices a dead super-peer from silence within about HEARTBEAT_TIMEOUT_MS; 0 = none.
   */
  heartbeatMs: number
  swarm?: SwarmServerOptions
}

/** How often sessions are checked for a due heartbeat: a heartbeat is at most this late. */
export const HEARTBEAT_CHECK_MS = 100

export const DEFAULT_OBSERVER_SERVER_OPTIONS: ObserverServerOptions = Object.freeze({
  maxObservers: 10_000,
  maxQueuedBytes: 1024 * 1024,
  stallTimeoutMs: 20_000,
  maxMessageBytes: DEFAULT_MAX_MESSAGE_BYTES,
  maxStreamsPerConnection: 4,
  requestTimeoutMs: 10_000,
  heartbeatMs: 1_000
})

/**
 * libp2p connection-manager settings for a node serving thousands of observers (libp2p's
 * defaults allow 300 connections and 5 new inbound connections per second per host).
 */
export const OBSERVER_CONNECTION_MANAGER = Object.freeze({
  maxConnections: 20_000,
  inboundConnectionThreshold: 1_000,
  maxIncomingPendingConnections: 1_000
})

export interface ObserverLog {
  warn (obj: object, msg: string): void
  info? (obj: object, msg: string): void
  debug (obj: object, msg: string): void
}

export interface ObserverServerStats {
  /** Observer streams open now (including those still sending their request). */
  observers: number
  /** Streams accepted since start. */
  accepted: number
  /** Streams turned away: busy, bad request, unknown doc. */
  refused: number
  /** Streams closed by the server after joining: a browser that wrote again, a too-large message. */
  ejected: number
  /** Times a slow observer's queue was dropped and replaced by a reset. */
  resyncs: number
  /** Observers dropped because their stream accepted nothing for stallTimeoutMs. */
  frozen: number
  /** Messages observers tried to send (every one refused: observe is read-only). */
  refusedSends: number
  /** Privacy classes across documents (viewers who see the same thing share one). */
  classes: number
  /** Messages handed to streams (heartbeats included). */
  sent: number
  /** Heartbeats sent to observers that had been sent nothing for heartbeatMs. */
  heartbeats: number
}

export interface ObserverServer {
  /** Settles once the protocol handler is registered (rejects if libp2p refused it). */
  readonly ready: Promise<void>
  stop (): Promise<void>
  stats (): ObserverServerStats
  /** Viewers of one document served now. */
  viewers (docId: string): number
  /** Per class of a relaying document: viewers fed directly and by relays, bytes each way. */
  offload (docId: string): ClassOffload[]
  /** Each browser with a seat in one of the document's swarms: planned parent and feed in use. */
  seats (docId: string): SwarmSeat[]
}

/** Why a document cannot be served here (e.g. the host's document cap), told to the viewer. */
export interface DocRefusal { readonly refuse: ErrorCode, readonly message: string }

/** Finds the document a viewer asked for, waiting for it to be fetched if need be. */
export type DocLookup = (docId: string, signal: AbortSignal) => ObservableDoc | DocRefusal | undefined | Promise<ObservableDoc | DocRefusal | undefined>

/** Where refusals are counted by reason, as `observe_refused_<reason>` (e.g. the process's Counters). */
export interface RefusalCounter { inc (name: string): void }

/** Where writer streams (`"mode": "connect"`) send: the super-peer's input (node/reduce/input-hub.ts). */
export interface WriterHub {
  attach (docId: string, link: WriterLink): { send (json: Json): void, detach (): void } | undefined
}

export function startObserverServer (
  libp2p: Libp2p,
  docs: DocLookup,
  options: Partial<ObserverServerOptions> = {},
  log?: ObserverLog,
  refusals?: RefusalCounter,
  writers?: WriterHub
): ObserverServer {
  const streams = observerStreams(docs, options, log, refusals, writers)
  const maxStreamsPerConnection = options.maxStreamsPerConnection ?? DEFAULT_OBSERVER_SERVER_OPTIONS.maxStreamsPerConnection
  const ready = libp2p.handle(OBSERVE_PROTOCOL, (stream, connection) => {
    streams.handle(stream, connection).catch((err: Error) => {
      log?.warn({ err }, 'observer stream failed')
      stream.abort(err)
    })
  // One over our cap, so the first stream too many gets a "too-many-streams" reply from us;
  // libp2p resets any beyond that without a word.
  }, { maxInboundStreams: maxStreamsPerConnection + 1 })
  ready.catch((err: Error) => { log?.warn({ err }, 'could not register the observe protocol') })
  return {
    ready,
    async stop () {
      await streams.stop(async () => {
        await ready.catch(() => {})
        await libp2p.unhandle(OBSERVE_PROTOCOL).catch(() => {})
      })
    },
    viewers: docId => streams.viewers(docId),
    stats: () => streams.stats(),
    offload: docId => streams.offload(docId),
    seats: docId => streams.seats(docId)
  }
}

/** The observe protocol's streams, served whichever way they arrive (a libp2p handler, or a test's stream pair). */
export interface ObserverStreams {
  /** Serves one observer stream until it ends; `connection` is the one it arrived on. */
  handle (stream: Stream, connection: Pick<Connection, 'id' | 'remotePeer' | 'remoteAddr'>): Promise<void>
  /** Refuses new streams, runs `beforeClosing` (e.g. unregistering the protocol), then closes every session. */
  stop (beforeClosing?: () => Promise<void>): Promise<void>
  stats (): ObserverServerStats
  viewers (docId: string): number
  offload (docId: string): ClassOffload[]
  seats (docId: string): SwarmSeat[]
}

export function observerStreams (
  docs: DocLookup,
  options: Partial<ObserverServerOptions> = {},
  log?: ObserverLog,
  refusals?: RefusalCounter,
  writers?: WriterHub
): ObserverStreams {
  const opts: ObserverServerOptions = { ...DEFAULT_OBSERVER_SERVER_OPTIONS, ...options }
  const admission = viewerAdmission(docs, { lookupTimeoutMs: opts.requestTimeoutMs, swarm: opts.swarm }, log, refusals, writers)
  const intake = observerIntake(opts, admission.refuse, session => { admission.leave(session) })

  const handle = async (stream: Stream, connection: Pick<Connection, 'id' | 'remotePeer' | 'remoteAddr'>): Promise<void> => {
    const accepted = await intake.accept(stream, connection)
    if (accepted === undefined) return
    const { session, request } = accepted
    const admitted = await admission.admit(session, request.value)
    if (admitted === undefined) return
    await session.listen(request.lp, admitted.onView, admitted.handlers)
  }

  return {
    handle,
    async stop (beforeClosing) {
      await intake.stop(beforeClosing)
      admission.close()
    },
    viewers: docId => admission.viewers(docId),
    offload: docId => admission.offload(docId),
    seats: docId => admission.seats(docId),
    stats: () => ({ ...intake.stats(admission.refused), classes: admission.classes() })
  }
}

/** A stream that sent its request within the limits, and the session that will serve it. */
export interface AcceptedStream {
  session: ObserverSession
  request: Extract<RequestResult, { ok: true }>
}

/**
 * The stream side of serving observers, wherever the admission runs (this thread, or an edge
 * worker's primary): the caps on observers and streams per connection, reading the request,
 * heartbeats to quiet observers, and the session counters.
 */
export interface ObserverIntake {
  /** Opens a session on a new stream and reads its request; undefined when it was refused or closed. */
  accept (stream: Stream, connection: Pick<Connection, 'id' | 'remotePeer' | 'remoteAddr'>): Promise<AcceptedStream | undefined>
  stop (beforeClosing?: () => Promise<void>): Promise<void>
  /** Every session open now (including those still sending their request). */
  readonly sessions: ReadonlySet<ObserverSession>
  /** Counters; `refused` is kept by whoever refuses (the `refuse` callback's owner). */
  stats (refused: number): Omit<ObserverServerStats, 'classes'>
}

export function observerIntake (
  opts: ObserverServerOptions,
  /** Counts, tells and fails a refused session (the intake counts no refusals itself). */
  refuse: (session: ObserverSession, code: ErrorCode, error: string) => void,
  onClosed: (session: ObserverSession) => void
): ObserverIntake {
  const counters: SessionCounters & { accepted: number, heartbeats: number } = {
    sent: 0, resyncs: 0, ejected: 0, accepted: 0, refusedSends: 0, frozen: 0, heartbeats: 0
  }
  /** Observe streams open per connection id. */
  const streamsOf = new Map<string, number>()
  const sessions = new Set<ObserverSession>()
  let stopped = false

  // Heartbeats: each seq encoded once per check for all the quiet observers that hold it.
  const heartbeats = opts.heartbeatMs > 0
    ? setInterval(() => {
      const now = Date.now()
      const encoded = new Map<number, Uint8Array>()
      const encode = (seq: number): Uint8Array => {
        let bytes = encoded.get(seq)
        if (bytes === undefined) encoded.set(seq, bytes = encodeMessage(frameMessage(seq, null)))
        return bytes
      }
      for (const session of sessions) {
        if (session.heartbeat(now, opts.heartbeatMs, encode)) counters.heartbeats++
      }
    }, HEARTBEAT_CHECK_MS)
    : undefined
  heartbeats?.unref()

  const onSessionClosed = (session: ObserverSession): void => {
    sessions.delete(session)
    onClosed(session)
  }

  return {
    sessions,
    async accept (stream, connection) {
      counters.accepted++
      const session = new ObserverSession(stream, opts, counters, onSessionClosed)
      session.peer = connection.remotePeer.toString()
      session.address = connection.remoteAddr.toString()
      if (stopped) { session.fail(ErrorCode.busy, 'shutting down'); return undefined }
      const open = streamsOf.get(connection.id) ?? 0
      if (open >= opts.maxStreamsPerConnection) {
        refuse(session, ErrorCode.tooManyStreams, `at most ${opts.maxStreamsPerConnection} observe streams per connection`)
        return undefined
      }
      streamsOf.set(connection.id, open + 1)
      stream.addEventListener('close', () => {
        const left = (streamsOf.get(connection.id) ?? 1) - 1
        if (left > 0) streamsOf.set(connection.id, left)
        else streamsOf.delete(connection.id)
      })
      if (sessions.size >= opts.maxObservers) { refuse(session, ErrorCode.busy, 'too many observers'); return undefined }
      sessions.add(session)

      const request = await readRequest(stream, opts.requestTimeoutMs)
      if (session.closed) return undefined
      if (!request.ok) { refuse(session, request.code ?? ErrorCode.badRequest, request.error); return undefined }
      return { session, request }
    },
    async stop (beforeClosing) {
      stopped = true
      clearInterval(heartbeats)
      await beforeClosing?.()
      await Promise.all([...sessions].map(async session => { await session.close() }))
    },
    stats (refused) {
      return {
        observers: sessions.size,
        accepted: counters.accepted,
        refused,
        ejected: counters.ejected,
        resyncs: counters.resyncs,
        frozen: counters.frozen,
        sent: counters.sent,
        heartbeats: counters.heartbeats,
        refusedSends: counters.refusedSends ?? 0
      }
    }
  }
}
