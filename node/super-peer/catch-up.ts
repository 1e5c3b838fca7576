import { requestCatchUp } from '../sync/sync-client.ts'
import { withDeadline } from '../deadline.ts'
import type { Replica } from '../../src/replica/index.ts'
import type { SyncMessage } from '../../src/sync/messages.ts'
import type { BackboneNode } from '../net/libp2p-node.ts'
import type { Logger } from '../log.ts'
import type { Counters } from '../metrics.ts'
import type { PeerId } from '@libp2p/interface'

/**
 * Fetching what the replica misses (a gap, a lost last frame, a rebuild): rounds of
 * `/deltacast/sync/1.0.0` requests to the peers that carry the document. What comes back is
 * verified and applied by the carrier (DocCarrier.applyCatchUp), exactly as a frame from gossip.
 */
export interface CatchUpOptions {
  /** Ask a peer for newer frames when nothing arrived for this long (covers a lost last frame). */
  syncIntervalMs: number
  /** How long one catch-up request may take. */
  syncTimeoutMs: number
}

/** What a catch-up round works on: the carrier's replica, and its apply step. */
export interface CatchUpTarget {
  readonly docId: string
  readonly topic: string
  readonly replica: Replica
  /** Verify and apply one answer; returns the responder's head, if it said. */
  applyCatchUp (peer: PeerId, messages: SyncMessage[]): number | undefined
  /** The replica is level with a peer: viewers waiting for it may be served. */
  markLevel (): void
  /** A round ended (a rebuild that completed is announced then). */
  roundEnded (): void
}

export class CatchUp {
  private readonly node: BackboneNode
  private readonly target: CatchUpTarget
  private readonly options: CatchUpOptions
  private readonly log: Logger
  private readonly counters: Counters
  private running: Promise<void> | undefined
  private again = false
  private hint: PeerId | undefined
  private lastProgress = Date.now()
  private timer: ReturnType<typeof setInterval> | undefined
  private readonly stopController = new AbortController()

  constructor (node: BackboneNode, target: CatchUpTarget, options: CatchUpOptions, log: Logger, counters: Counters) {
    this.node = node
    this.target = target
    this.options = options
    this.log = log
    this.counters = counters
  }

  /** Ask at once, then whenever nothing arrived for syncIntervalMs or frames wait behind a gap. */
  start (): void {
    this.timer = setInterval(() => {
      if (Date.now() - this.lastProgress >= this.options.syncIntervalMs || this.target.replica.missingFrom !== undefined) this.request()
    }, this.options.syncIntervalMs)
    this.timer.unref()
    this.request()
  }

  stop (): void {
    clearInterval(this.timer)
    this.stopController.abort()
  }

  /** The replica moved forward: the backstop timer starts again. */
  progressed (): void {
    this.lastProgress = Date.now()
  }

  /** Start a round unless one is running (then run one more after it); `from` is asked first. */
  request (from?: PeerId): void {
    if (from !== undefined) this.hint = from
    if (this.stopController.signal.aborted) return
    if (this.running !== undefined) {
      this.again = true
      return
    }
    this.running = this.round()
      .catch(err => { this.log.debug({ err }, 'catch-up round failed') })
      .finally(() => {
        this.running = undefined
        this.target.roundEnded()
        if (this.again) {
          this.again = false
          this.request()
        }
      })
  }

  /**
   * Ask every peer that carries the document (the hinted one first, the rest in random order)
   * for what follows our head. Being level with one peer says nothing about the others: the
   * authority may have published while we were cut off, so each is asked; the answer is a few
   * bytes when there is nothing new.
   */
  private async round (): Promise<void> {
    const { replica, docId } = this.target
    const self = this.node.peerId
    const subscribers = shuffle(this.node.services.pubsub.getSubscribers(this.target.topic))
    const candidates = [this.hint, ...subscribers]
      .filter((peer): peer is PeerId => peer !== undefined && !peer.equals(self))
    this.hint = undefined
    const tried = new Set<string>()
    for (const peer of candidates) {
      if (tried.has(peer.toString())) continue
      tried.add(peer.toString())
      // Responses are size-capped: keep asking this peer while it brings us forward.
      while (!this.stopController.signal.aborted) {
        // A diverged replica is rebuilt: from a snapshot, or by replaying from seq 1.
        const before = replica.diverged ? 0 : replica.head.seq
        let messages: SyncMessage[]
        try {
          messages = await withDeadline(this.options.syncTimeoutMs, 'catch-up request', signal => requestCatchUp(this.node, peer, docId, before, { signal }), this.stopController.signal)
        } catch (err) {
          this.counters.inc('sync_requests_failed')
          this.log.debug({ err, peer: peer.toString() }, 'catch-up request failed')
          break
        }
        const remoteHead = this.target.applyCatchUp(peer, messages)
        if (remoteHead !== undefined) this.target.markLevel()
        if (remoteHead === undefined || replica.head.seq >= remoteHead || replica.head.seq === before) break
      }
    }
  }
}

function shuffle<T> (items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1))
    ;[items[i], items[j]] = [items[j], items[i]]
  }
  return items
}
