import assert from 'node:assert/strict'
import { parseServerMessage } from '../../../src/observe/protocol.ts'
import { ChannelLedger, checkStamp, countReducer, decodeSend, encodeAccepted, encodeAck, encodeRefusal, encodeSend, OriginWindows, Outbox, RateBucket, windowAt } from '../../../src/reduce/index.ts'
import type { Reducer } from '../../../src/reduce/index.ts'

const count = countReducer as Reducer<unknown>

describe('windows, outbox and writer messages', () => {
  it('accept the open or the next window and refuse a closed one with the open window', () => {
    assert.equal(windowAt(1999, 1000), 1)
    assert.deepEqual(checkStamp(1, 1999, 1000), { ok: true })
    assert.deepEqual(checkStamp(2, 1999, 1000), { ok: true })
    assert.deepEqual(checkStamp(0, 1999, 1000), { ok: false, code: 'window-closed', open: 1 })
    assert.deepEqual(checkStamp(3, 1999, 1000), { ok: false, code: 'window-closed', open: 1 })
  })

  it('close windows once their time is over, each once, with the writers in them', () => {
    const windows = new OriginWindows({ channel: 'claps', reducer: count, widthMs: 1000, origin: 'sp1/a' })
    assert.ok(windows.add(0, null, 'w1', 1, 10).ok)
    assert.ok(windows.add(1, null, 'w2', 1, 20).ok)
    assert.ok(windows.add(0, null, 'w2', 2, 30).ok)
    assert.equal(windows.close(999).partial, null)
    const closed = windows.close(1000)
    assert.deepEqual([...closed.partial?.windows.values() ?? []].map(e => [e.origin, e.window, [...e.state]]), [['sp1/a', 0, [2]]])
    assert.deepEqual([...closed.writers.get(0) ?? []], ['w1', 'w2'])
    assert.equal(windows.nextCloseAt(1000), 2000)
    // a clock that steps back cannot reopen window 0
    assert.deepEqual(windows.add(0, null, 'w3', 1, 500), { ok: false, code: 'window-closed', open: 1 })
    windows.addResent(null, 'w9', 4, { origin: 'sp7/x', window: 0 }, 1500)
    const next = windows.close(2000)
    assert.equal(next.partial?.windows.size, 1)
    assert.deepEqual([...next.partial?.resent.values() ?? []].map(e => [e.writer, e.id, e.origin, e.window, e.body]), [['w9', 4, 'sp1/a', 1, 'null']])
  })

  it('outbox: sends each entry once to a parent that stays, everything unsettled to a new one', () => {
    const windows = new OriginWindows({ channel: 'claps', reducer: count, widthMs: 100, origin: 'sp1/a' })
    const outbox = new Outbox('claps', count.code)
    const ledger = new ChannelLedger({ name: 'claps', reducer: count, check: () => null })
    for (let w = 0; w < 3; w++) {
      windows.add(w, null, 'w1', w + 1, w * 100)
      const { partial } = windows.close((w + 1) * 100)
      if (partial !== null) outbox.add(partial)
      const fresh = outbox.takeNew()
      assert.equal(fresh?.windows.size, 1)
      if (w < 2) ledger.apply(fresh)         // the third is lost with the parent
    }
    assert.equal(outbox.takeNew(), null)
    outbox.settle({ window: e => ledger.hasCounted(e.origin, e.window) || ledger.isFenced(e.origin), resent: () => false })
    assert.equal(outbox.size, 1)
    ledger.apply(outbox.pending())
    assert.equal(ledger.result(), 3)
  })

  it('rate buckets burst up to their size and refill over time', () => {
    const bucket = new RateBucket({ messages: 2, perMs: 1000 }, 0)
    assert.deepEqual([bucket.take(0), bucket.take(0), bucket.take(0), bucket.take(499), bucket.take(500), bucket.take(500)], [true, true, false, false, true, false])
  })

  it('a rate bucket says how long until its next token', () => {
    const bucket = new RateBucket({ messages: 2, perMs: 1000 }, 0)
    assert.equal(bucket.waitMs(0), 0)
    bucket.take(0)
    bucket.take(0)
    assert.equal(bucket.waitMs(0), 500)
    assert.equal(bucket.waitMs(200), 300)
    assert.equal(bucket.take(499), false)
    assert.equal(bucket.waitMs(499), 1)
    assert.equal(bucket.waitMs(500), 0)
    assert.equal(bucket.take(500), true)
  })

  it('writer messages have the bytes docs/protocol.md gives', () => {
    const first = '{"send":{"channel":"poll","id":17,"window":3456,"body":"red"}}'
    const resend = '{"send":{"channel":"poll","id":17,"prior":{"origin":"sp1/a","window":3456},"body":"red"}}'
    const unconfirmed = '{"send":{"channel":"poll","id":17,"prior":{"origin":"sp1/a","window":3456,"unconfirmed":true},"body":"red"}}'
    for (const text of [first, resend, unconfirmed]) {
      const decoded = decodeSend(JSON.parse(text).send)
      assert.ok(decoded.ok)
      assert.equal(encodeSend(decoded.send), text)
    }
    assert.equal(encodeAck('poll', [17, 18], 902), '{"ack":{"channel":"poll","ids":[17,18],"seq":902}}')
    assert.equal(encodeAccepted('poll', 3456, [17, 18]), '{"accepted":{"channel":"poll","window":3456,"ids":[17,18]}}')
    const parsed = parseServerMessage(new TextEncoder().encode(encodeAccepted('poll', 3456, [17, 18])))
    assert.deepEqual(parsed, { ok: true, value: { accepted: { channel: 'poll', window: 3456, ids: [17, 18] } } })
    assert.equal(encodeRefusal({ channel: 'poll', id: 17, code: 'window-closed', error: 'window 3456 is closed', open: 3457 }),
      '{"refused":"window 3456 is closed","code":"window-closed","channel":"poll","id":17,"open":3457}')
    const bad: Array<[unknown, RegExp]> = [
      [{ channel: 'poll', id: 0, window: 1, body: 1 }, /id must be/],
      [{ channel: 'poll', id: 1, body: 1 }, /exactly one of window/],
      [{ channel: 'poll', id: 1, window: 1, prior: null, body: 1 }, /exactly one of window/],
      [{ channel: 'poll', id: 1, window: 1 }, /body is required/],
      [{ channel: 'poll', id: 1, window: 1, body: 1, x: 1 }, /unknown key "x"/],
      [{ channel: 'poll', id: 1, prior: { origin: 'a b', window: 1 }, body: 1 }, /prior must be/],
      [{ channel: 'poll', id: 1, prior: { origin: 'sp1/a', window: 1, unconfirmed: false }, body: 1 }, /prior must be/],
      [{ channel: 'poll', id: 1, prior: { origin: 'sp1/a', window: 1, other: true }, body: 1 }, /prior must be/]
    ]
    for (const [json, why] of bad) {
      const result = decodeSend(json as never)
      assert.equal(result.ok, false)
      if (!result.ok) assert.match(result.error, why)
    }
  })
})
