import { headTopicFor, topicFor, verdictFor, verifyFrameSync, verifyHeadSync } from '../../src/log/index.ts'
import { Replica } from '../../src/replica/index.ts'
import { POLICY_FIELD, policyProblemOfTree } from '../../src/privacy/index.ts'
import { UpstreamWatch } from '../../src/replica/upstream-watch.ts'
import { CatchUp } from './catch-up.ts'
import { GossipIntake } from './gossip-intake.ts'
import { ObservableCarrier } from './observable-carrier.ts'
import type { AppliedFrame, OfferResult } from '../../src/replica/index.ts'
import type { Frame, FrameError } from '../../src/log/index.ts'
import type { SyncMessage } from '../../src/sync/messages.ts'
import type { RelaySource } from '../relay/relay-server.ts'
import type { UpstreamState } from '../../src/observe/observable-doc.ts'
import type { BackboneNode } from '../net/libp2p-node.ts'
import type { Logger } from '../log.ts'
import type { Counters } from '../metrics.ts'
import type { PeerId } from '@libp2p/interface'

/**
 * Carries one document on a super-peer. A frame's way through it is one pipeline of explicit
 * calls (docs/architecture.md, "Follow one frame"):
 *
 *   arrive   gossip (GossipIntake), the tier parent's relay stream (node/tiers/uplink.ts), or
 *            a catch-up answer (CatchUp) ──► receive / applyCatchUp
 *   verify   signature, size and doc id (verifyFrameSync) ──► a bad frame is counted, logged
 *            and changes nothing
 *   apply    the replica checks the chain and each change, and keeps the frame (with its
 *            viewer delta) in its window: the one copy of the sequence
 *   hand on  right after each frame, while the tree is the state after it: to the observers
 *            (ObservableCarrier ──► DocChannel ──► ObserverSession), to tier children
 *            (node/relay/), then to the taps (metrics)
 *
 * Nothing reaches the replica without a valid signature for this doc id.
 */
export interface DocCarrierOptions {
  maxFrameBytes: number
  /** Ask a peer for newer frames when nothing arrived for this long (covers a lost last frame). */
  syncIntervalMs: number
  /** How long one catch-up request may take. */
  syncTimeoutMs: number
  /** Also compose one delta per frame and serve observers (the carrier's `observable`). */
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

/** What became of a frame: the replica's verdict, or 'rejected' before it (bad bytes or signature). */
export type FrameOutcome = OfferResult['status'] | 'rejected'
export type HeadOutcome = 'accepted' | 'old' | 'rejected'

/** Watches the pipeline without being a step of it (metrics, /events): called after each frame was handed on. */
export type AppliedTap = (applied: AppliedFrame) => void

interface RelayFollower {
  frame: (frame: Frame) => void
  reset: () => void
  head?: (bytes: Uint8Array) => void
}

export class DocCarrier {
  readonly docId: string
  readonly topic: string
  /** Where the authority announces its head (docs/protocol.md). */
  readonly headTopic: string
  readonly replica: Replica
  /** The document as observers see it; present when composing deltas. */
  readonly observable: ObservableCarrier | undefined
  /** The newest head announcement accepted: the authority's head as last heard. */
  authorityHead: { epoch: number, seq: number, time: number } | undefined
  private readonly options: DocCarrierOptions
  private readonly log: Logger
  private readonly counters: Counters
  private readonly intake: GossipIntake
  private readonly catchUp: CatchUp
  private readonly relayFollowers = new Set<RelayFollower>()
  private readonly taps = new Set<AppliedTap>()
  private readonly jumpTaps = new Set<() => void>()
  /** Set when the replica was rebuilt from genesis: downstream gets the whole state once level. */
  private rebuilt = false
  private upstreamTimer: ReturnType<typeof setInterval> | undefined
  private readonly upstream: UpstreamWatch
  private levelReached!: () => void
  /** Resolves once the replica first caught up with a peer (a relay parent, or a catch-up round). */
  readonly level = new Promise<void>(resolve => { this.levelReached = resolve })

  constructor (node: BackboneNode, docId: string, options: Partial<DocCarrierOptions>, log: Logger, counters: Counters) {
    this.docId = docId
    this.topic = topicFor(docId)
    this.headTopic = headTopicFor(docId)
    this.options = { ...DOC_CARRIER_DEFAULTS, ...options }
    this.log = log.child({ docId })
    this.counters = counters
    this.upstream = new UpstreamWatch(this.options.silentAfterMs, Date.now())
    this.replica = new Replica(docId, {
      composeDeltas: this.options.composeDeltas,
      onApply: applied => { this.handOn(applied) }
    })
    this.observable = this.options.composeDeltas ? new ObservableCarrier(docId, this.replica, () => this.upstreamState()) : undefined
    this.intake = new GossipIntake(node, this, this.options.mayPublish)
    this.catchUp = new CatchUp(node, this, this.options, this.log, counters)
  }

  start (): void {
    if (this.options.gossip) this.joinTopic()
    this.upstreamTimer = setInterval(() => { this.checkUpstream() }, UPSTREAM_CHECK_MS)
    this.upstreamTimer.unref()
    this.catchUp.start()
  }

  stop (): void {
    clearInterval(this.upstreamTimer)
    this.catchUp.stop()
    this.leaveTopic()
  }

  /** True while frames come from the document's gossipsub topic. */
  get onTopic (): boolean {
    return this.intake.joined
  }

  /** Take frames from the document's gossipsub topic (the flat mesh, or a tier root without a direct authority link). */
  joinTopic (): void {
    this.intake.join()
  }

  leaveTopic (): void {
    this.intake.leave()
  }

  // ── The frame path: receive ─► verify ─► apply ─► hand on ──────────────────────────────────

  /** A frame from gossip or from the tier parent: verified, applied, and accounted for. */
  receive (bytes: Uint8Array, from: PeerId): FrameOutcome {
    const frame = this.verify(bytes, from)
    if (frame === undefined) return 'rejected'
    const result = this.apply(frame, from)
    switch (result.status) {
      case 'applied':
        this.heard()
        break
      case 'duplicate':
      case 'stale':
        this.counters.inc('frames_ignored_old')
        break
      case 'gap':
        // The sender has what we miss: ask it first.
        this.heard()
        this.catchUp.request(from)
        break
      default:
        break
    }
    return result.status
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
          const frame = this.verify(message.bytes, peer)
          if (frame === undefined) return undefined
          if (this.replica.diverged && pendingSnapshot === undefined && frame.seq === 1) {
            this.replica.resetToGenesis()
            this.rebuilt = true
          }
          if (pendingSnapshot !== undefined) {
            const state = pendingSnapshot
            pendingSnapshot = undefined
            if (frame.seq > this.replica.head.seq || this.replica.diverged) {
              if (!this.restore(state, frame, peer)) return undefined
            }
            continue
          }
          this.apply(frame, peer)
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

  /** Step 1: the bytes are a frame of this document, signed by its key; else counted and dropped. */
  private verify (bytes: Uint8Array, from: PeerId): Frame | undefined {
    const verified = verifyFrameSync(bytes, this.docId, { maxFrameBytes: this.options.maxFrameBytes })
    if (verified.ok) return verified.frame
    this.rejectFrame(from, verified.error)
    return undefined
  }

  /**
   * Step 2: offer a signature-checked frame to the replica, which applies it (and any frames it
   * held behind a gap that it fills, each handed on as it applies), and account for the outcome.
   */
  private apply (frame: Frame, from: PeerId): OfferResult {
    const result = this.replica.offer(frame)
    switch (result.status) {
      case 'applied':
        this.catchUp.progressed()
        this.counters.inc('frames_applied', result.applied.length)
        if (result.divergedAfter !== undefined) this.diverged(from, result.divergedAfter)
        if (result.applied.some(({ frame }) => frame.changes.some(change => Object.hasOwn(change, POLICY_FIELD)))) this.checkPolicy()
        break
      case 'fork':
        this.counters.inc('frames_rejected_fork')
        this.log.error({ peer: from.toString(), seq: frame.seq }, `frame rejected: ${result.error}`)
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
   * Step 3, called by the replica right after each frame is applied (the tree is the state after
   * it): observers first (their delivery latency is measured by the taps), then tier children.
   */
  private handOn (applied: AppliedFrame): void {
    this.observable?.applied(applied)
    for (const follower of this.relayFollowers) follower.frame(applied.frame)
    for (const tap of this.taps) tap(applied)
  }

  /** The replica jumped (a snapshot, or a rebuild from seq 1): no frame leads there, so downstream starts over. */
  private jumped (): void {
    this.observable?.jumped()
    for (const follower of this.relayFollowers) follower.reset()
    for (const jumped of this.jumpTaps) jumped()
  }

  /** A verified snapshot with its checkpoint frame: the replica starts over from it. */
  private restore (state: Uint8Array, checkpoint: Frame, from: PeerId): boolean {
    const restored = this.replica.restore(state, checkpoint)
    if (!restored.ok) {
      this.counters.inc('snapshots_rejected')
      this.log.warn({ peer: from.toString() }, `snapshot rejected: ${restored.error}`)
      return false
    }
    this.counters.inc('snapshots_applied')
    this.catchUp.progressed()
    this.checkPolicy()
    this.jumped()
    return true
  }

  private rejectFrame (peer: PeerId, error: FrameError): void {
    this.counters.inc(`frames_rejected_${error.code.replaceAll('-', '_')}`)
    // verdictFor keeps the mapping from failure to gossip verdict in one place (docs/protocol.md).
    this.log.warn({ peer: peer.toString(), code: error.code, verdict: verdictFor(error.code) }, `frame rejected: ${error.message}`)
  }

  private diverged (from: PeerId, error: string): void {
    this.counters.inc('replica_diverged')
    this.log.error({ peer: from.toString() }, `replica diverged: ${error}; rebuilding it from peers`)
    this.catchUp.request()
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

  // ── Catch-up (CatchUp calls back here) ─────────────────────────────────────────────────────

  /** The replica has caught up with a peer at least once: viewers waiting for it may be served. */
  markLevel (): void {
    this.levelReached()
  }

  /** A catch-up round ended: a rebuild from seq 1 that completed is a jump for downstream. */
  roundEnded (): void {
    if (this.rebuilt && !this.replica.diverged) {
      this.rebuilt = false
      this.jumped()
    }
  }

  // ── Head announcements and upstream liveness ───────────────────────────────────────────────

  upstreamState (now = Date.now()): UpstreamState {
    return { silent: this.upstream.silent, ageMs: this.upstream.age(now) }
  }

  /** Frames the replica is behind the authority's last announced head (0 if none heard). */
  lag (): number {
    return Math.max(0, (this.authorityHead?.seq ?? 0) - this.replica.head.seq)
  }

  /**
   * A head announcement, from the head topic or relayed by the tier parent. A newer signed one
   * is word from upstream, is passed to tier children, and when it is ahead of the replica
   * means a frame was missed (often the last one before a quiet spell): catch up now.
   */
  receiveHead (bytes: Uint8Array, from: PeerId): HeadOutcome {
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
    for (const follower of this.relayFollowers) follower.head?.(bytes)
    if (head.seq > this.replica.head.seq) {
      this.counters.inc('heads_ahead')
      this.catchUp.request(from)
    }
    return 'accepted'
  }

  /** A new frame or head announcement arrived. */
  private heard (): void {
    const now = Date.now()
    const silence = this.upstream.age(now)
    if (this.upstream.heard(now) === 'returned') {
      this.log.warn({ silentMs: silence }, `upstream back after ${(silence / 1000).toFixed(1)} s of silence`)
      this.observable?.upstreamChanged(this.upstreamState(now))
    }
  }

  private checkUpstream (): void {
    const now = Date.now()
    if (this.upstream.check(now) === 'silent') {
      this.counters.inc('upstream_silences')
      this.log.warn({ ageMs: this.upstream.age(now), seq: this.replica.head.seq }, `upstream silent: no frame or head announcement for ${this.upstream.silentAfterMs / 1000} s`)
    }
    if (this.upstream.silent) this.observable?.upstreamChanged(this.upstreamState(now))
  }

  // ── Downstream that is not a browser ──────────────────────────────────────────────────────

  /** The replica as a relay source for tier children (node/relay/). */
  relaySource (): RelaySource {
    const replica = this.replica
    return {
      get head () { return replica.head },
      window: replica.window,
      follow: (frame, reset, head) => {
        const follower: RelayFollower = { frame, reset, head }
        this.relayFollowers.add(follower)
        return () => { this.relayFollowers.delete(follower) }
      }
    }
  }

  /**
   * Calls `tap` after each applied frame was handed on, and `jumped` after the replica jumped (no
   * frame leads to its new state); returns the function that stops both.
   */
  tap (tap: AppliedTap, jumped?: () => void): () => void {
    this.taps.add(tap)
    if (jumped !== undefined) this.jumpTaps.add(jumped)
    return () => {
      this.taps.delete(tap)
      if (jumped !== undefined) this.jumpTaps.delete(jumped)
    }
  }
}
