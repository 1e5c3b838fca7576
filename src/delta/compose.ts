/**
 * Folding several deltas into one: the viewer gets one delta per frame however many changes the
 * frame carries.
 *
 * The deltas are applied copy-on-write (each touched object copied once, the rest shared with
 * `before`), then diffTrees compares the result with `before`. Shared subtrees compare by
 * reference, so the diff only walks what the deltas touched.
 */
import type { JsonObject } from '../json.ts'
import { diffTrees, UnrepresentableDiffError } from './diff.ts'
import { mergeObject } from './merge.ts'
import type { Edits } from './merge.ts'

/**
 * Thrown when the net change cannot be written as one delta: a list replaced by a plain object
 * (a delta object landing on a list is always a list delta). Send the deltas one by one instead.
 */
export class UncomposableDeltasError extends Error {
  static override name = 'UncomposableDeltasError'
  override name = 'UncomposableDeltasError'
}

/**
 * One delta equivalent to applying `deltas` in order to `before`, or null when the net effect is
 * no change. `before` is not changed; treat the result as read-only (it may share values with the deltas). Each delta must pass
 * checkDelta against the tree it applies to. List orders are written relative to `before`'s
 * order with orderDelta.
 */
export function composeDeltas (before: JsonObject, deltas: JsonObject[]): JsonObject | null {
  if (deltas.length === 0) return null
  const edits = copyOnWrite()
  let after = before
  for (const delta of deltas) after = mergeObject(after, delta, edits)
  try {
    return diffTrees(before, after)
  } catch (err) {
    if (err instanceof UnrepresentableDiffError) throw new UncomposableDeltasError(err.message)
    throw err
  }
}

function copyOnWrite (): Edits {
  const owned = new WeakSet<JsonObject>()
  return {
    writable: <T extends JsonObject>(obj: T): T => {
      if (owned.has(obj)) return obj
      const copy = { ...obj }
      owned.add(copy)
      return copy
    },
    fresh: () => {
      const obj = {}
      owned.add(obj)
      return obj
    }
  }
}
