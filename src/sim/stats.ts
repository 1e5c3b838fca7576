/** Small statistics over plain arrays: percentiles and histograms for the report. */

/** The p-th percentile (nearest rank, p in 0..100) of `values`; NaN when empty. Sorts a copy. */
export function percentile (values: ArrayLike<number>, p: number): number {
  if (values.length === 0) return Number.NaN
  const sorted = Float64Array.from(values).sort()
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p / 100 * sorted.length) - 1))]
}

export function max (values: ArrayLike<number>): number {
  let m = -Infinity
  for (let i = 0; i < values.length; i++) if (values[i] > m) m = values[i]
  return m
}

export function sum (values: ArrayLike<number>): number {
  let s = 0
  for (let i = 0; i < values.length; i++) s += values[i]
  return s
}

export interface Bin { readonly from: number, readonly to: number, readonly count: number }

/** `bins` equal-width bins from 0 (or the minimum if negative) to the maximum. */
export function histogram (values: ArrayLike<number>, bins: number): Bin[] {
  if (values.length === 0) return []
  const hi = max(values)
  let lo = 0
  for (let i = 0; i < values.length; i++) lo = Math.min(lo, values[i])
  const width = hi > lo ? (hi - lo) / bins : 1
  const counts = new Array<number>(bins).fill(0)
  for (let i = 0; i < values.length; i++) counts[Math.min(bins - 1, Math.floor((values[i] - lo) / width))]++
  return counts.map((count, i) => ({ from: lo + i * width, to: lo + (i + 1) * width, count }))
}
