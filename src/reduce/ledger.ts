/**
 * The authority's ledger of one channel: what it has counted, so every contribution counts once.
 *
 * - A window entry (origin, window) counts the first time it arrives and never again.
 * - A resent entry (writer, id) with prior (A, w) is a duplicate when (A, w) has counted (the
 *   message can only be in the window it was first stamped with) or (writer, id) counted through
 *   another resend. Otherwise it counts, and fences origin A: from then on no window of A that
 *   is not yet counted will ever count. So a message counts through exactly one path.
 * - A resend whose prior is `unconfirmed` (the browser never heard A accept it) may be in
 *   (A, w) or in none: if (A, w) has counted, which is not known, so it is answered `unknown`
 *   (never counted, never acknowledged, and the same answer for good); otherwise it counts and
 *   fences A as above, which is exact either way.
 * - A fenced super-peer learns it from the log, starts a new boot (a new origin) and its
 *   writers resend what was not acknowledged, with the old (origin, window) as prior.
 * Each apply says what it counted, which the authority writes down the log as acknowledgements.
 * Those writes are also the ledger's durable record (src/reduce/acks.ts): `restoreLedger`
 * rebuilds a ledger equal to the one that wrote them, so a restarted authority counts nothing twice.
 */
import { base64url } from 'multiformats/bases/base64'
import type { Json } from '../json.ts'
import { isJsonObject } from '../json.ts'
import { ByteReader, ByteWriter, PartialProblem } from './bytes.ts'
import type { Reducer } from './kind.ts'
import type { Partial, ResentEntry, WindowEntry } from './partial.ts'
import { WindowSet } from './window-set.ts'

export type EntryRefusal = 'fenced' | 'invalid-state' | 'invalid-body'

export interface LedgerOutcome {
  /** Window entries counted now. */
  readonly counted: ReadonlyArray<{ origin: string, window: number }>
  /** Resent messages counted now, and resent messages that had already counted (both acknowledged). */
  readonly resentCounted: ReadonlyArray<{ writer: string, id: number }>
  readonly resentDuplicates: ReadonlyArray<{ writer: string, id: number }>
  /** Resent messages with an unconfirmed prior whose window counted: in it or not, unknown. */
  readonly resentUnknown: ReadonlyArray<{ writer: string, id: number }>
  /** Window entries seen before: nothing to do. */
  readonly duplicates: number
  readonly refused: ReadonlyArray<{ key: string, reason: EntryRefusal, detail: string }>
  readonly newlyFenced: readonly string[]
  /** True when the total changed (the authority then writes the result). */
  readonly changed: boolean
}

export type ApplyResult = { ok: true, outcome: LedgerOutcome } | { ok: false, code: 'wrong-channel' | 'wrong-kind', error: string }

/** What a ledger needs of a channel: its name, its reducer, and its message check. */
export interface LedgerChannel<S> {
  readonly name: string
  readonly reducer: Reducer<S>
  /** Null when the body is a valid message of the channel, else why not. */
  readonly check: (body: Json) => string | null
}

export class ChannelLedger<S> {
  private state: S
  private readonly counted = new Map<string, WindowSet>()
  private readonly fenced = new Set<string>()
  /** Resent messages counted or recognised, as id ranges per writer. */
  private readonly resentIds = new Map<string, WindowSet>()
  /** Resent messages answered `unknown`, per writer: a later resend of one gets the same answer. */
  private readonly unknownIds = new Map<string, WindowSet>()

  readonly channel: string
  readonly reducer: Reducer<S>

  private readonly declared: LedgerChannel<S>

  constructor (declared: LedgerChannel<S>) {
    this.declared = declared
    this.channel = declared.name
    this.reducer = declared.reducer
    this.state = this.reducer.empty()
  }

  get total (): S { return this.state }
  result (): Json { return this.reducer.result(this.state) }
  isFenced (origin: string): boolean { return this.fenced.has(origin) }
  fencedOrigins (): string[] { return [...this.fenced].sort() }
  hasCounted (origin: string, window: number): boolean { return this.counted.get(origin)?.has(window) === true }
  /** Counted windows per origin as [first, last] ranges: what super-peers acknowledge from. */
  countedRanges (): Record<string, Array<[number, number]>> {
    const out: Record<string, Array<[number, number]>> = {}
    for (const origin of [...this.counted.keys()].sort()) out[origin] = (this.counted.get(origin) as WindowSet).toJSON()
    return out
  }

  /** Resent message ids counted or recognised, as [first, last] ranges, for `writers` (all when omitted). */
  resentRanges (writers?: Iterable<string>): Record<string, Array<[number, number]>> {
    return rangesOf(this.resentIds, writers)
  }

  /** Resent message ids answered `unknown`, as ranges, for `writers` (all when omitted). */
  unknownRanges (writers?: Iterable<string>): Record<string, Array<[number, number]>> {
    return rangesOf(this.unknownIds, writers)
  }

  /** The total's canonical bytes (the kind's state encoding, docs/protocol.md). */
  stateBytes (): Uint8Array {
    const out = new ByteWriter()
    this.reducer.encode(this.state, out)
    return out.finish()
  }

  private hasResent (writer: string, id: number): boolean { return this.resentIds.get(writer)?.has(id) === true }
  private markResent (writer: string, id: number): void { addTo(this.resentIds, writer, id) }

  /** Counts what the partial holds that was not counted before; changes this ledger. */
  apply (partial: Partial): ApplyResult {
    if (partial.channel !== this.channel) return { ok: false, code: 'wrong-channel', error: `partial for channel "${partial.channel}", ledger of "${this.channel}"` }
    if (partial.kind !== this.reducer.code) return { ok: false, code: 'wrong-kind', error: `partial of kind ${partial.kind}, channel "${this.channel}" is ${this.reducer.kind} (${this.reducer.code})` }
    const counted: Array<{ origin: string, window: number }> = []
    const resentCounted: Array<{ writer: string, id: number }> = []
    const resentDuplicates: Array<{ writer: string, id: number }> = []
    const resentUnknown: Array<{ writer: string, id: number }> = []
    const refused: Array<{ key: string, reason: EntryRefusal, detail: string }> = []
    const newlyFenced: string[] = []
    let duplicates = 0
    let changed = false
    // Window entries first: a window and a resend of one of its messages in one partial then
    // count the window, and the resend is recognised, without fencing anything needlessly.
    for (const [key, entry] of partial.windows) {
      if (this.hasCounted(entry.origin, entry.window)) {
        duplicates++
        continue
      }
      if (this.fenced.has(entry.origin)) {
        refused.push({ key, reason: 'fenced', detail: `origin ${entry.origin} is fenced` })
        continue
      }
      const state = this.decodeState(entry)
      if (typeof state === 'string') {
        refused.push({ key, reason: 'invalid-state', detail: state })
        continue
      }
      this.state = this.reducer.merge(this.state, state)
      this.markCounted(entry.origin, entry.window)
      counted.push({ origin: entry.origin, window: entry.window })
      changed = true
    }
    for (const [key, entry] of partial.resent) {
      const ref = { writer: entry.writer, id: entry.id }
      if (this.unknownIds.get(entry.writer)?.has(entry.id) === true) {
        resentUnknown.push(ref)
        continue
      }
      const priorCounted = entry.prior !== null && this.hasCounted(entry.prior.origin, entry.prior.window)
      if (!this.hasResent(entry.writer, entry.id) && priorCounted && entry.prior?.unconfirmed === true) {
        // In that window or in none: counting could count it twice, acknowledging could lose it.
        addTo(this.unknownIds, entry.writer, entry.id)
        resentUnknown.push(ref)
        continue
      }
      if (this.hasResent(entry.writer, entry.id) || priorCounted) {
        this.markResent(entry.writer, entry.id)
        resentDuplicates.push(ref)
        continue
      }
      const state = this.stateOfResent(entry)
      if (typeof state === 'string') {
        refused.push({ key, reason: 'invalid-body', detail: state })
        continue
      }
      // The prior window has not counted: it must never count now, so its origin is fenced.
      if (entry.prior !== null && !this.fenced.has(entry.prior.origin)) {
        this.fenced.add(entry.prior.origin)
        newlyFenced.push(entry.prior.origin)
      }
      this.state = this.reducer.merge(this.state, state)
      this.markResent(entry.writer, entry.id)
      resentCounted.push(ref)
      changed = true
    }
    return { ok: true, outcome: { counted, resentCounted, resentDuplicates, resentUnknown, duplicates, refused, newlyFenced, changed } }
  }

  /** Restores what `restoreLedger` read; only on a fresh ledger. */
  private restore (record: RestoredRecord<S>): void {
    this.state = record.state
    for (const [origin, set] of record.counted) this.counted.set(origin, set)
    for (const origin of record.fenced) this.fenced.add(origin)
    for (const [writer, set] of record.resentIds) this.resentIds.set(writer, set)
    for (const [writer, set] of record.unknownIds) this.unknownIds.set(writer, set)
  }

  /** restoreLedger's access to restore(). */
  static restored<S> (declared: LedgerChannel<S>, record: RestoredRecord<S>): ChannelLedger<S> {
    const ledger = new ChannelLedger(declared)
    ledger.restore(record)
    return ledger
  }

  private markCounted (origin: string, window: number): void {
    let set = this.counted.get(origin)
    if (set === undefined) {
      set = new WindowSet()
      this.counted.set(origin, set)
    }
    set.add(window)
  }

  private decodeState (entry: WindowEntry): S | string {
    try {
      const input = new ByteReader(entry.state)
      const state = this.reducer.decode(input)
      input.done()
      return state
    } catch (err) {
      if (err instanceof PartialProblem) return `window ${entry.window} of ${entry.origin}: ${err.message}`
      throw err
    }
  }

  /** Super-peers check bodies before they accept a resend; the ledger checks again, as a rogue peer would not. */
  private stateOfResent (entry: ResentEntry): S | string {
    let body: Json
    try {
      body = JSON.parse(entry.body) as Json
    } catch {
      return `resent ${entry.writer}/${entry.id}: body is not JSON`
    }
    const problem = this.declared.check(body)
    if (problem !== null) return `resent ${entry.writer}/${entry.id}: ${problem}`
    const state = this.reducer.empty()
    this.reducer.add(state, body, { window: entry.window, writer: entry.writer, id: entry.id })
    return state
  }
}

interface RestoredRecord<S> {
  readonly state: S
  readonly counted: Map<string, WindowSet>
  readonly fenced: readonly string[]
  readonly resentIds: Map<string, WindowSet>
  readonly unknownIds: Map<string, WindowSet>
}

function addTo (sets: Map<string, WindowSet>, key: string, n: number): void {
  let set = sets.get(key)
  if (set === undefined) sets.set(key, set = new WindowSet())
  set.add(n)
}

function rangesOf (sets: ReadonlyMap<string, WindowSet>, keys?: Iterable<string>): Record<string, Array<[number, number]>> {
  const out: Record<string, Array<[number, number]>> = {}
  for (const key of [...(keys ?? sets.keys())].sort()) {
    const set = sets.get(key)
    if (set !== undefined) out[key] = set.toJSON()
  }
  return out
}

export type RestoreResult<S> = { ok: true, ledger: ChannelLedger<S>, restored: boolean } | { ok: false, error: string }

/**
 * The ledger a channel's "@input" record describes (the tree value the authority's acknowledgement
 * writes built up, docs/protocol.md "Exactly once"): equal to the ledger that wrote it. No record,
 * or a record of another kind (the channel was declared again), gives a fresh ledger
 * (`restored` false); a record that does not read exactly is an error, never a partial restore.
 */
export function restoreLedger<S> (declared: LedgerChannel<S>, record: Json | undefined): RestoreResult<S> {
  if (record === undefined || record === null) return { ok: true, ledger: new ChannelLedger(declared), restored: false }
  const where = `"@input".${declared.name}`
  if (!isJsonObject(record)) return { ok: false, error: `${where} is not an object` }
  if (record.kind !== undefined && record.kind !== declared.reducer.code) return { ok: true, ledger: new ChannelLedger(declared), restored: false }
  const counted = setsOf(record.counted, `${where}.counted`)
  if (typeof counted === 'string') return { ok: false, error: counted }
  const resentIds = setsOf(record.resentIds, `${where}.resentIds`)
  if (typeof resentIds === 'string') return { ok: false, error: resentIds }
  const unknownIds = setsOf(record.unknownIds, `${where}.unknownIds`)
  if (typeof unknownIds === 'string') return { ok: false, error: unknownIds }
  const fenced = record.fenced ?? []
  if (!Array.isArray(fenced) || !fenced.every(o => typeof o === 'string')) return { ok: false, error: `${where}.fenced must be an array of origins` }
  let state: S
  if (record.state === undefined) {
    if (counted.size > 0 || resentIds.size > 0) return { ok: false, error: `${where} records counted contributions but no state` }
    state = declared.reducer.empty()
  } else {
    if (typeof record.state !== 'string' || !/^[A-Za-z0-9_-]*$/.test(record.state)) return { ok: false, error: `${where}.state must be base64url` }
    try {
      const input = new ByteReader(base64url.baseDecode(record.state))
      state = declared.reducer.decode(input)
      input.done()
    } catch (err) {
      return { ok: false, error: `${where}.state: ${(err as Error).message}` }
    }
  }
  return { ok: true, ledger: ChannelLedger.restored(declared, { state, counted, fenced: fenced as string[], resentIds, unknownIds }), restored: true }
}

function setsOf (json: Json | undefined, where: string): Map<string, WindowSet> | string {
  const out = new Map<string, WindowSet>()
  if (json === undefined) return out
  if (!isJsonObject(json)) return `${where} must be an object`
  for (const [key, ranges] of Object.entries(json)) {
    const set = WindowSet.fromJSON(ranges)
    if (typeof set === 'string') return `${where}.${key}: ${set}`
    out.set(key, set)
  }
  return out
}

/** The record's `state` text: base64url (RFC 4648 section 5, no padding) of the total's bytes. */
export const stateText = (ledger: ChannelLedger<unknown>): string => base64url.baseEncode(ledger.stateBytes())
