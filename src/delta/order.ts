/**
 * The "@o" part of list deltas: computing a compact one (orderDelta) and applying one (nextOrder).
 */
import type { JsonObject } from '../json.ts'
import { ORDER, SIZE, isItemId, itemKey } from './keys.ts'
import type { ItemId, OrderEntry } from './keys.ts'

/**
 * A compact "@o" turning `before` into `after`: each maximal run of ids that sit at consecutive
 * ascending indices of `before` becomes one [start, end] range; ids not in `before` are listed
 * as themselves. A run of one is written as whichever of `id` and `[i,i]` is shorter JSON (the id
 * on a tie). O(n). Ids are matched by identity (1 and "1" differ) because a range reproduces the
 * exact id of `before`. Both orders must hold each id at most once.
 */
export function orderDelta (before: readonly ItemId[], after: readonly ItemId[]): OrderEntry[] {
  const indexOf = new Map<ItemId, number>()
  before.forEach((id, i) => indexOf.set(id, i))
  const out: OrderEntry[] = []
  let runStart = -1
  let runEnd = -1
  const flush = (): void => {
    if (runStart < 0) return
    if (runStart === runEnd) {
      const id = before[runStart]
      out.push(JSON.stringify(id).length <= JSON.stringify([runStart, runStart]).length ? id : [runStart, runStart])
    } else {
      out.push([runStart, runEnd])
    }
    runStart = -1
  }
  for (const id of after) {
    const index = indexOf.get(id)
    if (index !== undefined && runStart >= 0 && index === runEnd + 1) {
      runEnd = index
      continue
    }
    flush()
    if (index === undefined) {
      out.push(id)
    } else {
      runStart = index
      runEnd = index
    }
  }
  flush()
  return out
}

/**
 * The order a list has after `patch` is applied: "@o" (ranges expanded against `prev`), else
 * "@s", else `prev`; then only ids whose key `hasItem`, each key once (first wins). Also returns
 * the set of the kept ids' keys.
 *
 * Robust against deltas checkDelta would refuse: ranges are clamped to `prev`, malformed entries
 * skipped, and "@s" growth is capped at `itemCount` new ids so a huge n cannot loop for long.
 */
export function nextOrder (
  prev: readonly ItemId[],
  patch: JsonObject,
  hasItem: (key: string) => boolean,
  itemCount: number
): { order: ItemId[], keys: Set<string> } {
  const out: ItemId[] = []
  const seen = new Set<string>()
  // Ids taken from `prev` had items before the patch (a list's items are exactly its order), so
  // only those the patch touches need the full `hasItem` look-up; on a large list that halves
  // the cost of applying an insertion.
  const push = (id: ItemId | undefined, fromPrev: boolean): void => {
    if (id === undefined) return
    const key = itemKey(id)
    if (seen.has(key)) return
    const untouchedFromPrev = fromPrev && !Object.hasOwn(patch, key)
    if (!untouchedFromPrev && !hasItem(key)) return
    seen.add(key)
    out.push(id)
  }
  const order = patch[ORDER]
  const size = patch[SIZE]
  if (Array.isArray(order)) {
    for (const entry of order) {
      if (Array.isArray(entry)) {
        const [start, end] = entry
        if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end)) continue
        const last = Math.min(end as number, prev.length - 1)
        for (let i = Math.max(start as number, 0); i <= last; i++) push(prev[i], true)
      } else if (isItemId(entry)) {
        push(entry, false)
      }
    }
  } else if (typeof size === 'number' && Number.isSafeInteger(size) && size >= 0) {
    const kept = Math.min(size, prev.length)
    for (let i = 0; i < kept; i++) push(prev[i], true)
    const grown = Math.min(size, prev.length + itemCount)
    for (let i = prev.length; i < grown; i++) push(i, false)
  } else {
    for (const id of prev) push(id, true)
  }
  return { order: out, keys: seen }
}

export function sameOrder (a: readonly ItemId[], b: readonly ItemId[]): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}
