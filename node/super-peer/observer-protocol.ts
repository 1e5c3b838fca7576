// One observer stream on a super-peer: reads the request, then view-state updates; writes through a
// bounded queue so a slow viewer costs its own memory and never delays anyone else.

import { lpStream } from '@libp2p/utils'
import { encodeMessage, errorMessage, ErrorCode, MAX_CLIENT_MESSAGE_BYTES, MAX_REQUEST_BYTES, parseClientMessage, parseRequest, payloadLength, refusedMessage } from '../../src/observe/protocol.ts'
import type { ObserveRequest, Parsed } from '../../src/observe/protocol.ts'
import type { SwarmClientMessage } from '../../src/swarm/index.ts'
import type { JsonObject } from '../../src/json.ts'
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
    payload = await lp.read({ signal: AbortSignal.timeout(timeoutMs) })
  } catch (err: any) {
    if (err?.name === 'TimeoutError' || err?.name === 'AbortError') return { ok: false, error: 'no request in time', code: ErrorCode.timeout }
    return { ok: false, error: `unreadable request: ${err?.message ?? err}`, code: ErrorCode.badRequest }
  }
  const parsed = parseRequest(payload.subarray())
  return parsed.ok ? { ...parsed, lp } : { ok: false, error: parsed.error, code: ErrorCode.badRequest }
}

/**
 * The write side of one observer. Messages arrive already encoded (shared by every observer of
 * the document); past maxQueuedBytes the queue is dropped and the observer is resynced with a
 * reset taken when its stream drains.
 */
export class ObserverSession {
  readonly stream: Stream
  /** Frames with seq <= skipThrough are not sent (the browser already has them). */
  skipThrough = 0
  closed = false
  /** Set once the request was accepted and the session joined a document. */
  joined = false
  /** The browser's peer id (its swarm identity when its document relays between browsers). */
  peer: string | undefined
  private readonly limits: SessionLimits
  private readonly counters: SessionCounters
  private readonly queue: Uint8Array[] = []
  private queuedBytes = 0
  private waitingForDrain = false
  private stallTimer: ReturnType<typeof setTimeout> | undefined
  private resyncPending = false
  private resetSource: () => Uint8Array = () => { throw new Error('resetSource not set') }
  private readonly onClosed: (session: ObserverSession) => void

  constructor (stream: Stream, limits: SessionLimits, counters: SessionCounters, onClosed: (session: ObserverSession) => void) {
    this.stream = stream
    this.limits = limits
    this.counters = counters
    this.onClosed = onClosed
    stream.addEventListener('close', () => { this.finish() })
  }

  /**
   * Reads what the browser sends after its request. A view-state update goes to onView; a `send`
   * is refused (observers are read-only) and nothing reaches the document; anything else ends the
   * session. Returns when the stream ends.
   */
  async listen (lp: LengthPrefixedStream<Stream>, onView: (view: JsonObject) => void, onSwarm?: (message: SwarmClientMessage) => string | undefined): Promise<void> {
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

  /** Where a resync gets its reset message (the current snapshot, encoded). */
  setResetSource (source: () => Uint8Array): void {
    this.resetSource = source
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
      return
    }
    this.queue.push(bytes)
    this.queuedBytes += bytes.byteLength
    this.pump()
  }

  /** Replies with an error and closes the stream; the rest of the server is unaffected. */
  fail (code: ErrorCode, error: string): void {
    if (this.closed) return
    if (this.joined) this.counters.ejected++
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
    stream.close({ signal: AbortSignal.timeout(CLOSE_GRACE_MS) })
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
    await this.stream.close({ signal: AbortSignal.timeout(CLOSE_GRACE_MS) }).catch((err: Error) => { this.stream.abort(err) })
  }

  private pump (): void {
    if (this.waitingForDrain || this.closed) return
    try {
      while (true) {
        let next = this.queue.shift()
        if (next === undefined) {
          if (!this.resyncPending) return
          this.resyncPending = false
          next = this.resetSource()
          if (payloadLength(next) > this.limits.maxMessageBytes) {
            this.fail(ErrorCode.tooLarge, `the snapshot exceeds ${this.limits.maxMessageBytes} bytes`)
            return
          }
        } else {
          this.queuedBytes -= next.byteLength
        }
        this.counters.sent++
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
    clearTimeout(this.stallTimer)
    this.queue.length = 0
    this.queuedBytes = 0
    this.onClosed(this)
  }
}
