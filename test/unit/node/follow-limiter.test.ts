import assert from 'node:assert/strict'
import { FollowLimiter } from '../../../node/tiers/uplink.ts'

describe('tiers/FollowLimiter', () => {
  it('admits at most max at once, passes each released slot to the next in order, and releasing twice frees one slot', async () => {
    const limiter = new FollowLimiter(2)
    const signal = new AbortController().signal
    const first = await limiter.acquire(signal)
    const second = await limiter.acquire(signal)
    const admitted: number[] = []
    const waiting = [3, 4].map(async n => {
      const release = await limiter.acquire(signal)
      admitted.push(n)
      return release
    })
    await new Promise(resolve => setImmediate(resolve))
    assert.deepEqual(admitted, [], 'both slots taken: the others wait')
    first!()
    first!() // a second release of the same slot frees nothing more
    await new Promise(resolve => setImmediate(resolve))
    assert.deepEqual(admitted, [3])
    second!()
    const [third, fourth] = await Promise.all(waiting)
    assert.deepEqual(admitted, [3, 4])
    third!()
    fourth!()
    // Everything released: two slots free again at once.
    assert.ok(await limiter.acquire(signal) !== undefined)
    assert.ok(await limiter.acquire(signal) !== undefined)
  })

  it('a waiter whose signal aborts gets undefined and takes no slot', async () => {
    const limiter = new FollowLimiter(1)
    const held = await limiter.acquire(new AbortController().signal)
    const controller = new AbortController()
    const pending = limiter.acquire(controller.signal)
    controller.abort()
    assert.equal(await pending, undefined)
    held!()
    // The aborted waiter did not swallow the freed slot.
    const next = await Promise.race([limiter.acquire(new AbortController().signal), new Promise<'stuck'>(resolve => setTimeout(() => { resolve('stuck') }, 200))])
    assert.notEqual(next, 'stuck')
  })
})
