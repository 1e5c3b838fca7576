import type { Json } from '../json.ts'

/** A set of window numbers kept as sorted, disjoint, non-adjacent ranges: one origin's windows are mostly consecutive. */
export class WindowSet {
  /** The set `toJSON()` wrote, or why `json` is not one (ranges ascending, disjoint, not touching, safe integers >= 0). */
  static fromJSON (json: Json | undefined): WindowSet | string {
    if (!Array.isArray(json)) return 'ranges must be an array of [first, last]'
    const set = new WindowSet()
    let below = -2
    for (const range of json) {
      if (!Array.isArray(range) || range.length !== 2) return 'each range must be [first, last]'
      const [first, last] = range
      if (typeof first !== 'number' || typeof last !== 'number' || !Number.isSafeInteger(first) || !Number.isSafeInteger(last) || first < 0 || last < first) {
        return `range ${JSON.stringify(range)} is not two integers 0 <= first <= last`
      }
      if (first <= below + 1) return `range ${JSON.stringify(range)} is not after the previous one with a gap`
      set.ranges.push([first, last])
      below = last
    }
    return set
  }

  /** [first, last] pairs, ascending; ranges never touch. */
  private readonly ranges: Array<[number, number]> = []

  /** The index of the first range whose last window is >= w. */
  private find (w: number): number {
    let lo = 0
    let hi = this.ranges.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (this.ranges[mid][1] < w) lo = mid + 1
      else hi = mid
    }
    return lo
  }

  has (w: number): boolean {
    const i = this.find(w)
    return i < this.ranges.length && this.ranges[i][0] <= w
  }

  add (w: number): void {
    const i = this.find(w)
    const next = this.ranges[i]
    if (next !== undefined && next[0] <= w) return
    const prev = this.ranges[i - 1]
    const joinsPrev = prev !== undefined && prev[1] === w - 1
    const joinsNext = next !== undefined && next[0] === w + 1
    if (joinsPrev && joinsNext) {
      prev[1] = next[1]
      this.ranges.splice(i, 1)
    } else if (joinsPrev) {
      prev[1] = w
    } else if (joinsNext) {
      next[0] = w
    } else {
      this.ranges.splice(i, 0, [w, w])
    }
  }

  /** The ranges, for acknowledgements written down the log. */
  toJSON (): Array<[number, number]> {
    return this.ranges.map(([a, b]) => [a, b])
  }
}
