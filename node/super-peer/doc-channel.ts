import { ClassView, classKeyOf, mayObserve, policyChanged, policyOfTree, policyProblemOfTree, POLICY_FIELD, sanitizeViewState } from '../../src/privacy/index.ts'
import { jsonEqual } from '../../src/delta/index.ts'
import { encodeMessage, ErrorCode, frameMessage, resetMessage, staleMessage } from '../../src/observe/protocol.ts'
import { trustsTokenKey } from './viewer-identity.ts'
import type { Policy, Viewer, ViewState } from '../../src/privacy/index.ts'
import type { ObservableDoc } from '../../src/observe/observable-doc.ts'
import type { JsonObject } from '../../src/json.ts'
import type { ViewerSession } from './observer-protocol.ts'
import type { DocSwarm, SwarmSession } from './swarm-coordinator.ts'
import type { FrameMessage, ResetMessage } from '../../src/observe/protocol.ts'

/** How a class's messages are encoded: plain, or sealed for relaying (swarm-coordinator.ts). */
type ClassEncoder = (message: FrameMessage | ResetMessage) => Uint8Array

/**
 * What one document keeps so that a viewer reconnecting a little behind resumes by deltas
 * (docs/protocol.md, "Resuming"): each filtered class's last frame messages, and a class whose
 * last member left is kept up to date for a while in case that member comes back. The open
 * class keeps none: its messages are the document's own deltas, which the replica's frame
 * window already keeps (ObservableDoc.deltasAfter).
 */
export interface RetentionLimits {
  /** Frame messages a class keeps (its most recent ones). */
  classFrames: number
  /** Bytes of frame messages a class keeps; the oldest go first. */
  classBytes: number
  /** How long a class with no members is kept up to date. */
  lingerMs: number
  /** Most classes without members a document keeps; the one empty longest goes first. */
  maxLingering: number
}

export const DEFAULT_RETENTION: RetentionLimits = Object.freeze({
  classFrames: 256,
  classBytes: 1024 * 1024,
  lingerMs: 60_000,
  maxLingering: 32
})

/**
 * Viewers who see exactly the same thing: one filtered delta per frame, encoded once, written to
 * every member. A document without a policy ("@policy") is open: one class that sees everything,
 * whose deltas are the frame deltas themselves.
 */
class PrivacyClass {
  readonly key: string
  readonly members = new Set<ViewerSession>()
  /** undefined for the open class: its view is the whole document. */
  readonly view: ClassView | undefined
  private readonly limits: RetentionLimits
  private readonly recent = new Map<number, Uint8Array>()
  private recentBytes = 0
  private cachedReset?: { seq: number, bytes: Uint8Array }
  /** Encodes (and for a relaying document seals) one of this class's messages. */
  readonly encode: ClassEncoder

  constructor (key: string, view: ClassView | undefined, limits: RetentionLimits, encode: ClassEncoder = encodeMessage) {
    this.key = key
    this.view = view
    this.limits = limits
    this.encode = encode
  }

  /** The class's delta for one frame, encoded once for all members. */
  frame (seq: number, delta: JsonObject | null, treeAfter: JsonObject): Uint8Array {
    if (this.view === undefined) return this.encode(frameMessage(seq, delta))
    const bytes = this.encode(frameMessage(seq, delta === null ? null : this.view.update(delta, treeAfter)))
    this.recent.set(seq, bytes)
    this.recentBytes += bytes.byteLength
    while (this.recent.size > this.limits.classFrames || (this.recent.size > 0 && this.recentBytes > this.limits.classBytes)) {
      const [oldest, old] = this.recent.entries().next().value as [number, Uint8Array]
      this.recent.delete(oldest)
      this.recentBytes -= old.byteLength
    }
    return bytes
  }

  /** Encoded messages for the frames after `after`, if this class still has all of them. */
  framesAfter (after: number, head: number): Uint8Array[] | undefined {
    const out: Uint8Array[] = []
    for (let seq = after + 1; seq <= head; seq++) {
      const bytes = this.recent.get(seq)
      if (bytes === undefined) return undefined
      out.push(bytes)
    }
    return out
  }

  resetBytes (seq: number, tree: JsonObject): Uint8Array {
    if (this.cachedReset?.seq !== seq) {
      this.cachedReset = { seq, bytes: this.encode(resetMessage(seq, this.view === undefined ? openView(tree) : this.view.view)) }
    }
    return this.cachedReset.bytes
  }
}

/** The open view: the whole document (no policy to hide anything). */
function openView (tree: JsonObject): JsonObject {
  return tree
}

const ANONYMOUS: Viewer = Object.freeze({ roles: [] })

interface Membership {
  viewer: Viewer
  /** The key that signed the viewer's token; undefined for anonymous viewers. */
  signer: Uint8Array | undefined
  viewState: ViewState
  cls: PrivacyClass
}

export type JoinResult = { ok: true } | { ok: false, code: typeof ErrorCode.forbidden | typeof ErrorCode.invalidPolicy, error: string }

export interface DocChannelOptions {
  retention?: Partial<RetentionLimits>
  /** Clock for lingering classes (ms). */
  now?: () => number
  /** Relaying between browsers, for documents whose policy allows it (made with the channel). */
  swarm?: (resume: (session: SwarmSession, after: number) => void) => DocSwarm
}

/** The observers of one document, grouped into privacy classes. */
export class DocChannel {
  readonly doc: ObservableDoc
  private readonly classes = new Map<string, PrivacyClass>()
  private readonly members = new Map<ViewerSession, Membership>()
  /** Classes without members, each with when its last member left, the one empty longest first. */
  private readonly lingering = new Map<PrivacyClass, number>()
  private readonly retention: RetentionLimits
  private readonly now: () => number
  private policy: Policy | undefined
  /** Why the document's policy is invalid; then no viewer is admitted. */
  private policyProblem: string | undefined
  private lingerTimer: ReturnType<typeof setTimeout> | undefined
  private readonly unsubscribe: () => void
  private readonly unsubscribeReset: () => void
  private readonly unsubscribeUpstream: () => void
  readonly swarm: DocSwarm | undefined

  constructor (doc: ObservableDoc, options: DocChannelOptions = {}) {
    this.doc = doc
    this.retention = { ...DEFAULT_RETENTION, ...options.retention }
    this.now = options.now ?? Date.now
    // the swarm only ever names sessions the channel gave it
    this.swarm = options.swarm?.((session, after) => { this.resumeDirect(session as ViewerSession, after) })
    this.readPolicy()
    this.unsubscribe = doc.onFrame((seq, data) => { this.onFrame(seq, data) })
    this.unsubscribeReset = doc.onReset?.(() => { this.rebuild() }) ?? (() => {})
    // Upstream silence is the same news for every class: one encoding for all members.
    this.unsubscribeUpstream = doc.onUpstream?.(state => {
      const bytes = encodeMessage(staleMessage(state.silent, state.ageMs))
      for (const session of this.members.keys()) session.deliver(0, bytes)
    }) ?? (() => {})
  }

  get size (): number {
    return this.members.size
  }

  /** True when the channel keeps nothing: no member and no lingering class. */
  get idle (): boolean {
    return this.members.size === 0 && this.classes.size === 0
  }

  /** Classes with at least one member. */
  get classCount (): number {
    return this.classes.size - this.lingering.size
  }

  /** Classes kept, without members, for viewers that may come back. */
  get lingeringCount (): number {
    return this.lingering.size
  }

  /**
   * Admit a viewer (identity already verified; `signer` is the key that signed its token) if the
   * policy lets it observe, then send what it is missing and add it to its class, in one
   * synchronous step so no frame falls in between.
   */
  join (session: ViewerSession, viewer: Viewer, requestedView: JsonObject | undefined, after: number | null, signer?: Uint8Array): JoinResult {
    const policy = this.policy
    if (this.policyProblem !== undefined) {
      return { ok: false, code: ErrorCode.invalidPolicy, error: invalidPolicyMessage(this.policyProblem) }
    }
    if (policy !== undefined && !mayObserve(policy, viewer)) {
      return { ok: false, code: ErrorCode.forbidden, error: viewer.principal === undefined ? 'this document does not allow anonymous observers' : 'this document does not let this viewer observe' }
    }
    const viewState = policy === undefined ? {} : sanitizeViewState(policy, requestedView ?? {})
    const cls = this.classFor(viewer, viewState)
    // A viewer too slow to keep up is resynced with its class's whole view, as of when it drains.
    session.setResetSource(() => {
      const current = this.members.get(session)?.cls ?? cls
      return current.resetBytes(this.doc.head(), this.doc.snapshot().tree)
    })
    const head = this.doc.head()
    if (after !== null && after >= head) {
      // up to date, or ahead of this super-peer (it came from a fresher one): wait for later frames,
      // after telling the browser it was accepted with a seq it already has (a no-op for it);
      // sealed in a relaying document, so a browser coming back from a failover takes its swarm
      // seat at once instead of with the next frame
      session.skipThrough = after
      session.deliver(0, cls.encode(frameMessage(Math.min(after, head), null)))
    } else {
      const catchUp = after === null ? undefined : this.catchUp(cls, after, head)
      if (catchUp === undefined) {
        session.deliver(0, cls.resetBytes(head, this.doc.snapshot().tree))
      } else {
        catchUp.forEach((bytes, i) => { session.deliver(after! + 1 + i, bytes) })
      }
    }
    // a catch-up message over the size limit has already ended the session
    if (session.closed) {
      this.releaseIfEmpty(cls)
      return { ok: true }
    }
    const upstream = this.doc.upstream?.()
    if (upstream?.silent === true) session.deliver(0, encodeMessage(staleMessage(true, upstream.ageMs)))
    cls.members.add(session)
    this.members.set(session, { viewer, signer, viewState, cls })
    this.swarm?.joined(session, cls.key)
    return { ok: true }
  }

  /**
   * A member fed by a relay goes back to being fed here: it is sent the class messages after
   * `after` (or its whole view when they are gone), then the class's frames as they come.
   */
  resumeDirect (session: ViewerSession, after: number): void {
    const membership = this.members.get(session)
    if (membership === undefined) return
    const head = this.doc.head()
    if (after >= head) return
    const catchUp = this.catchUp(membership.cls, after, head)
    if (catchUp === undefined) session.deliver(0, membership.cls.resetBytes(head, this.doc.snapshot().tree))
    else catchUp.forEach((bytes, i) => { session.deliver(after + 1 + i, bytes) })
  }

  /**
   * A member changed its view state. When that moves it to another class whose view differs
   * from what it holds, it is sent the new view (a reset); an equal view needs no message.
   */
  setViewState (session: ViewerSession, requested: JsonObject): void {
    const membership = this.members.get(session)
    if (membership === undefined || this.policy === undefined) return
    const viewState = sanitizeViewState(this.policy, requested)
    const cls = this.classFor(membership.viewer, viewState)
    membership.viewState = viewState
    const from = membership.cls
    if (cls === from) return
    this.move(session, membership, cls)
    this.swarm?.moved(session, cls.key)
    // Both classes are at the head, so the member holds from's view once its queue drains.
    if (!jsonEqual(from.view!.view, cls.view!.view)) session.deliver(0, cls.resetBytes(this.doc.head(), this.doc.snapshot().tree))
  }

  /** Whether the member still counts as identified by its token (a revoked key makes it anonymous). */
  identified (session: ViewerSession): boolean {
    return this.members.get(session)?.signer !== undefined
  }

  /** Returns true when the channel keeps nothing: no member and no lingering class. */
  leave (session: ViewerSession): boolean {
    const membership = this.members.get(session)
    if (membership !== undefined) {
      this.members.delete(session)
      membership.cls.members.delete(session)
      this.releaseIfEmpty(membership.cls)
      this.swarm?.left(session)
    }
    return this.idle
  }

  close (): void {
    this.unsubscribe()
    this.unsubscribeReset()
    clearTimeout(this.lingerTimer)
    this.lingerTimer = undefined
    this.unsubscribeUpstream()
    this.swarm?.close()
  }

  private onFrame (seq: number, delta: JsonObject | null): void {
    if (delta !== null && policyChanged(delta)) {
      this.rebuild()
      return
    }
    this.dropExpired()
    const tree = this.doc.snapshot().tree
    const swarm = this.swarm
    for (const cls of this.classes.values()) {
      const bytes = cls.frame(seq, delta, tree)
      // a member fed by a relay gets the class's frames from its parent
      for (const session of cls.members) if (swarm === undefined || swarm.feedsDirectly(session)) session.deliver(seq, bytes)
      swarm?.sent(cls.key, seq, bytes, cls.members)
    }
  }

  /**
   * The policy changed or the document jumped (a snapshot): classes are formed again and every
   * viewer is sent its whole view. A viewer whose token key the policy no longer names counts as
   * anonymous from then on; a viewer the new policy no longer admits is let go.
   */
  private rebuild (): void {
    this.readPolicy()
    this.classes.clear()
    this.lingering.clear()
    clearTimeout(this.lingerTimer)
    this.lingerTimer = undefined
    const head = this.doc.head()
    const tree = this.doc.snapshot().tree
    for (const [session, membership] of [...this.members]) {
      const refusal = this.recheck(membership)
      if (refusal !== undefined) {
        this.members.delete(session)
        session.fail(refusal.code, refusal.error)
        continue
      }
      const viewState = this.policy === undefined ? {} : sanitizeViewState(this.policy, membership.viewState)
      const cls = this.classFor(membership.viewer, viewState)
      membership.cls = cls
      membership.viewState = viewState
      cls.members.add(session)
      session.deliver(0, cls.resetBytes(head, tree))
    }
    this.swarm?.rebuilt(session => this.members.get(session as ViewerSession)?.cls.key)
  }

  /** Re-checks a member under the current policy: falls back to anonymous, or says why it must go. */
  private recheck (membership: Membership): { code: ErrorCode, error: string } | undefined {
    if (this.policyProblem !== undefined) return { code: ErrorCode.invalidPolicy, error: invalidPolicyMessage(this.policyProblem) }
    let revoked = false
    if (membership.signer !== undefined && !trustsTokenKey(this.doc, membership.signer)) {
      membership.viewer = ANONYMOUS
      membership.signer = undefined
      revoked = true
    }
    if (this.policy === undefined || mayObserve(this.policy, membership.viewer)) return undefined
    if (revoked) return { code: ErrorCode.unauthorized, error: 'the document no longer trusts the key that signed this viewer\'s token, and it does not allow anonymous observers' }
    return { code: ErrorCode.forbidden, error: 'the document\'s policy no longer lets this viewer observe' }
  }

  private move (session: ViewerSession, membership: Membership, to: PrivacyClass): void {
    const from = membership.cls
    from.members.delete(session)
    this.releaseIfEmpty(from)
    membership.cls = to
    to.members.add(session)
  }

  private classFor (viewer: Viewer, viewState: ViewState): PrivacyClass {
    const policy = this.policy
    const key = policy === undefined ? 'open' : classKeyOf(policy, viewer, viewState)
    let cls = this.classes.get(key)
    if (cls === undefined) {
      cls = new PrivacyClass(key, policy === undefined ? undefined : new ClassView(policy, viewer, viewState, this.doc.snapshot().tree), this.retention, this.swarm?.encoderFor(key))
      this.classes.set(key, cls)
    }
    this.lingering.delete(cls)
    return cls
  }

  /**
   * A class whose last member left lingers: it keeps following frames, so a member that comes
   * back within lingerMs resumes by deltas. At most maxLingering linger; the oldest goes first.
   */
  private releaseIfEmpty (cls: PrivacyClass): void {
    if (cls.members.size > 0 || this.classes.get(cls.key) !== cls) return
    this.lingering.set(cls, this.now())
    if (this.lingering.size > this.retention.maxLingering) this.drop(this.lingering.keys().next().value as PrivacyClass)
    this.armLingerTimer()
  }

  private drop (cls: PrivacyClass): void {
    this.lingering.delete(cls)
    this.classes.delete(cls.key)
  }

  private dropExpired (): void {
    const now = this.now()
    for (const [cls, since] of this.lingering) {
      if (now - since < this.retention.lingerMs) break
      this.drop(cls)
    }
  }

  /** Frees lingering classes on time even when no frame comes to do it. */
  private armLingerTimer (): void {
    if (this.lingerTimer !== undefined) return
    const first = this.lingering.values().next().value
    if (first === undefined) return
    this.lingerTimer = setTimeout(() => {
      this.lingerTimer = undefined
      this.dropExpired()
      this.armLingerTimer()
    }, Math.max(0, first + this.retention.lingerMs - this.now()))
    this.lingerTimer.unref()
  }

  /**
   * Messages for frames after `after`: a filtered class's own, or for the open class the
   * document's deltas, unless one of those changed the policy: before it the browser held a
   * filtered view, which the document's deltas do not lead from (and they would carry "@policy").
   */
  private catchUp (cls: PrivacyClass, after: number, head: number): Uint8Array[] | undefined {
    if (cls.view !== undefined) return cls.framesAfter(after, head)
    const deltas = this.doc.deltasAfter(after)
    if (deltas === undefined || deltas.some(({ data }) => data !== null && policyChanged(data))) return undefined
    // The class's encoder: a relaying viewer forwards these too, so they must be sealed like the rest.
    return deltas.map(({ seq, data }) => cls.encode(frameMessage(seq, data)))
  }

  /** policy undefined: the document has no policy, so it is open. */
  private readPolicy (): void {
    const tree = this.doc.snapshot().tree
    const open = tree[POLICY_FIELD] === undefined
    this.policy = open ? undefined : policyOfTree(tree)
    this.policyProblem = open ? undefined : policyProblemOfTree(tree)
    this.swarm?.policyRead(this.policy?.relay === true && this.policyProblem === undefined)
  }
}

function invalidPolicyMessage (problem: string): string {
  return `the document's policy is invalid, so no viewer is admitted until its authority replaces it (${problem})`
}
