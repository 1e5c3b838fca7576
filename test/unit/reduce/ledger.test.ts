import assert from 'node:assert/strict'
import type { JsonObject } from '../../../src/json.ts'
import { checkDelta } from '../../../src/delta/index.ts'
import { acksChange, ChannelLedger, compileChannels, KIND_CODES, Outbox, partialOf, readAcks, resentKey, windowAcked } from '../../../src/reduce/index.ts'
import type { Channel, ResentEntry, WindowEntry } from '../../../src/reduce/index.ts'

const channels = compileChannels({
  version: 1,
  input: { score: { kind: 'sum', message: { type: 'integer', minimum: 0, maximum: 10 }, send: 'public', rate: { messages: 5, perMs: 1000 }, windowMs: 1000, field: '/score' } }
})
const score = channels.channels.get('score') as Channel
const win = (origin: string, window: number, sum: number): WindowEntry => ({ origin, window, state: Uint8Array.from([sum * 2]), signature: null })
const resend = (id: number, prior: { origin: string, window: number } | null, body = '1'): ResentEntry =>
  ({ writer: 'w1', id, origin: 'sp2/b', window: 9, prior, body, signature: null })
const p = (windows: WindowEntry[], resent: ResentEntry[] = []) => partialOf('score', KIND_CODES.sum, windows, resent)

describe('channel ledger', () => {
  it('counts each origin window once, and says what it counted', () => {
    const ledger = new ChannelLedger(score)
    const first = ledger.apply(p([win('sp1/a', 1, 3), win('sp1/a', 2, 4)]))
    assert.ok(first.ok)
    assert.deepEqual(first.outcome.counted, [{ origin: 'sp1/a', window: 1 }, { origin: 'sp1/a', window: 2 }])
    const again = ledger.apply(p([win('sp1/a', 2, 4), win('sp1/a', 4, 1)]))
    assert.ok(again.ok)
    assert.equal(again.outcome.duplicates, 1)
    assert.equal(ledger.result(), 8)
    assert.deepEqual(ledger.countedRanges(), { 'sp1/a': [[1, 2], [4, 4]] })
  })

  it('recognises a resend whose prior window counted, without fencing its origin', () => {
    const ledger = new ChannelLedger(score)
    ledger.apply(p([win('sp1/a', 1, 1)]))
    const result = ledger.apply(p([], [resend(1, { origin: 'sp1/a', window: 1 })]))
    assert.ok(result.ok)
    assert.deepEqual(result.outcome.resentDuplicates, [{ writer: 'w1', id: 1 }])
    assert.deepEqual(result.outcome.newlyFenced, [])
    assert.equal(ledger.result(), 1)
  })

  it('counts a resend whose prior window did not count, and fences that origin for good', () => {
    const ledger = new ChannelLedger(score)
    const result = ledger.apply(p([], [resend(1, { origin: 'sp1/a', window: 1 })]))
    assert.ok(result.ok)
    assert.deepEqual(result.outcome.resentCounted, [{ writer: 'w1', id: 1 }])
    assert.deepEqual(result.outcome.newlyFenced, ['sp1/a'])
    const late = ledger.apply(p([win('sp1/a', 1, 1), win('sp3/c', 1, 5)]))
    assert.ok(late.ok)
    assert.deepEqual(late.outcome.refused.map(r => r.reason), ['fenced'])
    assert.equal(ledger.result(), 6)
    const twice = ledger.apply(p([], [resend(1, { origin: 'sp1/a', window: 1 })]))
    assert.ok(twice.ok)
    assert.equal(twice.outcome.changed, false)
  })

  it('refuses a partial of another channel or kind, and entries whose state or body is invalid', () => {
    const ledger = new ChannelLedger(score)
    const other = ledger.apply(partialOf('claps', KIND_CODES.sum, []))
    assert.equal(other.ok ? '' : other.code, 'wrong-channel')
    const kind = ledger.apply(partialOf('score', KIND_CODES.count, []))
    assert.equal(kind.ok ? '' : kind.code, 'wrong-kind')
    const bad = ledger.apply(p([{ origin: 'sp1/a', window: 1, state: Uint8Array.from([0x80]), signature: null }], [resend(2, null, '11'), resend(3, null, '"x"')]))
    assert.ok(bad.ok)
    assert.deepEqual(bad.outcome.refused.map(r => [r.reason, r.detail]), [
      ['invalid-state', 'window 1 of sp1/a: truncated: sum needs 1 bytes at offset 1'],
      ['invalid-body', 'resent w1/2: message: 11 is above the maximum 10'],
      ['invalid-body', 'resent w1/3: message: expected a number, got string']
    ])
    assert.equal(ledger.result(), 0)
    assert.equal(bad.outcome.changed, false)
  })
})

describe('acknowledgements down the log', () => {
  it('the authority writes what counted as a valid change; a super-peer settles its outbox and acks its writers from it', () => {
    const ledger = new ChannelLedger(score)
    const outbox = new Outbox('score', KIND_CODES.sum)
    outbox.add(p([win('sp1/a', 1, 1), win('sp1/a', 2, 2), win('sp1/a', 3, 3)], [resend(7, { origin: 'sp9/z', window: 4 })]))
    const sent = outbox.takeNew()
    assert.ok(sent !== null)
    // the authority got windows 1 and 3 and the resend (window 2 is still on its way)
    const applied = ledger.apply(p([win('sp1/a', 1, 1), win('sp1/a', 3, 3)], [...sent.resent.values()]))
    assert.ok(applied.ok)
    const change = acksChange(ledger, applied.outcome)
    assert.deepEqual(change, { '@input': { score: { counted: { 'sp1/a': [[1, 1], [3, 3]] }, fenced: ['sp9/z'], resent: ['w1 7'] } } })
    assert.equal(checkDelta({}, change as JsonObject).ok, true)

    const acks = readAcks(change as JsonObject, 'score')
    assert.ok(acks !== null)
    assert.deepEqual([1, 2, 3].map(w => windowAcked(acks, 'sp1/a', w)), [true, false, true])
    outbox.settle({ window: e => windowAcked(acks, e.origin, e.window), resent: e => acks.resent.has(resentKey(e.writer, e.id)) })
    assert.deepEqual([...outbox.pending().windows.values()].map(e => e.window), [2])
    assert.equal(outbox.pending().resent.size, 0)
    assert.equal(readAcks(change as JsonObject, 'claps'), null)
    assert.equal(acksChange(ledger, { ...applied.outcome, counted: [], newlyFenced: [], resentCounted: [], resentDuplicates: [] }), null)
  })
})
