import { ClassView, classKeyOf, mayObserve, policyChanged, policyOfTree, POLICY_FIELD, sanitizeViewState } from '../../src/privacy/index.ts'
import { encodeMessage, frameMessage, resetMessage, staleMessage } from '../../src/observe/protocol.ts'
import type { Policy, Viewer, ViewState } from '../../src/privacy/index.ts'
import type { ObservableDoc } from '../../src/observe/observable-doc.ts'
import type { JsonObject } from '../../src/json.ts'
import type { ObserverSession } from './observer-protocol.ts'

/** Encoded frame messages each class keeps, so a viewer that reconnects a little behind resumes. */
const RECENT_ENCODED_FRAMES = 256

/**
 * Viewers who see exactly the same thing: one filtered delta per frame, encoded once, written to
 * every member. A document without a policy ("@policy") is open: one class that sees everything,
 * whose deltas are the frame deltas themselves.
 */
class PrivacyClass {
  readonly key: string
  readonly members = new Set<ObserverSession>()
  /** undefined for the open class: its view is the whole document. */
  readonly view: ClassView | undefined
  private readonly recent = new Map<number, Uint8Array>()
  private cachedReset?: { seq: number, bytes: Uint8Array }

  constructor (key: string, view: ClassView | undefined) {
    this.key = key
    this.view = view
  }

  /** The class's delta for one frame, encoded once for all members. */
  frame (seq: number, delta: JsonObject | null, treeAfter: JsonObject): Uint8Array {
    const data = this.view === undefined ? delta : delta === null ? null : this.view.update(delta, treeAfter)
    const bytes = encodeMessage(frameMessage(seq, data))
    this.recent.set(seq, bytes)
    if (this.recent.size > RECENT_ENCODED_FRAMES) this.recent.delete(this.recent.keys().next().value as number)
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
      this.cachedReset = { seq, bytes: encodeMessage(resetMessage(seq, this.view === undefined ? openView(tree) : this.view.view)) }
    }
    return this.cachedReset.bytes
  }
}

/** The open view: the whole document (no policy to hide anything). */
function openView (tree: JsonObject): JsonObject {
  return tree
}

interface Membership {
  viewer: Viewer
  viewState: ViewState
  cls: PrivacyClass
}

export type JoinResult = { ok: true } | { ok: false, code: 'forbidden', error: string }

/** The observers of one document, grouped into privacy classes. */
export class DocChannel {
  readonly doc: ObservableDoc
  private readonly classes = new Map<string, PrivacyClass>()
  private readonly members = new Map<ObserverSession, Membership>()
  private policy: Policy | undefined
  private readonly unsubscribe: () => void
  private readonly unsubscribeReset: () => void
  private readonly unsubscribeUpstream: () => void

  constructor (doc: ObservableDoc) {
    this.doc = doc
    this.policy = this.currentPolicy()
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

  get classCount (): number {
    return this.classes.size
  }

  /**
   * Admit a viewer (identity already verified) if the policy lets it observe, then send what it
   * is missing and add it to its class, in one synchronous step so no frame falls in between.
   */
  join (session: ObserverSession, viewer: Viewer, requestedView: JsonObject | undefined, after: number | null): JoinResult {
    const policy = this.policy
    if (policy !== undefined && !mayObserve(policy, viewer)) {
      return { ok: false, code: 'forbidden', error: viewer.principal === undefined ? 'this document does not allow anonymous observers' : 'this document does not let this viewer observe' }
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
      // up to date, or ahead of this super-peer (it came from a fresher one): wait for later frames
      session.skipThrough = after
    } else {
      const catchUp = after === null ? undefined : this.catchUp(cls, after, head)
      if (catchUp === undefined) {
        session.deliver(0, cls.resetBytes(head, this.doc.snapshot().tree))
      } else {
        catchUp.forEach((bytes, i) => { session.deliver(after! + 1 + i, bytes) })
      }
    }
    // a catch-up message over the size limit has already ended the session
    if (session.closed) return { ok: true }
    const upstream = this.doc.upstream?.()
    if (upstream?.silent === true) session.deliver(0, encodeMessage(staleMessage(true, upstream.ageMs)))
    cls.members.add(session)
    this.members.set(session, { viewer, viewState, cls })
    return { ok: true }
  }

  /** A member changed its view state: if that changes what it sees, send its new view. */
  setViewState (session: ObserverSession, requested: JsonObject): void {
    const membership = this.members.get(session)
    if (membership === undefined || this.policy === undefined) return
    const viewState = sanitizeViewState(this.policy, requested)
    const cls = this.classFor(membership.viewer, viewState)
    membership.viewState = viewState
    if (cls === membership.cls) return
    this.move(session, membership, cls)
    session.deliver(0, cls.resetBytes(this.doc.head(), this.doc.snapshot().tree))
  }

  leave (session: ObserverSession): boolean {
    const membership = this.members.get(session)
    if (membership !== undefined) {
      this.members.delete(session)
      membership.cls.members.delete(session)
      if (membership.cls.members.size === 0) this.classes.delete(membership.cls.key)
    }
    return this.members.size === 0
  }

  close (): void {
    this.unsubscribe()
    this.unsubscribeReset()
    this.unsubscribeUpstream()
  }

  private onFrame (seq: number, delta: JsonObject | null): void {
    if (delta !== null && policyChanged(delta)) {
      this.rebuild()
      return
    }
    const tree = this.doc.snapshot().tree
    for (const cls of this.classes.values()) {
      const bytes = cls.frame(seq, delta, tree)
      for (const session of cls.members) session.deliver(seq, bytes)
    }
  }

  /**
   * The policy changed or the document jumped (a snapshot): classes are formed again and every
   * viewer is sent its whole view. A viewer the new policy no longer admits is let go.
   */
  private rebuild (): void {
    this.policy = this.currentPolicy()
    this.classes.clear()
    const head = this.doc.head()
    const tree = this.doc.snapshot().tree
    for (const [session, membership] of [...this.members]) {
      if (this.policy !== undefined && !mayObserve(this.policy, membership.viewer)) {
        this.members.delete(session)
        session.fail('forbidden', 'the document\'s policy no longer lets this viewer observe')
        continue
      }
      const viewState = this.policy === undefined ? {} : sanitizeViewState(this.policy, membership.viewState)
      const cls = this.classFor(membership.viewer, viewState)
      membership.cls = cls
      membership.viewState = viewState
      cls.members.add(session)
      session.deliver(0, cls.resetBytes(head, tree))
    }
  }

  private move (session: ObserverSession, membership: Membership, to: PrivacyClass): void {
    const from = membership.cls
    from.members.delete(session)
    if (from.members.size === 0) this.classes.delete(from.key)
    membership.cls = to
    to.members.add(session)
  }

  private classFor (viewer: Viewer, viewState: ViewState): PrivacyClass {
    const policy = this.policy
    const key = policy === undefined ? 'open' : classKeyOf(policy, viewer, viewState)
    let cls = this.classes.get(key)
    if (cls === undefined) {
      cls = new PrivacyClass(key, policy === undefined ? undefined : new ClassView(policy, viewer, viewState, this.doc.snapshot().tree))
      this.classes.set(key, cls)
    }
    return cls
  }

  /** Messages for frames after `after`: the class's own, or for the open class the document's. */
  private catchUp (cls: PrivacyClass, after: number, head: number): Uint8Array[] | undefined {
    const own = cls.framesAfter(after, head)
    if (own !== undefined || cls.view !== undefined) return own
    return this.doc.deltasAfter(after)?.map(({ seq, data }) => encodeMessage(frameMessage(seq, data)))
  }

  /** undefined: the document has no policy, so it is open. */
  private currentPolicy (): Policy | undefined {
    const tree = this.doc.snapshot().tree
    return tree[POLICY_FIELD] === undefined ? undefined : policyOfTree(tree)
  }
}
