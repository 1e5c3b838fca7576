/**
 * Merges frame messages arriving from more than one source (the super-peer and a parent, while a
 * viewer changes feeds) into one ordered run: each seq once, none skipped. A frame ahead of the
 * next expected one waits until the ones before it arrive.
 */
export type Offered<T> =
  /** These are next, in order (the offered one and any it unblocked). */
  | { kind: 'ready', items: Array<{ seq: number, item: T }> }
  /** Already released, or already held: dropped. */
  | { kind: 'duplicate' }
  /** Ahead of the next expected seq (or before any base): kept until the gap fills. */
  | { kind: 'held' }
  /** Ahead, and more than maxHeld already wait: the caller must resync (nothing was kept). */
  | { kind: 'overflow' }

export class ReorderBuffer<T> {
  /** Seq of the last released item; null before the first base. */
  private last: number | null = null
  private readonly held = new Map<number, T>()
  private readonly maxHeld: number

  constructor (maxHeld = 256) {
    this.maxHeld = maxHeld
  }

  get seq (): number | null { return this.last }

  /** How many frames wait for an earlier one. */
  get waiting (): number { return this.held.size }

  /** Highest seq held, if any (how far ahead the sources are). */
  get highestHeld (): number | undefined {
    let high: number | undefined
    for (const seq of this.held.keys()) if (high === undefined || seq > high) high = seq
    return high
  }

  /** The state was replaced at `seq` (a reset): frames up to it are done, later ones held stay. */
  rebase (seq: number): Array<{ seq: number, item: T }> {
    this.last = seq
    for (const held of [...this.held.keys()]) if (held <= seq) this.held.delete(held)
    return this.drain()
  }

  offer (seq: number, item: T): Offered<T> {
    if ((this.last !== null && seq <= this.last) || this.held.has(seq)) return { kind: 'duplicate' }
    if (this.last !== null && seq === this.last + 1) {
      this.last = seq
      return { kind: 'ready', items: [{ seq, item }, ...this.drain()] }
    }
    if (this.held.size >= this.maxHeld) return { kind: 'overflow' }
    this.held.set(seq, item)
    return { kind: 'held' }
  }

  private drain (): Array<{ seq: number, item: T }> {
    const out: Array<{ seq: number, item: T }> = []
    while (this.last !== null) {
      const next = this.held.get(this.last + 1)
      if (next === undefined) break
      this.held.delete(this.last + 1)
      this.last++
      out.push({ seq: this.last, item: next })
    }
    return out
  }
}
