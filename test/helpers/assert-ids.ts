import assert from 'node:assert/strict'
import { isJsonObject } from '../../src/json.ts'
import { isList, isListNode, keysOf } from '../../src/delta/index.ts'
import type { Json, JsonObject } from '../../src/json.ts'

/**
 * The browser form agrees with the tree form on list ids: every list node of `tree` is an array
 * in `view` whose keysOf are its "@o", recursively, and no plain array of `tree` became a list.
 */
export function assertIdsAgree (tree: Json, view: Json): void {
  if (isListNode(tree)) {
    assert.ok(isList(view))
    assert.deepStrictEqual(keysOf(view as Json[]), tree['@o'])
    tree['@o'].forEach((id, i) => { assertIdsAgree(tree[String(id)], (view as Json[])[i]) })
  } else if (isJsonObject(tree)) {
    for (const key of Object.keys(tree)) assertIdsAgree(tree[key], (view as JsonObject)[key])
  } else if (Array.isArray(tree)) {
    assert.ok(!isList(view))
  }
}
