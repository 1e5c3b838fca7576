/**
 * bench:reduce — how fast one core folds viewers' messages into reducer state (src/reduce/).
 *
 * In process, no network, one thread. For each kind, MESSAGES pre-built message bodies (and
 * their (window, writer, id) refs) are added to one window's state with the reducer's `add`
 * (the merge a super-peer does per message), timed over ROUNDS rounds (median reported). The
 * baseline, measured in the same run, is a plain loop summing the same number of doubles.
 * "admitted" is the whole per-message core path of a super-peer: admit() (channel, send
 * condition, size, schema, rate bucket) then OriginWindows.add. Tier and authority figures:
 * mergePartials of one-entry partials (a tier), and ChannelLedger.apply (the authority).
 *
 * End to end (bench/parts/reduce-e2e.ts): an authority and 3 super-peers as OS processes in two
 * tiers, simulated writers on raw writer streams; messages/s, partials/s at the proxy and the
 * authority, write-to-document latency, and acknowledged = counted.
 *
 * Knobs (environment): BENCH_REDUCE_MESSAGES (default 2,000,000), BENCH_REDUCE_ROUNDS (5),
 * BENCH_REDUCE_WRITERS (writers per super-peer, 6), BENCH_REDUCE_SECONDS (10), BENCH_REDUCE_BATCH (400).
 */
import type { Json, JsonObject } from '../src/json.ts'
import { ByteWriter } from '../src/reduce/bytes.ts'
import {
  admit, ChannelLedger, compileChannels, countReducer, distinctReducer, encodePartial, maxReducer,
  minReducer, OriginWindows, Outbox, partialOf, RateBucket, sampleReducer, sumReducer, tallyReducer
} from '../src/reduce/index.ts'
import type { MessageRef, Reducer, WindowEntry } from '../src/reduce/index.ts'
import { intEnv, machine } from './parts/common.ts'
import { endToEnd } from './parts/reduce-e2e.ts'

const MESSAGES = intEnv('BENCH_REDUCE_MESSAGES', 2_000_000)
const ROUNDS = intEnv('BENCH_REDUCE_ROUNDS', 5)
const WRITERS = intEnv('BENCH_REDUCE_WRITERS', 6)
const SECONDS = intEnv('BENCH_REDUCE_SECONDS', 10)
const BATCH = intEnv('BENCH_REDUCE_BATCH', 400)

const progress = (line: string): void => { process.stderr.write(`  ${line}\n`) }
const fmt = (n: number): string => Math.round(n).toLocaleString('en-US')
const median = (xs: number[]): number => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)]

/** A deterministic PRNG, so every run measures the same messages. */
function mulberry32 (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Messages per second over `rounds` runs of `run` (each handles `n` messages). */
function rate (label: string, n: number, run: () => void): number {
  run() // warm-up: lets the JIT settle on this call site
  const rates: number[] = []
  for (let r = 0; r < ROUNDS; r++) {
    const started = performance.now()
    run()
    rates.push(n / ((performance.now() - started) / 1000))
  }
  const result = median(rates)
  progress(`${label}: ${fmt(result)} /s (median of ${ROUNDS})`)
  return result
}

interface Workload { kind: string, reducer: Reducer<unknown>, bodies: Json[], n: number }

const random = mulberry32(9)
const refs: MessageRef[] = Array.from({ length: 4096 }, (_, i) => ({ window: 0, writer: `w${i % 997}`, id: i + 1 }))
const bodiesOf = (n: number, make: (i: number) => Json): Json[] => Array.from({ length: n }, (_, i) => make(i))
const POLL = ['red', 'green', 'blue', 'yellow', 'purple', 'orange', 'pink', 'white']

function workloads (): Workload[] {
  const n = MESSAGES
  const small = Math.max(1, Math.floor(n / 10))
  const ints = bodiesOf(n, () => Math.floor(random() * 201) - 100)
  const as = (r: Reducer<any>): Reducer<unknown> => r as Reducer<unknown>
  return [
    { kind: 'count', reducer: as(countReducer), bodies: bodiesOf(n, () => null), n },
    { kind: 'sum', reducer: as(sumReducer), bodies: ints, n },
    { kind: 'min', reducer: as(minReducer), bodies: ints, n },
    { kind: 'max', reducer: as(maxReducer), bodies: ints, n },
    { kind: 'tally', reducer: as(tallyReducer({ capacity: POLL.length, keys: POLL })), bodies: bodiesOf(n, () => POLL[Math.floor(random() * POLL.length)]), n },
    // Zipf-like open key space: a few hot tags, a long tail that keeps SpaceSaving evicting.
    { kind: 'tally-open', reducer: as(tallyReducer({ capacity: 32, keys: null })), bodies: bodiesOf(n, () => `tag${Math.floor(1 / (random() + 0.001))}`), n },
    { kind: 'distinct', reducer: as(distinctReducer(12)), bodies: bodiesOf(small, i => `user-${i}`), n: small },
    { kind: 'sample', reducer: as(sampleReducer({ size: 10, keep: 'last' })), bodies: bodiesOf(small, i => ({ text: `hello ${i}` })), n: small }
  ]
}

function mergeRate (w: Workload): number {
  const { reducer, bodies } = w
  let state = reducer.empty()
  const r = rate(`merge ${w.kind}`, w.n, () => {
    state = reducer.empty()
    for (let i = 0; i < bodies.length; i++) reducer.add(state, bodies[i], refs[i & 4095])
  })
  // Not a test, but it checks what it measured.
  if (w.kind === 'count' && reducer.result(state) !== w.n) throw new Error('count lost messages')
  return r
}

function baseline (n: number): number {
  const values = new Float64Array(n)
  for (let i = 0; i < n; i++) values[i] = Math.floor(random() * 201) - 100
  let sink = 0
  const r = rate('baseline: plain loop summing doubles', n, () => {
    let s = 0
    for (let i = 0; i < values.length; i++) s += values[i]
    sink += s
  })
  if (Number.isNaN(sink)) throw new Error('unreachable')
  return r
}

/** admit() + OriginWindows.add per message: the super-peer's whole core path for one send. */
function admittedRate (n: number): number {
  const policy = {
    version: 1,
    observe: { anonymous: true, identified: true },
    input: {
      poll: { kind: 'tally', message: { type: 'string', enum: POLL }, send: 'identified', rate: { messages: 1000, perMs: 100 }, windowMs: 1000, field: '/poll' }
    }
  }
  const channels = compileChannels(policy)
  const tree: JsonObject = { '@policy': policy }
  const sender = { viewer: { principal: 'alice', roles: [] }, viewState: {} }
  const channel = channels.channels.get('poll')
  if (channel === undefined) throw new Error(channels.error ?? 'no channel')
  const bodies = bodiesOf(n, () => POLL[Math.floor(random() * POLL.length)])
  return rate('admitted tally (admit + OriginWindows.add)', n, () => {
    const windows = new OriginWindows({ channel: 'poll', reducer: channel.reducer, widthMs: 1000, origin: 'sp1/a' })
    // A fresh bucket per 1,000 messages: the rate check runs on every message but never refuses.
    let bucket = new RateBucket(channel.rate, 0)
    for (let i = 0; i < bodies.length; i++) {
      if (i % 1000 === 0) bucket = new RateBucket(channel.rate, 0)
      const verdict = admit(channels, 'poll', bodies[i], sender, tree, bucket, 0)
      if (!verdict.ok) throw new Error(verdict.error)
      windows.add(0, bodies[i], 'w1', i + 1, 0)
    }
  })
}

/** One-entry partials from `origins` super-peers over `windows` windows, merged at a tier, applied at the authority. */
function tierAndAuthority (origins: number, windows: number): { tier: number, authority: number, bytesPerOrigin: number } {
  const tally = tallyReducer({ capacity: POLL.length, keys: POLL }) as Reducer<unknown>
  const entries: WindowEntry[] = []
  for (let o = 0; o < origins; o++) {
    for (let w = 0; w < windows; w++) {
      const state = tally.empty()
      for (let k = 0; k < 50; k++) tally.add(state, POLL[(o + k) % POLL.length], refs[k])
      const out = new ByteWriter()
      tally.encode(state, out)
      entries.push({ origin: `12D3KooW${String(o).padStart(44, 'x')}/boot`, window: w, state: out.finish(), signature: new Uint8Array(64) })
    }
  }
  const singles = entries.map(e => partialOf('poll', tally.code, [e]))
  const tier = rate(`tier: Outbox.add, ${origins} origins x ${windows} windows`, entries.length, () => {
    // a tier merges each child's partial into what it will send up
    const outbox = new Outbox('poll', tally.code)
    for (const p of singles) outbox.add(p)
    if (outbox.size !== entries.length) throw new Error('lost an entry')
  })
  const authority = rate('authority: ChannelLedger.apply of those entries', entries.length, () => {
    const ledger = new ChannelLedger({ name: 'poll', reducer: tally, check: () => null })
    for (const p of singles) ledger.apply(p)
  })
  const bytesPerOrigin = encodePartial(partialOf('poll', tally.code, entries.filter(e => e.window === 0))).length / origins
  return { tier, authority, bytesPerOrigin }
}

const WINDOW_NOTE = 'windows of 250 ms: the goal is at most 1 partial per child per window at each tier (4/s), whatever the number of writers'

async function main (): Promise<void> {
  const started = performance.now()
  console.log('bench:reduce — reducer merge rate on one core (in process; see the header of bench/reduce.ts)')
  for (const line of await machine({ loadRemark: 'the machine is shared: other work may be running' })) console.log(line)
  console.log(`messages ${fmt(MESSAGES)} per kind (distinct and sample: a tenth), median of ${ROUNDS} rounds after one warm-up`)
  console.log()
  progress('building messages')
  const base = baseline(MESSAGES)
  const results: Array<{ kind: string, perS: number }> = []
  for (const w of workloads()) results.push({ kind: w.kind, perS: mergeRate(w) })
  const admitted = admittedRate(Math.floor(MESSAGES / 4))
  const { tier, authority, bytesPerOrigin } = tierAndAuthority(200, 20)

  console.log('| kind | messages/s (one core) | vs baseline loop |')
  console.log('|---|---:|---:|')
  console.log(`| baseline (sum of doubles) | ${fmt(base)} | 1 |`)
  for (const r of results) console.log(`| ${r.kind} | ${fmt(r.perS)} | ${(r.perS / base).toFixed(3)} |`)
  console.log(`| tally admitted (admit + window) | ${fmt(admitted)} | ${(admitted / base).toFixed(3)} |`)
  console.log()
  console.log(`tier: ${fmt(tier)} window entries/s merged (Outbox.add); authority: ${fmt(authority)} entries/s applied (ChannelLedger.apply)`)
  console.log(`a tier's partial costs ${fmt(bytesPerOrigin)} bytes per super-peer window below it (8-key tally, 64-byte signature), whatever the number of writers`)
  console.log()
  progress('end to end: authority and 3 super-peers as processes, simulated writers')
  const e2e = await endToEnd({ writersPerSuperPeer: WRITERS, durationMs: SECONDS * 1000, batch: BATCH, progress })
  console.log(`end to end: ${e2e.writers} writers over ${e2e.superPeers} super-peers (two tiers: a region proxy and two members), one count channel, ${WINDOW_NOTE}`)
  console.log(`| where | rate | per child per window (goal <= 1) |`)
  console.log('|---|---:|---:|')
  console.log(`| messages accepted by the 3 super-peers | ${fmt(e2e.e2eMessagesPerS)} /s | |`)
  console.log(`| partials arriving at the region proxy (from 2 members) | ${e2e.proxyPartialsPerS.toFixed(1)} /s | ${e2e.proxyPartialsPerChildPerWindow.toFixed(2)} |`)
  console.log(`| partials arriving at the authority (from the proxy) | ${e2e.authorityPartialsPerS.toFixed(1)} /s | ${e2e.authorityPartialsPerChildPerWindow.toFixed(2)} |`)
  console.log(`| origin windows counted by the authority | ${e2e.windowsPerS.toFixed(1)} /s | |`)
  console.log(`write to document (send to acknowledgement): p50 ${e2e.latencyMsP50.toFixed(0)} ms, p99 ${e2e.latencyMsP99.toFixed(0)} ms`)
  console.log(`sent ${fmt(e2e.sent)}, acknowledged ${fmt(e2e.acknowledged)}, counted ${fmt(e2e.counted)} (${e2e.acknowledged === e2e.counted ? 'equal: exact' : 'NOT EQUAL'}; sent but unacknowledged were refused at a window edge)`)
  console.log(`total ${((performance.now() - started) / 1000).toFixed(1)} s`)
  const perS = (kind: string): number => Math.round(results.find(r => r.kind === kind)?.perS ?? Number.NaN)
  console.log('RESULT ' + JSON.stringify({
    merge_per_s_count: perS('count'),
    merge_per_s_sum: perS('sum'),
    merge_per_s_min: perS('min'),
    merge_per_s_max: perS('max'),
    merge_per_s_tally: perS('tally'),
    merge_per_s_tally_open: perS('tally-open'),
    merge_per_s_distinct: perS('distinct'),
    merge_per_s_sample: perS('sample'),
    admitted_per_s_tally: Math.round(admitted),
    baseline_per_s: Math.round(base),
    tier_entries_per_s: Math.round(tier),
    authority_entries_per_s: Math.round(authority),
    e2e_messages_per_s: Math.round(e2e.e2eMessagesPerS),
    proxy_partials_per_s: Number(e2e.proxyPartialsPerS.toFixed(2)),
    authority_partials_per_s: Number(e2e.authorityPartialsPerS.toFixed(2)),
    proxy_partials_per_child_per_window: Number(e2e.proxyPartialsPerChildPerWindow.toFixed(3)),
    authority_partials_per_child_per_window: Number(e2e.authorityPartialsPerChildPerWindow.toFixed(3)),
    writers: e2e.writers,
    super_peers: e2e.superPeers,
    latency_ms_p50: Math.round(e2e.latencyMsP50),
    latency_ms_p99: Math.round(e2e.latencyMsP99),
    sent: e2e.sent,
    acknowledged: e2e.acknowledged,
    counted: e2e.counted
  }))
}

await main()
