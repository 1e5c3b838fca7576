import assert from 'node:assert/strict'
import { UpstreamWatch } from '../../../src/replica/upstream-watch.ts'

describe('replica/upstream-watch', () => {
  it('goes silent once after silentAfterMs without a word, and returns on the next word', () => {
    const watch = new UpstreamWatch(3_000, 1_000)
    assert.equal(watch.check(3_999), undefined)
    assert.equal(watch.silent, false)
    assert.equal(watch.check(4_000), 'silent')
    assert.equal(watch.check(5_000), undefined, 'reported once')
    assert.equal(watch.silent, true)
    assert.equal(watch.age(5_500), 4_500)
    assert.equal(watch.heard(6_000), 'returned')
    assert.equal(watch.silent, false)
    assert.equal(watch.age(6_250), 250)
    assert.equal(watch.heard(6_500), undefined, 'a word while speaking changes nothing')
  })

  it('words keep it speaking; the age never goes negative or backwards', () => {
    const watch = new UpstreamWatch(1_000, 0)
    for (let t = 500; t <= 10_000; t += 500) {
      watch.heard(t)
      assert.equal(watch.check(t + 999), undefined)
    }
    watch.heard(5_000) // an older time (a late caller) does not move the last word back
    assert.equal(watch.age(10_000), 0)
    assert.equal(watch.age(9_000), 0)
  })
})
