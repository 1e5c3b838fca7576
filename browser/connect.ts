// connect(docId, { token, ... }): a live view, as observe() gives, whose viewer may also send
// messages on the document's input channels (docs/protocol.md, "Writer messages").

import { encodeSend } from '../src/reduce/writer-message.ts'
import { WRITER_TEXT } from '../src/reduce/partial.ts'
import { isAcceptedMessage, isAckMessage, isRefusedMessage, isWindowsMessage } from '../src/observe/protocol.ts'
import { LiveView } from './observe.ts'
import type { ObserveOptions } from './observe.ts'
import type { Json } from '../src/json.ts'
import type { ObserveRequest, ServerMessage } from '../src/observe/protocol.ts'

export interface ConnectOptions extends ObserveOptions {
  /**
   * This writer session's id (1-64 of A-Z a-z 0-9 _ -, at least 128 random bits). Keep it, with
   * the messages not yet acknowledged, to resume after a page reload; random by default.
   */
  writer?: string
}

/** What a send resolves with: the message is counted in the document at frame `seq` (or before). */
export interface SendReceipt {
  readonly channel: string
  readonly id: number
  readonly seq: number
}

/** A send was refused: `code` says why (docs/protocol.md), `rule` which schema rule failed. */
export class SendRefusedError extends Error {
  static override name = 'SendRefusedError'
  override name = 'SendRefusedError'
  readonly code: string
  readonly channel: string
  readonly rule?: string
  constructor (message: string, code: string, channel: string, rule?: string) {
    super(message)
    this.code = code
    this.channel = channel
    this.rule = rule
  }
}

interface Outgoing {
  readonly channel: string
  readonly id: number
  readonly body: Json
  /** Origin and stamp of its last first send: where it may already be counted. */
  stamp: { origin: string, window: number } | null
  /** That super-peer said `accepted`: the message is in that window (else in it or in none). */
  accepted: boolean
  /** Sent on the current session (a restamp or a resend goes again). */
  sent: boolean
  readonly resolve: (receipt: SendReceipt) => void
  readonly reject: (err: Error) => void
}

/** A channel's window width, and how many windows the super-peer's clock is ahead of ours. */
interface OpenWindow { widthMs: number, skew: number }

/**
 * Windows the super-peer's clock is ahead: its open window against ours when it said so. A
 * difference of -1 is most likely a boundary crossed while the message travelled, not skew.
 */
function skewOf (open: number, at: number, widthMs: number): number {
  const skew = open - Math.floor(at / widthMs)
  return skew === -1 ? 0 : skew
}

function randomWriterId (): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16))
  let out = ''
  for (const b of bytes) out += b.toString(16).padStart(2, '0')
  return out
}

const encoder = new TextEncoder()

/**
 * A writer: the document's view (events and state as LiveView) plus send(). Every send gets the
 * next message id of this writer session; one that was not acknowledged when the connection
 * was lost is sent again to the next super-peer with where it was first sent, so it counts
 * exactly once (docs/protocol.md, "Exactly once").
 */
export class Writer extends LiveView {
  readonly writerId: string
  private nextId = 1
  private readonly outgoing = new Map<number, Outgoing>()
  private write: ((data: Uint8Array) => Promise<void>) | undefined
  private origin: string | undefined
  private windows = new Map<string, OpenWindow>()

  constructor (docId: string, options: ConnectOptions) {
    // Checked before the view starts connecting.
    if (options.writer !== undefined && !WRITER_TEXT.test(options.writer)) throw new TypeError(`connect(): writer must be 1-64 of A-Z a-z 0-9 _ -, got ${JSON.stringify(options.writer)}`)
    super(docId, options)
    this.writerId = options.writer ?? randomWriterId()
  }

  /** Messages sent and not yet acknowledged or refused. */
  get unacknowledged (): number {
    return this.outgoing.size
  }

  /**
   * Sends one message on `channel`. Resolves once it is counted in the document (at seq N);
   * rejects with SendRefusedError if the super-peer refused it (unknown channel, not allowed,
   * too large, invalid, over the rate; `unknown-outcome` when the super-peer that took it failed
   * before saying so and its window counted: counted once or not at all), or an Error if the
   * writer was closed first.
   */
  override async send (channel: string, message?: Json): Promise<SendReceipt> {
    if (message === undefined) throw new TypeError('send(channel, message): message is required')
    if (this.connection.state === 'closed') throw new Error('connect(): the writer is closed')
    const id = this.nextId++
    return await new Promise<SendReceipt>((resolve, reject) => {
      const out: Outgoing = { channel, id, body: message, stamp: null, accepted: false, sent: false, resolve, reject }
      this.outgoing.set(id, out)
      this.transmit(out)
    })
  }

  override async close (): Promise<void> {
    await super.close()
    for (const out of this.outgoing.values()) out.reject(new Error('connect(): closed before the message was acknowledged'))
    this.outgoing.clear()
  }

  protected override requestExtras (): Partial<ObserveRequest> {
    return { mode: 'connect', writer: this.writerId }
  }

  protected override sessionOpened (write: (data: Uint8Array) => Promise<void>): void {
    this.write = write
  }

  protected override sessionEnded (): void {
    this.write = undefined
    this.origin = undefined
    for (const out of this.outgoing.values()) out.sent = false
  }

  protected override sessionMessage (message: ServerMessage): boolean {
    if (isWindowsMessage(message)) {
      const at = Date.now()
      this.origin = message.windows.origin
      this.windows = new Map(message.windows.channels.map(c => [c.channel, { widthMs: c.widthMs, skew: skewOf(c.open, at, c.widthMs) }]))
      for (const out of this.outgoing.values()) this.transmit(out)
      return true
    }
    if (isAcceptedMessage(message)) {
      for (const id of message.accepted.ids) {
        const out = this.outgoing.get(id)
        if (out === undefined || out.channel !== message.accepted.channel || out.stamp === null) continue
        // This super-peer put it in that window (a resend to the origin it was first sent to may
        // be taken into the open window): that window is now the only one that can hold it.
        if (out.stamp.origin !== this.origin) continue
        out.stamp = { origin: out.stamp.origin, window: message.accepted.window }
        out.accepted = true
      }
      return true
    }
    if (isAckMessage(message)) {
      for (const id of message.ack.ids) {
        const out = this.outgoing.get(id)
        if (out === undefined || out.channel !== message.ack.channel) continue
        this.outgoing.delete(id)
        out.resolve({ channel: out.channel, id, seq: message.ack.seq })
      }
      return true
    }
    if (isRefusedMessage(message) && message.id !== undefined && message.channel !== undefined) {
      const out = this.outgoing.get(message.id)
      if (out === undefined) return true
      if (message.code === 'window-closed' && message.open !== undefined) {
        // Not counted anywhere: stamp it again for the window the super-peer has open (unless
        // this answers an older copy, already restamped).
        if (out.stamp !== null && out.stamp.window >= message.open) return true
        const known = this.windows.get(out.channel)
        if (known !== undefined) this.windows.set(out.channel, { ...known, skew: skewOf(message.open, Date.now(), known.widthMs) })
        out.stamp = null
        out.accepted = false
        out.sent = false
        this.transmit(out)
        return true
      }
      this.outgoing.delete(message.id)
      out.reject(new SendRefusedError(message.refused, message.code, message.channel, message.rule))
      return true
    }
    return false
  }

  /** Sends `out` on the current session, if there is one and it has not gone there yet. */
  private transmit (out: Outgoing): void {
    const write = this.write
    const origin = this.origin
    if (write === undefined || origin === undefined || out.sent) return
    out.sent = true
    let line: string
    if (out.stamp !== null) {
      // It may be counted where it was first sent: say where (that super-peer, if it is this one,
      // knows), and whether it said it took it: unheard, the message is in that window or in none.
      const prior = out.accepted ? out.stamp : { ...out.stamp, unconfirmed: true }
      line = encodeSend({ channel: out.channel, id: out.id, prior, body: out.body })
    } else {
      const window = this.openWindow(out.channel)
      if (window === undefined) {
        // No such channel here: the super-peer's refusal says why (a first send, stamped 0).
        line = encodeSend({ channel: out.channel, id: out.id, window: 0, body: out.body })
      } else {
        out.stamp = { origin, window }
        out.accepted = false
        line = encodeSend({ channel: out.channel, id: out.id, window, body: out.body })
      }
    }
    write(encoder.encode(line)).catch(() => { out.sent = false })
  }

  /**
   * The window to stamp: the super-peer's open window when the message arrives. It accepts the
   * open one or the next, so aim half a window ahead: a stamp that is early by one is taken, one
   * that is late is refused (and restamped at the cost of a round trip).
   */
  private openWindow (channel: string): number | undefined {
    const known = this.windows.get(channel)
    if (known === undefined) return undefined
    return Math.floor((Date.now() + known.widthMs / 2) / known.widthMs) + known.skew
  }
}

/** Follows `docId` as observe() does, and lets this viewer send; see Writer. */
export function connect (docId: string, options: ConnectOptions): Writer {
  return new Writer(docId, options)
}
