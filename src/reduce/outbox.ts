/**
 * What a super-peer or tier has sent up and not yet seen counted: it keeps every contribution
 * until the signed log says it counted (or its origin was fenced), and sends all of it again to
 * a new parent after failover. Partials are idempotent, so resending is always safe.
 */
import type { MutablePartial, Partial, ResentEntry, WindowEntry } from './partial.ts'
import { mergeIntoPartial, partialOf } from './partial.ts'

export interface Settled {
  /** True when the window entry is done with: counted, or its origin fenced. */
  readonly window: (entry: WindowEntry) => boolean
  /** True when the resent message is done with (counted or recognised as a duplicate). */
  readonly resent: (entry: ResentEntry) => boolean
}

export class Outbox {
  private readonly channel: string
  private readonly kind: number
  private readonly unsettled: MutablePartial
  /** What arrived since the last takeNew(), for the regular one-per-window send. */
  private fresh: MutablePartial
  /** Entries that arrived with different bytes under a key already held: a bug or a rogue peer. */
  conflicts = 0
  /** Entries settled so far: a node whose count moves knows its parent passes things on. */
  settledCount = 0

  constructor (channel: string, kind: number) {
    this.channel = channel
    this.kind = kind
    this.unsettled = partialOf(channel, kind)
    this.fresh = partialOf(channel, kind)
  }

  /** Adds a child's partial (or this super-peer's own closed windows). */
  add (partial: Partial): void {
    this.conflicts += mergeIntoPartial(this.unsettled, partial)
    mergeIntoPartial(this.fresh, partial)
  }

  /** The partial to send now (null when nothing arrived); a parent that stays up gets each entry once. */
  takeNew (): Partial | null {
    const out = this.fresh
    this.fresh = partialOf(this.channel, this.kind)
    return out.windows.size === 0 && out.resent.size === 0 ? null : out
  }

  /** Everything not yet settled: what a new parent gets. Read-only for the caller. */
  pending (): Partial {
    return this.unsettled
  }

  /** Drops settled contributions (acknowledgements read from the signed log). */
  settle (settled: Settled): void {
    const before = this.size
    for (const p of [this.unsettled, this.fresh]) {
      for (const [key, entry] of p.windows) if (settled.window(entry)) p.windows.delete(key)
      for (const [key, entry] of p.resent) if (settled.resent(entry)) p.resent.delete(key)
    }
    this.settledCount += before - this.size
  }

  get size (): number {
    return this.unsettled.windows.size + this.unsettled.resent.size
  }
}
