import type { JsonObject } from '../json.ts'

/**
 * What the observer server needs from a document a super-peer holds. The super-peer's replica
 * implements it; tests fake it.
 */
export interface ObservableDoc {
  readonly docId: string
  /** Current seq (0 before the first frame). */
  head (): number
  /** The whole tree at head(). The caller must not mutate `tree`. */
  snapshot (): { seq: number, tree: JsonObject }
  /**
   * The viewer deltas of every frame after `seq` up to head(), oldest first, or undefined when
   * some of them are no longer retained. `data` is null for a frame that changed nothing visible.
   */
  deltasAfter (seq: number): Array<{ seq: number, data: JsonObject | null }> | undefined
  /** Calls `listener` after each new frame, in seq order. Returns the unsubscribe function. */
  onFrame (listener: (seq: number, data: JsonObject | null) => void): () => void
  /**
   * Calls `listener` when the document jumped in a way no delta describes (the replica restored
   * a snapshot): every observer must be sent the whole state again. Returns the unsubscribe.
   */
  onReset? (listener: () => void): () => void
  /** Whether the document's upstream is silent now (a super-peer's replica tracks it). */
  upstream? (): UpstreamState
  /** Calls `listener` when the upstream goes silent (then about every second) and when it speaks again. */
  onUpstream? (listener: (state: UpstreamState) => void): () => void
}

export interface UpstreamState {
  silent: boolean
  /** ms since the last word (frame or head announcement) from upstream. */
  ageMs: number
}
