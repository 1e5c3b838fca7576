import type { ObservableDoc, UpstreamState } from '../../src/observe/observable-doc.ts'
import type { JsonObject } from '../../src/json.ts'
import type { AppliedFrame } from '../../src/replica/index.ts'
import type { DocCarrier } from './doc-carrier.ts'

/** Viewer deltas kept for observers that reconnect (after a failover) a little behind. */
export const RETAINED_VIEWER_DELTAS = 1024

type FrameListener = (seq: number, data: JsonObject | null) => void

/**
 * A carried document as observers see it: the replica's tree, and one composed delta per frame,
 * kept for a while so a reconnecting browser resumes from its last seq without a snapshot.
 */
export class ObservableCarrier implements ObservableDoc {
  readonly docId: string
  private readonly carrier: DocCarrier
  private readonly retain: number
  private deltas: Array<{ seq: number, data: JsonObject | null }> = []
  private readonly frameListeners = new Set<FrameListener>()
  private readonly resetListeners = new Set<() => void>()

  constructor (carrier: DocCarrier, retain = RETAINED_VIEWER_DELTAS) {
    this.docId = carrier.docId
    this.carrier = carrier
    this.retain = retain
    carrier.on('applied', applied => { this.onApplied(applied) })
    carrier.on('reset', () => { this.resetObservers() })
  }

  head (): number {
    return this.carrier.replica.head.seq
  }

  snapshot (): { seq: number, tree: JsonObject } {
    return { seq: this.carrier.replica.head.seq, tree: this.carrier.replica.tree }
  }

  deltasAfter (seq: number): Array<{ seq: number, data: JsonObject | null }> | undefined {
    const head = this.head()
    if (seq >= head) return []
    const first = this.deltas[0]?.seq
    if (first === undefined || seq + 1 < first) return undefined
    return this.deltas.slice(seq + 1 - first)
  }

  onFrame (listener: FrameListener): () => void {
    this.frameListeners.add(listener)
    return () => { this.frameListeners.delete(listener) }
  }

  onReset (listener: () => void): () => void {
    this.resetListeners.add(listener)
    return () => { this.resetListeners.delete(listener) }
  }

  upstream (): UpstreamState {
    return this.carrier.upstreamState()
  }

  onUpstream (listener: (state: UpstreamState) => void): () => void {
    this.carrier.on('upstream', listener)
    return () => { this.carrier.off('upstream', listener) }
  }

  private onApplied (applied: AppliedFrame[]): void {
    for (const { frame, delta } of applied) {
      if (delta === undefined || delta === 'uncomposable') {
        this.resetObservers()
        continue
      }
      // The ring must stay contiguous for deltasAfter: a jump (a rebuild) starts it afresh.
      const last = this.deltas[this.deltas.length - 1]
      if (last !== undefined && last.seq + 1 !== frame.seq) this.deltas = []
      this.deltas.push({ seq: frame.seq, data: delta })
      if (this.deltas.length > this.retain * 1.25) this.deltas = this.deltas.slice(-this.retain)
      for (const listener of this.frameListeners) listener(frame.seq, delta)
    }
  }

  private resetObservers (): void {
    // Deltas before the jump no longer lead to the current state.
    this.deltas = []
    for (const listener of this.resetListeners) listener()
  }
}
