// ObserverSession's write side over an in-memory libp2p stream pair: coalesced writes, order, and
// what is queued before an error still reaching the observer first.

import assert from 'node:assert/strict'
import { lpStream, streamPair } from '@libp2p/utils'
import { DEFAULT_MAX_MESSAGE_BYTES, ErrorCode, encodeMessage, frameMessage, parseServerMessage, resetMessage } from '../../../src/observe/protocol.ts'
import { MAX_COALESCED_BYTES, ObserverSession, readRequest } from '../../../node/super-peer/observer-protocol.ts'
import type { ServerMessage } from '../../../src/observe/protocol.ts'
import type { Stream } from '@libp2p/interface'

const LIMITS = { maxQueuedBytes: 4 * 1024 * 1024, maxMessageBytes: DEFAULT_MAX_MESSAGE_BYTES, stallTimeoutMs: 60_000 }

interface Observed {
  session: ObserverSession
  /** Byte lengths of the server's stream.send() calls. */
  writes: number[]
  next: () => Promise<ServerMessage>
}

async function observed (): Promise<Observed> {
  const [server, client]: Stream[] = await streamPair()
  const writes: number[] = []
  const send = server.send.bind(server)
  server.send = (data) => { writes.push(data.byteLength); return send(data) }
  const session = new ObserverSession(server, LIMITS, { sent: 0, resyncs: 0, ejected: 0, frozen: 0 }, () => {})
  session.setResetSource(() => encodeMessage({ reset: true, seq: 0, data: {} }))
  const lp = lpStream(client)
  return {
    session,
    writes,
    next: async () => {
      const parsed = parseServerMessage((await lp.read({ signal: AbortSignal.timeout(5000) })).subarray())
      if (!parsed.ok) assert.fail(parsed.error)
      return parsed.value
    }
  }
}

describe('node/ObserverSession writes', () => {
  it('sends the frames queued within one turn of the event loop as one write, in order', async () => {
    const { session, writes, next } = await observed()
    for (let seq = 1; seq <= 5; seq++) session.deliver(seq, encodeMessage(frameMessage(seq, { n: seq })))
    assert.deepEqual(writes, [], 'nothing is written before the flush')
    for (let seq = 1; seq <= 5; seq++) assert.deepEqual(await next(), { seq, data: { n: seq } })
    assert.equal(writes.length, 1)
    // a frame in a later turn is a write of its own
    session.deliver(6, encodeMessage(frameMessage(6, null)))
    assert.deepEqual(await next(), { seq: 6 })
    assert.equal(writes.length, 2)
  })

  it('splits a backlog larger than one coalesced write', async () => {
    const { session, writes, next } = await observed()
    const filler = 'x'.repeat(10_000)
    const count = Math.ceil(3 * MAX_COALESCED_BYTES / 10_000)
    for (let seq = 1; seq <= count; seq++) session.deliver(seq, encodeMessage(frameMessage(seq, { filler })))
    for (let seq = 1; seq <= count; seq++) assert.equal((await next() as { seq: number }).seq, seq)
    assert.ok(writes.length >= 3 && writes.length < count, `${writes.length} writes for ${count} frames`)
    assert.ok(writes.every(bytes => bytes <= MAX_COALESCED_BYTES), 'no write above MAX_COALESCED_BYTES')
  })

  it('still sends what was queued before an error, then the error', async () => {
    const { session, next } = await observed()
    session.deliver(1, encodeMessage(frameMessage(1, { a: 1 })))
    session.fail(ErrorCode.unauthorized, 'viewer token expired')
    assert.deepEqual(await next(), { seq: 1, data: { a: 1 } })
    assert.deepEqual(await next(), { code: 'unauthorized', error: 'viewer token expired' })
  })
})

describe('node/ObserverSession heartbeat announcement', () => {
  async function announcing (heartbeatMs: number): Promise<{ session: ObserverSession, counters: { sent: number, resyncs: number, ejected: number, frozen: number }, raw: () => Promise<string> }> {
    const [server, client]: Stream[] = await streamPair()
    const counters = { sent: 0, resyncs: 0, ejected: 0, frozen: 0 }
    const session = new ObserverSession(server, { ...LIMITS, heartbeatMs }, counters, () => {})
    session.setResetSource(() => encodeMessage({ reset: true, seq: 0, data: {} }))
    const lp = lpStream(client)
    return { session, counters, raw: async () => new TextDecoder().decode((await lp.read({ signal: AbortSignal.timeout(5000) })).subarray()) }
  }

  it('announces the interval first in the first message only, and counts it as one message', async () => {
    const { session, counters, raw } = await announcing(1000)
    session.deliver(0, encodeMessage(resetMessage(3, { a: 1 })))
    session.deliver(4, encodeMessage(frameMessage(4, { a: 2 })))
    assert.equal(await raw(), '{"heartbeat":1000,"reset":true,"data":{"a":1},"seq":3}')
    assert.equal(await raw(), '{"data":{"a":2},"seq":4}')
    assert.equal(counters.sent, 2)
  })

  it('leaves a first catch-up frame byte for byte, behind a data-less frame for the seq before it', async () => {
    const { session, counters, raw } = await announcing(1000)
    const sealedLike = encodeMessage(frameMessage(8, { n: 8 }))
    session.deliver(8, sealedLike)
    session.deliver(9, encodeMessage(frameMessage(9, { n: 9 })))
    assert.equal(await raw(), '{"heartbeat":1000,"seq":7}')
    assert.equal(await raw(), new TextDecoder().decode(sealedLike.subarray(1)))
    assert.equal(await raw(), '{"data":{"n":9},"seq":9}')
    assert.equal(counters.sent, 3)
  })

  it('announces nothing without heartbeats (heartbeatMs 0)', async () => {
    const { session, raw } = await announcing(0)
    session.deliver(0, encodeMessage(frameMessage(5, null)))
    assert.equal(await raw(), '{"seq":5}')
  })

  it('announces on the reset that replaces a first message dropped unsent by a resync', async () => {
    const [server, client]: Stream[] = await streamPair()
    const session = new ObserverSession(server, { ...LIMITS, maxQueuedBytes: 64, heartbeatMs: 500 }, { sent: 0, resyncs: 0, ejected: 0, frozen: 0 }, () => {})
    session.setResetSource(() => encodeMessage(resetMessage(9, {})))
    session.deliver(0, encodeMessage(resetMessage(1, {})))
    session.deliver(2, encodeMessage(frameMessage(2, { filler: 'x'.repeat(100) })))
    const lp = lpStream(client)
    assert.equal(new TextDecoder().decode((await lp.read({ signal: AbortSignal.timeout(5000) })).subarray()), '{"heartbeat":500,"reset":true,"data":{},"seq":9}')
  })
})

describe('node/readRequest', () => {
  it('answers a stream that sends no request in time with the timeout code, and reads one that does', async () => {
    const [quietServer] = await streamPair()
    const quiet = await readRequest(quietServer, 50)
    assert.equal(quiet.ok, false)
    if (!quiet.ok) assert.equal(quiet.code, ErrorCode.timeout)

    const [server, client] = await streamPair()
    const reading = readRequest(server, 5_000)
    await lpStream(client).write(new TextEncoder().encode(JSON.stringify({ doc: 'doc-1' })))
    const read = await reading
    assert.ok(read.ok, read.ok ? '' : read.error)
    assert.equal(read.value.doc, 'doc-1')
  })
})
