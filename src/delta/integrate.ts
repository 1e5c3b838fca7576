/**
 * The browser-side apply: integrates one Adama delta into the materialized form (see
 * materialize.ts) with the same rules mergeInto uses on the tree form.
 */
import type { Json, JsonObject } from '../json.ts'
import { isJsonObject } from '../json.ts'
import { ORDER, SIZE, PROTO_KEY, carriesListKeys, itemKey } from './keys.ts'
import type { ItemId } from './keys.ts'
import { nextOrder } from './order.ts'
import { asList, isList, keysOf } from './materialize.ts'

/**
 * Returns the state after `delta`. Does NOT change `state`: objects and lists on the paths the
 * delta touches are new, everything else is shared with `state`, so a UI can skip subtrees whose
 * reference did not change. Assumes the delta passed checkDelta against the matching tree.
 */
export function integrate (state: JsonObject, delta: JsonObject): JsonObject {
  return integrateObject(state, delta)
}

function integrateValue (current: Json | undefined, patch: Json): Json {
  if (!isJsonObject(patch)) return Array.isArray(patch) ? structuredClone(patch) : patch
  if (isList(current)) return integrateList(current, patch)
  if (carriesListKeys(patch)) return integrateList(null, patch)
  return integrateObject(isJsonObject(current) ? current : {}, patch)
}

function integrateObject (current: JsonObject, patch: JsonObject): JsonObject {
  const out: JsonObject = { ...current }
  for (const key of Object.keys(patch)) {
    if (key === PROTO_KEY) continue
    const value = patch[key]
    if (value === null) {
      delete out[key]
    } else {
      out[key] = integrateValue(Object.hasOwn(out, key) ? out[key] : undefined, value)
    }
  }
  return out
}

function integrateList (list: Json[] | null, patch: JsonObject): Json[] {
  const prev: readonly ItemId[] = list === null ? [] : keysOf(list)
  const items = new Map<string, Json>()
  prev.forEach((id, i) => items.set(itemKey(id), (list as Json[])[i]))
  const listed = carriesListKeys(patch)
  for (const key of Object.keys(patch)) {
    if (key === ORDER || key === SIZE || key === PROTO_KEY) continue
    const value = patch[key]
    if (value === null) {
      items.delete(key)
    } else if (listed || items.has(key)) {
      // Without "@o"/"@s" a new id could not enter the order, so it is not created.
      items.set(key, integrateValue(items.get(key), value))
    }
  }
  const { order } = nextOrder(prev, patch, key => items.has(key), items.size)
  return asList(order.map(id => items.get(itemKey(id)) as Json), order)
}
