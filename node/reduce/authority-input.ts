// The authority's end of input (docs/architecture.md, "Input's journey up", 6-7): partials from
// its children are checked (origin signatures, fleet membership), counted once by each channel's
// ledger, and written as ordinary changes: the merged result to the channel's field and the
// acknowledgements under "@input", in one change per round, so viewers see results through the
// privacy-filtered path and super-peers acknowledge their writers from the signed log. Those
// "@input" writes are also each ledger's durable record: after a restart a channel's ledger is
// rebuilt from the tree the log holds (restoreLedger), so nothing already counted counts again.

import { EventEmitter } from 'node:events'
import { diffTrees } from '../../src/delta/index.ts'
import { acksChange, channelsOfTree, INPUT_STATE_FIELD, restoreLedger } from '../../src/reduce/index.ts'
import type { ChannelLedger } from '../../src/reduce/index.ts'
import type { Channel, LedgerOutcome, Partial } from '../../src/reduce/index.ts'
import { isJsonObject } from '../../src/json.ts'
import { verifyPartial } from './signing.ts'
import type { Json, JsonObject } from '../../src/json.ts'
import type { Authority } from '../authority/authority.ts'
import type { Logger } from '../log.ts'
import type { Counters } from '../metrics.ts'

export interface MergedEvent {
  readonly channel: string
  /** The channel's merged value, as written to its field. */
  readonly value: Json
  /** The frame that carries it. */
  readonly seq: number
}

export interface AuthorityInputEvents {
  /** A channel's merged value changed and is durable in frame `seq`: the application's hook. */
  merged: [MergedEvent]
}

interface Round { outcomes: LedgerOutcome[] }

/** Merges children's partials into the document. Attach with serveReduce (node/reduce/reduce-server.ts). */
export class AuthorityInput extends EventEmitter<AuthorityInputEvents> {
  private readonly authority: Authority
  private readonly counters: Counters
  private readonly log: Logger
  private readonly isMember: (peer: string) => boolean
  private readonly ledgers = new Map<string, { channel: Channel, ledger: ChannelLedger<unknown> }>()
  private pending = new Map<string, Round>()
  private writing: Promise<void> | undefined
  private readonly unrestorable = new Set<string>()

  constructor (authority: Authority, options: { counters: Counters, log: Logger, isMember?: (peer: string) => boolean }) {
    super()
    this.authority = authority
    this.counters = options.counters
    this.log = options.log
    this.isMember = options.isMember ?? (() => true)
  }

  /** The ledger's current merged value of a channel (null before anything counted). */
  value (channel: string): Json | null {
    return this.ledgers.get(channel)?.ledger.result() ?? null
  }

  /** One child's partial. Resolves once it is counted in memory (its change is written after). */
  async receive (partial: Partial): Promise<void> {
    const declared = channelsOfTree(this.authority.tree).channels.get(partial.channel)
    if (declared === undefined) {
      this.counters.inc('partials_rejected_unknown_channel')
      return
    }
    const verified = await verifyPartial(partial, this.isMember)
    for (const { reason } of verified.rejected) this.counters.inc(`partial_entries_rejected_${reason.replaceAll('-', '_')}`)
    if (verified.rejected.length > 0) this.log.warn({ channel: partial.channel, rejected: verified.rejected.length }, 'partial entries with bad origin signatures refused')
    if (verified.partial === null) return
    const ledger = this.ledgerOf(declared)
    if (ledger === undefined) {
      this.counters.inc('partials_rejected_unrestorable_ledger')
      return
    }
    const applied = ledger.apply(verified.partial)
    if (!applied.ok) {
      this.counters.inc(`partials_rejected_${applied.code.replaceAll('-', '_')}`)
      this.log.warn({ channel: partial.channel, error: applied.error }, 'partial refused')
      return
    }
    const outcome = applied.outcome
    this.counters.inc('partial_windows_counted', outcome.counted.length)
    this.counters.inc('partial_resent_counted', outcome.resentCounted.length)
    this.counters.inc('partial_duplicates', outcome.duplicates + outcome.resentDuplicates.length)
    this.counters.inc('partial_resent_unknown', outcome.resentUnknown.length)
    for (const refused of outcome.refused) this.counters.inc(`partial_entries_rejected_${refused.reason.replaceAll('-', '_')}`)
    if (outcome.counted.length === 0 && outcome.resentCounted.length === 0 && outcome.resentDuplicates.length === 0 && outcome.resentUnknown.length === 0 && outcome.newlyFenced.length === 0) return
    let round = this.pending.get(partial.channel)
    if (round === undefined) this.pending.set(partial.channel, round = { outcomes: [] })
    round.outcomes.push(outcome)
    this.writing ??= this.writeRounds()
  }

  /** Settles once everything counted so far is written and durable. */
  async flush (): Promise<void> {
    while (this.writing !== undefined) await this.writing
  }

  /**
   * The channel's ledger: held, or rebuilt from the tree's "@input" record (after a restart).
   * Undefined when that record does not read back exactly: counting then could count twice, so
   * the channel's partials are refused (and counted) until the record is repaired.
   */
  private ledgerOf (channel: Channel): ChannelLedger<unknown> | undefined {
    const held = this.ledgers.get(channel.name)
    if (held !== undefined && (held.channel === channel || held.channel.reducer.code === channel.reducer.code)) return held.ledger
    // A new declaration of another kind starts a new total (the old kind's partials are refused).
    const all = this.authority.tree[INPUT_STATE_FIELD]
    const restored = held !== undefined
      ? restoreLedger(channel, undefined)
      : restoreLedger(channel, isJsonObject(all) ? all[channel.name] : undefined)
    if (!restored.ok) {
      if (!this.unrestorable.has(channel.name)) this.log.error({ channel: channel.name, error: restored.error }, 'the channel\'s ledger record does not read back: its partials are refused')
      this.unrestorable.add(channel.name)
      return undefined
    }
    if (restored.restored) this.counters.inc('input_ledgers_restored')
    this.ledgers.set(channel.name, { channel, ledger: restored.ledger })
    return restored.ledger
  }

  /**
   * One change per round, awaited before the next: so a frame never holds two "@input" changes
   * of a channel (a frame's changes compose, and `resent` lists would replace each other).
   */
  private async writeRounds (): Promise<void> {
    try {
      while (this.pending.size > 0) {
        const rounds = this.pending
        this.pending = new Map()
        const change: JsonObject = {}
        const merged: Array<{ channel: string, value: Json }> = []
        for (const [name, round] of rounds) {
          const held = this.ledgers.get(name)
          if (held === undefined) continue
          const outcome = combine(round.outcomes)
          if (outcome.changed) {
            const value = held.ledger.result()
            const delta = fieldChange(this.authority.tree, held.channel.field, value)
            if (delta !== null) mergeChange(change, delta)
            merged.push({ channel: name, value })
          }
          const acks = acksChange(held.ledger, outcome)
          if (acks !== null) mergeChange(change, acks)
        }
        if (Object.keys(change).length === 0) continue
        try {
          const { seq } = await this.authority.change(change)
          for (const m of merged) this.emit('merged', { ...m, seq })
        } catch (err: any) {
          this.counters.inc('input_writes_failed')
          this.log.error({ err: err?.message }, 'could not write merged input')
        }
      }
    } finally {
      this.writing = undefined
    }
  }
}

function combine (outcomes: LedgerOutcome[]): LedgerOutcome {
  return {
    counted: outcomes.flatMap(o => o.counted),
    resentCounted: outcomes.flatMap(o => o.resentCounted),
    resentDuplicates: outcomes.flatMap(o => o.resentDuplicates),
    resentUnknown: outcomes.flatMap(o => o.resentUnknown),
    duplicates: outcomes.reduce((n, o) => n + o.duplicates, 0),
    refused: outcomes.flatMap(o => o.refused),
    newlyFenced: outcomes.flatMap(o => o.newlyFenced),
    changed: outcomes.some(o => o.changed)
  }
}

/** The delta that sets `path` to `value` (a diff against what is there, so stale keys go). */
function fieldChange (tree: JsonObject, path: readonly string[], value: Json): JsonObject | null {
  let node: Json | undefined = tree
  for (const segment of path) node = isJsonObject(node) ? node[segment] : undefined
  const key = path[path.length - 1]
  const diff = diffTrees(node === undefined ? {} : { [key]: node }, { [key]: value })
  if (diff === null) return null
  let out: JsonObject = diff
  for (let i = path.length - 2; i >= 0; i--) out = { [path[i]]: out }
  return out
}

/** Merges two changes that touch different fields (channels' fields never overlap, "@input" is apart). */
function mergeChange (into: JsonObject, delta: JsonObject): void {
  for (const [key, value] of Object.entries(delta)) {
    const mine = into[key]
    if (isJsonObject(mine) && isJsonObject(value) && key !== INPUT_STATE_FIELD) mergeChange(mine, value)
    else if (isJsonObject(mine) && isJsonObject(value)) Object.assign(mine, value)
    else into[key] = value
  }
}
