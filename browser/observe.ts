// observe(docId): a live, read-only view of one document, served by any super-peer in a list.

import { multiaddr } from '@multiformats/multiaddr'
import { parseDocId } from '../src/log/doc-id.ts'
import { ObservedState } from '../src/observe/observed-state.ts'
import { DEFAULT_MAX_MESSAGE_BYTES, OBSERVE_PROTOCOL, RETRYABLE_ERROR_CODES, isAcceptedMessage, isAckMessage, isErrorMessage, isWindowsMessage, isRefusedMessage, isStaleMessage, parseServerMessage } from '../src/observe/protocol.ts'
import { DEFAULT_BACKOFF, DEFAULT_TRANSPORTS, backoffDelay, candidatesFrom, nextCandidate, transportOf } from './candidates.ts'
import { createObserverNode } from './node.ts'
import { StreamMessages, writeMessage } from './stream-messages.ts'
import { SwarmMember, relays } from './swarm.ts'
import type { SwarmOptions } from './swarm.ts'
import type { FrameMessage, ResetMessage } from '../src/observe/protocol.ts'
import type { BackoffOptions, BrowserTransport, Candidate } from './candidates.ts'
import type { ObserverNode } from './node.ts'
import type { Json, JsonObject } from '../src/json.ts'
import type { ObserveRequest, ServerMessage } from '../src/observe/protocol.ts'
import type { Connection, PublicKey, Stream } from '@libp2p/interface'

export interface ObserveOptions {
  /** Super-peer multiaddrs (webrtc-direct and/or ws, with /p2p/); a function is re-read before each connection. */
  bootstrap: readonly string[] | (() => readonly string[] | Promise<readonly string[]>)
  /** Transports to use, in order of preference. Default: WebRTC-Direct, then WebSockets. */
  transports?: readonly BrowserTransport[]
  /**
   * Dial loopback and LAN super-peers (127.0.0.1, 10/8, 192.168/16, ...) and plain ws://.
   * Browsers' libp2p refuses them by default; set it for development, tests and LAN deployments.
   */
  allowPrivateAddresses?: boolean
  /** Largest message accepted from a super-peer. */
  maxMessageBytes?: number
  /** Limit on one dial (connection plus protocol negotiation). */
  dialTimeoutMs?: number
  backoff?: Partial<BackoffOptions>
  /**
   * libp2p's connection probe interval and minimum timeout: how fast a silently dead super-peer
   * that sends no heartbeats (an older release) is noticed. Each probe opens a stream, which
   * costs the super-peer, so the default is rare (60 s, timeout 10 s).
   */
  livenessIntervalMs?: number
  livenessTimeoutMs?: number
  /**
   * A super-peer that announces its heartbeats on its first message (it sends one after a second
   * with nothing else to send) is gone after this long without any message, from that first
   * message on; so is one that sent no announcement once it has sent a heartbeat (a duplicate
   * seq). The timeout grows to the announced interval + 500 ms if that is longer, and a view that
   * relays between browsers (busier) waits 1,000 ms more than that. Before the first message, and
   * before the first heartbeat of a super-peer that announced nothing, this long without a
   * message is checked with one probe, which it must answer within the same time (not in relaying
   * views). Default 1,500 ms.
   */
  heartbeatTimeoutMs?: number
  /** Use this libp2p node instead of creating one (it is not stopped by close()). */
  node?: ObserverNode
  /** A viewer token from the document's authority (identified viewers); anonymous without one. */
  token?: string
  /** Initial view state (e.g. { room: 'lobby' }); change it later with setViewState(). */
  viewState?: JsonObject
  /**
   * Take part in relaying between browsers where a document's policy allows it (browser/swarm.ts):
   * receive the class stream from another viewer of the same class and pass it on. Off unless set.
   */
  swarm?: SwarmOptions
}

/** Thrown by observe() at once for a doc id that is not `<52 base32 chars>.<name>`. */
export class InvalidDocIdError extends TypeError {
  static override name = 'InvalidDocIdError'
  override name = 'InvalidDocIdError'
}

/** Thrown by send(): an observer cannot write to the document. */
export class ReadOnlyError extends Error {
  static override name = 'ReadOnlyError'
  override name = 'ReadOnlyError'
}

/**
 * `stale`: connected, but the super-peer has heard nothing from the document's authority for a
 * few seconds (upstreamAgeMs says how long); the state may be out of date. Back to `live` when
 * the authority speaks again.
 */
export type ConnectionState = 'connecting' | 'live' | 'stale' | 'reconnecting' | 'closed'

/** Detail of the 'state' event; also readable as view.connection. */
export interface ConnectionInfo {
  state: ConnectionState
  /** The super-peer serving (or being dialed), when known. */
  peerId?: string
  addr?: string
  /** The transport of `addr`: which one serves the view (while live or stale) or is being dialed. */
  transport?: BrowserTransport
  /** Why the view closed, or why the last attempt failed. */
  error?: { code: string, message: string }
  /** While stale: ms since the super-peer last heard from upstream (updated about every second). */
  upstreamAgeMs?: number
}

/** Detail of the 'change' event. `data` is null for a frame that changed nothing for this viewer. */
export interface ChangeDetail {
  seq: number
  data: JsonObject | null
  /** True when the state was replaced by a snapshot. */
  reset: boolean
}

const DEFAULT_DIAL_TIMEOUT_MS = 10_000
/**
 * A closed connection is noticed at once, and a silently dead super-peer by its silence
 * (DEFAULT_HEARTBEAT_TIMEOUT_MS; before its first heartbeat, confirmed by a probe of our own).
 * libp2p's probes are only the backstop for super-peers that send none: each opens a stream (on
 * WebRTC-Direct a data channel), which costs the super-peer CPU for every browser, so they stay
 * rare.
 */
const DEFAULT_LIVENESS_INTERVAL_MS = 60_000
const DEFAULT_LIVENESS_TIMEOUT_MS = 10_000
/** A super-peer with nothing to send sends a heartbeat every second (about): 1.5 s of silence is death. */
const DEFAULT_HEARTBEAT_TIMEOUT_MS = 1_500
/**
 * Over an announced interval: the super-peer checks for due heartbeats every 100 ms
 * (HEARTBEAT_CHECK_MS), and the rest is for the transport and a busy super-peer or page.
 */
const ANNOUNCED_HEARTBEAT_MARGIN_MS = 500
/**
 * More for a view that relays between browsers: with 8 relaying pages on 2 cores a heartbeat
 * sometimes came later than 1.5 s (each page also carries WebRTC links to other browsers).
 */
const RELAYING_EXTRA_MARGIN_MS = 1_000
/** A session open this long resets the backoff even if no frame came (documents can be quiet). */
const STABLE_SESSION_MS = 5_000

type SessionEnd =
  | { kind: 'lost', message: string, silent?: boolean }
  | { kind: 'refused', code: string, message: string, retryable: boolean }

const encoder = new TextEncoder()

/**
 * A live document. `state` is plain JSON (lists are arrays; item ids via keysOf(array)), `seq`
 * the last integrated frame. Events: 'change' (ChangeDetail), 'state' (ConnectionInfo).
 */
export class LiveView extends EventTarget {
  readonly docId: string
  private readonly observed = new ObservedState()
  private info: ConnectionInfo = { state: 'connecting' }
  private readonly stopping = new AbortController()
  private readonly options: ObserveOptions
  private node?: ObserverNode
  private stream?: Stream
  private writer?: { write: (data: Uint8Array) => Promise<void> }
  private viewState?: JsonObject
  private swarm?: SwarmMember
  /**
   * Bumped by setViewState. `state` is known to be the view for `heldViewVersion`; when they
   * differ it may be another privacy class's view, whose deltas the super-peer does not have, so
   * the next stream asks for a snapshot instead of resuming.
   */
  private viewVersion = 0
  private heldViewVersion = 0
  private readonly pendingSends: Array<{ reject: (err: Error) => void }> = []
  /** Transports this browser refused to use (WebRTC-Direct v1 where SDP munging is forbidden): not dialed again. */
  private readonly refusedTransports = new Set<BrowserTransport>()
  /** How the last session that had worked ended (the `reconnecting` event's error after it). */
  private lastLoss?: { code: string, message: string }
  private readonly done: Promise<void>

  constructor (docId: string, options: ObserveOptions) {
    super()
    const parsed = parseDocId(docId)
    if (!parsed.ok) throw new InvalidDocIdError(`observe(): bad doc id ${JSON.stringify(docId)}: ${parsed.error}`)
    this.docId = docId
    this.options = options
    this.viewState = options.viewState
    this.done = this.run().catch((err: Error) => {
      this.setConnection({ state: 'closed', error: { code: 'internal', message: String(err?.message ?? err) } })
    })
  }

  get state (): JsonObject { return this.observed.state }
  get seq (): number | null { return this.observed.seq }
  get connection (): ConnectionInfo { return this.info }
  /** The transport serving the view now, or undefined while it is not live or stale. */
  get transport (): BrowserTransport | undefined {
    return this.info.state === 'live' || this.info.state === 'stale' ? this.info.transport : undefined
  }

  /**
   * Changes the view state (e.g. which room to watch); the super-peer answers with this viewer's
   * new view. Kept for reconnects.
   */
  async setViewState (viewState: JsonObject): Promise<void> {
    this.viewState = viewState
    this.viewVersion++
    // stop relaying the old class at once: the super-peer moves this viewer to its new swarm
    this.swarm?.leaveClass()
    await this.writer?.write(encoder.encode(JSON.stringify({ view: viewState })))
  }

  /**
   * Observers are read-only: the super-peer refuses any message, and this rejects with
   * ReadOnlyError carrying its answer. (Writers use connect(), browser/connect.ts.)
   */
  async send (message: Json, ..._rest: Json[]): Promise<unknown> {
    const writer = this.writer
    if (writer === undefined) throw new ReadOnlyError('not connected: observers cannot send messages')
    return await new Promise<never>((_resolve, reject) => {
      this.pendingSends.push({ reject })
      writer.write(encoder.encode(JSON.stringify({ send: message }))).catch((err: Error) => {
        this.pendingSends.shift()
        reject(err)
      })
    })
  }

  /** Stops following the document; the state stays readable. */
  async close (): Promise<void> {
    if (this.stopping.signal.aborted) return this.done
    this.stopping.abort()
    this.stream?.abort(new Error('view closed'))
    await this.done
  }

  /** Writers (browser/connect.ts): what the request adds, and the session's writer messages. */
  protected requestExtras (): Partial<ObserveRequest> { return {} }
  protected sessionOpened (_write: (data: Uint8Array) => Promise<void>): void {}
  /** True when the message was the writer's (an ack, windows, a send's refusal). */
  protected sessionMessage (_message: ServerMessage): boolean { return false }
  protected sessionEnded (): void {}

  private setConnection (info: ConnectionInfo): void {
    if (this.info.state === 'closed') return
    this.info = info
    this.dispatchEvent(new CustomEvent<ConnectionInfo>('state', { detail: info }))
  }

  private async bootstrap (): Promise<readonly string[]> {
    const source = this.options.bootstrap
    return typeof source === 'function' ? await source() : source
  }

  private async run (): Promise<void> {
    const transports = this.options.transports ?? DEFAULT_TRANSPORTS
    const backoff = { ...DEFAULT_BACKOFF, ...this.options.backoff }
    const ownNode = this.options.node === undefined
    this.node = this.options.node ?? await createObserverNode({
      transports,
      allowPrivateAddresses: this.options.allowPrivateAddresses ?? false,
      livenessIntervalMs: this.options.livenessIntervalMs ?? DEFAULT_LIVENESS_INTERVAL_MS,
      livenessTimeoutMs: this.options.livenessTimeoutMs ?? DEFAULT_LIVENESS_TIMEOUT_MS,
      ...(relays(this.options.swarm) ? { swarm: { rtcConfiguration: this.options.swarm?.rtcConfiguration } } : {})
    })
    let failures = 0
    let lastKey: string | undefined
    let lastError: ConnectionInfo['error']
    // Super-peers whose answer will not change by asking again (unknown doc, address refused by
    // this browser's settings): once every listed one gave such an answer, the view ends.
    const hopeless = new Map<string, { code: string, message: string }>()
    try {
      while (!this.stopping.signal.aborted) {
        const usable = transports.filter(transport => !this.refusedTransports.has(transport))
        const candidates = candidatesFrom(await this.bootstrap(), usable.length > 0 ? usable : transports)
        const candidate = nextCandidate(candidates, lastKey)
        if (candidate === undefined) {
          this.setConnection({ state: 'closed', error: { code: 'no-address', message: 'no usable super-peer address' } })
          return
        }
        lastKey = candidate.key
        const end = await this.follow(candidate)
        if (end === 'live') {
          failures = 0
          hopeless.clear()
          lastError = this.lastLoss
        } else if (end !== undefined) {
          if (end.kind === 'refused' && !end.retryable) {
            this.setConnection({ state: 'closed', error: { code: end.code, message: end.message } })
            return
          }
          lastError = { code: end.kind === 'refused' ? end.code : 'unreachable', message: end.message }
          if (end.kind === 'refused' && FINAL_ANSWERS.has(end.code)) hopeless.set(candidate.key, { code: end.code, message: end.message })
          else hopeless.delete(candidate.key)
          if (candidates.every(c => hopeless.has(c.key))) {
            this.setConnection({ state: 'closed', error: finalError(this.docId, [...hopeless.values()]) })
            return
          }
        }
        if (this.stopping.signal.aborted) break
        this.setConnection({ state: 'reconnecting', error: lastError })
        await sleep(backoffDelay(failures, backoff, Math.random()), this.stopping.signal)
        failures++
      }
    } finally {
      if (ownNode) await Promise.resolve(this.node.stop()).catch(() => {})
      this.setConnection({ state: 'closed', error: this.info.error })
    }
  }

  /** Dials the candidate's addresses in order and follows the document until the stream ends. */
  private async follow (candidate: Candidate): Promise<'live' | SessionEnd | undefined> {
    let end: SessionEnd | undefined
    for (const addr of candidate.addrs) {
      if (this.stopping.signal.aborted) return undefined
      const transport = transportOf(addr)
      this.setConnection({ state: this.observed.seq === null && this.info.state === 'connecting' ? 'connecting' : 'reconnecting', addr, transport })
      let connection: Connection
      let stream: Stream
      try {
        const signal = AbortSignal.any([this.stopping.signal, AbortSignal.timeout(this.options.dialTimeoutMs ?? DEFAULT_DIAL_TIMEOUT_MS)])
        connection = await (this.node as ObserverNode).dial(multiaddr(addr), { signal })
        stream = await connection.newStream(OBSERVE_PROTOCOL, { signal })
      } catch (err: any) {
        if (transport !== undefined && isTransportRefusal(err)) this.refusedTransports.add(transport)
        end = this.options.allowPrivateAddresses !== true && isGaterDenial(err)
          ? { kind: 'refused', code: 'private-address', retryable: true, message: `dial ${addr}: this browser's libp2p refuses loopback/LAN addresses and plain ws:// unless observe() is given allowPrivateAddresses: true (development, tests and LAN only)` }
          : { kind: 'lost', message: `dial ${addr}: ${err?.message ?? err}` }
        continue
      }
      const session = await this.session(stream, connection, { peerId: connection.remotePeer.toString(), addr, transport })
      if (session.end.kind === 'lost' && session.end.silent === true) {
        // the super-peer is gone: closing politely would wait on it
        connection.abort(new Error(session.end.message))
      } else if (this.options.node === undefined) {
        // a shared node may carry other views over the same connection
        await connection.close().catch(() => {})
      }
      if (!session.becameLive || session.end.kind !== 'lost') return session.end
      this.lastLoss = { code: session.end.silent === true ? 'silent' : 'lost', message: session.end.message }
      return 'live'
    }
    return end
  }

  private async session (stream: Stream, connection: Connection, where: { peerId: string, addr: string, transport?: BrowserTransport }): Promise<{ becameLive: boolean, end: SessionEnd }> {
    const { peerId, addr } = where
    const superPeerKey = connection.remotePeer.publicKey
    this.stream = stream
    const maxMessageBytes = this.options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES
    // One listener for the session's life splits what arrives into messages (no promise or abort
    // listener per message). The read loop drains it in microtasks between network events, so it
    // never holds much more than one message; the slack only avoids a false overflow on a burst.
    const messages = new StreamMessages(stream, { maxMessageBytes, maxBufferBytes: 2 * maxMessageBytes + 1024 * 1024, signal: this.stopping.signal })
    const viewVersion = this.viewVersion
    const request: ObserveRequest = { doc: this.docId, after: this.heldViewVersion === viewVersion ? this.observed.seq : null }
    if (this.options.token !== undefined) request.token = this.options.token
    if (this.viewState !== undefined) request.view = this.viewState
    Object.assign(request, this.requestExtras())
    let becameLive = false
    let stable: ReturnType<typeof setTimeout> | undefined
    // Silence watchdog, armed when the stream opens: no message for `timeoutMs` means the
    // super-peer is gone once it is known to send heartbeats: it said so on its first message
    // (with the interval, which may widen the timeout), or it sent one (a duplicate seq after its
    // first message). Before that the silence may be a super-peer that sends none (an older
    // release, --observe-heartbeat-ms 0) or one still looking the document up, so it is confirmed
    // by one probe per phase: unanswered, the super-peer is gone; answered, it is left to later
    // heartbeats or libp2p's probes. A relaying view counts every message of the stream (swarm
    // control messages too) before its frames go through the swarm's reorder, so it never sees a
    // heartbeat as a duplicate: it is armed only by an announcement, and never probes.
    const heartbeatTimeoutMs = this.options.heartbeatTimeoutMs ?? DEFAULT_HEARTBEAT_TIMEOUT_MS
    const relaying = relays(this.options.swarm)
    let timeoutMs = heartbeatTimeoutMs
    let accepted = false
    let heartbeats = false
    let announced: number | undefined
    let lastMessageAt = Date.now()
    let silent = false
    let ended = false
    let probing = false
    const probed = new Set<'answer' | 'heartbeat'>()
    const checkMs = Math.max(25, Math.round(heartbeatTimeoutMs / 10))
    let lastCheckAt = lastMessageAt
    const gone = (why: string): void => {
      silent = true
      stream.abort(new Error(why))
    }
    const watchdog = setInterval(() => {
      const now = Date.now()
      // A late check means this page was busy (its own lag, not the super-peer's silence): what
      // arrived meanwhile is still unread, so that time does not count as silence.
      if (now - lastCheckAt > 2 * checkMs) lastMessageAt = Math.max(lastMessageAt, now - checkMs)
      lastCheckAt = now
      if (now - lastMessageAt <= timeoutMs) return
      if (heartbeats) {
        gone(`no message from the super-peer for ${timeoutMs} ms ${announced !== undefined ? `(it announced heartbeats every ${announced} ms)` : 'after its heartbeats'}`)
        return
      }
      const phase = accepted ? 'heartbeat' : 'answer'
      if (relaying || probing || probed.has(phase)) return
      probing = true
      const since = lastMessageAt
      void answersProbe(connection, heartbeatTimeoutMs).then(alive => {
        probing = false
        probed.add(phase)
        // a message during the probe settles it as well
        if (alive || ended || lastMessageAt > since) return
        gone(`no message from the super-peer for ${heartbeatTimeoutMs} ms ${phase === 'answer' ? 'after the request' : 'after its first message'}, and no answer to a probe within ${heartbeatTimeoutMs} ms`)
      })
    }, checkMs)
    try {
      await writeMessage(stream, encoder.encode(JSON.stringify(request)), { signal: this.stopping.signal })
      this.writer = { write: async (data) => { await writeMessage(stream, data, { signal: this.stopping.signal }) } }
      this.sessionOpened(this.writer.write)
      // a quiet document sends nothing: a stream that stayed open long enough also counts as working
      stable = setTimeout(() => { becameLive = true }, STABLE_SESSION_MS)
      const swarm = this.startSwarm(peerId, addr, superPeerKey, viewVersion, () => { becameLive = true })
      while (true) {
        const payload = await messages.next()
        lastMessageAt = Date.now()
        if (swarm !== undefined && swarm.fromSuperPeerControl(parseObject(payload))) continue
        const parsed = parseServerMessage(payload)
        if (!parsed.ok) return { becameLive, end: { kind: 'refused', code: 'bad-message', message: parsed.error, retryable: true } }
        const message = parsed.value
        if (isErrorMessage(message)) {
          return { becameLive, end: { kind: 'refused', code: message.code, message: message.error, retryable: RETRYABLE_ERROR_CODES.has(message.code) } }
        }
        // the first message may announce the super-peer's heartbeats: silence is death from now on
        if (!accepted && 'seq' in message && message.heartbeat !== undefined) {
          announced = message.heartbeat
          heartbeats = true
          timeoutMs = Math.max(heartbeatTimeoutMs, announced + ANNOUNCED_HEARTBEAT_MARGIN_MS) + (relaying ? RELAYING_EXTRA_MARGIN_MS : 0)
        }
        if (this.sessionMessage(message) || isAckMessage(message) || isAcceptedMessage(message) || isWindowsMessage(message)) continue
        if (isRefusedMessage(message)) {
          this.pendingSends.shift()?.reject(new ReadOnlyError(message.refused))
          continue
        }
        if (isStaleMessage(message)) {
          this.setConnection(message.stale ? { state: 'stale', ...where, upstreamAgeMs: message.age } : { state: 'live', ...where })
          continue
        }
        // Live only once the super-peer has accepted the request (its first frame, snapshot or
        // head), so a refused token or unknown doc never shows as live.
        if (this.info.state !== 'live') this.setConnection({ state: 'live', ...where })
        if (swarm !== undefined) {
          accepted = true
          // two feeds (the super-peer and a parent): the swarm puts their frames in seq order
          swarm.fromSuperPeer(message, payload)
          continue
        }
        const applied = this.observed.apply(message)
        // after the first message, a duplicate seq is a heartbeat: this super-peer sends them
        if (applied.kind === 'duplicate' && accepted) heartbeats = true
        accepted = true
        if (applied.kind === 'gap') {
          return { becameLive, end: { kind: 'lost', message: `gap: got seq ${applied.seq}, expected ${applied.expected}` } }
        }
        if (applied.kind === 'duplicate') continue
        // a reset for this stream's view state, with no change of it since
        if (applied.kind === 'reset' && this.viewVersion === viewVersion) this.heldViewVersion = viewVersion
        becameLive = true
        // a new frame comes from upstream, so it is not silent any more
        if (applied.kind === 'frame' && this.info.state === 'stale') this.setConnection({ state: 'live', ...where })
        this.dispatchEvent(new CustomEvent<ChangeDetail>('change', { detail: { seq: applied.seq, data: applied.data, reset: applied.kind === 'reset' } }))
      }
    } catch (err: any) {
      return { becameLive, end: { kind: 'lost', message: String(err?.message ?? err), silent } }
    } finally {
      ended = true
      messages.close()
      clearTimeout(stable)
      clearInterval(watchdog)
      this.swarm?.close()
      this.swarm = undefined
      this.stream = undefined
      this.writer = undefined
      this.sessionEnded()
      for (const pending of this.pendingSends.splice(0)) pending.reject(new ReadOnlyError('connection lost before the super-peer answered'))
      if (stream.status === 'open') stream.abort(new Error('observer session ended'))
    }
  }

  /** This session's place in its class's swarm, when the view relays (frames then go through it). */
  private startSwarm (peerId: string, addr: string, superPeerKey: PublicKey | undefined, viewVersion: number, onFrame: () => void): SwarmMember | undefined {
    if (!relays(this.options.swarm) || superPeerKey === undefined || this.node === undefined) return undefined
    const writer = this.writer
    this.swarm = new SwarmMember({
      node: this.node,
      docId: this.docId,
      superPeerAddr: addr.includes('/p2p/') ? addr : `${addr}/p2p/${peerId}`,
      superPeerKey,
      tell: message => { writer?.write(encoder.encode(JSON.stringify(message))).catch(() => {}) },
      integrate: message => {
        this.integrate(message, viewVersion, peerId, addr)
        onFrame()
      },
      note: text => { this.dispatchEvent(new CustomEvent<string>('swarm', { detail: text })) }
    }, this.options.swarm ?? {}, this.heldViewVersion === viewVersion ? this.observed.seq : null)
    return this.swarm
  }

  /** Integrates a message that is next in seq order (or a reset) and tells listeners. */
  private integrate (message: FrameMessage | ResetMessage, viewVersion: number, peerId: string, addr: string): void {
    const applied = this.observed.apply(message)
    if (applied.kind === 'gap' || applied.kind === 'duplicate') return
    if (applied.kind === 'reset' && this.viewVersion === viewVersion) this.heldViewVersion = viewVersion
    if (applied.kind === 'frame' && this.info.state === 'stale') this.setConnection({ state: 'live', peerId, addr })
    this.dispatchEvent(new CustomEvent<ChangeDetail>('change', { detail: { seq: applied.seq, data: applied.data, reset: applied.kind === 'reset' } }))
  }
}

/** The message as a JSON object, or {} (parseServerMessage then says what is wrong with it). */
function parseObject (payload: Uint8Array): JsonObject {
  try {
    const value = JSON.parse(new TextDecoder().decode(payload))
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? value : {}
  } catch {
    return {}
  }
}

/** What libp2p's connection monitor probes with; a super-peer that lacks it still answers (refusing it). */
const PROBE_PROTOCOL = '/ipfs/ping/1.0.0'

/**
 * True when the super-peer answers a protocol negotiation on `connection` within `timeoutMs`
 * (a round trip: multistream-select waits for its reply, and an unsupported protocol is a reply).
 */
async function answersProbe (connection: Connection, timeoutMs: number): Promise<boolean> {
  try {
    const probe = await connection.newStream(PROBE_PROTOCOL, { signal: AbortSignal.timeout(timeoutMs) })
    probe.abort(new Error('probe done'))
    return true
  } catch (err: any) {
    return err?.name === 'UnsupportedProtocolError'
  }
}

/** Refusals that every later attempt at the same super-peer would get too. */
const FINAL_ANSWERS: ReadonlySet<string> = new Set(['unknown-doc', 'private-address'])

/** The error a view ends with once every listed super-peer gave a final answer. */
function finalError (docId: string, answers: Array<{ code: string, message: string }>): { code: string, message: string } {
  const unknown = answers.find(answer => answer.code === 'unknown-doc')
  if (unknown !== undefined && answers.every(answer => answer.code === 'unknown-doc')) {
    return { code: 'unknown-doc', message: `no listed super-peer carries ${docId} (each refused it as unknown)` }
  }
  return answers.find(answer => answer.code === 'private-address') ?? answers[0]
}

/**
 * The browser itself refused the transport, not the super-peer: Chrome forbidding the SDP munging
 * WebRTC-Direct v1 relies on ("InvalidModificationError: SDP is modified in a non-acceptable
 * way"). Every later dial over it would fail the same way. Looks through causes and aggregates.
 */
function isTransportRefusal (err: any, depth = 0): boolean {
  if (err == null || depth > 4) return false
  if (err.name === 'InvalidModificationError' || /SDP is modified/i.test(String(err.message ?? ''))) return true
  return isTransportRefusal(err.cause, depth + 1) || (Array.isArray(err.errors) && err.errors.some((inner: any) => isTransportRefusal(inner, depth + 1)))
}

/** libp2p's connection gater refused every address of the dial (DialDeniedError). */
function isGaterDenial (err: any): boolean {
  return err?.name === 'DialDeniedError' || /connection gater denied/i.test(String(err?.message ?? ''))
}

async function sleep (ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return
  await new Promise<void>(resolve => {
    const timer = setTimeout(done, ms)
    function done (): void {
      clearTimeout(timer)
      signal.removeEventListener('abort', done)
      resolve()
    }
    signal.addEventListener('abort', done)
  })
}

/** Starts following `docId`; see LiveView. */
export function observe (docId: string, options: ObserveOptions): LiveView {
  return new LiveView(docId, options)
}
