import assert from 'node:assert/strict'
import { PartialProblem } from '../../../src/reduce/bytes.ts'
import {
  countReducer, distinctError, distinctReducer, maxReducer, minReducer, sampleReducer, sumReducer, tallyReducer
} from '../../../src/reduce/index.ts'
import { bytesOf, decodeState, hex, stateOf } from './helpers.ts'
import type { Msg } from './helpers.ts'

const msgs = (bodies: readonly Msg['body'][], window = 0): Msg[] => bodies.map((body, i) => ({ writer: 'w', id: i + 1, window, body }))

describe('reducer kinds', () => {
  it('count counts messages and encodes as a varint', () => {
    const state = stateOf(countReducer, msgs([null, 'x', 3]))
    assert.equal(countReducer.result(state), 3)
    assert.equal(hex(bytesOf(countReducer, countReducer.merge(state, { n: 300 }))), 'af02')
  })

  it('sum is exact past 2^53 and writes digits when a number would lose them', () => {
    const big = Number.MAX_SAFE_INTEGER
    const state = stateOf(sumReducer, msgs([big, big, 2, -1]))
    assert.equal(sumReducer.result(state), (2n * BigInt(big) + 1n).toString())
    const back = decodeState(sumReducer, bytesOf(sumReducer, state))
    assert.equal(sumReducer.result(back), (2n * BigInt(big) + 1n).toString())
    assert.equal(sumReducer.result(stateOf(sumReducer, msgs([5, -7]))), -2)
    assert.equal(hex(bytesOf(sumReducer, stateOf(sumReducer, msgs([-2])))), '03')
  })

  it('min and max keep the extreme, treat -0 as 0, and start at null', () => {
    assert.equal(minReducer.result(minReducer.empty()), null)
    assert.equal(minReducer.result(stateOf(minReducer, msgs([3, -0, 2.5]))), 0)
    assert.ok(!Object.is(minReducer.result(stateOf(minReducer, msgs([-0]))), -0))
    assert.equal(maxReducer.result(stateOf(maxReducer, msgs([3, -1e9, 2.5]))), 3)
    assert.equal(hex(bytesOf(maxReducer, stateOf(maxReducer, msgs([1])))), '013ff0000000000000')
    assert.throws(() => decodeState(minReducer, Uint8Array.from([2])), PartialProblem)
  })

  it('tally over declared keys is exact and lists every key', () => {
    const tally = tallyReducer({ capacity: 3, keys: ['red', 'green', 'blue'] })
    const state = stateOf(tally, msgs(['red', 'blue', 'red']))
    assert.deepEqual(tally.result(state), { counts: { red: 2, green: 0, blue: 1 }, error: 0 })
    assert.throws(() => decodeState(tally, bytesOf(tallyReducer({ capacity: 2, keys: null }), stateOf(tallyReducer({ capacity: 2, keys: null }), msgs(['pink'])))), /not a declared key/)
  })

  it('tally over an open key space keeps capacity counters within its stated error', () => {
    const capacity = 8
    const tally = tallyReducer({ capacity, keys: null })
    // A skewed stream: key k appears about 1000 / (k + 1) times, interleaved.
    const bodies: string[] = []
    for (let round = 0; round < 1000; round++) {
      for (let k = 0; k < 40; k++) if (round % (k + 1) === 0) bodies.push(`k${k}`)
    }
    const truth = new Map<string, number>()
    for (const b of bodies) truth.set(b, (truth.get(b) ?? 0) + 1)
    const halves = [bodies.slice(0, 2000), bodies.slice(2000)]
    const merged = tally.merge(stateOf(tally, msgs(halves[0])), stateOf(tally, msgs(halves[1])))
    const result = tally.result(merged) as { counts: Record<string, number>, error: number }
    assert.ok(result.error <= 2 * bodies.length / capacity, `error ${result.error}`)
    for (const [key, count] of truth) {
      const estimate = result.counts[key]
      if (estimate === undefined) assert.ok(count <= result.error, `${key}: ${count} unlisted above the bound ${result.error}`)
      else assert.ok(Math.abs(estimate - count) <= result.error, `${key}: ${estimate} vs ${count}`)
    }
    assert.equal(Object.keys(result.counts)[0], 'k0')
  })

  it('tally keeps at most 4 x capacity keys in a total, moving the largest dropped count into the floor', () => {
    const tally = tallyReducer({ capacity: 1, keys: null })
    const single = (key: string, n: number) => stateOf(tally, msgs(Array.from({ length: n }, () => key)))
    let total = tally.empty()
    for (const [key, n] of [['a', 6], ['b', 5], ['c', 4], ['d', 3], ['e', 2], ['f', 1]] as const) total = tally.merge(total, single(key, n))
    assert.deepEqual([...total.counts.keys()].sort(), ['a', 'b', 'c', 'd'])
    // e (2) is dropped when the fifth key arrives: floor 2; then f (1) with that floor: 2 + 1.
    assert.equal(total.floor, 3)
    assert.deepEqual(tally.result(total), { counts: { a: 6 }, error: 3 })
  })

  it('distinct estimates within a few standard errors and merges by register maximum', () => {
    const distinct = distinctReducer(12)
    const a = stateOf(distinct, msgs(Array.from({ length: 60_000 }, (_, i) => `user-${i}`)))
    const b = stateOf(distinct, msgs(Array.from({ length: 60_000 }, (_, i) => `user-${i + 40_000}`)))
    const estimate = distinct.result(distinct.merge(a, b)) as number
    const error = distinctError(12)
    assert.ok(Math.abs(estimate - 100_000) / 100_000 < 4 * error, `estimate ${estimate}`)
    assert.equal(distinct.result(stateOf(distinct, msgs(['a', 'b', 'a', 1, '1']))), 4)
    assert.deepEqual(bytesOf(distinct, distinct.merge(a, a)), bytesOf(distinct, a))
  })

  it('sample keeps the first or last N by (window, writer, id), whatever the arrival order', () => {
    const last = sampleReducer({ size: 2, keep: 'last' })
    const first = sampleReducer({ size: 2, keep: 'first' })
    const items: Msg[] = [
      { writer: 'b', id: 1, window: 5, body: 'b1' },
      { writer: 'a', id: 2, window: 5, body: 'a2' },
      { writer: 'a', id: 1, window: 6, body: 'a1@6' },
      { writer: 'a', id: 1, window: 5, body: 'a1' }
    ]
    assert.deepEqual(last.result(stateOf(last, items)), ['b1', 'a1@6'])
    assert.deepEqual(first.result(stateOf(first, [...items].reverse())), ['a1', 'a2'])
    assert.throws(() => decodeState(last, Uint8Array.from([3])), /more than 2/)
  })
})
