/**
 * The browser form ("materialized"): lists become arrays in order. Item ids are not injected into
 * items; they ride on each list array as a non-enumerable symbol property, read with keysOf.
 * Plain arrays (values set as a whole) carry no ids and are not lists.
 *
 * Copies that drop symbol properties (structuredClone, JSON round trips, spreading into a new
 * array) lose the ids, and integrate would then treat the copy as a plain array.
 */
import type { Json, JsonObject } from '../json.ts'
import { isJsonObject } from '../json.ts'
import { ORDER, isListNode, itemKey, ownValue } from './keys.ts'
import type { ItemId } from './keys.ts'

const LIST_KEYS = Symbol('deltacast.listKeys')

type KeyedArray = Json[] & { [LIST_KEYS]?: readonly ItemId[] }

/** Thrown when keysOf is given an array that is not a materialized list. */
export class NotAListError extends Error {
  static override name = 'NotAListError'
  override name = 'NotAListError'
  constructor (message = 'array is not a materialized list (it carries no item ids)') {
    super(message)
  }
}

/** True for an array that materializes a list (it carries item ids). */
export function isList (value: unknown): value is Json[] {
  return Array.isArray(value) && Object.hasOwn(value, LIST_KEYS)
}

/** The item ids of a materialized list, in array order (frozen; ids as in the tree's "@o"). */
export function keysOf (list: Json[]): readonly ItemId[] {
  if (!isList(list)) throw new NotAListError()
  return (list as KeyedArray)[LIST_KEYS] as readonly ItemId[]
}

/** Marks `items` as a list whose ids are `ids` (same length, same order). */
export function asList (items: Json[], ids: ItemId[]): Json[] {
  Object.defineProperty(items, LIST_KEYS, { value: Object.freeze(ids), enumerable: false })
  return items
}

/** The browser form of a tree (a new value; the tree is not changed). */
export function materialize (tree: Json): Json {
  if (Array.isArray(tree)) return structuredClone(tree)
  if (!isJsonObject(tree)) return tree
  if (isListNode(tree)) {
    const items: Json[] = []
    const ids: ItemId[] = []
    for (const id of tree[ORDER]) {
      const item = ownValue(tree, itemKey(id))
      if (item === undefined) continue
      items.push(materialize(item))
      ids.push(id)
    }
    return asList(items, ids)
  }
  const out: JsonObject = {}
  for (const key of Object.keys(tree)) out[key] = materialize(tree[key])
  return out
}
