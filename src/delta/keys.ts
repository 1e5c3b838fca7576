/**
 * Names and shapes of the internal document form ("tree").
 *
 * An ordered list is stored as an object `{"@o": [id, ...], "<id>": item, ...}`: "@o" holds the full
 * current order, items are keyed by String(id), and every item is in the order exactly once. So a
 * tree is itself a delta that rebuilds the document from `{}`.
 */
import type { Json, JsonObject } from '../json.ts'
import { isJsonObject } from '../json.ts'

/** Delta and tree key holding a list's order. */
export const ORDER = '@o'
/** Delta key that truncates (or grows an index-keyed) list to n elements. */
export const SIZE = '@s'
/** Never a usable key: assigning it would change an object's prototype. */
export const PROTO_KEY = '__proto__'

/** An item's id as it appears in "@o": a string or a safe integer. */
export type ItemId = string | number
/** One "@o" entry: an item id, or an inclusive [start, end] range of the previous order. */
export type OrderEntry = ItemId | [number, number]

/** A list node of the tree form. */
export interface ListNode extends JsonObject {
  [ORDER]: ItemId[]
}

export function isItemId (value: unknown): value is ItemId {
  if (typeof value === 'string') return value !== ORDER && value !== SIZE && value !== PROTO_KEY
  return Number.isSafeInteger(value)
}

/** Key of an item in its list node. Ids 1 and "1" share a key, so they count as the same item. */
export function itemKey (id: ItemId): string {
  return String(id)
}

export function isListNode (value: unknown): value is ListNode {
  return isJsonObject(value) && Array.isArray(value[ORDER])
}

/** A delta object is a list delta when it carries "@o" or "@s" (or when it lands on a list). */
export function carriesListKeys (patch: JsonObject): boolean {
  return Object.hasOwn(patch, ORDER) || Object.hasOwn(patch, SIZE)
}

/** obj[key] only when it is an own property: `tree.constructor` must not read Object's. */
export function ownValue (obj: JsonObject, key: string): Json | undefined {
  return Object.hasOwn(obj, key) ? obj[key] : undefined
}
