/**
 * Folding several deltas into one: the viewer gets one delta per frame however many changes the
 * frame carries.
 *
 * The deltas are applied copy-on-write (each touched object copied once, the rest shared with
 * `before`), then the result is diffed against `before`. Shared subtrees compare by reference,
 * so the diff only walks what the deltas touched.
 */
import type { Json, JsonObject } from '../json.ts'
import { isJsonObject } from '../json.ts'
import { ORDER, isListNode, itemKey, ownValue } from './keys.ts'
import type { ListNode } from './keys.ts'
import { mergeObject } from './merge.ts'
import type { Edits } from './merge.ts'
import { orderDelta, sameOrder } from './order.ts'

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
 * no change. `before` is not changed; the result shares no objects with it. Each delta must pass
 * checkDelta against the tree it applies to. List orders are written relative to `before`'s
 * order with orderDelta.
 */
export function composeDeltas (before: JsonObject, deltas: JsonObject[]): JsonObject | null {
  if (deltas.length === 0) return null
  const edits = copyOnWrite()
  let after = before
  for (const delta of deltas) after = mergeObject(after, delta, edits)
  return diffObject(before, after) ?? null
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

/** The delta value taking `a` to `b` (a is undefined when absent), or undefined for no change. */
function diffValue (a: Json | undefined, b: Json, path: string): Json | undefined {
  if (a === b) return undefined
  if (isListNode(b)) return isListNode(a) ? diffList(a, b, path) : b
  if (isJsonObject(b)) {
    if (isListNode(a)) throw new UncomposableDeltasError(`the list at ${path || '/'} became an object`)
    return isJsonObject(a) ? diffObject(a, b, path) : b
  }
  if (Array.isArray(b) && Array.isArray(a) && jsonEqual(a, b)) return undefined
  return b
}

function diffObject (a: JsonObject, b: JsonObject, path = ''): JsonObject | undefined {
  const out: JsonObject = {}
  let changed = false
  for (const key of Object.keys(b)) {
    const sub = diffValue(ownValue(a, key), b[key], `${path}/${key}`)
    if (sub !== undefined) {
      out[key] = sub
      changed = true
    }
  }
  for (const key of Object.keys(a)) {
    if (!Object.hasOwn(b, key)) {
      out[key] = null
      changed = true
    }
  }
  return changed ? out : undefined
}

/** Items that differ, removed items as null, and "@o" when the order changed. */
function diffList (a: ListNode, b: ListNode, path: string): JsonObject | undefined {
  const out: JsonObject = {}
  let changed = false
  for (const id of b[ORDER]) {
    const key = itemKey(id)
    const sub = diffValue(ownValue(a, key), b[key], `${path}/${key}`)
    if (sub !== undefined) {
      out[key] = sub
      changed = true
    }
  }
  for (const id of a[ORDER]) {
    const key = itemKey(id)
    if (!Object.hasOwn(b, key)) {
      out[key] = null
      changed = true
    }
  }
  if (!sameOrder(a[ORDER], b[ORDER])) {
    out[ORDER] = orderDelta(a[ORDER], b[ORDER])
    changed = true
  }
  return changed ? out : undefined
}

function jsonEqual (a: Json, b: Json): boolean {
  if (a === b) return true
  if (Array.isArray(a)) {
    return Array.isArray(b) && a.length === b.length && a.every((v, i) => jsonEqual(v, b[i]))
  }
  if (isJsonObject(a) && isJsonObject(b)) {
    const keys = Object.keys(a)
    return keys.length === Object.keys(b).length &&
      keys.every(k => Object.hasOwn(b, k) && jsonEqual(a[k], b[k]))
  }
  return false
}
