/**
 * Read-only validation that a delta is well formed and that mergeInto would apply it cleanly to
 * a given tree. The authority runs it on every delta before signing it.
 */
import type { Json, JsonObject } from '../json.ts'
import { isJsonObject } from '../json.ts'
import { ORDER, SIZE, PROTO_KEY, carriesListKeys, isItemId, isListNode, itemKey, ownValue } from './keys.ts'
import type { ItemId, ListNode } from './keys.ts'

export type CheckResult = { ok: true } | { ok: false, error: string }

/** Deeper deltas are refused so that no walk over a tree can exhaust the stack. */
export const MAX_DEPTH = 100

class DeltaProblem extends Error {
  static override name = 'DeltaProblem'
  override name = 'DeltaProblem'
}

export function checkDelta (tree: JsonObject, delta: Json): CheckResult {
  try {
    if (!isPlainObject(delta)) throw new DeltaProblem('delta must be a JSON object')
    if (carriesListKeys(delta)) throw new DeltaProblem(`the document root is not a list: "${ORDER}"/"${SIZE}" not allowed at /`)
    checkObject(tree, delta, '', 1)
    return { ok: true }
  } catch (err) {
    if (err instanceof DeltaProblem) return { ok: false, error: err.message }
    throw err
  }
}

function isPlainObject (value: unknown): value is JsonObject {
  if (!isJsonObject(value)) return false
  const proto = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}

function checkKey (key: string, path: string): void {
  if (key === PROTO_KEY) throw new DeltaProblem(`key "${PROTO_KEY}" is not allowed at ${path || '/'}`)
}

function checkDepth (depth: number, path: string): void {
  if (depth > MAX_DEPTH) throw new DeltaProblem(`delta nests deeper than ${MAX_DEPTH} levels at ${path}`)
}

/** A patch value applied to `current` (the tree value at `path`, undefined when absent). */
function checkValue (current: Json | undefined, value: Json, path: string, depth: number): void {
  checkDepth(depth, path)
  if (isPlainObject(value)) {
    if (isListNode(current) || carriesListKeys(value)) {
      checkList(isListNode(current) ? current : null, value, path, depth)
    } else {
      checkObject(isJsonObject(current) ? current : undefined, value, path, depth)
    }
    return
  }
  checkPlainJson(value, path, depth)
}

function checkObject (current: JsonObject | undefined, patch: JsonObject, path: string, depth: number): void {
  for (const key of Object.keys(patch)) {
    const at = `${path}/${key}`
    checkKey(key, at)
    const value = patch[key]
    if (value === null) continue
    checkValue(current === undefined ? undefined : ownValue(current, key), value, at, depth + 1)
  }
}

/** Scalars and arrays are set as they are; they only need to be JSON. */
function checkPlainJson (value: unknown, path: string, depth: number): void {
  checkDepth(depth, path)
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new DeltaProblem(`number at ${path} is not finite`)
    return
  }
  if (Array.isArray(value)) {
    value.forEach((v, i) => checkPlainJson(v, `${path}/${i}`, depth + 1))
    return
  }
  if (isPlainObject(value)) {
    for (const key of Object.keys(value)) {
      checkKey(key, `${path}/${key}`)
      checkPlainJson(value[key], `${path}/${key}`, depth + 1)
    }
    return
  }
  throw new DeltaProblem(`value at ${path} is not JSON (${typeof value})`)
}

function checkList (node: ListNode | null, patch: JsonObject, path: string, depth: number): void {
  const prev: readonly ItemId[] = node === null ? [] : node[ORDER]
  const hasOrder = Object.hasOwn(patch, ORDER)
  const hasSize = Object.hasOwn(patch, SIZE)
  if (hasOrder && hasSize) throw new DeltaProblem(`list delta at ${path || '/'} carries both "${ORDER}" and "${SIZE}"`)

  for (const key of Object.keys(patch)) {
    if (key === ORDER || key === SIZE) continue
    const at = `${path}/${key}`
    checkKey(key, at)
    const value = patch[key]
    if (value === null) continue
    checkValue(node === null ? undefined : ownValue(node, key), value, at, depth + 1)
  }
  const hasItem = (key: string): boolean => Object.hasOwn(patch, key)
    ? patch[key] !== null
    : node !== null && key !== ORDER && Object.hasOwn(node, key)

  let order: ItemId[]
  if (hasOrder) {
    order = expandOrder(prev, patch[ORDER], `${path}/${ORDER}`)
  } else if (hasSize) {
    order = sizedOrder(prev, patch[SIZE], `${path}/${SIZE}`, Object.keys(patch).length - 1)
  } else {
    order = prev.filter(id => hasItem(itemKey(id)))
  }

  const seen = new Set<string>()
  for (const id of order) {
    const key = itemKey(id)
    if (seen.has(key)) throw new DeltaProblem(`id ${JSON.stringify(id)} appears twice in the new order of the list at ${path || '/'}`)
    seen.add(key)
    if (!hasItem(key)) throw new DeltaProblem(`id ${JSON.stringify(id)} in the new order of the list at ${path || '/'} has no item`)
  }
  for (const key of Object.keys(patch)) {
    if (key === ORDER || key === SIZE || patch[key] === null || seen.has(key)) continue
    throw new DeltaProblem(`item "${key}" of the list at ${path || '/'} is not in its order; list it in "${ORDER}"`)
  }
}

function expandOrder (prev: readonly ItemId[], order: Json, path: string): ItemId[] {
  if (!Array.isArray(order)) throw new DeltaProblem(`${path} must be an array`)
  const out: ItemId[] = []
  order.forEach((entry, i) => {
    if (Array.isArray(entry)) {
      const [start, end] = entry
      if (entry.length !== 2 || !Number.isSafeInteger(start) || !Number.isSafeInteger(end)) {
        throw new DeltaProblem(`${path}[${i}] must be an id or a [start, end] pair of integers`)
      }
      const s = start as number
      const e = end as number
      if (s < 0 || s > e || e >= prev.length) {
        throw new DeltaProblem(`${path}[${i}] range [${s},${e}] is outside the previous order (length ${prev.length}) or reversed`)
      }
      // Expanding costs at most the list length before a duplicate is found and reported.
      for (let j = s; j <= e; j++) out.push(prev[j])
      if (out.length > prev.length + order.length) {
        throw new DeltaProblem(`${path} repeats ids of the previous order`)
      }
    } else if (isItemId(entry)) {
      out.push(entry)
    } else {
      throw new DeltaProblem(`${path}[${i}] must be an id (string or safe integer, not "${ORDER}", "${SIZE}", "${PROTO_KEY}") or a [start, end] pair`)
    }
  })
  return out
}

function sizedOrder (prev: readonly ItemId[], size: Json, path: string, patchItems: number): ItemId[] {
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
    throw new DeltaProblem(`${path} must be a non-negative safe integer`)
  }
  if (size <= prev.length) return prev.slice(0, size)
  // Growth appends index ids prevLen..n-1, each needing an item from this delta.
  if (size - prev.length > patchItems) {
    throw new DeltaProblem(`${path} grows the list from ${prev.length} to ${size} but the delta carries only ${patchItems} items`)
  }
  const out = prev.slice()
  for (let i = prev.length; i < size; i++) out.push(i)
  return out
}
