// node/deadline.ts: a per-stream deadline that aborts with a named TimeoutError, and that the
// caller can clear so that it never fires (unlike AbortSignal.timeout).

import assert from 'node:assert/strict'
import { once } from 'node:events'
import { startDeadline, withDeadline } from '../../../node/deadline.ts'

describe('node/deadline', () => {
  it('aborts with a TimeoutError that names what timed out', async () => {
    const deadline = startDeadline(5, 'relay request')
    assert.equal(deadline.signal.aborted, false)
    await once(deadline.signal, 'abort')
    const reason = deadline.signal.reason
    assert.equal(reason.name, 'TimeoutError')
    assert.equal(reason.message, 'relay request timed out after 5 ms')
    // what operations reject with when they honour the signal
    assert.throws(() => { deadline.signal.throwIfAborted() }, { name: 'TimeoutError', message: /relay request/ })
  })

  it('never aborts once cleared', async () => {
    const cleared = startDeadline(1, 'cleared')
    cleared.clear()
    cleared.clear()
    // a later deadline that is left to fire: by then the cleared one would have long fired
    const later = startDeadline(30, 'later')
    await once(later.signal, 'abort')
    assert.equal(cleared.signal.aborted, false)
  })

  it('does not keep the process alive', () => {
    const before = process.getActiveResourcesInfo().filter(r => r === 'Timeout').length
    const deadline = startDeadline(60_000, 'idle')
    assert.equal(process.getActiveResourcesInfo().filter(r => r === 'Timeout').length, before)
    deadline.clear()
  })

  it('combines with AbortSignal.any: the deadline or the other signal, whichever comes first', async () => {
    const stop = new AbortController()
    const timedOut = startDeadline(5, 'catch-up request')
    const first = AbortSignal.any([stop.signal, timedOut.signal])
    await once(first, 'abort')
    assert.equal(first.reason.name, 'TimeoutError')
    assert.match(first.reason.message, /^catch-up request timed out/)

    const stopped = startDeadline(60_000, 'catch-up request')
    const second = AbortSignal.any([stop.signal, stopped.signal])
    stop.abort(new Error('stopping'))
    assert.equal(second.aborted, true)
    assert.equal(second.reason.message, 'stopping')
    stopped.clear()
    assert.equal(stopped.signal.aborted, false)
  })

  describe('withDeadline', () => {
    it('hands back the operation\'s own promise, so awaiting it takes no extra turn', async () => {
      const operation = Promise.resolve(7)
      const returned = withDeadline(60_000, 'lookup', () => operation)
      assert.equal(returned, operation)
      assert.equal(await returned, 7)
    })

    it('clears the deadline once the operation settles, fulfilled or rejected', async () => {
      const seen: AbortSignal[] = []
      const fulfilled = withDeadline(5, 'read', async signal => { seen.push(signal); return 'ok' })
      const rejected = withDeadline(5, 'write', async signal => { seen.push(signal); throw new Error('reset') })
      assert.equal(await fulfilled, 'ok')
      await assert.rejects(rejected, { message: 'reset' })
      // a later deadline left to fire: by then the two would have long fired, had they not been cleared
      await once(startDeadline(30, 'later').signal, 'abort')
      assert.deepEqual(seen.map(signal => signal.aborted), [false, false])
    })

    it('aborts the operation with the named TimeoutError when it takes too long', async () => {
      const hung = withDeadline(5, 'relay request', async signal => {
        await once(signal, 'abort')
        throw signal.reason
      })
      await assert.rejects(hung, { name: 'TimeoutError', message: 'relay request timed out after 5 ms' })
    })

    it('aborts on the other signal too, and passes on an operation that throws at once', () => {
      const stop = new AbortController()
      let seen: AbortSignal | undefined
      void withDeadline(60_000, 'catch-up request', async signal => { seen = signal; await once(signal, 'abort') }, stop.signal).catch(() => {})
      stop.abort(new Error('stopping'))
      assert.equal(seen?.reason.message, 'stopping')

      assert.throws(() => withDeadline(60_000, 'dial', () => { throw new Error('no address') }), { message: 'no address' })
    })
  })

  it('refuses a delay that is not a number of ms', () => {
    assert.throws(() => startDeadline(Number.NaN, 'bad'), { name: 'RangeError', message: /deadline for bad/ })
    assert.throws(() => startDeadline(-1, 'bad'), RangeError)
  })
})
