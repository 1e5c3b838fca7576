// One observer stream on a super-peer: reads the request, then view-state updates; writes through a
// bounded queue so a slow viewer costs its own memory and never delays anyone else.
//
// Writes are coalesced: deliver() only queues, and every session with something queued is flushed
// once per turn of the event loop (one setImmediate for all of them), its queued messages in one
// stream write. Idle, that is one write per frame as before; when frames arrive faster than the
// process keeps up, each observer gets one write (one muxer frame, one Noise or SCTP message, one
// syscall) for all the frames it is behind by, instead of one per frame.

import { lpStream } from '@libp2p/utils'
import { announceHeartbeat, encodeMessage, errorMessage, ErrorCode, heartbeatAnnouncement, isAnnouncedInterval, MAX_CLIENT_MESSAGE_BYTES, MAX_REQUEST_BYTES, parseClientMessage, parseRequest, payloadLength, refusedMessage } from '../../src/observe/protocol.ts'
import { concatBytes } from '../../src/log/bytes.ts'
import { withDeadline } from '../deadline.ts'
import type { ObserveRequest, Parsed } from '../../src/observe/protocol.ts'
import type { SwarmClientMessage } from '../../src/swarm/index.ts'
import type { Json, JsonObject } from '../../src/json.ts'
import type { Stream } from '@libp2p/interface'
import type { LengthPrefixedStream } from '@libp2p/utils'

/** How long a browser may take to send its request after opening the stream. */
export const REQUEST_TIMEOUT_MS = 10_000
/** After an error reply, how long the remote gets to close its end before the stream is reset. */
export const CLOSE_GRACE_MS = 5_000

export interface SessionLimits {
  /** Backlog (our queue plus what the stream itself still holds) past which the observer is resynced. */
  maxQueuedBytes: number
  maxMessageBytes: number
  /** An observer whose stream accepts nothing for this long is dropped (it stopped reading). */
  stallTimeoutMs: number
  /**
   * The heartbeat interval this session's server keeps (observer-server.ts), announced on the
   * stream's first message so the browser can count silence as death from then on; 0 or absent:
   * no heartbeats, nothing announced.
   */
  heartbeatMs?: number
}

export interface SessionCounters {
  sent: number
  /** Messages observers tried to send (all refused). */
  refusedSends?: number
  resyncs: number
  /** Sessions ended by fail() after they joined a document. */
  ejected: number
  /** Sessions dropped because their stream accepted nothing for stallTimeoutMs. */
  frozen: number
}

/** View-state updates allowed per observer within VIEW_UPDATE_WINDOW_MS; each may rebuild a class view. */
export const MAX_VIEW_UPDATES = 20
export const VIEW_UPDATE_WINDOW_MS = 10_000

export type RequestResult =
  | { ok: true, value: ObserveRequest, lp: LengthPrefixedStream<Stream> }
  | { ok: false, error: string, code: ErrorCode }

/** Reads the request; expected failures come back as an error code to reply with. */
export async function readRequest (stream: Stream, timeoutMs = REQUEST_TIMEOUT_MS): Promise<RequestResult> {
  const lp = lpStream(stream, { maxDataLength: MAX_REQUEST_BYTES })
  let payload
  try {
    payload = await withDeadline(timeoutMs, 'observe request', signal => lp.read({ signal }))
  } catch (err: any) {
    if (err?.name === 'TimeoutError' || err?.name === 'AbortError') return { ok: false, error: 'no request in time', code: ErrorCode.timeout }
    return { ok: false, error: `unreadable request: ${err?.message ?? err}`, code: ErrorCode.badRequest }
  }
  const parsed = parseRequest(payload.subarray())
  return parsed.ok ? { ...parsed, lp } : { ok: false, error: parsed.error, code: ErrorCode.badRequest }
}

/** Largest single coalesced write; bigger backlogs go out in several. */
export const MAX_COALESCED_BYTES = 64 * 1024

/** Sessions with queued messages, flushed together on the next turn of the event loop. */
const dirty = new Set<ObserverSession>()
let flushScheduled = false

function scheduleFlush (session: ObserverSession): void {
  dirty.add(session)
  if (flushScheduled) return
  flushScheduled = true
  setImmediate(flushDirty)
}

function flushDirty (): void {
  flushScheduled = false
  for (const session of dirty) {
    dirty.delete(session)
    session.flush()
  }
}

/** What a session does with the messages beyond view-state updates; absent, they are refused. */
export interface SessionHandlers {
  /** A writer stream's `send` (node/reduce/); an observer's is refused as read-only. */
  onSend?: (send: Json) => void
  /** A swarm message of a relaying document; returns an error that ends the session, or undefined. */
  onSwarm?: (message: SwarmClientMessage) => string | undefined
}

/**
 * What a document's channel and the admission need of a viewer's session: an ObserverSession,
 * or, when edge workers hold the streams, the primary's stand-in for one (edge-workers.ts).
 */
export interface ViewerSession {
  /** Frames with seq <= skipThrough are not sent (the browser already has them). */
  skipThrough: number
  readonly closed: boolean
  /** The browser's peer id. */
  peer: string | undefined
  /** The browser's address as the edge saw it (a multiaddr): with the peer id, whose send budget it uses. */
  address: string | undefined
  deliver (seq: number, bytes: Uint8Array): void
  fail (code: ErrorCode, error: string): void
  /** Where a resync gets its reset message (the current snapshot, encoded). */
  setResetSource (source: () => Uint8Array): void
  /** Runs `listener` once, when the session ends. */
  onClose (listener: () => void): void
}

/**
 * The write side of one observer. Messages arrive already encoded (shared by every observer of
 * the document); past maxQueuedBytes the queue is dropped and the observer is resynced with a
 * reset taken when its stream drains.
 */
export class ObserverSession implements ViewerSession {
  readonly stream: Stream
  /** Frames with seq <= skipThrough are not sent (the browser already has them). */
  skipThrough = 0
  closed = false
  /** Set once the request was accepted and the session joined a document. */
  joined = false
  /** The browser's peer id (its swarm identity when its document relays between browsers). */
  peer: string | undefined
  /** The browser's address as the edge saw it. */
  address: string | undefined
  private readonly limits: SessionLimits
  private readonly counters: SessionCounters
  private readonly queue: Uint8Array[] = []
  private queuedBytes = 0
  private waitingForDrain = false
  private stallTimer: ReturnType<typeof setTimeout> | undefined
  private resyncPending = false
  /** The reset for the pending resync was asked for elsewhere (resetSource returned undefined). */
  private resetAwaited = false
  /** Highest frame seq queued for this session (resets not included: their seq is not known here). */
  private sentThrough = 0
  /** When the stream was last handed bytes (ms, Date.now()); a heartbeat follows a quiet spell. */
  private lastSentAt = Date.now()
  /** The heartbeat interval this session announces (0: none, heartbeats off or beyond announcing). */
  private readonly announcedMs: number
  /** The heartbeat interval still to be announced on the first message; 0 once done (or never). */
  private announceMs: number
  /** Some bytes were handed to the stream (so the announcement, if any, went with them). */
  private handedAny = false
  /** Queued parts that continue the message before them (an announced first message): not counted as sent. */
  private readonly continuations = new WeakSet<Uint8Array>()
  private resetSource: () => Uint8Array | undefined = () => { throw new Error('resetSource not set') }
  private readonly onClosed: (session: ObserverSession) => void
  private closeListeners: Array<() => void> = []

  constructor (stream: Stream, limits: SessionLimits, counters: SessionCounters, onClosed: (session: ObserverSession) => void) {
    this.stream = stream
    this.limits = limits
    this.counters = counters
    this.onClosed = onClosed
    this.announcedMs = isAnnouncedInterval(limits.heartbeatMs) ? limits.heartbeatMs : 0
    this.announceMs = this.announcedMs
    stream.addEventListener('close', () => { this.finish() })
  }

  /**
   * Reads what the browser sends after its request. A view-state update goes to onView; a `send`
   * goes to onSend on a writer stream, and is refused otherwise (observers are read-only) so
   * nothing reaches the document; anything else ends the session. Returns when the stream ends.
   */
  async listen (lp: LengthPrefixedStream<Stream>, onView: (view: JsonObject) => void, handlers: SessionHandlers = {}): Promise<void> {
    const { onSend, onSwarm } = handlers
    this.joined = true
    const updates: number[] = []
    while (!this.closed) {
      let payload
      try {
        payload = await lp.read()
      } catch {
        return // closed, reset, or over MAX_CLIENT_MESSAGE_BYTES: the stream is gone either way
      }
      if (payload.byteLength > MAX_CLIENT_MESSAGE_BYTES) {
        this.fail(ErrorCode.badRequest, `messages from observers are limited to ${MAX_CLIENT_MESSAGE_BYTES} bytes`)
        return
      }
      const message = parseClientMessage(payload.subarray())
      if (!message.ok) {
        this.fail(ErrorCode.badRequest, message.error)
        return
      }
      if ('send' in message.value && onSend !== undefined) {
        onSend(message.value.send)
        continue
      }
      if ('send' in message.value) {
        this.counters.refusedSends = (this.counters.refusedSends ?? 0) + 1
        this.deliver(0, encodeMessage(refusedMessage(ErrorCode.readOnly, 'observe is read-only: this connection cannot send messages')))
        continue
      }
      if (!('view' in message.value)) {
        // a swarm message: an error means it makes no sense here, which ends the session
        const refused = onSwarm === undefined ? 'this document does not relay between browsers' : onSwarm(message.value)
        if (refused !== undefined) {
          this.fail(ErrorCode.badRequest, refused)
          return
        }
        continue
      }
      const now = Date.now()
      while (updates.length > 0 && now - updates[0] > VIEW_UPDATE_WINDOW_MS) updates.shift()
      if (updates.length >= MAX_VIEW_UPDATES) {
        this.fail(ErrorCode.rateLimited, `at most ${MAX_VIEW_UPDATES} view changes per ${VIEW_UPDATE_WINDOW_MS / 1000} s`)
        return
      }
      updates.push(now)
      onView(message.value.view)
    }
  }

  /**
   * Where a resync gets its reset message (the current snapshot, encoded). A source that has to
   * ask elsewhere (an edge worker asks its primary) returns undefined and later hands the reset
   * to supplyReset; frames that come meanwhile are dropped, as the reset supersedes them.
   */
  setResetSource (source: () => Uint8Array | undefined): void {
    this.resetSource = source
  }

  /**
   * The reset an undefined resetSource() promised; ignored unless a resync still waits for it.
   * It goes first whatever the stream holds (as a reset taken at a drain would), and the frames
   * after it queue behind it.
   */
  supplyReset (bytes: Uint8Array): void {
    if (this.closed || !this.resetAwaited) return
    this.resetAwaited = false
    this.resyncPending = false
    if (payloadLength(bytes) > this.limits.maxMessageBytes) {
      this.fail(ErrorCode.tooLarge, `the snapshot exceeds ${this.limits.maxMessageBytes} bytes`)
      return
    }
    this.enqueue(0, bytes)
    if (!this.waitingForDrain) scheduleFlush(this)
  }

  onClose (listener: () => void): void {
    if (this.closed) listener()
    else this.closeListeners.push(listener)
  }

  /** Queues one encoded message for frame `seq` (pass 0 for a reset: never skipped). */
  deliver (seq: number, bytes: Uint8Array): void {
    if (this.closed || (seq !== 0 && seq <= this.skipThrough)) return
    if (payloadLength(bytes) > this.limits.maxMessageBytes) {
      this.fail(ErrorCode.tooLarge, `${seq === 0 ? 'the snapshot' : `frame ${seq}`} exceeds ${this.limits.maxMessageBytes} bytes`)
      return
    }
    if (this.resyncPending) return
    // The stream keeps what the transport would not take yet (the muxer window or the socket is
    // full): that counts too, or a reader that stopped reading would hold far more than the limit.
    const backlog = this.queuedBytes + this.stream.writeBufferLength
    if (backlog + bytes.byteLength > this.limits.maxQueuedBytes && backlog > 0) {
      // too far behind: everything we queued is superseded by the reset sent once the stream drains
      this.queue.length = 0
      this.queuedBytes = 0
      this.resyncPending = true
      this.counters.resyncs++
      // the announcement, if it was dropped unsent, goes with the reset instead
      if (!this.handedAny) this.announceMs = this.announcedMs
      // The stream may hold bytes without waiting for a drain (send() said it took them): then no
      // drain comes to send the reset, so the next flush does.
      if (!this.waitingForDrain) scheduleFlush(this)
      return
    }
    this.enqueue(seq, bytes)
    if (seq > this.sentThrough) this.sentThrough = seq
    if (!this.waitingForDrain) scheduleFlush(this)
  }

  /**
   * Queues one message; the stream's first one carries the heartbeat announcement. A first
   * message that is a frame (`seq` > 0: a catch-up, sealed in a relaying document, whose bytes a
   * relay forwards and its children verify) is left as it is, behind a frame without data for
   * the seq before it (the request's `after`, which the browser holds) that carries it; any other
   * (a reset, the join acknowledgement) carries it in front of its own members.
   */
  private enqueue (seq: number, bytes: Uint8Array): void {
    const announceMs = this.announceMs
    this.announceMs = 0
    let parts: Uint8Array[] = [bytes]
    if (announceMs > 0 && seq > 0) {
      parts = [encodeMessage(heartbeatAnnouncement(seq - 1, announceMs)), bytes]
    } else if (announceMs > 0) {
      const announced = announceHeartbeat(bytes, announceMs, this.limits.maxMessageBytes)
      if (announced !== undefined) {
        parts = announced
        this.continuations.add(announced[1])
      }
    }
    for (const part of parts) {
      this.queue.push(part)
      this.queuedBytes += part.byteLength
    }
  }

  /**
   * Sends a frame message without data for the last frame seq this session was sent (or the one
   * the browser said it holds), a duplicate and so a no-op for the browser, when nothing was
   * sent for `quietMs`: the browser's proof that this super-peer is alive. Only with nothing
   * queued or waiting to drain; the seq is never above one the browser was sent, so it is never
   * a gap, whatever the document's head did meanwhile. (After a reset the seq may be lower than
   * the browser's: still a duplicate.)
   */
  heartbeat (now: number, quietMs: number, encode: (seq: number) => Uint8Array): boolean {
    if (!this.joined || this.closed || this.resyncPending || this.waitingForDrain || this.queue.length > 0) return false
    if (now - this.lastSentAt < quietMs) return false
    this.deliver(0, encode(Math.max(this.sentThrough, this.skipThrough)))
    return true
  }

  /** Writes what is queued now (normally called once per event-loop turn by the shared flush). */
  flush (): void {
    this.pump()
  }

  /** Replies with an error and closes the stream; the rest of the server is unaffected. */
  fail (code: ErrorCode, error: string): void {
    if (this.closed) return
    if (this.joined) this.counters.ejected++
    // what was queued before the error still goes first, as far as the stream takes it
    if (!this.resyncPending) this.pump()
    if (this.closed) return
    this.queue.length = 0
    this.queuedBytes = 0
    this.resyncPending = false
    const stream = this.stream
    try {
      stream.send(encodeMessage(errorMessage(code, error)))
    } catch {
      // already closing: nothing to tell
    }
    this.finish()
    withDeadline(CLOSE_GRACE_MS, `observer close after "${code}"`, signal => stream.close({ signal }))
      .then(() => {
        if (stream.status === 'open' || stream.status === 'closing') {
          setTimeout(() => { stream.abort(new Error(`observer did not close after "${code}"`)) }, CLOSE_GRACE_MS).unref()
        }
      }, (err: Error) => { stream.abort(err) })
  }

  /** Closes without an error (server stopping). */
  async close (): Promise<void> {
    if (this.closed) return
    this.finish()
    await withDeadline(CLOSE_GRACE_MS, 'observer close', signal => this.stream.close({ signal })).catch((err: Error) => { this.stream.abort(err) })
  }

  private pump (): void {
    if (this.waitingForDrain || this.closed) return
    try {
      while (true) {
        if (this.queue.length === 0) {
          if (!this.resyncPending || this.resetAwaited) return
          const reset = this.resetSource()
          if (reset === undefined) {
            this.resetAwaited = true // supplyReset delivers it
            return
          }
          this.resyncPending = false
          if (payloadLength(reset) > this.limits.maxMessageBytes) {
            this.fail(ErrorCode.tooLarge, `the snapshot exceeds ${this.limits.maxMessageBytes} bytes`)
            return
          }
          this.enqueue(0, reset)
        }
        const next = this.takeBatch()
        this.lastSentAt = Date.now()
        this.handedAny = true
        if (!this.stream.send(next)) break
      }
    } catch (err: any) {
      this.stream.abort(err)
      return
    }
    this.waitingForDrain = true
    this.stallTimer = setTimeout(() => { this.dropFrozen() }, this.limits.stallTimeoutMs)
    this.stallTimer.unref()
    this.stream.onDrain().then(() => {
      clearTimeout(this.stallTimer)
      this.waitingForDrain = false
      this.pump()
    }, () => { this.finish() })
  }

  /** Removes the queued messages that fit in one write (at least one) and returns them as one buffer. */
  private takeBatch (): Uint8Array {
    let count = 1
    let bytes = this.queue[0].byteLength
    while (count < this.queue.length && bytes + this.queue[count].byteLength <= MAX_COALESCED_BYTES) bytes += this.queue[count++].byteLength
    // one buffer: the observe protocol is length-prefixed, so message boundaries need not survive
    const batch = count === 1 ? this.queue[0] : concatBytes(this.queue.slice(0, count), bytes)
    for (let i = 0; i < count; i++) if (!this.continuations.has(this.queue[i])) this.counters.sent++
    this.queue.splice(0, count)
    this.queuedBytes -= bytes
    return batch
  }

  /** Nothing left the stream for stallTimeoutMs: the reader is gone or frozen, and holds memory. */
  private dropFrozen (): void {
    if (this.closed) return
    this.counters.frozen++
    if (this.joined) this.counters.ejected++
    this.finish()
    // No error message: it would only queue behind the bytes the reader is not taking.
    this.stream.abort(new Error(`observer read nothing for ${this.limits.stallTimeoutMs} ms`))
  }

  private finish (): void {
    if (this.closed) return
    this.closed = true
    dirty.delete(this)
    clearTimeout(this.stallTimer)
    this.queue.length = 0
    this.queuedBytes = 0
    this.onClosed(this)
    for (const listener of this.closeListeners.splice(0)) listener()
  }
}
