import assert from 'node:assert/strict'
import type { Json, JsonObject } from '../../../src/json.ts'
import { listInsert, listMove, listRemove, mergeInto, materialize, keysOf } from '../../../src/delta/index.ts'
import type { ListOpResult } from '../../../src/delta/index.ts'

function deltaOf (result: ListOpResult): JsonObject {
  if (!result.ok) assert.fail(result.error)
  return result.value
}

function errorOf (result: ListOpResult): string {
  assert.equal(result.ok, false)
  return (result as { error: string }).error
}

function cards (n: number): JsonObject {
  const list: JsonObject = { '@o': Array.from({ length: n }, (_, i) => i) }
  for (let i = 0; i < n; i++) list[i] = { v: i }
  return { cards: list }
}

describe('delta/list-ops', () => {
  it('inserts with a compact "@o" and the exact delta shape', () => {
    const tree = cards(10)
    const delta = deltaOf(listInsert(tree, ['cards'], 'x', { v: 'x' }, 5))
    assert.equal(JSON.stringify(delta), '{"cards":{"x":{"v":"x"},"@o":[[0,4],"x",[5,9]]}}')
    mergeInto(tree, delta)
    assert.deepEqual(keysOf((materialize(tree) as { cards: Json[] }).cards), [0, 1, 2, 3, 4, 'x', 5, 6, 7, 8, 9])
  })

  it('creates the list (and missing parents) when absent', () => {
    const tree: JsonObject = {}
    const delta = deltaOf(listInsert(tree, ['board', 'cards'], 'a', 1, 0))
    assert.equal(JSON.stringify(delta), '{"board":{"cards":{"a":1,"@o":["a"]}}}')
    mergeInto(tree, delta)
    assert.deepEqual(materialize(tree), { board: { cards: [1] } })
  })

  it('moves, with the final index as target', () => {
    const tree = cards(5)
    assert.equal(JSON.stringify(deltaOf(listMove(tree, ['cards'], 1, 3))), '{"cards":{"@o":[0,[2,3],1,4]}}')
    assert.equal(JSON.stringify(deltaOf(listMove(tree, ['cards'], 4, 0))), '{"cards":{"@o":[4,[0,3]]}}')
    const delta = deltaOf(listMove(tree, ['cards'], 0, 4))
    mergeInto(tree, delta)
    assert.deepEqual(tree.cards, { ...cards(5).cards as JsonObject, '@o': [1, 2, 3, 4, 0] })
  })

  it('removes with a null entry and a compact "@o"', () => {
    const tree = cards(5)
    assert.equal(JSON.stringify(deltaOf(listRemove(tree, ['cards'], 2))), '{"cards":{"2":null,"@o":[[0,1],[3,4]]}}')
    assert.equal(JSON.stringify(deltaOf(listRemove(cards(1), ['cards'], 0))), '{"cards":{"0":null,"@o":[]}}')
  })

  it('works on a list nested in an item', () => {
    const tree: JsonObject = { l: { '@o': ['a'], a: { sub: { '@o': ['p'], p: 1 } } } }
    const delta = deltaOf(listInsert(tree, ['l', 'a', 'sub'], 'q', 2, 1))
    assert.equal(JSON.stringify(delta), '{"l":{"a":{"sub":{"q":2,"@o":["p","q"]}}}}')
    assert.match(errorOf(listInsert(tree, ['l', 'b', 'sub'], 'q', 2, 0)), /no item "b" in the list at \/l/)
  })

  it('keeps each delta small on a 10,000-item list', () => {
    const tree = cards(10_000)
    const ops: Array<[string, ListOpResult]> = [
      ['insert', listInsert(tree, ['cards'], 'new', { v: 1 }, 5000)],
      ['move', listMove(tree, ['cards'], 17, 9000)],
      ['delete', listRemove(tree, ['cards'], 4321)]
    ]
    for (const [name, result] of ops) {
      const bytes = JSON.stringify(deltaOf(result)).length
      assert.ok(bytes < 60, `${name}: ${bytes} bytes`)
    }
    assert.equal(JSON.stringify(deltaOf(ops[1][1])), '{"cards":{"@o":[[0,16],[18,9000],17,[9001,9999]]}}')
  })

  it('reports errors as data', () => {
    const tree: JsonObject = { ...cards(3), s: 'text', o: { p: 1 } }
    assert.match(errorOf(listInsert(tree, ['cards'], 1, 'dup', 0)), /id 1 is already in the list at \/cards/)
    assert.match(errorOf(listInsert(tree, ['cards'], '1', 'dup', 0)), /already in the list/)
    assert.match(errorOf(listInsert(tree, ['cards'], 'x', 1, 4)), /insert index 4 is outside 0\.\.3/)
    assert.match(errorOf(listInsert(tree, ['cards'], 'x', 1, -1)), /insert index -1/)
    assert.match(errorOf(listInsert(tree, ['cards'], 'x', 1, 1.5)), /insert index 1\.5/)
    assert.match(errorOf(listInsert(tree, ['cards'], 'x', null, 0)), /cannot be null/)
    assert.match(errorOf(listInsert(tree, ['cards'], '@o', 1, 0)), /invalid item id "@o"/)
    assert.match(errorOf(listInsert(tree, ['cards'], 1.5, 1, 0)), /invalid item id 1\.5/)
    assert.match(errorOf(listInsert(tree, ['cards'], 'x', { l: { '@o': ['nope'] } }, 0)), /"nope" in the new order of the list at \/cards\/x\/l has no item/)
    assert.match(errorOf(listInsert(tree, ['s'], 'x', 1, 0)), /\/s is not a list/)
    assert.match(errorOf(listInsert(tree, ['o'], 'x', 1, 0)), /\/o is not a list/)
    assert.match(errorOf(listInsert(tree, ['s', 'deeper'], 'x', 1, 0)), /\/s is not an object/)
    assert.match(errorOf(listInsert(tree, [], 'x', 1, 0)), /root is not a list/)
    assert.match(errorOf(listInsert(tree, ['__proto__'], 'x', 1, 0)), /invalid path segment/)
    assert.match(errorOf(listMove(tree, ['cards'], 'zz', 0)), /no id "zz" in the list at \/cards/)
    assert.match(errorOf(listMove(tree, ['cards'], 0, 3)), /move index 3 is outside 0\.\.2/)
    assert.match(errorOf(listMove(tree, ['missing'], 0, 0)), /no list at \/missing/)
    assert.match(errorOf(listRemove(tree, ['cards'], 7)), /no id 7 in the list/)
    assert.match(errorOf(listRemove(tree, ['s'], 0)), /\/s is not a list/)
  })

  it('does not change the tree', () => {
    const tree = cards(4)
    const copy = structuredClone(tree)
    listInsert(tree, ['cards'], 'x', 1, 2)
    listMove(tree, ['cards'], 0, 3)
    listRemove(tree, ['cards'], 1)
    assert.deepEqual(tree, copy)
  })
})
