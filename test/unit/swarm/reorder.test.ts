import assert from 'node:assert/strict'
import fc from 'fast-check'
import { ReorderBuffer } from '../../../src/swarm/index.ts'

describe('swarm reorder buffer', () => {
  it('releases the next seq at once, holds later ones until the gap fills, drops repeats', () => {
    const b = new ReorderBuffer<string>()
    b.rebase(10)
    assert.deepEqual(b.offer(11, 'a'), { kind: 'ready', items: [{ seq: 11, item: 'a' }] })
    assert.deepEqual(b.offer(13, 'c'), { kind: 'held' })
    assert.deepEqual(b.offer(11, 'a'), { kind: 'duplicate' })
    assert.deepEqual(b.offer(13, 'c'), { kind: 'duplicate' })
    assert.equal(b.highestHeld, 13)
    assert.deepEqual(b.offer(12, 'b'), { kind: 'ready', items: [{ seq: 12, item: 'b' }, { seq: 13, item: 'c' }] })
    assert.equal(b.waiting, 0)
  })

  it('holds frames that come before the first base, and a rebase drops those it covers', () => {
    const b = new ReorderBuffer<string>()
    assert.deepEqual(b.offer(5, 'x'), { kind: 'held' })
    assert.deepEqual(b.offer(7, 'z'), { kind: 'held' })
    assert.deepEqual(b.rebase(6), [{ seq: 7, item: 'z' }])
    assert.equal(b.seq, 7)
  })

  it('overflows instead of growing past maxHeld', () => {
    const b = new ReorderBuffer<number>(2)
    b.rebase(0)
    b.offer(3, 3)
    b.offer(4, 4)
    assert.deepEqual(b.offer(5, 5), { kind: 'overflow' })
  })

  it('two sources delivering the same run in any interleaving give each seq once, in order (property)', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 40 }), fc.array(fc.boolean(), { maxLength: 200 }), fc.nat(40), (n, picks, lag) => {
      // source A has everything in order; source B starts `lag` frames later, also in order
      const a = Array.from({ length: n }, (_, i) => i + 1)
      const bSrc = a.slice(Math.min(lag, n))
      const buffer = new ReorderBuffer<number>(1000)
      buffer.rebase(0)
      const out: number[] = []
      let i = 0
      let j = 0
      for (const pick of [...picks, ...Array(2 * n).fill(true)]) {
        const seq = pick ? a[i++] : bSrc[j++]
        if (seq === undefined) continue
        const offered = buffer.offer(seq, seq)
        if (offered.kind === 'ready') out.push(...offered.items.map(x => x.seq))
      }
      assert.deepEqual(out, a)
    }), { numRuns: 300, seed: 12 })
  })
})
