import assert from 'node:assert/strict'
import type { Json, JsonObject } from '../../../src/json.ts'
import { mergeInto, cloneTree, checkDelta, materialize, integrate, keysOf } from '../../../src/delta/index.ts'

/** Applies `deltas` to a copy of `tree` (each checked first) and returns the copy. */
function applied (tree: JsonObject, ...deltas: JsonObject[]): JsonObject {
  const copy = cloneTree(tree)
  for (const delta of deltas) {
    assert.deepEqual(checkDelta(copy, delta), { ok: true })
    mergeInto(copy, delta)
  }
  return copy
}

// RFC 7396 appendix A. Merge patch applies at the root; our deltas apply to a document object, so
// each case is wrapped as the value of key "x" (a null result means "x" was removed).
const RFC7396_APPENDIX_A: Array<[Json, Json, Json]> = [
  [{ a: 'b' }, { a: 'c' }, { a: 'c' }],
  [{ a: 'b' }, { b: 'c' }, { a: 'b', b: 'c' }],
  [{ a: 'b' }, { a: null }, {}],
  [{ a: 'b', b: 'c' }, { a: null }, { b: 'c' }],
  [{ a: ['b'] }, { a: 'c' }, { a: 'c' }],
  [{ a: 'c' }, { a: ['b'] }, { a: ['b'] }],
  [{ a: { b: 'c' } }, { a: { b: 'd', c: null } }, { a: { b: 'd' } }],
  [{ a: [{ b: 'c' }] }, { a: [1] }, { a: [1] }],
  [['a', 'b'], ['c', 'd'], ['c', 'd']],
  [{ a: 'b' }, ['c'], ['c']],
  [{ a: 'foo' }, null, null],
  [{ a: 'foo' }, 'bar', 'bar'],
  [{ e: null }, { a: 1 }, { e: null, a: 1 }],
  [[1, 2], { a: 'b', c: null }, { a: 'b' }],
  [{}, { a: { bb: { ccc: null } } }, { a: { bb: {} } }]
]

describe('delta/merge', () => {
  describe('RFC 7396 appendix A (wrapped in key "x")', () => {
    RFC7396_APPENDIX_A.forEach(([target, patch, result], i) => {
      const expected = result === null ? {} : { x: result }
      it(`case ${i + 1}: ${JSON.stringify(target)} + ${JSON.stringify(patch)}`, () => {
        assert.deepEqual(applied({ x: target }, { x: patch }), expected)
        assert.deepEqual(integrate({ x: target }, { x: patch }), expected)
      })
    })
  })

  it('applies the example sequence of adama-delta-format.md', () => {
    const tree: JsonObject = {}
    const steps: Array<[JsonObject, Json[]]> = [
      [{ cards: { a: { v: 1 }, b: { v: 2 }, c: { v: 3 }, '@o': ['c', 'a', 'b'] } }, [{ v: 3 }, { v: 1 }, { v: 2 }]],
      [{ cards: { d: { v: 4 }, '@o': [[0, 1], 'd', [2, 2]] } }, [{ v: 3 }, { v: 1 }, { v: 4 }, { v: 2 }]],
      [{ cards: { a: null, '@o': ['c', 'd', 'b'] } }, [{ v: 3 }, { v: 4 }, { v: 2 }]]
    ]
    for (const [delta, cards] of steps) {
      assert.deepEqual(checkDelta(tree, delta), { ok: true })
      mergeInto(tree, delta)
      assert.deepEqual(materialize(tree), { cards })
    }
    assert.equal(JSON.stringify(tree), '{"cards":{"@o":["c","d","b"],"b":{"v":2},"c":{"v":3},"d":{"v":4}}}')
  })

  it('keeps integer ids as integers and keys items by String(id)', () => {
    const tree = applied({}, { l: { 7: 'seven', 3: 'three', '@o': [7, 3] } })
    assert.deepEqual(tree, { l: { '@o': [7, 3], 3: 'three', 7: 'seven' } })
    const next = applied(tree, { l: { 5: 'five', '@o': [[1, 1], 5, [0, 0]] } })
    assert.deepEqual(next.l, { '@o': [3, 5, 7], 3: 'three', 5: 'five', 7: 'seven' })
  })

  it('mixes string and integer ids and ranges in one order', () => {
    const tree = applied({}, { l: { a: 1, b: 2, 0: 0, 1: 10, '@o': ['a', 0, 'b', 1] } })
    const next = applied(tree, { l: { c: 3, '@o': [[2, 3], 'c', [0, 1]] } })
    assert.deepEqual(next.l, { '@o': ['b', 1, 'c', 'a', 0], a: 1, b: 2, c: 3, 0: 0, 1: 10 })
  })

  it('merges into an item in place without "@o"', () => {
    const tree = applied({}, { l: { a: { v: 1, w: 1 }, b: { v: 2 }, '@o': ['a', 'b'] } })
    const next = applied(tree, { l: { a: { v: 5, w: null } } })
    assert.deepEqual(next, { l: { '@o': ['a', 'b'], a: { v: 5 }, b: { v: 2 } } })
    assert.deepEqual(materialize(next), { l: [{ v: 5 }, { v: 2 }] })
  })

  it('"@s" shrinks to the first n and drops the rest', () => {
    const tree = applied({}, { l: { 0: 'a', 1: 'b', 2: 'c', '@o': [0, 1, 2] } })
    assert.deepEqual(applied(tree, { l: { '@s': 1 } }), { l: { '@o': [0], 0: 'a' } })
    assert.deepEqual(applied(tree, { l: { '@s': 0 } }), { l: { '@o': [] } })
  })

  it('"@s" grows an index-keyed list with ids prevLen..n-1', () => {
    const tree = applied({}, { l: { 0: 'a', '@s': 1 } })
    assert.deepEqual(tree, { l: { '@o': [0], 0: 'a' } })
    const next = applied(tree, { l: { 0: 'A', 1: 'b', 2: 'c', '@s': 3 } })
    assert.deepEqual(next, { l: { '@o': [0, 1, 2], 0: 'A', 1: 'b', 2: 'c' } })
    assert.deepEqual(materialize(next), { l: ['A', 'b', 'c'] })
  })

  it('removes items with null, with or without a new "@o"', () => {
    const tree = applied({}, { l: { a: 1, b: 2, c: 3, '@o': ['a', 'b', 'c'] } })
    assert.deepEqual(applied(tree, { l: { b: null, '@o': ['a', 'c'] } }), { l: { '@o': ['a', 'c'], a: 1, c: 3 } })
    assert.deepEqual(applied(tree, { l: { b: null } }), { l: { '@o': ['a', 'c'], a: 1, c: 3 } })
  })

  it('keeps only ids that still have items when an unchecked "@o" names a removed id', () => {
    const tree = applied({}, { l: { a: 1, b: 2, c: 3, '@o': ['a', 'b', 'c'] } })
    const delta = { l: { b: null, '@o': [[0, 2], 'zz', 'a'] } }
    assert.equal(checkDelta(tree, delta).ok, false)
    mergeInto(tree, delta)
    assert.deepEqual(tree, { l: { '@o': ['a', 'c'], a: 1, c: 3 } })
  })

  it('creates a list from nothing and replaces non-lists by lists', () => {
    assert.deepEqual(applied({}, { l: { '@o': [] } }), { l: { '@o': [] } })
    assert.deepEqual(applied({ l: 5 }, { l: { x: 1, '@o': ['x'] } }), { l: { '@o': ['x'], x: 1 } })
    assert.deepEqual(applied({ l: { p: 1 } }, { l: { x: 1, '@o': ['x'] } }), { l: { '@o': ['x'], x: 1 } })
  })

  it('replaces a list by a scalar or an array, and removes it with null', () => {
    const tree = applied({}, { l: { x: 1, '@o': ['x'] } })
    assert.deepEqual(applied(tree, { l: 'gone' }), { l: 'gone' })
    assert.deepEqual(applied(tree, { l: [1, 2] }), { l: [1, 2] })
    assert.deepEqual(applied(tree, { l: null }), {})
  })

  it('handles lists nested in items', () => {
    const tree = applied({}, { l: { a: { sub: { p: 1, '@o': ['p'] } }, '@o': ['a'] } })
    const next = applied(tree, { l: { a: { sub: { q: 2, '@o': ['q', [0, 0]] } } } })
    const view = materialize(next) as { l: Array<{ sub: Json[] }> }
    assert.deepEqual(view, { l: [{ sub: [2, 1] }] })
    assert.deepEqual(keysOf(view.l[0].sub), ['q', 'p'])
  })

  it('never shares structure with the delta', () => {
    const delta: JsonObject = { o: { arr: [{ k: 1 }] }, l: { a: { v: 1 }, '@o': ['a'] } }
    const tree = applied({}, delta)
    ;(((delta.o as JsonObject).arr as Json[])[0] as JsonObject).k = 99
    ;((delta.l as JsonObject).a as JsonObject).v = 99
    assert.deepEqual(tree, { o: { arr: [{ k: 1 }] }, l: { '@o': ['a'], a: { v: 1 } } })
  })

  it('ignores "__proto__" keys rather than changing a prototype', () => {
    const delta = JSON.parse('{"__proto__": {"polluted": true}, "x": {"__proto__": {"p": 1}}}') as JsonObject
    const tree: JsonObject = {}
    mergeInto(tree, delta)
    assert.equal(Object.getPrototypeOf(tree), Object.prototype)
    assert.equal(({} as Record<string, unknown>).polluted, undefined)
    assert.deepEqual(Object.keys(tree.x as JsonObject), [])
    assert.equal(Object.getPrototypeOf(tree.x), Object.prototype)
  })

  it('does not read inherited properties as current values', () => {
    assert.deepEqual(applied({}, { constructor: { a: 1 }, toString: { b: null } }), { constructor: { a: 1 }, toString: {} })
  })

  it('terminates on huge unchecked ranges and sizes', () => {
    const tree = applied({}, { l: { a: 1, '@o': ['a'] } })
    mergeInto(tree, { l: { '@o': [[0, Number.MAX_SAFE_INTEGER]] } })
    assert.deepEqual(tree, { l: { '@o': ['a'], a: 1 } })
    mergeInto(tree, { l: { '@s': Number.MAX_SAFE_INTEGER } })
    assert.deepEqual(tree, { l: { '@o': ['a'], a: 1 } })
  })
})
