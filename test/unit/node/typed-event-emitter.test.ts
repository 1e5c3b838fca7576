// patches/main-event+*.patch registers a plain listener with the native EventTarget as it is
// (no wrapper, no abort closure): every other path must behave as before.
import assert from 'node:assert/strict'
import { TypedEventEmitter } from 'main-event'

interface Events { tick: CustomEvent<number> }

describe('TypedEventEmitter (patched main-event)', () => {
  const emitter = (): TypedEventEmitter<Events> => new TypedEventEmitter<Events>()
  const tick = (target: TypedEventEmitter<Events>, n: number): void => { target.safeDispatchEvent('tick', { detail: n }) }

  it('delivers to a plain listener until it is removed, and counts it', () => {
    const target = emitter()
    const seen: number[] = []
    const listener = (event: CustomEvent<number>): void => { seen.push(event.detail) }
    target.addEventListener('tick', listener)
    target.addEventListener('tick', listener) // a second add of the same listener is a no-op
    assert.equal(target.listenerCount('tick'), 1)
    tick(target, 1)
    target.removeEventListener('tick', listener)
    tick(target, 2)
    assert.deepEqual(seen, [1])
    assert.equal(target.listenerCount('tick'), 0)
  })

  it('calls a once listener once and forgets it', () => {
    const target = emitter()
    const seen: number[] = []
    target.addEventListener('tick', (event) => { seen.push(event.detail) }, { once: true })
    tick(target, 1)
    tick(target, 2)
    assert.deepEqual(seen, [1])
    assert.equal(target.listenerCount('tick'), 0)
  })

  it('removes a listener when its signal aborts, and ignores one added with an aborted signal', () => {
    const target = emitter()
    const seen: number[] = []
    const controller = new AbortController()
    target.addEventListener('tick', (event) => { seen.push(event.detail) }, { signal: controller.signal })
    tick(target, 1)
    controller.abort()
    tick(target, 2)
    target.addEventListener('tick', (event) => { seen.push(event.detail) }, { signal: controller.signal })
    tick(target, 3)
    assert.deepEqual(seen, [1])
    assert.equal(target.listenerCount('tick'), 0)
  })

  it('calls handleEvent on a listener object, and removes it like a function', () => {
    const target = emitter()
    const seen: number[] = []
    const listener = { handleEvent: (event: CustomEvent<number>) => { seen.push(event.detail) } }
    target.addEventListener('tick', listener)
    tick(target, 1)
    target.removeEventListener('tick', listener)
    tick(target, 2)
    assert.deepEqual(seen, [1])
  })

  it('keeps a listener added for capture apart from the same one without', () => {
    const target = emitter()
    let calls = 0
    const listener = (): void => { calls++ }
    target.addEventListener('tick', listener)
    target.addEventListener('tick', listener, { capture: true })
    assert.equal(target.listenerCount('tick'), 2)
    target.removeEventListener('tick', listener, { capture: true })
    tick(target, 1)
    assert.equal(calls, 1)
    assert.equal(target.listenerCount('tick'), 1)
  })
})
