import assert from 'node:assert/strict'
import fc from 'fast-check'
import type { Json, JsonObject } from '../../../src/json.ts'
import { checkDelta, cloneTree, diffTrees, integrate, materialize, mergeInto, UnrepresentableDiffError } from '../../../src/delta/index.ts'

const RUNS = process.env.CI === 'true' ? 2000 : 300

describe('delta/diff', () => {
  it('returns null for equal trees and for shared subtrees without walking them', () => {
    const shared = { big: { '@o': ['a'], a: 1 } }
    assert.equal(diffTrees({ x: 1, s: shared }, { x: 1, s: shared }), null)
    assert.equal(diffTrees({ a: [1, { b: 2 }] }, { a: [1, { b: 2 }] }), null)
    assert.equal(diffTrees({}, {}), null)
  })

  it('writes a merge patch for objects, null for removed keys, new values whole', () => {
    assert.deepEqual(diffTrees({ a: 1, b: { c: 1, d: 2 }, e: 5 }, { a: 2, b: { c: 1 }, f: { g: 1 } }),
      { a: 2, b: { d: null }, e: null, f: { g: 1 } })
    assert.deepEqual(diffTrees({ a: 1 }, { a: { b: 1 } }), { a: { b: 1 } })
    assert.deepEqual(diffTrees({ a: { b: 1 } }, { a: 'x' }), { a: 'x' })
  })

  it('writes lists with item patches, null removals and a compact "@o"', () => {
    const before = { l: { '@o': ['a', 'b', 'c', 'd'], a: { v: 1 }, b: 2, c: 3, d: 4 } }
    const after = { l: { '@o': ['a', 'b', 'x', 'd'], a: { v: 2 }, b: 2, x: 9, d: 4 } }
    assert.deepEqual(diffTrees(before, after), { l: { a: { v: 2 }, x: 9, c: null, '@o': [[0, 1], 'x', 'd'] } })
  })

  it('sends a list whole where there was none, and refuses a list turning into an object', () => {
    assert.deepEqual(diffTrees({ l: { p: 1 } }, { l: { '@o': [1], 1: 'a' } }), { l: { '@o': [1], 1: 'a' } })
    assert.throws(() => diffTrees({ l: { '@o': [] } }, { l: { p: 1 } }), UnrepresentableDiffError)
  })

  it('property: mergeInto(clone(a), diffTrees(a, b)) equals b, and integrate agrees', () => {
    const leaf = fc.oneof(fc.integer({ min: 0, max: 3 }), fc.constantFrom('x', 'y'), fc.constant<Json>([1, 2]))
    const ids = fc.uniqueArray(fc.constantFrom<string | number>('a', 'b', 'c', 1, 2, 3), { maxLength: 4, selector: id => String(id) })
    // A random tree of fixed shape per key: "l*" keys hold lists, "o*" keys objects, others leaves.
    const tree: fc.Arbitrary<JsonObject> = fc.letrec<{ obj: JsonObject, list: JsonObject, value: Json }>(tie => ({
      value: fc.oneof({ depthSize: 'small' }, leaf, tie('obj')),
      obj: fc.dictionary(fc.constantFrom('f', 'g', 'h'), tie('value'), { maxKeys: 3 }).chain(o =>
        fc.option(tie('list'), { nil: undefined }).map(l => l === undefined ? o : { ...o, l })),
      list: ids.chain(order => fc.tuple(...order.map(() => tie('value'))).map(items => {
        const node: JsonObject = { '@o': order }
        order.forEach((id, i) => { node[String(id)] = items[i] })
        return node
      }))
    })).obj.map(t => JSON.parse(JSON.stringify(t)) as JsonObject)
    // Lists stay lists: only list nodes may sit under "l", never under f/g/h.
    fc.assert(fc.property(tree, tree, (a, b) => {
      const delta = diffTrees(a, b)
      const got = cloneTree(a)
      if (delta === null) {
        assert.deepStrictEqual(a, b)
        return
      }
      assert.deepStrictEqual(checkDelta(got, delta), { ok: true })
      mergeInto(got, delta)
      assert.deepStrictEqual(got, b)
      assert.deepStrictEqual(integrate(materialize(a) as JsonObject, delta), materialize(b))
    }), { numRuns: RUNS })
  })
})
