// node/deadline.ts: a per-stream deadline that aborts with a named TimeoutError, and that the
// caller can clear so that it never fires (unlike AbortSignal.timeout).

import assert from 'node:assert/strict'
import { once } from 'node:events'
import { startDeadline } from '../../../node/deadline.ts'

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

  it('refuses a delay that is not a number of ms', () => {
    assert.throws(() => startDeadline(Number.NaN, 'bad'), { name: 'RangeError', message: /deadline for bad/ })
    assert.throws(() => startDeadline(-1, 'bad'), RangeError)
  })
})
