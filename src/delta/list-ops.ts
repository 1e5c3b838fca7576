/**
 * Deltas for the authority's list API: insert, move and remove one item, each given the current
 * tree and returning a delta rooted at the document root with a compact "@o".
 *
 * Expected failures (no list at the path, duplicate or unknown id, bad index, invalid value) are
 * returned as `{ ok: false, error }`; nothing here throws on bad input. The tree is not changed.
 *
 * `path` lists object keys from the root to the list; inside a list, a segment is an item key
 * (String(id)). Values are in tree form (a nested list is written as a list node).
 */
import type { Json, JsonObject } from '../json.ts'
import { isJsonObject } from '../json.ts'
import { ORDER, SIZE, PROTO_KEY, isItemId, isListNode, itemKey, ownValue } from './keys.ts'
import type { ItemId, ListNode } from './keys.ts'
import { orderDelta } from './order.ts'
import { checkDelta } from './check.ts'

export type ListOpResult = { ok: true, value: JsonObject } | { ok: false, error: string }

type Located = { ok: true, list: ListNode | undefined } | { ok: false, error: string }

/** Inserts item `id` with `value` so that it ends up at `index`; creates the list if absent. */
export function listInsert (tree: JsonObject, path: string[], id: ItemId, value: Json, index: number): ListOpResult {
  if (!isItemId(id)) return fail(`invalid item id ${JSON.stringify(id)}`)
  if (value === null) return fail('an item value cannot be null (null removes)')
  const found = locate(tree, path)
  if (!found.ok) return found
  const order = found.list === undefined ? [] : found.list[ORDER]
  const key = itemKey(id)
  if (found.list !== undefined && Object.hasOwn(found.list, key)) {
    return fail(`id ${JSON.stringify(id)} is already in the list at ${where(path)}`)
  }
  if (!isIndex(index, order.length)) return fail(`insert index ${index} is outside 0..${order.length}`)
  const after = [...order.slice(0, index), id, ...order.slice(index)]
  return finish(tree, path, { [key]: value, [ORDER]: orderDelta(order, after) })
}

/** Moves item `id` so that it ends up at `index` (0..length-1) of the list. */
export function listMove (tree: JsonObject, path: string[], id: ItemId, index: number): ListOpResult {
  const found = locateExisting(tree, path, id)
  if (!found.ok) return found
  const { order, at } = found
  if (!isIndex(index, order.length - 1)) return fail(`move index ${index} is outside 0..${order.length - 1}`)
  const after = order.slice()
  const [moved] = after.splice(at, 1)
  after.splice(index, 0, moved)
  return finish(tree, path, { [ORDER]: orderDelta(order, after) })
}

/** Removes item `id` from the list. */
export function listRemove (tree: JsonObject, path: string[], id: ItemId): ListOpResult {
  const found = locateExisting(tree, path, id)
  if (!found.ok) return found
  const { order, at } = found
  const after = order.slice(0, at).concat(order.slice(at + 1))
  return finish(tree, path, { [itemKey(id)]: null, [ORDER]: orderDelta(order, after) })
}

function fail (error: string): { ok: false, error: string } {
  return { ok: false, error }
}

function where (path: string[]): string {
  return '/' + path.join('/')
}

function isIndex (index: number, max: number): boolean {
  return Number.isSafeInteger(index) && index >= 0 && index <= max
}

/** The list at `path` (undefined when absent), or why there cannot be one. */
function locate (tree: JsonObject, path: string[]): Located {
  if (path.length === 0) return fail('the document root is not a list; give a path')
  let node: Json | undefined = tree
  for (let i = 0; i < path.length; i++) {
    const segment = path[i]
    if (segment === PROTO_KEY || segment === ORDER || segment === SIZE) return fail(`invalid path segment "${segment}"`)
    if (node === undefined) continue
    if (!isJsonObject(node)) return fail(`${where(path.slice(0, i))} is not an object`)
    const next = ownValue(node, segment)
    if (isListNode(node) && next === undefined) {
      return fail(`no item "${segment}" in the list at ${where(path.slice(0, i))}`)
    }
    node = next
  }
  if (node === undefined) return { ok: true, list: undefined }
  if (!isListNode(node)) return fail(`${where(path)} is not a list`)
  return { ok: true, list: node }
}

function locateExisting (tree: JsonObject, path: string[], id: ItemId):
{ ok: true, order: ItemId[], at: number } | { ok: false, error: string } {
  const found = locate(tree, path)
  if (!found.ok) return found
  if (found.list === undefined) return fail(`no list at ${where(path)}`)
  const key = itemKey(id)
  const order = found.list[ORDER]
  const at = order.findIndex(x => itemKey(x) === key)
  if (at < 0) return fail(`no id ${JSON.stringify(id)} in the list at ${where(path)}`)
  return { ok: true, order, at }
}

/** Roots the list patch at the document root and validates the whole delta. */
function finish (tree: JsonObject, path: string[], listPatch: JsonObject): ListOpResult {
  let delta: JsonObject = listPatch
  for (let i = path.length - 1; i >= 0; i--) delta = { [path[i]]: delta }
  const checked = checkDelta(tree, delta)
  if (!checked.ok) return checked
  return { ok: true, value: delta }
}
