import assert from 'node:assert/strict'
import { checkDelta, cloneTree, mergeInto } from '../../../src/delta/index.ts'
import type { JsonObject } from '../../../src/json.ts'

// The examples table of docs/protocol.md ("Delta rules"), so the page cannot drift from the code.
const TREE = { l: { '@o': ['a', 'b'], a: 1, b: 2 } }
const EXAMPLES: Array<[string, JsonObject | 'refused']> = [
  ['{"l": {"a": null}}', { l: { '@o': ['b'], b: 2 } }],
  ['{"l": {"c": 3}}', 'refused'],
  ['{"l": {"c": 3, "@o": [[0, 1], "c"]}}', { l: { '@o': ['a', 'b', 'c'], a: 1, b: 2, c: 3 } }],
  ['{"l": {"@o": ["b"]}}', { l: { '@o': ['b'], b: 2 } }],
  ['{"l": {"a": null, "@o": ["a", "b"]}}', 'refused'],
  ['{"l": {"@o": ["a", "a", "b"]}}', 'refused'],
  ['{"l": {"@o": [[1, 2]]}}', 'refused'],
  ['{"l": {"@o": ["b"], "@s": 1}}', 'refused'],
  ['{"l": {"@s": 3, "2": 5}}', { l: { '@o': ['a', 'b', 2], a: 1, b: 2, 2: 5 } }],
  ['{"l": {"@s": 4, "2": 5}}', 'refused'],
  ['{"@o": ["x"], "x": 1}', 'refused'],
  ['{"l": {"@o": [1.5]}}', 'refused'],
  ['{"x": 1e999}', 'refused']
]

describe('docs/protocol.md delta rules examples', () => {
  for (const [change, expected] of EXAMPLES) {
    it(`${change} is ${expected === 'refused' ? 'refused' : 'applied'}`, () => {
      const tree = cloneTree(TREE) as JsonObject
      const delta = JSON.parse(change) as JsonObject
      const checked = checkDelta(tree, delta)
      if (expected === 'refused') {
        assert.equal(checked.ok, false)
        return
      }
      assert.deepEqual(checked, { ok: true })
      mergeInto(tree, delta)
      assert.deepEqual(tree, expected)
    })
  }
})
