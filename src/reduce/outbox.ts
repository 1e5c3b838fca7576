/**
 * What a super-peer or tier has sent up and not yet seen counted: it keeps every contribution
 * until the signed log says it counted (or its origin was fenced), and sends all of it again to
 * a new parent after failover. Partials are idempotent, so resending is always safe.
 */
import type { Partial, ResentEntry, WindowEntry } from './partial.ts'
import { mergePartials, partialOf } from './partial.ts'

export interface Settled {
  /** True when the window entry is done with: counted, or its origin fenced. */
  readonly window: (entry: WindowEntry) => boolean
  /** True when the resent message is done with (counted or recognised as a duplicate). */
  readonly resent: (entry: ResentEntry) => boolean
}

export class Outbox {
  private pendingPartial: Partial
  /** What arrived since the last takeNew(), for the regular one-per-window send. */
  private fresh: Partial
  conflicts = 0

  private readonly channel: string
  private readonly kind: number

  constructor (channel: string, kind: number) {
    this.channel = channel
    this.kind = kind
    this.pendingPartial = partialOf(channel, kind, [])
    this.fresh = this.pendingPartial
  }

  /** Adds a child's partial (or this super-peer's own closed windows). */
  add (partial: Partial): void {
    const all = mergePartials(this.pendingPartial, partial)
    this.pendingPartial = all.partial
    this.conflicts += all.conflicts
    this.fresh = mergePartials(this.fresh, partial).partial
  }

  /** The partial to send now (null when nothing arrived); a parent that stays up gets each entry once. */
  takeNew (): Partial | null {
    const out = this.fresh
    this.fresh = partialOf(this.channel, this.kind, [])
    return out.windows.size === 0 && out.resent.size === 0 ? null : out
  }

  /** Everything not yet settled: what a new parent gets. */
  pending (): Partial {
    return this.pendingPartial
  }

  /** Drops settled contributions (acknowledgements read from the signed log). */
  settle (settled: Settled): void {
    const keep = (p: Partial): Partial => partialOf(this.channel, this.kind,
      [...p.windows.values()].filter(e => !settled.window(e)),
      [...p.resent.values()].filter(e => !settled.resent(e)))
    this.pendingPartial = keep(this.pendingPartial)
    this.fresh = keep(this.fresh)
  }

  get size (): number {
    return this.pendingPartial.windows.size + this.pendingPartial.resent.size
  }
}
