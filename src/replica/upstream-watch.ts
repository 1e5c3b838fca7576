/**
 * Whether a document's upstream (its authority, directly or through peers) still speaks. Every
 * frame and head announcement that arrives is "word from upstream"; after `silentAfterMs` without
 * any, the upstream is silent until the next word. Pure: the caller passes the time in.
 */
export type UpstreamChange = 'silent' | 'returned'

export class UpstreamWatch {
  readonly silentAfterMs: number
  private lastWordAt: number
  private silentSince: number | undefined

  /** `startedAt` counts as a word, so a node that never hears anything goes silent after silentAfterMs. */
  constructor (silentAfterMs: number, startedAt: number) {
    this.silentAfterMs = silentAfterMs
    this.lastWordAt = startedAt
  }

  /** Milliseconds since the last word. */
  age (now: number): number {
    return Math.max(0, now - this.lastWordAt)
  }

  get silent (): boolean {
    return this.silentSince !== undefined
  }

  /** How long the silence lasted, while silent (from the last word). */
  silentFor (now: number): number | undefined {
    return this.silentSince === undefined ? undefined : now - this.lastWordAt
  }

  /** A frame or head announcement arrived; 'returned' if that ends a silence. */
  heard (now: number): UpstreamChange | undefined {
    const wasSilent = this.silentSince !== undefined
    this.lastWordAt = Math.max(this.lastWordAt, now)
    this.silentSince = undefined
    return wasSilent ? 'returned' : undefined
  }

  /** Call periodically: 'silent' once, when the silence starts. */
  check (now: number): UpstreamChange | undefined {
    if (this.silentSince !== undefined || now - this.lastWordAt < this.silentAfterMs) return undefined
    this.silentSince = now
    return 'silent'
  }
}
