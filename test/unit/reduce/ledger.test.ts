import assert from 'node:assert/strict'
import type { JsonObject } from '../../../src/json.ts'
import { checkDelta } from '../../../src/delta/index.ts'
import { acksChange, ChannelLedger, compileChannels, distinctReducer, KIND_CODES, Outbox, partialOf, readAcks, resentKey, restoreLedger, tallyReducer, windowAcked } from '../../../src/reduce/index.ts'
import type { LedgerChannel, Prior, Reducer } from '../../../src/reduce/index.ts'
import { mergeInto } from '../../../src/delta/index.ts'
import { bytesOf, hex, stateOf } from './helpers.ts'
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
    // sum 1 + 3 + 1 = 5: zigzag 10, one byte 0x0a, "Cg" in base64url
    assert.deepEqual(change, { '@input': { score: { counted: { 'sp1/a': [[1, 1], [3, 3]] }, fenced: ['sp9/z'], resent: ['w1 7'], resentIds: { w1: [[7, 7]] }, kind: KIND_CODES.sum, state: 'Cg' } } })
    assert.equal(checkDelta({}, change as JsonObject).ok, true)

    const acks = readAcks(change as JsonObject, 'score')
    assert.ok(acks !== null)
    assert.deepEqual([1, 2, 3].map(w => windowAcked(acks, 'sp1/a', w)), [true, false, true])
    outbox.settle({ window: e => windowAcked(acks, e.origin, e.window), resent: e => acks.resent.has(resentKey(e.writer, e.id)) })
    assert.deepEqual([...outbox.pending().windows.values()].map(e => e.window), [2])
    assert.equal(outbox.pending().resent.size, 0)
    assert.equal(readAcks(change as JsonObject, 'claps'), null)
    assert.equal(acksChange(ledger, { ...applied.outcome, counted: [], newlyFenced: [], resentCounted: [], resentDuplicates: [], changed: false }), null)
  })
})

describe('ledger restored from the log', () => {
  const channelOf = <S>(name: string, reducer: Reducer<S>): LedgerChannel<S> => ({ name, reducer, check: () => null })
  /** Everything a ledger knows, to compare two. */
  const facts = (ledger: ChannelLedger<unknown>) => ({ counted: ledger.countedRanges(), fenced: ledger.fencedOrigins(), resent: ledger.resentRanges(), unknown: ledger.unknownRanges(), state: hex(ledger.stateBytes()) })

  for (const [name, reducer, bodies] of [
    ['tally (open keys, top-k)', tallyReducer({ capacity: 2, keys: null }) as Reducer<unknown>, ['a', 'b', 'c', 'd', 'e']],
    ['distinct (HyperLogLog)', distinctReducer(6) as Reducer<unknown>, ['x', 'y', 1, 2, 3, 'z']]
  ] as const) {
    it(`${name}: the tree the acknowledgements built restores a ledger equal to the one that wrote them`, () => {
      const channel = channelOf('ch', reducer)
      const ledger = new ChannelLedger(channel)
      const tree: JsonObject = {}
      const entry = (origin: string, window: number, n: number): WindowEntry => ({
        origin, window, signature: null,
        state: bytesOf(reducer, stateOf(reducer, Array.from({ length: n }, (_, i) => ({ writer: 'w', id: i + 1, window, body: bodies[(window * 3 + i) % bodies.length] }))))
      })
      const resent = (writer: string, id: number, prior: Prior | null): ResentEntry =>
        ({ writer, id, origin: 'sp3/c', window: 20, prior, body: JSON.stringify(bodies[id % bodies.length]), signature: null })
      const steps = [
        partialOf('ch', reducer.code, [entry('sp1/a', 1, 3), entry('sp1/a', 2, 2), entry('sp2/b', 1, 4)]),
        partialOf('ch', reducer.code, [entry('sp1/a', 2, 2), entry('sp1/a', 5, 1)], [resent('w1', 4, { origin: 'sp1/a', window: 2 })]),
        partialOf('ch', reducer.code, [], [resent('w2', 1, { origin: 'sp2/b', window: 3 }), resent('w2', 2, null), resent('w2', 4, null)]),
        partialOf('ch', reducer.code, [entry('sp2/b', 3, 5), entry('sp1/a', 6, 2)], [resent('w3', 1, { origin: 'sp1/a', window: 5, unconfirmed: true })])
      ]
      for (const step of steps) {
        const applied = ledger.apply(step)
        assert.ok(applied.ok)
        const change = acksChange(ledger, applied.outcome)
        if (change === null) continue
        assert.equal(checkDelta(tree, change).ok, true)
        mergeInto(tree, change)
        // After every frame, what the tree holds is the whole ledger.
        const restored = restoreLedger(channel, (tree['@input'] as JsonObject).ch)
        assert.ok(restored.ok && restored.restored)
        assert.deepEqual(facts(restored.ledger), facts(ledger))
      }
      assert.deepEqual(ledger.fencedOrigins(), ['sp2/b'])
      assert.deepEqual(ledger.resentRanges(), { w1: [[4, 4]], w2: [[1, 2], [4, 4]] })
      assert.deepEqual(ledger.unknownRanges(), { w3: [[1, 1]] }, 'an unconfirmed prior whose window counted: unknown')
      // The restored ledger refuses what the original would: replays, the fenced origin, settled resends.
      const restored = restoreLedger(channel, (tree['@input'] as JsonObject).ch)
      assert.ok(restored.ok)
      const replay = partialOf('ch', reducer.code, [entry('sp1/a', 1, 3), entry('sp2/b', 7, 1), entry('sp1/a', 9, 1)], [resent('w2', 2, null), resent('w2', 3, null), resent('w3', 1, null)])
      const a = ledger.apply(replay)
      const b = restored.ledger.apply(replay)
      assert.ok(a.ok && b.ok)
      assert.deepEqual(b.outcome, a.outcome)
      assert.deepEqual(a.outcome.counted, [{ origin: 'sp1/a', window: 9 }])
      assert.deepEqual(a.outcome.resentCounted, [{ writer: 'w2', id: 3 }])
      assert.deepEqual(a.outcome.resentUnknown, [{ writer: 'w3', id: 1 }], 'unknown for good')
      assert.deepEqual(facts(restored.ledger), facts(ledger))
    })
  }

  it('a missing record is a fresh ledger; one of another kind too; a malformed one is an error that names what is wrong', () => {
    const sum = channelOf('score', score.reducer)
    const fresh = restoreLedger(sum, undefined)
    assert.ok(fresh.ok && !fresh.restored)
    const otherKind = restoreLedger(sum, { kind: KIND_CODES.tally, state: 'AA', counted: { 'sp1/a': [[1, 1]] } })
    assert.ok(otherKind.ok && !otherKind.restored)
    const errors = [
      [{ counted: { 'sp1/a': [[1, 1]] } }, '"@input".score records counted contributions but no state'],
      [{ kind: 2, state: 'Cg', counted: { 'sp1/a': [[3, 1]] } }, '"@input".score.counted.sp1/a: range [3,1] is not two integers 0 <= first <= last'],
      [{ kind: 2, state: 'Cg', counted: { 'sp1/a': [[1, 2], [3, 4]] } }, '"@input".score.counted.sp1/a: range [3,4] is not after the previous one with a gap'],
      [{ kind: 2, state: 'Cg', fenced: 'sp1/a' }, '"@input".score.fenced must be an array of origins'],
      [{ kind: 2, state: 'C+' }, '"@input".score.state must be base64url'],
      [{ kind: 2, state: 'gA' }, '"@input".score.state: truncated: sum needs 1 bytes at offset 1']
    ] as const
    for (const [record, error] of errors) assert.deepEqual(restoreLedger(sum, record as unknown as JsonObject), { ok: false, error })
  })
})
