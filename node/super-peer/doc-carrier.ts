import { EventEmitter } from 'node:events'
import { TopicValidatorResult } from '@libp2p/gossipsub'
import { headTopicFor, topicFor, verdictFor, verifyFrameSync, verifyHeadSync } from '../../src/log/index.ts'
import { Replica } from '../../src/replica/index.ts'
import { POLICY_FIELD, policyProblemOfTree } from '../../src/privacy/index.ts'
import { UpstreamWatch } from '../../src/replica/upstream-watch.ts'
import { requestCatchUp } from '../sync/sync-client.ts'
import { scoreTopic } from '../net/score.ts'
import type { AppliedFrame, OfferResult } from '../../src/replica/index.ts'
import type { Frame, FrameError } from '../../src/log/index.ts'
import type { SyncMessage } from '../../src/sync/messages.ts'
import type { RelaySource } from '../relay/relay-server.ts'
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
  /**
   * Take frames from the document's gossipsub topic (the flat mesh). Off under tiers, where
   * frames come only from the parent's relay stream (node/tiers/), so that one copy enters a
   * region and a region with no viewers gets none.
   */
  gossip: boolean
  /** Fleet admission for topic publishers (FleetGuard.mayPublish); everyone when absent. */
  mayPublish?: (peerId: string, topic: string) => boolean
  /** The upstream is silent after this long without a frame or head announcement. */
  silentAfterMs: number
}

export const DOC_CARRIER_DEFAULTS: DocCarrierOptions = {
  maxFrameBytes: 1024 * 1024,
  syncIntervalMs: 5_000,
  syncTimeoutMs: 15_000,
  composeDeltas: false,
  gossip: true,
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
  /** A newer head announcement (its signed bytes), for tier children. */
  head: [Uint8Array]
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
  private levelReached!: () => void
  /** Resolves once the replica first caught up with a peer (a relay parent, or a catch-up round). */
  readonly level = new Promise<void>(resolve => { this.levelReached = resolve })

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
    if (this.options.gossip) this.joinTopic()
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
    this.leaveTopic()
  }

  /** True while frames come from the document's gossipsub topic. */
  get onTopic (): boolean {
    return this.node.services.pubsub.topicValidators.get(this.topic) !== undefined
  }

  /** Take frames from the document's gossipsub topic (the flat mesh, or a tier root without a direct authority link). */
  joinTopic (): void {
    if (this.onTopic) return
    const pubsub = this.node.services.pubsub
    scoreTopic(pubsub, this.topic)
    pubsub.topicValidators.set(this.topic, (peer, message) => this.validate(peer, message))
    pubsub.subscribe(this.topic)
    scoreTopic(pubsub, this.headTopic)
    pubsub.topicValidators.set(this.headTopic, (peer, message) => this.validateHead(peer, message))
    pubsub.subscribe(this.headTopic)
  }

  leaveTopic (): void {
    if (!this.onTopic) return
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
    if (this.options.mayPublish !== undefined && !this.options.mayPublish(peer.toString(), this.headTopic)) return TopicValidatorResult.Reject
    switch (this.receiveHead(message.data, peer)) {
      case 'accepted': return TopicValidatorResult.Accept
      case 'old': return TopicValidatorResult.Ignore
      case 'rejected': return TopicValidatorResult.Reject
    }
  }

  /**
   * A head announcement, from the head topic or relayed by the tier parent. Emits 'head' with
   * its bytes when it is news, for tier children.
   */
  receiveHead (bytes: Uint8Array, from: PeerId): 'accepted' | 'old' | 'rejected' {
    const verified = verifyHeadSync(bytes, this.docId)
    if (!verified.ok) {
      this.counters.inc(`heads_rejected_${verified.code.replaceAll('-', '_')}`)
      this.log.warn({ peer: from.toString(), code: verified.code }, `head announcement rejected: ${verified.error}`)
      return 'rejected'
    }
    const head = verified.head
    const last = this.authorityHead
    // Older or equal: a relay of one we had, or a replay. Newer epochs win even if the clock went back.
    if (last !== undefined && (head.epoch < last.epoch || (head.epoch === last.epoch && head.time <= last.time))) return 'old'
    this.authorityHead = { epoch: head.epoch, seq: head.seq, time: head.time }
    this.counters.inc('heads_received')
    this.heard()
    this.emit('head', bytes)
    if (head.seq > this.replica.head.seq) {
      this.counters.inc('heads_ahead')
      this.hintPeer = from
      this.requestCatchUp()
    }
    return 'accepted'
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

  /** The replica has caught up with a peer at least once: viewers waiting for it may be served. */
  markLevel (): void {
    this.levelReached()
  }

  /** A frame relayed by the tier parent: checked and applied exactly as one from gossip. */
  receiveRelayed (bytes: Uint8Array, from: PeerId): OfferResult['status'] | 'rejected' {
    const verified = verifyFrameSync(bytes, this.docId, { maxFrameBytes: this.options.maxFrameBytes })
    if (!verified.ok) {
      this.rejectFrame(from, verified.error)
      return 'rejected'
    }
    const result = this.offer(verified.frame, from)
    if (result.status === 'gap') {
      this.hintPeer = from
      this.requestCatchUp()
    }
    return result.status
  }

  /** The replica as a relay source for tier children (node/relay/). */
  relaySource (): RelaySource {
    const replica = this.replica
    return {
      get head () { return replica.head },
      window: replica.window,
      follow: (onFrame, onReset, onHead) => {
        const applied = (frames: AppliedFrame[]): void => { for (const { frame } of frames) onFrame(frame) }
        this.on('applied', applied)
        this.on('reset', onReset)
        if (onHead !== undefined) this.on('head', onHead)
        return () => {
          this.off('applied', applied)
          this.off('reset', onReset)
          if (onHead !== undefined) this.off('head', onHead)
        }
      }
    }
  }

  /** Gossipsub topic validator: Accept applies and forwards; Reject also lowers the sender's score. */
  private validate (peer: PeerId, message: Message): TopicValidatorResult {
    // Fleet first: a peer the fleet does not admit is Rejected before its bytes are even parsed.
    if (this.options.mayPublish !== undefined && !this.options.mayPublish(peer.toString(), this.topic)) return TopicValidatorResult.Reject
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
        if (result.applied.some(({ frame }) => frame.changes.some(change => Object.hasOwn(change, POLICY_FIELD)))) this.checkPolicy()
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

  /**
   * A signed policy that does not compile (the authority checks every change, so only an older
   * or broken one signs it) shuts every viewer out: say why, loudly, once per policy change.
   */
  private checkPolicy (): void {
    const problem = policyProblemOfTree(this.replica.tree)
    if (problem === undefined) return
    this.counters.inc('policy_invalid')
    this.log.error({ seq: this.replica.head.seq, problem }, 'the document\'s policy is invalid: no viewer is admitted until the authority replaces it')
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
        if (remoteHead !== undefined) this.markLevel()
        if (remoteHead === undefined || this.replica.head.seq >= remoteHead || this.replica.head.seq === before) break
      }
    }
  }

  /** Verify and apply one catch-up answer (sync, or a relay's catch-up part); returns the responder's head, if it said. */
  applyCatchUp (peer: PeerId, messages: SyncMessage[]): number | undefined {
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
              this.checkPolicy()
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
