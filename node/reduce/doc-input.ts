// One document's input on a super-peer (docs/architecture.md, "Input's journey up"): admits its
// writers' sends, merges them per window, signs each closed window, merges its tier children's
// partials, sends one partial per channel per window to its parent, and acknowledges writers
// from the signed log it already follows ("@input").

import { randomBytes } from 'node:crypto'
import {
  admit, channelsOfTree, countedInTree, decodeSend, encodeAccepted, encodeAck, encodeRefusal, encodeWindows, fencedInTree,
  OriginWindows, Outbox, RateBucket, RateLimits, readAcks, resentInTree, resentKey, windowAt, windowStart
} from '../../src/reduce/index.ts'
import type { Channel, Partial, Prior, Sender } from '../../src/reduce/index.ts'
import { frameJsonBytes } from '../../src/observe/protocol.ts'
import { signPartial, verifyPartial } from './signing.ts'
import { RESEND_MS } from './parent-link.ts'
import type { ParentLink } from './parent-link.ts'
import type { Json, JsonObject } from '../../src/json.ts'
import type { AppliedFrame } from '../../src/replica/index.ts'
import type { PrivateKey } from '@libp2p/interface'
import type { Logger } from '../log.ts'
import type { Counters } from '../metrics.ts'

/**
 * A resend whose prior window ended less than this ago is held, not sent up at once: that
 * window's partial may still be on its way, and counting the resend first would fence its origin.
 */
export const RESEND_GRACE_MS = 3_000
/**
 * A tier holds its send this long past each window's end (at most half a window), so that its
 * children's partials of that window, sent at their own window end, go up in the same partial.
 */
export const CHILD_GATHER_MS = 60
/** How long a super-peer remembers who was in its counted windows (a writer reconnecting here). */
export const RECENT_WINDOWS_MS = 10_000
/** How often refilled send budgets are dropped (their memory follows active viewers). */
const RATE_SWEEP_MS = 10_000
/** How often windows are closed and partials sent (the smallest window is 50 ms). */
export const TICK_MS = 25

/** A connected writer, as the document's input sees it. */
export interface WriterLink {
  readonly writer: string
  sender: Sender
  /** The stream's remote peer id and multiaddr: with the token's principal, whose send budget it uses. */
  readonly remote: { readonly peer: string, readonly address: string }
  /** Sends one encoded writer message (frameJsonBytes of its JSON). */
  deliver (bytes: Uint8Array): void
  /** Ends the stream with an error code the browser acts on. */
  end (code: 'fenced', message: string): void
}

export interface DocInputComponents {
  readonly docId: string
  /** This node's backbone peer id and key (origins are "<peer id>/<boot id>"; entries are signed with the key). */
  readonly peerId: string
  readonly privateKey: PrivateKey
  /** The replica's tree and head seq. */
  tree (): JsonObject
  head (): number
  /** Where partials go now: the tier parent or the authority; undefined when none is known. */
  parentOf (): string | undefined
  readonly link: ParentLink
  /** Fleet membership of an origin's peer (entries of others are dropped). */
  isMember (peer: string): boolean
  readonly counters: Counters
  readonly log: Logger
}

interface Held { writer: string, id: number, prior: Prior, body: Json, until: number }

/** One channel's state on this node. */
class ChannelInput {
  channel: Channel
  windows: OriginWindows<unknown>
  readonly outbox: Outbox
  /** Accepted first sends by window, by writer: acknowledged once the window counts. */
  readonly waiting = new Map<number, Map<string, number[]>>()
  /**
   * Windows counted lately (kept RECENT_WINDOWS_MS), with who was in them: a writer that lost its
   * connection before hearing `accepted` or `ack` and came back here is answered from it.
   */
  readonly recent = new Map<number, { byWriter: Map<string, number[]>, seq: number, until: number }>()
  /** Resends sent up, by resentKey: acknowledged once the log lists them. */
  readonly resentWaiting = new Map<string, { writer: string, id: number }>()
  readonly held = new Map<string, Held>()
  /** When this channel's next partial may go up: once per window (docs/protocol.md, "Partials up the tree"). */
  sendAt = 0
  /** A tier child sent a partial for this channel: wait CHILD_GATHER_MS past each window's end for the others. */
  hasChildren = false

  constructor (channel: Channel, origin: string) {
    this.channel = channel
    this.windows = new OriginWindows({ channel: channel.name, reducer: channel.reducer, widthMs: channel.windowMs, origin })
    this.outbox = new Outbox(channel.name, channel.reducer.code)
  }

  holds (writer: string, id: number): boolean {
    for (const byWriter of this.waiting.values()) if (byWriter.get(writer)?.includes(id) === true) return true
    return false
  }
}

const encoder = new TextEncoder()
const message = (json: string): Uint8Array => frameJsonBytes(encoder.encode(json))
const newBoot = (): string => randomBytes(8).toString('base64url')

export class DocInput {
  private readonly c: DocInputComponents
  private origin: string
  private readonly inputs = new Map<string, ChannelInput>()
  private readonly writers = new Map<string, WriterLink>()
  /** First sends accepted since the last tick, told to their streams at the next one (`accepted`). */
  private accepted = new Map<WriterLink, Map<string, Map<number, number[]>>>()
  /** Send budgets per viewer and channel, across the viewer's streams and connections. */
  private readonly rates = new RateLimits()
  private lastRateSweep = 0
  private timer: ReturnType<typeof setInterval> | undefined
  private ticking = false
  private stopped = false

  constructor (components: DocInputComponents) {
    this.c = components
    this.origin = `${components.peerId}/${newBoot()}`
    this.timer = setInterval(() => { void this.tick() }, TICK_MS)
    this.timer.unref()
  }

  get currentOrigin (): string {
    return this.origin
  }

  /** A writer connected: it gets this node's origin and each channel's open window. */
  attach (link: WriterLink, now = Date.now()): void {
    this.writers.set(link.writer, link)
    const channels = [...channelsOfTree(this.c.tree()).channels.values()]
    link.deliver(message(encodeWindows(this.origin, channels.map(ch => ({ channel: ch.name, widthMs: ch.windowMs, open: windowAt(now, ch.windowMs) })))))
  }

  detach (link: WriterLink): void {
    if (this.writers.get(link.writer) === link) this.writers.delete(link.writer)
    this.accepted.delete(link)
  }

  get writerCount (): number {
    return this.writers.size
  }

  /** One `{"send": ...}` of a writer: admitted into a window, or refused with a reason. */
  send (link: WriterLink, json: Json, now = Date.now()): void {
    const decoded = decodeSend(json)
    if (!decoded.ok) {
      this.refuse(link, { channel: '', id: 0, code: 'bad-send', error: decoded.error })
      return
    }
    const send = decoded.send
    const tree = this.c.tree()
    const channels = channelsOfTree(tree)
    const declared = channels.channels.get(send.channel)
    const principal = link.sender.viewer.principal
    const bucket = declared === undefined
      ? undefined
      : this.rates.gate(send.channel, declared.rate, { principal: typeof principal === 'string' ? principal : null, ...link.remote }, now)
    const admission = admit(channels, send.channel, send.body, link.sender, tree, bucket ?? new RateBucket({ messages: 1, perMs: 1000 }, now), now)
    if (!admission.ok) {
      this.refuse(link, { channel: send.channel, id: send.id, code: admission.code, error: admission.error, rule: admission.rule })
      return
    }
    const input = this.inputOf(admission.channel)
    if ('window' in send) {
      if (!this.firstSend(input, link, send.id, send.window, send.body, now)) bucket?.refund()
      return
    }
    this.resend(input, link, send.id, send.prior, send.body, now)
  }

  /** False when the stamp was refused (window-closed). */
  private firstSend (input: ChannelInput, link: WriterLink, id: number, stamp: number, body: Json, now: number): boolean {
    const verdict = input.windows.add(stamp, body, link.writer, id, now)
    if (!verdict.ok) {
      this.refuse(link, { channel: input.channel.name, id, code: 'window-closed', error: `window ${stamp} is closed: the open window is ${verdict.open}`, open: verdict.open })
      return false
    }
    let byWriter = input.waiting.get(stamp)
    if (byWriter === undefined) input.waiting.set(stamp, byWriter = new Map())
    const ids = byWriter.get(link.writer)
    if (ids === undefined) byWriter.set(link.writer, [id])
    else ids.push(id)
    let byChannel = this.accepted.get(link)
    if (byChannel === undefined) this.accepted.set(link, byChannel = new Map())
    let byWindow = byChannel.get(input.channel.name)
    if (byWindow === undefined) byChannel.set(input.channel.name, byWindow = new Map())
    const told = byWindow.get(stamp)
    if (told === undefined) byWindow.set(stamp, [id])
    else told.push(id)
    this.c.counters.inc('input_accepted')
    return true
  }

  /** A message resent after failover (docs/protocol.md, "Exactly once", 2-5). */
  private resend (input: ChannelInput, link: WriterLink, id: number, prior: Prior | null, body: Json, now: number): void {
    const name = input.channel.name
    const key = resentKey(link.writer, id)
    if (input.resentWaiting.has(key) || input.held.has(key) || input.holds(link.writer, id)) return // already on its way
    const tree = this.c.tree()
    const recent = prior !== null && prior.origin === this.origin ? input.recent.get(prior.window) : undefined
    if (recent !== undefined) {
      // This super-peer's own window, counted lately: it knows whether the message was in it.
      if (recent.byWriter.get(link.writer)?.includes(id) === true) this.ack(name, link.writer, [id], recent.seq)
      else this.firstSend(input, link, id, windowAt(now, input.channel.windowMs), body, now)
      return
    }
    if (prior !== null && countedInTree(tree, name, prior.origin, prior.window)) {
      // Accepted there, so counted with that window; unconfirmed, the authority says (unknown, or settled).
      if (prior.unconfirmed === true) {
        this.c.counters.inc('input_resent_accepted')
        this.sendUp(input, link.writer, id, prior, body, now)
      } else {
        this.ack(name, link.writer, [id], this.c.head())
      }
      return
    }
    if (prior !== null && prior.origin === this.origin) {
      // Every message accepted here and not yet counted is in `waiting`: this one never was.
      this.firstSend(input, link, id, windowAt(now, input.channel.windowMs), body, now)
      return
    }
    this.c.counters.inc('input_resent_accepted')
    if (prior !== null && !fencedInTree(tree, name, prior.origin)) {
      const until = (prior.window + 1) * input.channel.windowMs + RESEND_GRACE_MS
      if (until > now) {
        input.held.set(key, { writer: link.writer, id, prior, body, until })
        return
      }
    }
    this.sendUp(input, link.writer, id, prior, body, now)
  }

  private sendUp (input: ChannelInput, writer: string, id: number, prior: Prior | null, body: Json, now: number): void {
    input.windows.addResent(body, writer, id, prior, now)
    input.resentWaiting.set(resentKey(writer, id), { writer, id })
  }

  /** A tier child's partial: its entries, checked, join this node's next partial upward. */
  async receiveChild (partial: Partial): Promise<void> {
    const declared = channelsOfTree(this.c.tree()).channels.get(partial.channel)
    if (declared === undefined || declared.reducer.code !== partial.kind) {
      this.c.counters.inc('partials_rejected_unknown_channel')
      return
    }
    const verified = await verifyPartial(partial, peer => this.c.isMember(peer))
    for (const { reason } of verified.rejected) this.c.counters.inc(`partial_entries_rejected_${reason.replaceAll('-', '_')}`)
    if (verified.partial === null) return
    const input = this.inputOf(declared)
    input.hasChildren = true
    input.outbox.add(verified.partial)
    input.outbox.settle(this.settled(input))
  }

  /** Frames applied to the replica: acknowledge what they counted, drop what is settled. */
  applied (frames: readonly AppliedFrame[]): void {
    const settledResent = new Set<string>()
    for (const { frame } of frames) {
      for (const change of frame.changes) {
        for (const input of this.inputs.values()) {
          const acks = readAcks(change, input.channel.name)
          if (acks === null) continue
          if (acks.fenced?.includes(this.origin) === true) {
            this.fenced()
            return
          }
          const mine = acks.counted.get(this.origin)
          if (mine !== undefined) this.ackWindows(input, w => mine.some(([a, b]) => a <= w && w <= b), frame.seq)
          for (const key of acks.resent) {
            settledResent.add(key)
            const waiting = input.resentWaiting.get(key)
            if (waiting !== undefined) {
              input.resentWaiting.delete(key)
              this.ack(input.channel.name, waiting.writer, [waiting.id], frame.seq)
            }
          }
          for (const key of acks.unknown) {
            settledResent.add(key)
            const waiting = input.resentWaiting.get(key)
            if (waiting !== undefined) {
              input.resentWaiting.delete(key)
              this.unknownOutcome(input.channel.name, waiting.writer, waiting.id)
            }
          }
        }
      }
    }
    this.sweep(settledResent)
  }

  /** The replica jumped (a snapshot): what the frames in between said is in the tree. */
  reset (): void {
    this.sweep(new Set())
  }

  /** Acknowledges and settles from the tree (cumulative), after missed frames or late joins. */
  private sweep (settledResent: ReadonlySet<string>): void {
    const tree = this.c.tree()
    const head = this.c.head()
    for (const input of this.inputs.values()) {
      const name = input.channel.name
      if (fencedInTree(tree, name, this.origin)) { this.fenced(); return }
      this.ackWindows(input, w => countedInTree(tree, name, this.origin, w), head)
      for (const [key, held] of input.held) {
        if (countedInTree(tree, name, held.prior.origin, held.prior.window)) {
          input.held.delete(key)
          if (held.prior.unconfirmed === true) this.sendUp(input, held.writer, held.id, held.prior, held.body, Date.now())
          else this.ack(name, held.writer, [held.id], head)
        }
      }
      for (const [key, waiting] of input.resentWaiting) {
        if (resentInTree(tree, name, waiting.writer, waiting.id, 'resentIds')) {
          input.resentWaiting.delete(key)
          this.ack(name, waiting.writer, [waiting.id], head)
        } else if (resentInTree(tree, name, waiting.writer, waiting.id, 'unknownIds')) {
          input.resentWaiting.delete(key)
          this.unknownOutcome(name, waiting.writer, waiting.id)
        }
      }
      input.outbox.settle({
        window: entry => countedInTree(tree, name, entry.origin, entry.window) || fencedInTree(tree, name, entry.origin),
        resent: entry => settledResent.has(resentKey(entry.writer, entry.id))
      })
    }
  }

  private settled (input: ChannelInput): { window: (e: { origin: string, window: number }) => boolean, resent: () => boolean } {
    const tree = this.c.tree()
    const name = input.channel.name
    return { window: e => countedInTree(tree, name, e.origin, e.window) || fencedInTree(tree, name, e.origin), resent: () => false }
  }

  private ackWindows (input: ChannelInput, counted: (window: number) => boolean, seq: number): void {
    for (const [window, byWriter] of input.waiting) {
      if (!counted(window)) continue
      input.waiting.delete(window)
      input.recent.set(window, { byWriter, seq, until: Date.now() + RECENT_WINDOWS_MS })
      for (const [writer, ids] of byWriter) this.ack(input.channel.name, writer, ids, seq)
    }
  }

  private ack (channel: string, writer: string, ids: number[], seq: number): void {
    this.c.counters.inc('input_acked', ids.length)
    this.writers.get(writer)?.deliver(message(encodeAck(channel, ids, seq)))
  }

  /** A resend the authority could not place (docs/protocol.md, "Exactly once", 3): counted once or never, not known. */
  private unknownOutcome (channel: string, writer: string, id: number): void {
    const link = this.writers.get(writer)
    const error = 'the super-peer that took this message failed before saying it had; it was counted once or not at all, and which is not known'
    if (link !== undefined) this.refuse(link, { channel, id, code: 'unknown-outcome', error })
    else this.c.counters.inc('input_refused_unknown_outcome')
  }

  /** Tells each stream which of its first sends are in which window. */
  private tellAccepted (): void {
    if (this.accepted.size === 0) return
    const accepted = this.accepted
    this.accepted = new Map()
    for (const [link, byChannel] of accepted) {
      for (const [channel, byWindow] of byChannel) for (const [window, ids] of byWindow) link.deliver(message(encodeAccepted(channel, window, ids)))
    }
  }

  private refuse (link: WriterLink, refusal: { channel: string, id: number, code: string, error: string, rule?: string, open?: number }): void {
    this.c.counters.inc(`input_refused_${refusal.code.replaceAll('-', '_')}`)
    link.deliver(message(encodeRefusal(refusal)))
  }

  /**
   * The authority fenced this origin (a writer's resend counted first): its uncounted windows
   * never count. Start a new boot, and end every writer stream so each resends what was not
   * acknowledged, with this origin as prior (docs/protocol.md, "Exactly once", 4).
   */
  private fenced (): void {
    const old = this.origin
    this.origin = `${this.c.peerId}/${newBoot()}`
    this.c.counters.inc('input_origin_fenced')
    this.c.log.warn({ docId: this.c.docId, old, origin: this.origin }, 'this origin was fenced: starting a new boot, writers resend')
    for (const input of this.inputs.values()) {
      input.windows = new OriginWindows({ channel: input.channel.name, reducer: input.channel.reducer, widthMs: input.channel.windowMs, origin: this.origin })
      input.waiting.clear()
      input.recent.clear()
      input.resentWaiting.clear()
      input.held.clear()
    }
    this.accepted.clear()
    for (const link of [...this.writers.values()]) link.end('fenced', `super-peer origin ${old} was fenced: reconnect and resend what was not acknowledged`)
    this.writers.clear()
  }

  private inputOf (channel: Channel): ChannelInput {
    let input = this.inputs.get(channel.name)
    if (input !== undefined && input.channel !== channel) {
      if (input.channel.reducer.code !== channel.reducer.code || input.channel.windowMs !== channel.windowMs) {
        // A new declaration: partials of the old one would be refused upstream.
        input = undefined
      } else {
        input.channel = channel
      }
    }
    if (input === undefined) {
      input = new ChannelInput(channel, this.origin)
      this.inputs.set(channel.name, input)
    }
    return input
  }

  /** Closes ended windows, signs them, and sends the fresh partials (or all pending to a new parent). */
  async tick (now = Date.now()): Promise<void> {
    if (this.ticking || this.stopped) return
    this.ticking = true
    try {
      // Before any window closes: a writer then knows its send is in the window it names.
      this.tellAccepted()
      if (now - this.lastRateSweep >= RATE_SWEEP_MS) {
        this.lastRateSweep = now
        this.rates.sweep(now)
      }
      const fresh: Partial[] = []
      for (const input of this.inputs.values()) {
        for (const [window, recent] of input.recent) if (recent.until <= Date.now()) input.recent.delete(window)
        for (const [key, held] of input.held) {
          if (held.until > now) continue
          input.held.delete(key)
          this.sendUp(input, held.writer, held.id, held.prior, held.body, now)
        }
        const closed = input.windows.close(now)
        if (closed.partial !== null) input.outbox.add(await signPartial(closed.partial, this.c.privateKey))
        // One partial per channel per window: what arrived since (own windows, children's
        // partials, resends) goes up together at the window's end (plus the gather, for a tier).
        if (now < input.sendAt) continue
        const hold = input.hasChildren ? Math.min(CHILD_GATHER_MS, input.channel.windowMs / 2) : 0
        input.sendAt = windowStart(windowAt(now - hold, input.channel.windowMs) + 1, input.channel.windowMs) + hold
        const partial = input.outbox.takeNew()
        if (partial !== null) fresh.push(partial)
      }
      const parent = this.c.parentOf()
      const pending = (): Partial[] => [...this.inputs.values()].map(input => input.outbox.pending())
      const stale = this.stale(now)
      if (fresh.length > 0 || (parent !== undefined && parent !== this.c.link.current && [...this.inputs.values()].some(i => i.outbox.size > 0)) || (stale && this.resendDue(now))) {
        await this.c.link.send(parent, fresh, pending, now, stale)
      }
    } catch (err: any) {
      this.c.log.warn({ docId: this.c.docId, err: err?.message }, 'input tick failed')
    } finally {
      this.ticking = false
    }
  }

  private lastResendCheck = 0
  /** Once a second: is anything unsettled (the link resends it every RESEND_MS)? */
  private resendDue (now: number): boolean {
    if (now - this.lastResendCheck < 1_000) return false
    this.lastResendCheck = now
    return [...this.inputs.values()].some(i => i.outbox.size > 0)
  }

  private settledSeen = 0
  private progressAt = 0
  /**
   * True when something is unsettled and nothing settled for RESEND_MS: the parent may have
   * died holding it, so the link resends everything. While acknowledgements flow, the parent is
   * passing things on and nothing is sent twice (a broken stream or a new parent still gets all).
   */
  private stale (now: number): boolean {
    let settled = 0
    let size = 0
    for (const input of this.inputs.values()) {
      settled += input.outbox.settledCount
      size += input.outbox.size
    }
    if (settled !== this.settledSeen || size === 0) {
      this.settledSeen = settled
      this.progressAt = now
    }
    return size > 0 && now - this.progressAt >= RESEND_MS
  }

  stop (): void {
    this.stopped = true
    clearInterval(this.timer)
    this.c.link.close()
  }
}
