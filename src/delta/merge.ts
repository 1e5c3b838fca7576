/**
 * Applying Adama deltas to the tree form. RFC 7396 merge patch for objects; list deltas for list
 * nodes (see keys.ts and /work/shared/adama-delta-format.md).
 *
 * The walk is written once and parameterised by `Edits`, which decides whether an object may be
 * changed where it is (mergeInto) or must be copied first (composeDeltas' copy-on-write).
 */
import type { Json, JsonObject } from '../json.ts'
import { isJsonObject } from '../json.ts'
import { ORDER, SIZE, PROTO_KEY, carriesListKeys, isListNode, itemKey, ownValue } from './keys.ts'
import type { ItemId, ListNode } from './keys.ts'
import { nextOrder, sameOrder } from './order.ts'

export { checkDelta } from './check.ts'
export type { CheckResult } from './check.ts'

/** How the walk obtains objects it may change. */
export interface Edits {
  /** `obj` itself or a copy of it that the walk may change. */
  writable: <T extends JsonObject>(obj: T) => T
  /** A new empty object the walk may change. */
  fresh: () => JsonObject
}

const IN_PLACE: Edits = {
  writable: obj => obj,
  fresh: () => ({})
}

/**
 * Applies one delta to `tree`, CHANGING `tree` in place. Assumes checkDelta(tree, delta) passed;
 * on other input it still terminates and never touches a prototype, but the result is unspecified.
 * Values are copied out of `delta`, so the tree never shares structure with it.
 */
export function mergeInto (tree: JsonObject, delta: JsonObject): void {
  mergeObject(tree, delta, IN_PLACE)
}

/** A deep copy of a tree (or any JSON value). */
export function cloneTree<T extends Json> (tree: T): T {
  return structuredClone(tree)
}

/** Merges `patch` into the plain object `target`; returns target or its writable copy. */
export function mergeObject (target: JsonObject, patch: JsonObject, edits: Edits): JsonObject {
  let out = target
  for (const key of Object.keys(patch)) {
    if (key === PROTO_KEY) continue
    const value = patch[key]
    const current = ownValue(out, key)
    if (value === null) {
      if (current !== undefined) {
        out = edits.writable(out)
        delete out[key]
      }
      continue
    }
    const next = mergedValue(current, value, edits)
    if (next !== current) {
      out = edits.writable(out)
      out[key] = next
    }
  }
  return out
}

/** The value `current` (undefined: absent) becomes under the non-null patch value `patch`. */
export function mergedValue (current: Json | undefined, patch: Json, edits: Edits): Json {
  if (!isJsonObject(patch)) return Array.isArray(patch) ? structuredClone(patch) : patch
  if (isListNode(current)) return mergeList(current, patch, edits)
  if (carriesListKeys(patch)) {
    const list = edits.fresh() as ListNode
    list[ORDER] = []
    return mergeList(list, patch, edits)
  }
  return mergeObject(isJsonObject(current) ? current : edits.fresh(), patch, edits)
}

/** Applies a list delta to a list node; returns the node or its writable copy. */
function mergeList (node: ListNode, patch: JsonObject, edits: Edits): ListNode {
  const prev = node[ORDER]
  if (!carriesListKeys(patch)) return mergeItemsKeepingOrder(node, patch, edits)

  let out = node
  const added: string[] = []
  for (const key of Object.keys(patch)) {
    if (key === ORDER || key === SIZE || key === PROTO_KEY) continue
    const value = patch[key]
    const current = ownValue(out, key)
    if (value === null) {
      if (current !== undefined) {
        out = edits.writable(out)
        delete out[key]
      }
      continue
    }
    if (current === undefined) added.push(key)
    const next = mergedValue(current, value, edits)
    if (next !== current) {
      out = edits.writable(out)
      out[key] = next
    }
  }
  const itemCount = prev.length + added.length
  const { order, keys: kept } = nextOrder(prev, patch, key => key !== ORDER && Object.hasOwn(out, key), itemCount)
  // Items outside the order would be invisible to viewers; drop them so tree and views agree.
  // The items are the previous order's ids plus `added`; the previous ones need a look only
  // when not all of them were kept (a full scan on every insert would double its cost).
  const drop = (key: string): void => {
    if (kept.has(key) || !Object.hasOwn(out, key)) return
    out = edits.writable(out)
    delete out[key]
  }
  added.forEach(drop)
  const addedKept = added.filter(key => kept.has(key)).length
  if (kept.size - addedKept < prev.length) for (const id of prev) drop(itemKey(id))
  if (!sameOrder(prev, order)) {
    out = edits.writable(out)
    out[ORDER] = order
  }
  return out
}

/**
 * A list delta without "@o"/"@s": existing items merge or go, the order stays (minus removed
 * items). O(size of patch) unless something is removed. An entry for an id not in the list would
 * be outside the order, so it is skipped.
 */
function mergeItemsKeepingOrder (node: ListNode, patch: JsonObject, edits: Edits): ListNode {
  let out = node
  let removed = false
  for (const key of Object.keys(patch)) {
    if (key === ORDER || key === PROTO_KEY) continue
    const current = ownValue(out, key)
    if (current === undefined) continue
    const value = patch[key]
    if (value === null) {
      out = edits.writable(out)
      delete out[key]
      removed = true
      continue
    }
    const next = mergedValue(current, value, edits)
    if (next !== current) {
      out = edits.writable(out)
      out[key] = next
    }
  }
  if (removed) {
    out[ORDER] = out[ORDER].filter((id: ItemId) => Object.hasOwn(out, itemKey(id)))
  }
  return out
}
