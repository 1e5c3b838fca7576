/**
 * Acknowledgements down the signed log: what the authority writes under the top-level field
 * "@input" in the frame that applies contributions, and how a super-peer reads a frame's change
 * to settle its outbox and acknowledge its writers.
 *
 *   {"@input": {"<channel>": {"counted": {"<origin>": [[first, last], ...]},
 *                              "fenced": ["<origin>", ...],
 *                              "resent": ["<writer> <id>", ...],
 *                              "resentIds": {"<writer>": [[first, last], ...]},
 *                              "unknown": ["<writer> <id>", ...],
 *                              "unknownIds": {"<writer>": [[first, last], ...]},
 *                              "kind": <code>, "state": "<base64url>"}}}
 *
 * `counted` holds, for each origin that counted a window in this frame, all its counted windows
 * as ranges (an array is a leaf of the delta format, so it is replaced whole); `fenced` is every
 * fenced origin of the channel, present when it changed; `resent` the resent messages counted or
 * recognised in this frame. Read the frame's change, not the tree: the tree keeps the last
 * `resent` list until the next one replaces it. `unknown` lists the resent messages answered
 * `unknown` in this frame (an unconfirmed prior whose window counted), `unknownIds` all of those
 * of each writer it names. `resentIds` (every settled resent id of each
 * writer named in this frame) and `kind` with `state` (the total's bytes, when it changed) make
 * the tree's record the ledger's durable copy: restoreLedger (ledger.ts) reads it back.
 */
import type { Json, JsonObject } from '../json.ts'
import { isJsonObject } from '../json.ts'
import { INPUT_STATE_FIELD } from './channels.ts'
import type { ChannelLedger, LedgerOutcome } from './ledger.ts'
import { stateText } from './ledger.ts'
import { resentKey } from './partial.ts'

/** The change to write for one channel after `ledger.apply` gave `outcome`; null when nothing to say. */
export function acksChange (ledger: ChannelLedger<unknown>, outcome: LedgerOutcome): JsonObject | null {
  const record: JsonObject = {}
  if (outcome.counted.length > 0) {
    const ranges = ledger.countedRanges()
    const counted: JsonObject = {}
    for (const origin of new Set(outcome.counted.map(c => c.origin))) counted[origin] = ranges[origin]
    record.counted = counted
  }
  if (outcome.newlyFenced.length > 0) record.fenced = ledger.fencedOrigins()
  const settled = [...outcome.resentCounted, ...outcome.resentDuplicates]
  if (settled.length > 0) {
    record.resent = settled.map(r => resentKey(r.writer, r.id))
    record.resentIds = ledger.resentRanges(new Set(settled.map(r => r.writer)))
  }
  if (outcome.resentUnknown.length > 0) {
    record.unknown = outcome.resentUnknown.map(r => resentKey(r.writer, r.id))
    record.unknownIds = ledger.unknownRanges(new Set(outcome.resentUnknown.map(r => r.writer)))
  }
  if (outcome.changed) {
    record.kind = ledger.reducer.code
    record.state = stateText(ledger)
  }
  return Object.keys(record).length === 0 ? null : { [INPUT_STATE_FIELD]: { [ledger.channel]: record } }
}

/** What one frame's change acknowledges for one channel. */
export interface FrameAcks {
  /** Counted windows by origin, as [first, last] ranges. */
  readonly counted: ReadonlyMap<string, ReadonlyArray<readonly [number, number]>>
  /** Every fenced origin, when the frame changed the list; null otherwise. */
  readonly fenced: readonly string[] | null
  /** resentKey(writer, id) of resent messages settled in this frame. */
  readonly resent: ReadonlySet<string>
  /** resentKey(writer, id) of resent messages answered `unknown` in this frame. */
  readonly unknown: ReadonlySet<string>
}

function isRange (value: Json): value is [number, number] {
  return Array.isArray(value) && value.length === 2 && value.every(v => typeof v === 'number' && Number.isSafeInteger(v))
}

/** Reads a frame's change (a delta); null when it says nothing about the channel. Malformed parts read as absent. */
export function readAcks (change: JsonObject, channel: string): FrameAcks | null {
  const all = change[INPUT_STATE_FIELD]
  if (!isJsonObject(all) || !Object.hasOwn(all, channel)) return null
  const record = all[channel]
  if (!isJsonObject(record)) return null
  const counted = new Map<string, Array<[number, number]>>()
  if (isJsonObject(record.counted)) {
    for (const [origin, ranges] of Object.entries(record.counted)) {
      if (Array.isArray(ranges) && ranges.every(isRange)) counted.set(origin, ranges as Array<[number, number]>)
    }
  }
  const fenced = Array.isArray(record.fenced) && record.fenced.every(o => typeof o === 'string') ? record.fenced as string[] : null
  const keys = (list: Json | undefined): Set<string> => new Set(Array.isArray(list) ? list.filter((k): k is string => typeof k === 'string') : [])
  return { counted, fenced, resent: keys(record.resent), unknown: keys(record.unknown) }
}

/** True when the frame's acks say window `window` of `origin` has counted. */
export function windowAcked (acks: FrameAcks, origin: string, window: number): boolean {
  const ranges = acks.counted.get(origin)
  return ranges !== undefined && ranges.some(([first, last]) => first <= window && window <= last)
}

/** The channel's record under "@input" in a document tree (cumulative: what every frame so far said). */
function recordInTree (tree: JsonObject, channel: string): JsonObject | undefined {
  const all = tree[INPUT_STATE_FIELD]
  if (!isJsonObject(all)) return undefined
  const record = all[channel]
  return isJsonObject(record) ? record : undefined
}

/**
 * True when the tree says window `window` of `origin` has counted: a super-peer that joined late,
 * or missed frames, still answers a resend or settles its outbox from it.
 */
export function countedInTree (tree: JsonObject, channel: string, origin: string, window: number): boolean {
  const counted = recordInTree(tree, channel)?.counted
  if (!isJsonObject(counted)) return false
  const ranges = counted[origin]
  return Array.isArray(ranges) && ranges.some(r => isRange(r) && r[0] <= window && window <= r[1])
}

/** True when the tree says resent message (writer, id) is settled (`settled`) or answered unknown: after missed frames. */
export function resentInTree (tree: JsonObject, channel: string, writer: string, id: number, which: 'resentIds' | 'unknownIds'): boolean {
  const all = recordInTree(tree, channel)?.[which]
  if (!isJsonObject(all)) return false
  const ranges = all[writer]
  return Array.isArray(ranges) && ranges.some(r => isRange(r) && r[0] <= id && id <= r[1])
}

/** True when the tree lists `origin` as fenced on `channel`: its uncounted windows never count. */
export function fencedInTree (tree: JsonObject, channel: string, origin: string): boolean {
  const fenced = recordInTree(tree, channel)?.fenced
  return Array.isArray(fenced) && fenced.includes(origin)
}
