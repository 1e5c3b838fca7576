import assert from 'node:assert/strict'
import type { Json, JsonObject } from '../../../src/json.ts'
import { integrate, keysOf, isList, materialize, NotAListError } from '../../../src/delta/index.ts'

type View = Record<string, Json[]>

describe('delta/integrate', () => {
  it('follows the example sequence of adama-delta-format.md', () => {
    let state: JsonObject = {}
    state = integrate(state, { cards: { a: { v: 1 }, b: { v: 2 }, c: { v: 3 }, '@o': ['c', 'a', 'b'] } })
    assert.deepEqual(state, { cards: [{ v: 3 }, { v: 1 }, { v: 2 }] })
    state = integrate(state, { cards: { d: { v: 4 }, '@o': [[0, 1], 'd', [2, 2]] } })
    assert.deepEqual(state, { cards: [{ v: 3 }, { v: 1 }, { v: 4 }, { v: 2 }] })
    assert.deepEqual(keysOf((state as View).cards), ['c', 'a', 'd', 'b'])
    state = integrate(state, { cards: { a: null, '@o': ['c', 'd', 'b'] } })
    assert.deepEqual(state, { cards: [{ v: 3 }, { v: 4 }, { v: 2 }] })
    assert.deepEqual(keysOf((state as View).cards), ['c', 'd', 'b'])
  })

  it('keeps integer ids and resolves ranges against the previous order', () => {
    let state = integrate({}, { l: { 5: 'five', 9: 'nine', '@o': [9, 5] } })
    state = integrate(state, { l: { x: 'x', '@o': [[1, 1], 'x', [0, 0]] } })
    assert.deepEqual(state, { l: ['five', 'x', 'nine'] })
    assert.deepEqual(keysOf((state as View).l), [5, 'x', 9])
  })

  it('shows an item updated in place without "@o"', () => {
    const state = integrate({}, { l: { a: { v: 1, w: 2 }, b: { v: 2 }, '@o': ['a', 'b'] } })
    const next = integrate(state, { l: { a: { v: 10, w: null } } })
    assert.deepEqual(next, { l: [{ v: 10 }, { v: 2 }] })
    assert.deepEqual(keysOf((next as View).l), ['a', 'b'])
  })

  it('applies "@s" shrink and grow', () => {
    let state = integrate({}, { l: { 0: 'a', 1: 'b', 2: 'c', '@s': 3 } })
    assert.deepEqual(state, { l: ['a', 'b', 'c'] })
    assert.deepEqual(keysOf((state as View).l), [0, 1, 2])
    state = integrate(state, { l: { '@s': 1 } })
    assert.deepEqual(state, { l: ['a'] })
    state = integrate(state, { l: { 1: 'B', '@s': 2 } })
    assert.deepEqual(state, { l: ['a', 'B'] })
  })

  it('removes items with null, with or without "@o"', () => {
    const state = integrate({}, { l: { a: 1, b: 2, c: 3, '@o': ['a', 'b', 'c'] } })
    assert.deepEqual(integrate(state, { l: { b: null } }), { l: [1, 3] })
    assert.deepEqual(keysOf((integrate(state, { l: { b: null } }) as View).l), ['a', 'c'])
    assert.deepEqual(integrate(state, { l: { a: null, '@o': [[1, 2]] } }), { l: [2, 3] })
  })

  it('creates a list from nothing, replaces and removes it', () => {
    const state = integrate({ l: 'text' }, { l: { '@o': [] } })
    assert.ok(isList(state.l))
    assert.deepEqual(state, { l: [] })
    assert.deepEqual(integrate(state, { l: null }), {})
    assert.deepEqual(integrate(state, { l: [1] }), { l: [1] })
    assert.ok(!isList(integrate(state, { l: [1] }).l))
  })

  it('treats a plain array as a value, not a list', () => {
    assert.deepEqual(integrate({ l: [1, 2] }, { l: { a: 1 } }), { l: { a: 1 } })
  })

  it('returns a new state and shares untouched subtrees', () => {
    const state = integrate({}, { l: { a: { v: 1 }, b: { v: 2 }, '@o': ['a', 'b'] }, o: { p: { q: 1 } } })
    const frozen = JSON.stringify(state)
    const next = integrate(state, { l: { a: { v: 5 } } })
    assert.equal(JSON.stringify(state), frozen)
    assert.notEqual(next, state)
    assert.equal(next.o, state.o)
    assert.notEqual(next.l, state.l)
    assert.equal((next as View).l[1], (state as View).l[1])
  })

  it('ignores "__proto__" keys', () => {
    const next = integrate({}, JSON.parse('{"__proto__": {"polluted": 1}, "x": 1}') as JsonObject)
    assert.equal(Object.getPrototypeOf(next), Object.prototype)
    assert.deepEqual(next, { x: 1 })
  })
})

describe('delta/materialize', () => {
  it('turns list nodes into arrays, recursively, with ids on keysOf', () => {
    const tree: JsonObject = {
      l: { '@o': [2, 'a'], 2: { sub: { '@o': ['p'], p: [1, 2] } }, a: 'A' },
      arr: [{ '@o': ['not a list'] }]
    }
    const view = materialize(tree) as JsonObject
    assert.deepEqual(view, { l: [{ sub: [[1, 2]] }, 'A'], arr: [{ '@o': ['not a list'] }] })
    const l = view.l as Json[]
    assert.deepEqual(keysOf(l), [2, 'a'])
    assert.deepEqual(keysOf(((l[0] as JsonObject).sub) as Json[]), ['p'])
    assert.ok(!isList(((l[0] as JsonObject).sub as Json[])[0]))
    assert.deepEqual(Object.keys(l), ['0', '1'], 'ids are not enumerable')
  })

  it('keysOf refuses arrays that are not lists', () => {
    assert.throws(() => keysOf([1, 2]), NotAListError)
    assert.throws(() => keysOf(structuredClone(materialize({ l: { '@o': [] } }) as View).l), { name: 'NotAListError' })
  })

  it('does not share structure with the tree', () => {
    const tree: JsonObject = { o: { a: [1] }, l: { '@o': ['x'], x: { v: 1 } } }
    const view = materialize(tree) as JsonObject
    ;((view.o as JsonObject).a as Json[]).push(2)
    ;((view.l as Json[])[0] as JsonObject).v = 2
    assert.deepEqual(tree, { o: { a: [1] }, l: { '@o': ['x'], x: { v: 1 } } })
  })
})
