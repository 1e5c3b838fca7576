/**
 * The delta between two trees: what a viewer that holds `before` must be sent to hold `after`
 * (for instance when it moves to another privacy class).
 *
 * Subtrees that `before` and `after` share by reference count as equal without being walked, so
 * diffing two versions of a copy-on-write tree costs what changed, not the tree.
 */
import type { Json, JsonObject } from '../json.ts'
import { isJsonObject } from '../json.ts'
import { ORDER, isListNode, itemKey, ownValue } from './keys.ts'
import type { ListNode } from './keys.ts'
import { orderDelta, sameOrder } from './order.ts'

/**
 * Thrown when `after` holds a plain object where `before` holds a list: an object delta landing
 * on a list is always read as a list delta, so no single delta can say it. Send null first.
 */
export class UnrepresentableDiffError extends Error {
  static override name = 'UnrepresentableDiffError'
  override name = 'UnrepresentableDiffError'
}

/**
 * A delta that turns `before` into `after` under mergeInto (and integrate), or null when they are
 * equal. Neither argument is changed; the result shares unchanged-by-reference values with `after`
 * (treat it as read-only). List orders are written with orderDelta against `before`'s order.
 */
export function diffTrees (before: JsonObject, after: JsonObject): JsonObject | null {
  return diffObject(before, after, '') ?? null
}

/** The delta value taking `a` (undefined: absent) to `b`, or undefined for no change. */
function diffValue (a: Json | undefined, b: Json, path: string): Json | undefined {
  if (a === b) return undefined
  if (isListNode(b)) return isListNode(a) ? diffList(a, b, path) : b
  if (isJsonObject(b)) {
    if (isListNode(a)) throw new UnrepresentableDiffError(`the list at ${path || '/'} became a plain object`)
    return isJsonObject(a) ? diffObject(a, b, path) : b
  }
  if (Array.isArray(b) && Array.isArray(a) && jsonEqual(a, b)) return undefined
  return b
}

function diffObject (a: JsonObject, b: JsonObject, path: string): JsonObject | undefined {
  if (a === b) return undefined
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

/** Items that differ (new ones whole), removed items as null, and "@o" when the order changed. */
function diffList (a: ListNode, b: ListNode, path: string): JsonObject | undefined {
  const out: JsonObject = {}
  let changed = false
  for (const id of b[ORDER]) {
    const key = itemKey(id)
    const item = ownValue(b, key)
    if (item === undefined) continue
    const sub = diffValue(ownValue(a, key), item, `${path}/${key}`)
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

/** Deep equality of JSON values. */
export function jsonEqual (a: Json, b: Json): boolean {
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
