import { EventEmitter } from 'node:events'
import { TopicValidatorResult } from '@libp2p/gossipsub'
import { headTopicFor, topicFor, verdictFor, verifyFrameSync, verifyHeadSync } from '../../src/log/index.ts'
import { Replica } from '../../src/replica/index.ts'
import { UpstreamWatch } from '../../src/replica/upstream-watch.ts'
import { requestCatchUp } from '../sync/sync-client.ts'
import { scoreTopic } from '../net/score.ts'
import type { AppliedFrame, OfferResult } from '../../src/replica/index.ts'
import type { Frame, FrameError } from '../../src/log/index.ts'
import type { SyncMessage } from '../../src/sync/messages.ts'
import type { UpstreamState } from '../../src/observe/observable-doc.ts'
import type { BackboneNode } from '../net/libp2p-node.ts'
import type { Logger } from '../log.ts'
import type { Counters } from '../metrics.ts'
import type { Message } from '@libp2p/gossipsub'
import type { PeerId } from '@libp2p/interface'

/**
 * Carries one document on a super-peer: checks every frame that arrives on the document's topic
 * before gossipsub may forward it, keeps the replica, and fetches what is missing from peers.
 * Nothing reaches the replica without a valid signature for this doc id.
 */
export interface DocCarrierOptions {
  maxFrameBytes: number
  /** Ask a peer for newer frames when nothing arrived for this long (covers a lost last frame). */
  syncIntervalMs: number
  /** How long one catch-up request may take. */
  syncTimeoutMs: number
  /** Also compose one delta per frame for observers. */
  composeDeltas: boolean
  /** The upstream is silent after this long without a frame or head announcement. */
  silentAfterMs: number
}

export const DOC_CARRIER_DEFAULTS: DocCarrierOptions = {
  maxFrameBytes: 1024 * 1024,
  syncIntervalMs: 5_000,
  syncTimeoutMs: 15_000,
  composeDeltas: false,
  silentAfterMs: 3_000
}

/** How often the carrier checks its upstream; while silent, observers hear about it this often. */
export const UPSTREAM_CHECK_MS = 1_000



export interface DocCarrierEvents {
  /** A frame applied to the replica (emitted while the replica's tree is the state right after it). */
  applied: [AppliedFrame[]]
  /** The replica was replaced by a snapshot. */
  reset: []
  /** The upstream went silent (then again every UPSTREAM_CHECK_MS while it stays so), or came back. */
  upstream: [UpstreamState]
}

export class DocCarrier extends EventEmitter<DocCarrierEvents> {
  readonly docId: string
  readonly topic: string
  /** Where the authority announces its head (docs/protocol.md). */
  readonly headTopic: string
  readonly replica: Replica
  /** The newest head announcement accepted: the authority's head as last heard. */
  authorityHead: { epoch: number, seq: number, time: number } | undefined
  private readonly node: BackboneNode
  private readonly options: DocCarrierOptions
  private readonly log: Logger
  private readonly counters: Counters
  private catchingUp: Promise<void> | undefined
  /** Set when the replica was rebuilt from genesis: observers get the whole state once level. */
  private rebuilt = false
  private catchUpAgain = false
  private hintPeer: PeerId | undefined
  private lastProgress = Date.now()
  private timer: ReturnType<typeof setInterval> | undefined
  private upstreamTimer: ReturnType<typeof setInterval> | undefined
  private readonly upstream: UpstreamWatch
  private readonly stopController = new AbortController()

  constructor (node: BackboneNode, docId: string, options: Partial<DocCarrierOptions>, log: Logger, counters: Counters) {
    super()
    this.node = node
    this.docId = docId
    this.topic = topicFor(docId)
    this.headTopic = headTopicFor(docId)
    this.options = { ...DOC_CARRIER_DEFAULTS, ...options }
    this.upstream = new UpstreamWatch(this.options.silentAfterMs, Date.now())
    this.replica = new Replica(docId, {
      composeDeltas: this.options.composeDeltas,
      onApply: applied => { this.emit('applied', [applied]) }
    })
    this.log = log.child({ docId })
    this.counters = counters
  }

  start (): void {
    const pubsub = this.node.services.pubsub
    scoreTopic(pubsub, this.topic)
    pubsub.topicValidators.set(this.topic, (peer, message) => this.validate(peer, message))
    pubsub.subscribe(this.topic)
    scoreTopic(pubsub, this.headTopic)
    pubsub.topicValidators.set(this.headTopic, (peer, message) => this.validateHead(peer, message))
    pubsub.subscribe(this.headTopic)
    this.upstreamTimer = setInterval(() => { this.checkUpstream() }, UPSTREAM_CHECK_MS)
    this.upstreamTimer.unref()
    this.timer = setInterval(() => {
      if (Date.now() - this.lastProgress >= this.options.syncIntervalMs || this.replica.missingFrom !== undefined) {
        this.requestCatchUp()
      }
    }, this.options.syncIntervalMs)
    this.timer.unref()
    this.requestCatchUp()
  }

  stop (): void {
    clearInterval(this.timer)
    clearInterval(this.upstreamTimer)
    this.stopController.abort()
    const pubsub = this.node.services.pubsub
    pubsub.topicValidators.delete(this.topic)
    pubsub.unsubscribe(this.topic)
    pubsub.topicValidators.delete(this.headTopic)
    pubsub.unsubscribe(this.headTopic)
  }

  upstreamState (now = Date.now()): UpstreamState {
    return { silent: this.upstream.silent, ageMs: this.upstream.age(now) }
  }

  /** Frames the replica is behind the authority's last announced head (0 if none heard). */
  lag (): number {
    return Math.max(0, (this.authorityHead?.seq ?? 0) - this.replica.head.seq)
  }

  /**
   * Head topic validator. A newer signed announcement is word from upstream; one ahead of the
   * replica means a frame was missed (often the last one before a quiet spell): catch up now.
   */
  private validateHead (peer: PeerId, message: Message): TopicValidatorResult {
    const verified = verifyHeadSync(message.data, this.docId)
    if (!verified.ok) {
      this.counters.inc(`heads_rejected_${verified.code.replaceAll('-', '_')}`)
      this.log.warn({ peer: peer.toString(), code: verified.code }, `head announcement rejected: ${verified.error}`)
      return TopicValidatorResult.Reject
    }
    const head = verified.head
    const last = this.authorityHead
    // Older or equal: a relay of one we had, or a replay. Newer epochs win even if the clock went back.
    if (last !== undefined && (head.epoch < last.epoch || (head.epoch === last.epoch && head.time <= last.time))) return TopicValidatorResult.Ignore
    this.authorityHead = { epoch: head.epoch, seq: head.seq, time: head.time }
    this.counters.inc('heads_received')
    this.heard()
    if (head.seq > this.replica.head.seq) {
      this.counters.inc('heads_ahead')
      this.hintPeer = peer
      this.requestCatchUp()
    }
    return TopicValidatorResult.Accept
  }

  /** A new frame or head announcement arrived. */
  private heard (): void {
    const now = Date.now()
    const silence = this.upstream.age(now)
    if (this.upstream.heard(now) === 'returned') {
      this.log.warn({ silentMs: silence }, `upstream back after ${(silence / 1000).toFixed(1)} s of silence`)
      this.emit('upstream', this.upstreamState(now))
    }
  }

  private checkUpstream (): void {
    const now = Date.now()
    if (this.upstream.check(now) === 'silent') {
      this.counters.inc('upstream_silences')
      this.log.warn({ ageMs: this.upstream.age(now), seq: this.replica.head.seq }, `upstream silent: no frame or head announcement for ${this.upstream.silentAfterMs / 1000} s`)
    }
    if (this.upstream.silent) this.emit('upstream', this.upstreamState(now))
  }

  /** Gossipsub topic validator: Accept applies and forwards; Reject also lowers the sender's score. */
  private validate (peer: PeerId, message: Message): TopicValidatorResult {
    const verified = verifyFrameSync(message.data, this.docId, { maxFrameBytes: this.options.maxFrameBytes })
    if (!verified.ok) {
      this.rejectFrame(peer, verified.error)
      return TopicValidatorResult.Reject
    }
    const result = this.offer(verified.frame, peer)
    switch (result.status) {
      case 'applied':
        this.heard()
        return TopicValidatorResult.Accept
      case 'duplicate':
      case 'stale':
        this.counters.inc('frames_ignored_old')
        return TopicValidatorResult.Ignore
      case 'gap':
        this.heard()
        this.hintPeer = peer
        this.requestCatchUp()
        return TopicValidatorResult.Ignore
      case 'diverged':
        return TopicValidatorResult.Ignore
      case 'fork':
      case 'invalid':
        return TopicValidatorResult.Reject
    }
  }

  private rejectFrame (peer: PeerId | undefined, error: FrameError): void {
    this.counters.inc(`frames_rejected_${error.code.replaceAll('-', '_')}`)
    // verdictFor keeps the mapping from failure to gossip verdict in one place (docs/protocol.md).
    this.log.warn({ peer: peer?.toString(), code: error.code, verdict: verdictFor(error.code) }, `frame rejected: ${error.message}`)
  }

  /** Offer a signature-checked frame to the replica and account for the outcome. */
  private offer (frame: Frame, from: PeerId | undefined): OfferResult {
    const result = this.replica.offer(frame)
    switch (result.status) {
      case 'applied':
        this.lastProgress = Date.now()
        this.counters.inc('frames_applied', result.applied.length)
        if (result.divergedAfter !== undefined) this.diverged(from, result.divergedAfter)
        break
      case 'fork':
        this.counters.inc('frames_rejected_fork')
        this.log.error({ peer: from?.toString(), seq: frame.seq }, `frame rejected: ${result.error}`)
        break
      case 'invalid':
        this.diverged(from, result.error)
        break
      case 'gap':
        this.counters.inc('frames_ahead_of_gap')
        break
      default:
        break
    }
    return result
  }

  private diverged (from: PeerId | undefined, error: string): void {
    this.counters.inc('replica_diverged')
    this.log.error({ peer: from?.toString() }, `replica diverged: ${error}; rebuilding it from peers`)
    this.requestCatchUp()
  }

  /** Start a catch-up round unless one is running (then run one more after it). */
  requestCatchUp (): void {
    if (this.stopController.signal.aborted) return
    if (this.catchingUp !== undefined) {
      this.catchUpAgain = true
      return
    }
    this.catchingUp = this.catchUp()
      .catch(err => { this.log.debug({ err }, 'catch-up round failed') })
      .finally(() => {
        this.catchingUp = undefined
        if (this.rebuilt && !this.replica.diverged) {
          this.rebuilt = false
          this.emit('reset')
        }
        if (this.catchUpAgain) {
          this.catchUpAgain = false
          this.requestCatchUp()
        }
      })
  }

  /**
   * Ask every peer that carries the document (the gap's sender first, the rest in random order)
   * for what follows our head. Being level with one peer says nothing about the others: the
   * authority may have published while we were cut off, so each is asked; the answer is a few
   * bytes when there is nothing new.
   */
  private async catchUp (): Promise<void> {
    const self = this.node.peerId
    const subscribers = shuffle(this.node.services.pubsub.getSubscribers(this.topic))
    const candidates = [this.hintPeer, ...subscribers]
      .filter((peer): peer is PeerId => peer !== undefined && !peer.equals(self))
    this.hintPeer = undefined
    const tried = new Set<string>()
    for (const peer of candidates) {
      if (tried.has(peer.toString())) continue
      tried.add(peer.toString())
      // Responses are size-capped: keep asking this peer while it brings us forward.
      while (!this.stopController.signal.aborted) {
        // A diverged replica is rebuilt: from a snapshot, or by replaying from seq 1.
        const before = this.replica.diverged ? 0 : this.replica.head.seq
        let messages: SyncMessage[]
        try {
          const signal = AbortSignal.any([this.stopController.signal, AbortSignal.timeout(this.options.syncTimeoutMs)])
          messages = await requestCatchUp(this.node, peer, this.docId, before, { signal })
        } catch (err) {
          this.counters.inc('sync_requests_failed')
          this.log.debug({ err, peer: peer.toString() }, 'catch-up request failed')
          break
        }
        const remoteHead = this.applyCatchUp(peer, messages)
        if (remoteHead === undefined || this.replica.head.seq >= remoteHead || this.replica.head.seq === before) break
      }
    }
  }

  /** Verify and apply one catch-up answer; returns the responder's head, if it said. */
  private applyCatchUp (peer: PeerId, messages: SyncMessage[]): number | undefined {
    let pendingSnapshot: Uint8Array | undefined
    for (const message of messages) {
      switch (message.type) {
        case 'snapshot':
          pendingSnapshot = message.state
          break
        case 'frame': {
          const verified = verifyFrameSync(message.bytes, this.docId, { maxFrameBytes: this.options.maxFrameBytes })
          if (!verified.ok) {
            this.rejectFrame(peer, verified.error)
            return undefined
          }
          if (this.replica.diverged && pendingSnapshot === undefined && verified.frame.seq === 1) {
            this.replica.resetToGenesis()
            this.rebuilt = true
          }
          if (pendingSnapshot !== undefined) {
            const state = pendingSnapshot
            pendingSnapshot = undefined
            if (verified.frame.seq > this.replica.head.seq || this.replica.diverged) {
              const restored = this.replica.restore(state, verified.frame)
              if (!restored.ok) {
                this.counters.inc('snapshots_rejected')
                this.log.warn({ peer: peer.toString() }, `snapshot rejected: ${restored.error}`)
                return undefined
              }
              this.counters.inc('snapshots_applied')
              this.lastProgress = Date.now()
              this.emit('reset')
            }
            continue
          }
          this.offer(verified.frame, peer)
          break
        }
        case 'end':
          return message.head
        case 'error':
          this.log.debug({ peer: peer.toString(), error: message.message }, 'peer could not serve catch-up')
          return undefined
      }
    }
    return undefined
  }
}

function shuffle<T> (items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1))
    ;[items[i], items[j]] = [items[j], items[i]]
  }
  return items
}
