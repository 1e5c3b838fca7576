import type { ObservableDoc, UpstreamState } from '../../src/observe/observable-doc.ts'
import type { JsonObject } from '../../src/json.ts'
import type { AppliedFrame, Replica } from '../../src/replica/index.ts'

type FrameListener = (seq: number, data: JsonObject | null) => void

/**
 * A carried document as observers see it: the replica's tree and, for a viewer that resumes, the
 * viewer deltas the replica's frame window keeps beside its frames (it holds no copy of its own).
 * The carrier calls it for each applied frame; it tells the document's DocChannel.
 */
export class ObservableCarrier implements ObservableDoc {
  readonly docId: string
  private readonly replica: Replica
  private readonly upstreamOf: () => UpstreamState
  private readonly frameListeners = new Set<FrameListener>()
  private readonly resetListeners = new Set<() => void>()
  private readonly upstreamListeners = new Set<(state: UpstreamState) => void>()

  constructor (docId: string, replica: Replica, upstream: () => UpstreamState) {
    this.docId = docId
    this.replica = replica
    this.upstreamOf = upstream
  }

  head (): number {
    return this.replica.head.seq
  }

  snapshot (): { seq: number, tree: JsonObject } {
    return { seq: this.replica.head.seq, tree: this.replica.tree }
  }

  deltasAfter (seq: number): Array<{ seq: number, data: JsonObject | null }> | undefined {
    return this.replica.deltasAfter(seq)
  }

  upstream (): UpstreamState {
    return this.upstreamOf()
  }

  onFrame (listener: FrameListener): () => void {
    return subscribe(this.frameListeners, listener)
  }

  onReset (listener: () => void): () => void {
    return subscribe(this.resetListeners, listener)
  }

  onUpstream (listener: (state: UpstreamState) => void): () => void {
    return subscribe(this.upstreamListeners, listener)
  }

  /** A frame was applied (the replica's tree is the state right after it). */
  applied ({ frame, delta }: AppliedFrame): void {
    // No single delta expresses the frame: observers need the whole state instead.
    if (delta === undefined || delta === 'uncomposable') this.jumped()
    else for (const listener of this.frameListeners) listener(frame.seq, delta)
  }

  /** The document jumped in a way no delta describes: every observer is sent the whole state. */
  jumped (): void {
    for (const listener of this.resetListeners) listener()
  }

  upstreamChanged (state: UpstreamState): void {
    for (const listener of this.upstreamListeners) listener(state)
  }
}

function subscribe<T> (listeners: Set<T>, listener: T): () => void {
  listeners.add(listener)
  return () => { listeners.delete(listener) }
}
