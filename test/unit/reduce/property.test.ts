/**
 * The reducer properties: any split of the contributions into partials, merged in any order and
 * delivered any number of times, gives the authority the same total; delivering a partial again
 * changes nothing; codecs round-trip; and across a failover (resends with their prior window,
 * fenced origins) every message counts exactly once.
 */
import assert from 'node:assert/strict'
import fc from 'fast-check'
import type { Json } from '../../../src/json.ts'
import {
  ChannelLedger, checkMessage, compileSchema, countReducer, decodePartial, distinctReducer, encodePartial, maxReducer,
  mergePartials, minReducer, partialOf, sampleReducer, sumReducer, tallyReducer
} from '../../../src/reduce/index.ts'
import type { Partial, Reducer, ResentEntry, WindowEntry } from '../../../src/reduce/index.ts'
import { bytesOf, decodeState, hex, stateOf } from './helpers.ts'
import type { Msg } from './helpers.ts'

const RUNS = process.env.CI === 'true' ? 500 : 100

interface Case { name: string, reducer: Reducer<unknown>, body: fc.Arbitrary<Json>, exact: boolean }
const as = (r: Reducer<any>): Reducer<unknown> => r as Reducer<unknown>
const CASES: Case[] = [
  { name: 'count', reducer: as(countReducer), body: fc.constant(null), exact: true },
  { name: 'sum', reducer: as(sumReducer), body: fc.oneof(fc.integer({ min: -1000, max: 1000 }), fc.constantFrom(Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER)), exact: true },
  { name: 'min', reducer: as(minReducer), body: fc.double({ noNaN: true, noDefaultInfinity: true }), exact: true },
  { name: 'max', reducer: as(maxReducer), body: fc.double({ noNaN: true, noDefaultInfinity: true }), exact: true },
  { name: 'tally (declared keys)', reducer: as(tallyReducer({ capacity: 3, keys: ['a', 'b', 'c'] })), body: fc.constantFrom('a', 'b', 'c'), exact: true },
  // SpaceSaving per window is not the exact count, but merging its summaries is order-free.
  { name: 'tally (open keys)', reducer: as(tallyReducer({ capacity: 2, keys: null })), body: fc.constantFrom('a', 'b', 'c', 'd'), exact: false },
  { name: 'distinct', reducer: as(distinctReducer(6)), body: fc.oneof(fc.string({ maxLength: 3 }), fc.integer({ min: 0, max: 50 })), exact: true },
  { name: 'sample (last)', reducer: as(sampleReducer({ size: 3, keep: 'last' })), body: fc.string({ maxLength: 4 }), exact: true },
  { name: 'sample (first)', reducer: as(sampleReducer({ size: 3, keep: 'first' })), body: fc.integer(), exact: true }
]

const ORIGINS = ['sp1/a', 'sp2/b', 'sp3/c']
const WRITERS = ['wa', 'wb', 'wc', 'wd']

interface Sent extends Msg { origin: string }

function sentArb (body: fc.Arbitrary<Json>): fc.Arbitrary<Sent[]> {
  return fc.array(fc.record({ origin: fc.constantFrom(...ORIGINS), window: fc.nat(3), writer: fc.constantFrom(...WRITERS), body }), { maxLength: 40 })
    .map(list => list.map((m, i) => ({ ...m, id: i + 1 })))
}

/** One entry per origin window, its messages added in the order the origin received them. */
function entriesOf (reducer: Reducer<unknown>, sent: readonly Sent[]): WindowEntry[] {
  const groups = new Map<string, Sent[]>()
  for (const m of sent) {
    const key = `${m.origin} ${m.window}`
    groups.set(key, [...(groups.get(key) ?? []), m])
  }
  return [...groups.values()].map(ms => ({ origin: ms[0].origin, window: ms[0].window, state: bytesOf(reducer, stateOf(reducer, ms)), signature: null }))
}

const channelOf = (name: string, reducer: Reducer<unknown>): { name: string, reducer: Reducer<unknown>, check: () => null } => ({ name, reducer, check: () => null })

function totalAfter (reducer: Reducer<unknown>, partials: readonly Partial[]): string {
  const ledger = new ChannelLedger(channelOf('ch', reducer))
  for (const p of partials) assert.ok(ledger.apply(p).ok)
  return hex(bytesOf(reducer, ledger.total))
}

/**
 * Splits entries into groups (with some entries in several groups: re-delivery), merges each
 * group in a random tree order (tiers), and returns the partials in a random order, some twice.
 */
const deliveryArb = (n: number): fc.Arbitrary<{ groupOf: number[][], order: number[], repeat: number[] }> => fc.record({
  groupOf: fc.array(fc.array(fc.nat(3), { minLength: 1, maxLength: 2 }), { minLength: n, maxLength: n }),
  order: fc.array(fc.nat(), { maxLength: 12 }),
  repeat: fc.array(fc.nat(3), { maxLength: 3 })
})

function deliver (kind: number, entries: readonly WindowEntry[], plan: { groupOf: number[][], order: number[], repeat: number[] }): Partial[] {
  const groups: WindowEntry[][] = [[], [], [], []]
  entries.forEach((entry, i) => { for (const g of plan.groupOf[i]) groups[g].push(entry) })
  const partials = groups.map(g => {
    // merge single-entry partials in an order the plan picks: tiers see them in any order
    let parts: Partial[] = g.map(e => partialOf('ch', kind, [e]))
    let k = 0
    while (parts.length > 1) {
      const i = (plan.order[k++ % Math.max(1, plan.order.length)] ?? 0) % (parts.length - 1)
      parts = [...parts.slice(0, i), mergePartials(parts[i], parts[i + 1]).partial, ...parts.slice(i + 2)]
    }
    return parts[0] ?? partialOf('ch', kind, [])
  })
  const out: Partial[] = [...partials].reverse()
  for (const r of plan.repeat) out.push(partials[r])
  return out
}

describe('reducer properties', () => {
  for (const c of CASES) {
    it(`${c.name}: any split and merge order gives the same total, and re-delivery changes nothing`, () => {
      fc.assert(fc.property(sentArb(c.body).chain(sent => fc.tuple(fc.constant(sent), deliveryArb(entriesOf(c.reducer, sent).length))), ([sent, plan]) => {
        const entries = entriesOf(c.reducer, sent)
        const kind = c.reducer.code
        const reference = totalAfter(c.reducer, [partialOf('ch', kind, entries)])
        assert.equal(totalAfter(c.reducer, deliver(kind, entries, plan)), reference)
        if (c.exact) assert.equal(reference, hex(bytesOf(c.reducer, stateOf(c.reducer, sent))))
      }), { numRuns: RUNS })
    })

    it(`${c.name}: states and partials round-trip through their bytes`, () => {
      fc.assert(fc.property(sentArb(c.body), sent => {
        const state = stateOf(c.reducer, sent)
        const bytes = bytesOf(c.reducer, state)
        assert.equal(hex(bytesOf(c.reducer, decodeState(c.reducer, bytes))), hex(bytes))
        const partial = partialOf('ch', c.reducer.code, entriesOf(c.reducer, sent))
        const encoded = encodePartial(partial)
        const decoded = decodePartial(encoded)
        assert.ok(decoded.ok)
        assert.equal(hex(encodePartial(decoded.partial)), hex(encoded))
      }), { numRuns: RUNS })
    })
  }

  it('applying a partial the ledger has seen changes nothing and counts nothing', () => {
    const tally = as(tallyReducer({ capacity: 3, keys: ['a', 'b', 'c'] }))
    fc.assert(fc.property(sentArb(fc.constantFrom('a', 'b', 'c')), fc.nat(), (sent, cut) => {
      const entries = entriesOf(tally, sent)
      const ledger = new ChannelLedger(channelOf('ch', tally))
      const all = partialOf('ch', tally.code, entries)
      ledger.apply(all)
      const before = hex(bytesOf(tally, ledger.total))
      const again = ledger.apply(partialOf('ch', tally.code, entries.slice(cut % (entries.length + 1))))
      assert.ok(again.ok)
      assert.equal(again.outcome.changed, false)
      assert.equal(again.outcome.counted.length, 0)
      assert.equal(hex(bytesOf(tally, ledger.total)), before)
    }), { numRuns: RUNS })
  })

  it('across failover every message counts exactly once: resends carry their prior window, fenced origins never count again', () => {
    // Writers first send to their home origin (stamped windows). Some home windows reach the
    // authority (some twice, late, or never: the home died or was cut off); some writers resend
    // through other super-peers, possibly more than once, in any order. Then every writer resends
    // what is still not acknowledged, until everything is. The total must be every message once.
    const sum = as(sumReducer)
    const scenario = fc.record({
      sent: fc.array(fc.record({ home: fc.constantFrom(...ORIGINS), window: fc.nat(2), writer: fc.constantFrom(...WRITERS), value: fc.integer({ min: 1, max: 9 }) }), { minLength: 1, maxLength: 30 }),
      windowFate: fc.array(fc.constantFrom('once', 'twice', 'never', 'late'), { minLength: 9, maxLength: 9 }),
      earlyResends: fc.array(fc.record({ message: fc.nat(), via: fc.constantFrom(...ORIGINS), copies: fc.integer({ min: 1, max: 2 }) }), { maxLength: 8 }),
      shuffle: fc.array(fc.nat(), { minLength: 64, maxLength: 64 })
    })
    fc.assert(fc.property(scenario, ({ sent, windowFate, earlyResends, shuffle }) => {
      const messages = sent.map((m, i) => ({ ...m, id: i + 1, origin: m.home }))
      const expected = messages.reduce((s, m) => s + m.value, 0)
      const entries = entriesOf(sum, messages.map(m => ({ ...m, body: m.value })))
      const fate = (e: WindowEntry): string => windowFate[ORIGINS.indexOf(e.origin) * 3 + e.window]
      const resendOf = (m: typeof messages[number], via: string, window: number): ResentEntry =>
        ({ writer: m.writer, id: m.id, origin: via, window, prior: { origin: m.home, window: m.window }, body: String(m.value), signature: null })

      const events: Partial[] = []
      for (const e of entries) {
        if (fate(e) === 'once' || fate(e) === 'twice') events.push(partialOf('ch', sum.code, [e]))
        if (fate(e) === 'twice') events.push(partialOf('ch', sum.code, [e]))
      }
      for (const r of earlyResends) {
        const m = messages[r.message % messages.length]
        for (let k = 0; k < r.copies; k++) events.push(partialOf('ch', sum.code, [], [resendOf(m, r.via, 10 + k)]))
      }
      // a deterministic shuffle, then the late windows after everything else
      for (let i = events.length - 1; i > 0; i--) {
        const j = shuffle[i % shuffle.length] % (i + 1)
        ;[events[i], events[j]] = [events[j], events[i]]
      }
      for (const e of entries) if (fate(e) === 'late') events.push(partialOf('ch', sum.code, [e]))

      const ledger = new ChannelLedger(channelOf('ch', sum))
      const acked = new Set<number>()
      const settle = (p: Partial): void => {
        const result = ledger.apply(p)
        assert.ok(result.ok)
        for (const r of [...result.outcome.resentCounted, ...result.outcome.resentDuplicates]) acked.add(r.id)
      }
      for (const p of events) settle(p)
      // Writers learn from the log what counted; what did not is resent until it does.
      for (let round = 0; round < 3; round++) {
        for (const m of messages) {
          if (ledger.hasCounted(m.home, m.window)) acked.add(m.id)
          if (!acked.has(m.id)) settle(partialOf('ch', sum.code, [], [resendOf(m, 'sp9/z', 20 + round)]))
        }
      }
      assert.equal(acked.size, messages.length)
      assert.equal(ledger.result(), expected)
    }), { numRuns: RUNS * 3 })
  })

  it('late first sends: a send refused (or accepted) where the browser never heard it is counted once or answered unknown, never acknowledged uncounted', () => {
    // Each first send is accepted into its stamped window and the browser heard `accepted`, or
    // accepted unheard, or arrived after its window closed and was refused unheard (in no window):
    // the home super-peer died before its answer reached the browser. Home windows reach the
    // authority or not; writers resend (prior unconfirmed unless they heard `accepted`) until
    // each message is acknowledged or answered unknown.
    const sum = as(sumReducer)
    const scenario = fc.record({
      sent: fc.array(fc.record({
        home: fc.constantFrom(...ORIGINS), window: fc.nat(2), writer: fc.constantFrom(...WRITERS), value: fc.integer({ min: 1, max: 9 }),
        heard: fc.constantFrom('accepted', 'accepted-unheard', 'refused-unheard')
      }), { minLength: 1, maxLength: 30 }),
      windowFate: fc.array(fc.constantFrom('once', 'twice', 'never', 'late'), { minLength: 9, maxLength: 9 }),
      earlyResends: fc.array(fc.record({ message: fc.nat(), copies: fc.integer({ min: 1, max: 2 }) }), { maxLength: 8 })
    })
    fc.assert(fc.property(scenario, ({ sent, windowFate, earlyResends }) => {
      const messages = sent.map((m, i) => ({ ...m, id: i + 1, origin: m.home }))
      const inWindow = messages.filter(m => m.heard !== 'refused-unheard')
      const entries = entriesOf(sum, inWindow.map(m => ({ ...m, body: m.value })))
      const fate = (e: { origin: string, window: number }): string => windowFate[ORIGINS.indexOf(e.origin) * 3 + e.window]
      const resendOf = (m: typeof messages[number], window: number): ResentEntry => ({
        writer: m.writer, id: m.id, origin: 'sp9/z', window, body: String(m.value), signature: null,
        prior: m.heard === 'accepted' ? { origin: m.home, window: m.window } : { origin: m.home, window: m.window, unconfirmed: true }
      })
      const ledger = new ChannelLedger(channelOf('ch', sum))
      const acked = new Set<number>()
      const unknown = new Set<number>()
      const resentCounted = new Set<number>()
      const settle = (p: Partial): void => {
        const result = ledger.apply(p)
        assert.ok(result.ok)
        for (const r of result.outcome.resentCounted) resentCounted.add(r.id)
        for (const r of [...result.outcome.resentCounted, ...result.outcome.resentDuplicates]) acked.add(r.id)
        for (const r of result.outcome.resentUnknown) unknown.add(r.id)
      }
      for (const e of entries) if (fate(e) === 'once' || fate(e) === 'twice') settle(partialOf('ch', sum.code, [e]))
      for (const r of earlyResends) for (let k = 0; k < r.copies; k++) settle(partialOf('ch', sum.code, [], [resendOf(messages[r.message % messages.length], 10 + k)]))
      for (const e of entries) if (fate(e) === 'twice' || fate(e) === 'late') settle(partialOf('ch', sum.code, [e]))
      for (let round = 0; round < 3; round++) {
        for (const m of messages) {
          // The home acknowledges from the log only what it knows is in a counted window.
          if (m.heard === 'accepted' && ledger.hasCounted(m.home, m.window)) acked.add(m.id)
          if (!acked.has(m.id) && !unknown.has(m.id)) settle(partialOf('ch', sum.code, [], [resendOf(m, 20 + round)]))
        }
      }
      // Every message ends acknowledged or unknown, never both.
      for (const m of messages) assert.ok(acked.has(m.id) !== unknown.has(m.id), `message ${m.id}: acknowledged ${acked.has(m.id)}, unknown ${unknown.has(m.id)}`)
      // What counted: messages in a counted window, and resends counted; never one twice.
      const inCounted = new Set(inWindow.filter(m => ledger.hasCounted(m.home, m.window)).map(m => m.id))
      for (const id of resentCounted) assert.ok(!inCounted.has(id), `message ${id} counted twice`)
      const counted = new Set([...inCounted, ...resentCounted])
      for (const id of acked) assert.ok(counted.has(id), `message ${id} acknowledged but not counted`)
      assert.equal(ledger.result(), messages.filter(m => counted.has(m.id)).reduce((s, m) => s + m.value, 0))
      // Unknown only where it had to be: an unconfirmed prior whose window counted.
      for (const id of unknown) {
        const m = messages[id - 1]
        assert.ok(m.heard !== 'accepted' && ledger.hasCounted(m.home, m.window))
      }
    }), { numRuns: RUNS * 3 })
  })

  it('schema refusals name the rule that failed', () => {
    const schema = compileSchema({
      type: 'object',
      properties: { text: { type: 'string', maxLength: 8 }, mood: { type: 'string', enum: ['up', 'down'] }, n: { type: 'integer', minimum: 0, maximum: 10 } },
      required: ['text']
    }, 'message')
    const valid = fc.record({ text: fc.string({ maxLength: 8 }), mood: fc.constantFrom('up', 'down'), n: fc.integer({ min: 0, max: 10 }) })
    type Break = [string, (v: Record<string, Json>) => Json]
    const breaks: Break[] = [
      ['type', () => 'not an object'],
      ['type', v => ({ ...v, n: 1.5 })],
      ['type', v => ({ ...v, text: 7 })],
      ['maxLength', v => ({ ...v, text: 'x'.repeat(9) })],
      ['enum', v => ({ ...v, mood: 'sideways' })],
      ['minimum', v => ({ ...v, n: -1 })],
      ['maximum', v => ({ ...v, n: 11 })],
      ['required', ({ text: _text, ...rest }) => rest],
      ['unknown-property', v => ({ ...v, extra: true })]
    ]
    fc.assert(fc.property(valid, fc.nat(breaks.length - 1), (value, which) => {
      assert.equal(checkMessage(schema, value), null)
      const [rule, breakIt] = breaks[which]
      const refusal = checkMessage(schema, breakIt(value))
      assert.equal(refusal?.rule, rule)
      assert.match(refusal.message, /^message/)
    }), { numRuns: RUNS })
  })
})
