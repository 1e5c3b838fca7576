/**
 * bench:privacy — what one frame costs at the edge (a super-peer serving observers), by number of
 * viewers, number of privacy classes, and document size, with the same small change every frame.
 *
 * In process, no network. Per scenario a fresh document (a card game with chat, policy as in
 * docs/privacy.md) is fed frame by frame through the real pipeline:
 *
 *   replica  composeDeltas(tree, [change]) once per frame, then checkDelta + mergeInto (as
 *            src/replica/replica.ts does with composeDeltas on);
 *   edge     the real DocChannel (node/super-peer/doc-channel.ts) listening to a fake
 *            ObservableDoc: per class ClassView.update + encodeMessage once, then for every member
 *            the real ObserverSession.deliver of the same Uint8Array, into a fake stream whose
 *            send() accepts at once (keeps a reference to the last message, as a socket buffer
 *            would; no copy, no syscall).
 *
 * The naive baseline does per viewer per frame what a super-peer without classes would:
 * filterView of the whole document, diffTrees against that viewer's previous view, encodeMessage,
 * ObserverSession.deliver.
 *
 * Not a test, but it checks what it measures: every member's stream ends holding its class's
 * bytes (the same object), and a class's incremental view equals filterView of the final document.
 *
 * Knobs (environment): BENCH_PRIVACY_FRAMES (measured frames per scenario, default 500),
 * BENCH_PRIVACY_WARMUP (unmeasured frames first, default 100).
 */
import { DocChannel } from '../node/super-peer/doc-channel.ts'
import { ObserverSession } from '../node/super-peer/observer-protocol.ts'
import { DEFAULT_MAX_MESSAGE_BYTES, encodeMessage, frameMessage } from '../src/observe/protocol.ts'
import { checkDelta, composeDeltas, diffTrees, jsonEqual, mergeInto, orderDelta } from '../src/delta/index.ts'
import { filterView, policyOfTree } from '../src/privacy/index.ts'
import { intEnv, machine as machineBase, percentile } from './parts/common.ts'
import { CARD_GAME_POLICY } from '../test/helpers/card-game.ts'
import type { Stream } from '@libp2p/interface'
import type { JsonObject } from '../src/json.ts'
import type { ObservableDoc } from '../src/observe/observable-doc.ts'
import type { Viewer } from '../src/privacy/index.ts'

const FRAMES = intEnv('BENCH_PRIVACY_FRAMES', 500)
const WARMUP = intEnv('BENCH_PRIVACY_WARMUP', 100)

// --- the document ------------------------------------------------------------------------------

/** The card-game policy of docs/privacy.md, plus a public chat. */
const POLICY: JsonObject = CARD_GAME_POLICY

/** Players p0..p(n-1) owned by user0..user(n-1), `cards` cards each, and `messages` chat lines. */
function makeDoc (players: number, cards: number, messages: number): JsonObject {
  const list = (ids: number[], item: (id: number) => JsonObject | string): JsonObject => {
    const node: JsonObject = { '@o': ids }
    for (const id of ids) node[String(id)] = item(id)
    return node
  }
  const range = (n: number, from = 1): number[] => Array.from({ length: n }, (_, i) => from + i)
  const suits = 'SHDC'
  return {
    '@policy': POLICY,
    phase: 'play',
    players: list(range(players), p => ({
      owner: `user${p - 1}`,
      name: `Player ${p}`,
      score: 0,
      size: cards,
      hand: list(range(cards, p * 1000), c => `${'A23456789TJQK'[c % 13]}${suits[c % 4]}`)
    })),
    chat: list(range(messages), m => ({ by: `user${m % Math.max(1, players)}`, at: 1_700_000_000_000 + m * 1000, t: `message number ${m}: good game, well played everyone` }))
  }
}

const SMALL = { players: 4, cards: 3, messages: 2 }
const LARGE = { players: 100, cards: 20, messages: 8_600 }

type Change = 'score' | 'chat'

/**
 * The frame's one change: player 2's score goes up, or one chat line is appended and the oldest
 * dropped (so the chat keeps its length and the document its size).
 */
function nextChange (tree: JsonObject, kind: Change, n: number): JsonObject {
  if (kind === 'score') return { players: { 2: { score: n } } }
  const order = (tree.chat as { '@o': number[] })['@o']
  const id = 1_000_000 + n
  return {
    chat: {
      [String(id)]: { by: 'user1', at: 1_800_000_000_000 + n, t: `new message ${n}` },
      [String(order[0])]: null,
      '@o': orderDelta(order, [...order.slice(1), id])
    }
  }
}

// --- a fake document and fake streams ----------------------------------------------------------

/** What the super-peer's replica + ObservableCarrier do per frame, over an in-memory tree. */
class BenchDoc implements ObservableDoc {
  readonly docId = 'bench'
  tree: JsonObject
  seq = 0
  private readonly listeners = new Set<(seq: number, data: JsonObject | null) => void>()

  constructor (tree: JsonObject) {
    this.tree = tree
  }

  head (): number { return this.seq }
  snapshot (): { seq: number, tree: JsonObject } { return { seq: this.seq, tree: this.tree } }
  deltasAfter (): undefined { return undefined }
  onFrame (listener: (seq: number, data: JsonObject | null) => void): () => void {
    this.listeners.add(listener)
    return () => { this.listeners.delete(listener) }
  }

  /** The replica's part: compose the frame's changes, check and apply them. */
  apply (changes: JsonObject[]): JsonObject | null {
    const delta = composeDeltas(this.tree, changes)
    for (const change of changes) {
      const check = checkDelta(this.tree, change)
      if (!check.ok) throw new Error(check.error)
      mergeInto(this.tree, change)
    }
    this.seq++
    return delta
  }

  /** The edge's part: every listener (the DocChannel) gets the composed delta. */
  emit (delta: JsonObject | null): void {
    for (const listener of this.listeners) listener(this.seq, delta)
  }
}

/** A stream with room in its buffer: send() takes the message (by reference) and says go on. */
class FakeStream {
  status = 'open'
  /** Never holds anything back: send() always says go on. */
  writeBufferLength = 0
  sent = 0
  last: Uint8Array | undefined
  send (bytes: Uint8Array): boolean {
    this.sent++
    this.last = bytes
    return true
  }

  async onDrain (): Promise<void> {}
  addEventListener (): void {}
  async close (): Promise<void> {}
  abort (): void {}
}

const counters = { sent: 0, resyncs: 0, ejected: 0, frozen: 0 }
const limits = { maxQueuedBytes: 4 * 1024 * 1024, maxMessageBytes: DEFAULT_MAX_MESSAGE_BYTES, stallTimeoutMs: 60_000 }

function newSession (): { session: ObserverSession, stream: FakeStream } {
  const stream = new FakeStream()
  const session = new ObserverSession(stream as unknown as Stream, limits, counters, () => {})
  return { session, stream }
}

// --- measuring ---------------------------------------------------------------------------------

interface Result {
  label: string
  docBytes: number
  viewers: number
  classes: number
  change: Change
  /** per-frame µs, sorted */
  replica: Float64Array
  edge: Float64Array
  total: Float64Array
  /** bytes of the encoded message one class sends (first class) */
  messageBytes: number
  extrapolated?: string
}

function sorted (values: number[]): Float64Array {
  return Float64Array.from(values).sort()
}

interface Scenario {
  label: string
  size: typeof SMALL
  viewers: number
  classes: number
  change: Change
}

/** Viewer i of a scenario with `classes` classes: anonymous for one class, else user(i mod classes). */
function viewerOf (i: number, classes: number): Viewer {
  return classes === 1 ? { roles: [] } : { principal: `user${i % classes}`, roles: [] }
}

function runClasses (s: Scenario): Result {
  const doc = new BenchDoc(makeDoc(s.size.players, s.size.cards, s.size.messages))
  const docBytes = JSON.stringify(doc.tree).length
  const channel = new DocChannel(doc)
  const streams: FakeStream[] = []
  for (let i = 0; i < s.viewers; i++) {
    const { session, stream } = newSession()
    const joined = channel.join(session, viewerOf(i, s.classes), undefined, doc.head())
    if (!joined.ok) throw new Error(joined.error)
    streams.push(stream)
  }
  if (channel.classCount !== s.classes) throw new Error(`${s.label}: expected ${s.classes} classes, got ${channel.classCount}`)
  for (const stream of streams) stream.sent = 0 // each got the resume acknowledgement (its head); count frames only

  const replica: number[] = []
  const edge: number[] = []
  const total: number[] = []
  for (let f = 0; f < WARMUP + FRAMES; f++) {
    const change = nextChange(doc.tree, s.change, f + 1)
    const t0 = performance.now()
    const delta = doc.apply([change])
    const t1 = performance.now()
    doc.emit(delta)
    const t2 = performance.now()
    if (f >= WARMUP) {
      replica.push((t1 - t0) * 1000)
      edge.push((t2 - t1) * 1000)
      total.push((t2 - t0) * 1000)
    }
  }

  // Checks: members of a class hold the very same bytes; the incremental view is filterView's.
  const frames = WARMUP + FRAMES
  for (let i = 0; i < streams.length; i++) {
    const peer = streams[i % s.classes]
    if (streams[i].sent !== frames || streams[i].last !== peer.last) throw new Error(`${s.label}: viewer ${i} did not get its class's bytes`)
  }
  const probe = newSession()
  channel.join(probe.session, viewerOf(0, s.classes), undefined, null) // a reset: the class's view
  const reset = JSON.parse(new TextDecoder().decode(probe.stream.last!.subarray(varintLength(probe.stream.last!))))
  if (!jsonEqual(reset.data, filterView(policyOfTree(doc.tree), viewerOf(0, s.classes), {}, doc.tree))) {
    throw new Error(`${s.label}: the class's view differs from filterView`)
  }
  channel.close()
  return {
    label: s.label,
    docBytes,
    viewers: s.viewers,
    classes: s.classes,
    change: s.change,
    replica: sorted(replica),
    edge: sorted(edge),
    total: sorted(total),
    messageBytes: streams[0].last!.byteLength
  }
}

function varintLength (bytes: Uint8Array): number {
  let i = 0
  while (bytes[i] >= 0x80) i++
  return i + 1
}

/**
 * The naive edge: per viewer per frame, filterView + diffTrees + encode + deliver. With `measured`
 * fewer than `viewers`, the per-frame figures are the measured ones times viewers / measured.
 */
function runNaive (label: string, size: typeof SMALL, viewers: number, measured: number, frames: number): Result {
  const doc = new BenchDoc(makeDoc(size.players, size.cards, size.messages))
  const docBytes = JSON.stringify(doc.tree).length
  const policy = policyOfTree(doc.tree)
  const viewer: Viewer = { roles: [] }
  const members = Array.from({ length: measured }, () => ({ ...newSession(), view: filterView(policy, viewer, {}, doc.tree) }))
  const scale = viewers / measured
  const warmup = Math.min(WARMUP, Math.max(2, Math.floor(frames / 5)))
  const replica: number[] = []
  const edge: number[] = []
  const total: number[] = []
  for (let f = 0; f < warmup + frames; f++) {
    const change = nextChange(doc.tree, 'score', f + 1)
    const t0 = performance.now()
    doc.apply([change])
    const t1 = performance.now()
    for (const m of members) {
      const next = filterView(policy, viewer, {}, doc.tree)
      const bytes = encodeMessage(frameMessage(doc.seq, diffTrees(m.view, next)))
      m.view = next
      m.session.deliver(doc.seq, bytes)
    }
    const t2 = performance.now()
    if (f >= warmup) {
      replica.push((t1 - t0) * 1000)
      edge.push((t2 - t1) * 1000 * scale)
      total.push(((t1 - t0) + (t2 - t1) * scale) * 1000)
    }
  }
  return {
    label,
    docBytes,
    viewers,
    classes: viewers,
    change: 'score',
    replica: sorted(replica),
    edge: sorted(edge),
    total: sorted(total),
    messageBytes: members[0].stream.last!.byteLength,
    ...(measured < viewers ? { extrapolated: `${measured} viewers measured over ${frames} frames, x${scale}` } : {})
  }
}

// --- output ------------------------------------------------------------------------------------

function fmt (n: number, digits = 0): string {
  return n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
}

function us (v: number): string {
  if (v >= 10_000) return `${fmt(v / 1000, 1)} ms`
  if (v >= 100) return `${fmt(v)} µs`
  return `${fmt(v, 1)} µs`
}

function size (bytes: number): string {
  return bytes >= 100_000 ? `${fmt(bytes / 1_048_576, 2)} MiB` : `${fmt(bytes / 1024, 1)} KiB`
}

async function machine (): Promise<string[]> {
  return await machineBase({ loadRemark: '1/5/15 min averages at start' })
}

function row (r: Result): string {
  const edge50 = percentile(r.edge, 50)
  return `| ${r.label} | ${size(r.docBytes)} | ${r.change === 'score' ? 'score +1' : 'chat +1 -1'} | ${fmt(r.viewers)} | ${fmt(r.classes)} | ` +
    `${us(percentile(r.replica, 50))} | ${us(edge50)} | ${us(percentile(r.edge, 99))} | ${us(percentile(r.total, 50))} | ${us(percentile(r.total, 99))} | ` +
    `${fmt(1000 * edge50 / r.viewers)} ns | ${fmt(r.messageBytes)} B |`
}

async function main (): Promise<void> {
  const started = performance.now()
  console.log('bench:privacy — per-frame cost at the edge (in process; see the header of bench/privacy.ts)')
  for (const line of await machine()) console.log(line)
  console.log(`frames   ${FRAMES} measured per scenario after ${WARMUP} warm-up frames; one change per frame`)
  console.log()

  const large = LARGE
  const small = SMALL
  const scenarios: Scenario[] = [
    { label: 'A viewers', size: large, viewers: 1, classes: 1, change: 'score' },
    { label: 'A viewers', size: large, viewers: 1_000, classes: 1, change: 'score' },
    { label: 'A viewers', size: large, viewers: 100_000, classes: 1, change: 'score' },
    { label: 'B classes', size: large, viewers: 1_000, classes: 1, change: 'score' },
    { label: 'B classes', size: large, viewers: 1_000, classes: 100, change: 'score' },
    { label: 'C doc size', size: small, viewers: 1_000, classes: 1, change: 'score' },
    { label: 'C doc size', size: large, viewers: 1_000, classes: 1, change: 'score' },
    { label: 'C doc size', size: small, viewers: 1_000, classes: 1, change: 'chat' },
    { label: 'C doc size', size: large, viewers: 1_000, classes: 1, change: 'chat' }
  ]
  const results: Result[] = []
  for (const s of scenarios) {
    const r = runClasses(s)
    results.push(r)
    console.error(`  done: ${s.label} ${size(r.docBytes)} ${s.change} ${s.viewers} viewers ${s.classes} classes (${fmt((performance.now() - started) / 1000, 1)} s)`)
  }
  const naiveSmall = runNaive('naive', small, 1_000, 1_000, 100)
  const naiveLarge = runNaive('naive', large, 1_000, 10, 10)
  results.push(naiveSmall, naiveLarge)

  console.log('| scenario | document | change | viewers | classes | replica p50 | edge p50 | edge p99 | frame p50 | frame p99 | edge / viewer | message |')
  console.log('|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|')
  for (const r of results) console.log(row(r))
  console.log()
  console.log('replica = composeDeltas + checkDelta + mergeInto (once per frame); edge = DocChannel: ClassView.update + encodeMessage per class,')
  console.log('ObserverSession.deliver of the shared bytes per viewer; frame = both. naive = per viewer filterView + diffTrees + encodeMessage + deliver.')
  if (naiveLarge.extrapolated !== undefined) console.log(`naive on the large document: ${naiveLarge.extrapolated}.`)

  const byKey = (label: string, docBytes: number, viewers: number, classes: number, change: Change): Result =>
    results.find(r => r.label === label && r.viewers === viewers && r.classes === classes && r.change === change && (docBytes === 0 || r.docBytes === docBytes))!
  const edge = (r: Result): number => percentile(r.edge, 50)
  const largeBytes = results[0].docBytes
  const smallBytes = byKey('C doc size', 0, 1_000, 1, 'score').docBytes
  const v1 = byKey('A viewers', largeBytes, 1, 1, 'score')
  const v100k = byKey('A viewers', largeBytes, 100_000, 1, 'score')
  const c1 = byKey('B classes', largeBytes, 1_000, 1, 'score')
  const c100 = byKey('B classes', largeBytes, 1_000, 100, 'score')
  const cls1kSmall = byKey('C doc size', smallBytes, 1_000, 1, 'score')
  const cls1kLarge = byKey('C doc size', largeBytes, 1_000, 1, 'score')
  console.log()
  console.log(`marginal cost per extra viewer (1 -> 100,000 viewers, one class): ${fmt(1000 * (edge(v100k) - edge(v1)) / (100_000 - 1))} ns`)
  console.log(`marginal cost per extra class (1 -> 100 classes, 1,000 viewers): ${us((edge(c100) - edge(c1)) / 99)}`)
  console.log(`document ${size(smallBytes)} -> ${size(largeBytes)} (x${fmt(largeBytes / smallBytes)}), score change, 1,000 viewers: edge p50 ${us(edge(cls1kSmall))} -> ${us(edge(cls1kLarge))}`)
  console.log(`naive / classes, 1,000 viewers, score change: ${fmt(edge(naiveSmall) / edge(cls1kSmall))}x on ${size(smallBytes)}, ${fmt(edge(naiveLarge) / edge(cls1kLarge))}x on ${size(largeBytes)}`)
  console.log(`total ${fmt((performance.now() - started) / 1000, 1)} s`)
  const round = (n: number, digits = 1): number => Math.round(n * 10 ** digits) / 10 ** digits
  console.log('RESULT ' + JSON.stringify({
    viewer_marginal_ns: round(1000 * (edge(v100k) - edge(v1)) / (100_000 - 1)),
    class_marginal_us: round((edge(c100) - edge(c1)) / 99, 2),
    edge_p50_us_1k_viewers_small_doc: round(edge(cls1kSmall), 1),
    edge_p50_us_1k_viewers_large_doc: round(edge(cls1kLarge), 1),
    edge_p50_us_100k_viewers: round(edge(v100k), 1),
    naive_ratio_small_doc: round(edge(naiveSmall) / edge(cls1kSmall)),
    naive_ratio_large_doc: round(edge(naiveLarge) / edge(cls1kLarge))
  }))
}

await main()
