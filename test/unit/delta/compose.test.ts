import assert from 'node:assert/strict'
import type { JsonObject } from '../../../src/json.ts'
import { composeDeltas, UncomposableDeltasError, listInsert, listMove, listRemove, mergeInto, cloneTree } from '../../../src/delta/index.ts'
import type { ListOpResult } from '../../../src/delta/index.ts'

const ok = (r: ListOpResult): JsonObject => { if (!r.ok) assert.fail(r.error); return r.value }

function cards (n: number): JsonObject {
  const list: JsonObject = { '@o': Array.from({ length: n }, (_, i) => i) }
  for (let i = 0; i < n; i++) list[i] = { v: i }
  return { cards: list }
}

/** Runs list ops one after another on a copy, returning their deltas. */
function sequence (start: JsonObject, ...ops: Array<(tree: JsonObject) => ListOpResult>): JsonObject[] {
  const tree = cloneTree(start)
  return ops.map(op => {
    const delta = ok(op(tree))
    mergeInto(tree, delta)
    return delta
  })
}

describe('delta/compose', () => {
  it('returns null for no deltas and for changes that cancel out', () => {
    assert.equal(composeDeltas({ a: 1 }, []), null)
    assert.equal(composeDeltas({ a: 1 }, [{ a: 2 }, { a: 1 }]), null)
    assert.equal(composeDeltas({ a: 1 }, [{ b: 2 }, { b: null }]), null)
    assert.equal(composeDeltas({ a: [1, { b: 2 }] }, [{ a: [1, { b: 2 }] }]), null)
    const tree = cards(5)
    assert.equal(composeDeltas(tree, sequence(tree, t => listMove(t, ['cards'], 0, 4), t => listMove(t, ['cards'], 0, 0))), null)
  })

  it('merges object changes as one merge patch', () => {
    assert.deepEqual(composeDeltas({ a: 1, o: { p: 1, q: 2 } }, [{ a: 2, o: { p: null } }, { o: { r: 3 }, z: 1 }]),
      { a: 2, o: { p: null, r: 3 }, z: 1 })
  })

  it('writes one compact "@o" relative to the original order', () => {
    const tree = cards(10_000)
    const deltas = sequence(tree,
      t => listInsert(t, ['cards'], 'x', { v: 'x' }, 100),
      t => listRemove(t, ['cards'], 5000),
      t => listMove(t, ['cards'], 'x', 9000))
    const composed = composeDeltas(tree, deltas)
    assert.equal(JSON.stringify(composed), '{"cards":{"5000":null,"x":{"v":"x"},"@o":[[0,4999],[5001,9000],"x",[9001,9999]]}}')
  })

  it('sends an item changed several times once, with its net change', () => {
    const tree = cards(3)
    const composed = composeDeltas(tree, [{ cards: { 1: { v: 10, w: 1 } } }, { cards: { 1: { w: null, z: 2 } } }])
    assert.deepEqual(composed, { cards: { 1: { v: 10, z: 2 } } })
  })

  it('writes an item removed and added again as a merge into the old item', () => {
    const tree: JsonObject = { l: { '@o': ['a', 'b'], a: { v: 1, w: 1 }, b: 2 } }
    const deltas = sequence(tree, t => listRemove(t, ['l'], 'a'), t => listInsert(t, ['l'], 'a', { v: 1 }, 1))
    assert.deepEqual(composeDeltas(tree, deltas), { l: { a: { w: null }, '@o': ['b', 'a'] } })
  })

  it('writes a list created in the frame as a whole', () => {
    assert.deepEqual(composeDeltas({ l: 'x' }, [{ l: { a: 1, '@o': ['a'] } }, { l: { b: 2, '@o': [[0, 0], 'b'] } }]),
      { l: { '@o': ['a', 'b'], a: 1, b: 2 } })
  })

  it('throws UncomposableDeltasError when a list becomes a plain object', () => {
    const tree: JsonObject = { l: { '@o': ['a'], a: 1 } }
    assert.throws(() => composeDeltas(tree, [{ l: null }, { l: { p: 1 } }]), UncomposableDeltasError)
    assert.throws(() => composeDeltas(tree, [{ l: null }, { l: { p: 1 } }]), { name: 'UncomposableDeltasError', message: /list at \/l became a plain object/ })
  })

  it('does not change before or the deltas', () => {
    const tree = cards(4)
    const deltas = sequence(tree, t => listInsert(t, ['cards'], 'x', { v: 1 }, 2), () => ({ ok: true, value: { cards: { x: { v: 2 } } } }))
    const copies = [cloneTree(tree), cloneTree(deltas)]
    composeDeltas(tree, deltas)
    assert.deepEqual([tree, deltas], copies)
  })
})
