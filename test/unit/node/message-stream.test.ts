// patches/@libp2p+utils+*.patch: a message stream with nothing queued hands a write straight to
// sendData, and queues only what sendData did not take. Every layer of a libp2p connection
// (stream, Noise, the connection) is one of these, so order and backpressure must hold exactly.
import assert from 'node:assert/strict'
import { AbstractMessageStream } from '@libp2p/utils'
import { defaultLogger } from '@libp2p/logger'
import type { SendResult } from '@libp2p/utils'
import type { Uint8ArrayList } from 'uint8arraylist'

/** A transport that takes at most `take` bytes a call and reports itself full every `fullEvery`th call. */
class ChokedStream extends AbstractMessageStream {
  readonly sent: Uint8Array[] = []
  calls = 0
  private readonly take: number
  private readonly fullEvery: number

  constructor (take: number, fullEvery: number) {
    super({ log: defaultLogger().forComponent('test:choked-stream'), maxWriteBufferLength: 1 << 20 })
    this.take = take
    this.fullEvery = fullEvery
  }

  sendData (data: Uint8ArrayList): SendResult {
    this.calls++
    const sentBytes = Math.min(this.take, data.byteLength)
    this.sent.push(data.subarray(0, sentBytes))
    data.consume(sentBytes) // sendData may consume what it is given
    const canSendMore = this.calls % this.fullEvery !== 0
    if (!canSendMore) setImmediate(() => { this.safeDispatchEvent('drain') })
    return { sentBytes, canSendMore }
  }

  /** Bytes written and not yet taken by the transport. */
  get queued (): Uint8Array { return this.writeBuffer.subarray() }

  sendReset (): void {}
  sendPause (): void {}
  sendResume (): void {}
  async close (): Promise<void> {}
}

const concat = (chunks: Uint8Array[]): Uint8Array => Buffer.concat(chunks)

describe('AbstractMessageStream write path (patched @libp2p/utils)', () => {
  it('sends a write on an idle stream in one call, and says it is idle', () => {
    const stream = new ChokedStream(1 << 16, 1 << 30)
    let idle = 0
    stream.addEventListener('idle', () => { idle++ })
    assert.equal(stream.send(Uint8Array.of(1, 2, 3)), true)
    assert.deepEqual(stream.sent.map(chunk => [...chunk]), [[1, 2, 3]])
    assert.equal(stream.queued.byteLength, 0)
    assert.equal(idle, 1)
  })

  it('keeps every byte in order through partial sends and drains', async () => {
    const stream = new ChokedStream(7, 3)
    const written: Uint8Array[] = []
    let next = 0
    for (let i = 0; i < 200; i++) {
      const chunk = Uint8Array.from({ length: 1 + (i * 13) % 29 }, () => next++ & 0xff)
      written.push(chunk)
      stream.send(chunk)
      if (i % 17 === 0) await new Promise<void>(resolve => { setImmediate(resolve) })
    }
    while (stream.queued.byteLength > 0 || stream.writableNeedsDrain) {
      await new Promise<void>(resolve => { stream.addEventListener('idle', () => { resolve() }, { once: true }) })
    }
    assert.deepEqual(concat(stream.sent), concat(written))
    assert.ok(stream.sent.every(chunk => chunk.byteLength <= 7), 'no call took more than the transport allows')
  })

  it('queues behind a write that is still waiting for drain, never beside it', () => {
    const stream = new ChokedStream(2, 1) // every call leaves the transport full
    stream.send(Uint8Array.of(1, 2, 3, 4))
    stream.send(Uint8Array.of(5, 6))
    assert.deepEqual(stream.sent.map(chunk => [...chunk]), [[1, 2]])
    assert.deepEqual([...stream.queued], [3, 4, 5, 6])
  })

  it('sends what sendData wrote re-entrantly after the chunk, and its unsent rest before it', () => {
    const stream = new ChokedStream(3, 1 << 30)
    const sendData = stream.sendData.bind(stream)
    let reentered = false
    stream.sendData = (data) => {
      const result = sendData(data)
      if (!reentered) { reentered = true; stream.send(Uint8Array.of(9, 9)) } // e.g. a listener replying
      return result
    }
    stream.send(Uint8Array.of(1, 2, 3, 4, 5))
    assert.deepEqual([...concat(stream.sent)], [1, 2, 3, 4, 5, 9, 9])
    assert.equal(stream.queued.byteLength, 0)
  })

  it('aborts the stream and throws when sendData throws, as before', () => {
    const stream = new ChokedStream(8, 1 << 30)
    stream.sendData = () => { throw new Error('transport gone') }
    let aborted = false
    stream.addEventListener('close', () => { aborted = true })
    assert.throws(() => stream.send(Uint8Array.of(1)), /transport gone/)
    assert.equal(stream.status, 'aborted')
    assert.ok(aborted)
  })
})
