import assert from 'node:assert/strict'
import { orderDelta } from '../../../src/delta/index.ts'
import type { ItemId } from '../../../src/delta/index.ts'

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i)

describe('delta/order', () => {
  it('writes an unchanged order as one range', () => {
    assert.equal(JSON.stringify(orderDelta(['a', 'b', 'c'], ['a', 'b', 'c'])), '[[0,2]]')
  })

  it('writes an insertion as range, id, range', () => {
    assert.equal(JSON.stringify(orderDelta(['c', 'a', 'b'], ['c', 'a', 'd', 'b'])), '[[0,1],"d","b"]')
  })

  it('writes a run of one as the shorter of id and [i,i] (the id on a tie)', () => {
    assert.equal(JSON.stringify(orderDelta(['ab', 'x'], ['x', 'ab'])), '["x","ab"]')
    assert.equal(JSON.stringify(orderDelta(['abcdef', 'x'], ['x', 'abcdef'])), '["x",[0,0]]')
    assert.equal(JSON.stringify(orderDelta(['abc', 'x'], ['x', 'abc'])), '["x","abc"]')
    assert.equal(JSON.stringify(orderDelta([10, 11, 12], [12, 10, 11])), '[12,[0,1]]')
  })

  it('lists new ids as themselves and leaves removed ids out', () => {
    assert.equal(JSON.stringify(orderDelta([1, 2, 3, 4], [1, 'n', 4])), '[1,"n",4]')
    assert.equal(JSON.stringify(orderDelta(range(6), [0, 1, 2, 4, 5])), '[[0,2],[4,5]]')
    assert.deepEqual(orderDelta(['a'], []), [])
    assert.deepEqual(orderDelta([], ['a', 1]), ['a', 1])
  })

  it('matches ids by identity: 1 and "1" are different ids', () => {
    assert.deepEqual(orderDelta([1, 2], ['1', 2]), ['1', 2])
  })

  it('writes a reversal as one entry per element', () => {
    assert.deepEqual(orderDelta(['a', 'b', 'c'], ['c', 'b', 'a']), ['c', 'b', 'a'])
  })

  describe('on a 10,000-item list the "@o" stays a few bytes', () => {
    const sizes = [100, 10_000]
    const bytes = (before: ItemId[], after: ItemId[]): number => JSON.stringify(orderDelta(before, after)).length
    const cases: Array<[string, (order: number[]) => ItemId[]]> = [
      ['insert', order => [...order.slice(0, order.length / 2), 'new', ...order.slice(order.length / 2)]],
      ['delete', order => [...order.slice(0, 37), ...order.slice(38)]],
      ['move', order => { const o: ItemId[] = order.slice(); const [m] = o.splice(10, 1); o.splice(o.length - 5, 0, m); return o }],
      ['append', order => [...order, 'end']],
      ['prepend', order => ['start', ...order]]
    ]
    for (const [name, change] of cases) {
      it(name, () => {
        const [small, large] = sizes.map(n => { const o = range(n); return bytes(o, change(o)) })
        assert.ok(large <= 40, `${name}: ${large} bytes`)
        // Only the digits of the indices grow with the list.
        assert.ok(large - small <= 8, `${name}: ${small} -> ${large} bytes`)
      })
    }
  })

  // Speed is bench:privacy's business; here a quadratic walk would blow the test's timeout.
  it('handles 200,000 items, each run of kept items one range', () => {
    const before = range(200_000)
    const after = before.filter(i => i % 3 !== 0)
    const out = orderDelta(before, after)
    assert.equal(out.length, 66_667) // [1,2],[4,5],...,[199996,199997],199999
  })
})
