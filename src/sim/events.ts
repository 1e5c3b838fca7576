/** A min-heap of timed events: the simulator's clock only moves from one event to the next. */
export interface SimEvent {
  readonly at: number
  /** Ties in time keep insertion order, so runs are deterministic. */
  readonly order: number
}

export class EventQueue<E extends { at: number }> {
  private readonly heap: Array<E & SimEvent> = []
  private next = 0

  get size (): number { return this.heap.length }

  push (event: E): void {
    const item = Object.assign(event, { order: this.next++ })
    const h = this.heap
    h.push(item)
    let i = h.length - 1
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (!before(h[i], h[parent])) break
      ;[h[i], h[parent]] = [h[parent], h[i]]
      i = parent
    }
  }

  pop (): E | undefined {
    const h = this.heap
    if (h.length === 0) return undefined
    const top = h[0]
    const last = h.pop()!
    if (h.length > 0) {
      h[0] = last
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        const r = l + 1
        let m = i
        if (l < h.length && before(h[l], h[m])) m = l
        if (r < h.length && before(h[r], h[m])) m = r
        if (m === i) break
        ;[h[i], h[m]] = [h[m], h[i]]
        i = m
      }
    }
    return top
  }
}

function before (a: SimEvent, b: SimEvent): boolean {
  return a.at < b.at || (a.at === b.at && a.order < b.order)
}
