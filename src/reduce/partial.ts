/**
 * Partials: what a super-peer sends its parent for one channel, and what tiers merge and forward.
 *
 * A partial is a set of contributions, never a blended total: window entries keyed by
 * (origin, window) hold one origin window's reducer state as bytes, and resent entries keyed by
 * (writer, message id) hold single messages a browser resent after failover. Merge is the union
 * of the two maps, so it is associative, commutative and idempotent for every reducer kind, and
 * the authority (src/reduce/ledger.ts) can tell which contributions it has already counted.
 * Tiers never decode states; a partial's bytes are canonical (docs/protocol.md, "Partials").
 */
import { asciiBytes } from '../log/bytes.ts'
import { ByteReader, ByteWriter, compareStrings, PartialProblem } from './bytes.ts'

export const PARTIAL_VERSION = 1
/** Domain prefixes of the origin signatures, so they are never valid for anything else. */
export const WINDOW_SIGNING_PREFIX = asciiBytes('deltacast/partial/1')
export const RESENT_SIGNING_PREFIX = asciiBytes('deltacast/resent/1')
export const SIGNATURE_BYTES = 64

export const MAX_ORIGIN_BYTES = 128
export const MAX_WRITER_BYTES = 64
export const MAX_STATE_BYTES = 1 << 20
/** The largest message body any channel allows (channels.ts maxBytes), as canonical JSON. */
export const MAX_BODY_BYTES = 4096
export const MAX_ENTRIES = 100_000

export const CHANNEL_NAME = /^[a-z][a-z0-9_-]{0,31}$/
/** Origins are "<peer id>/<boot id>": printable ASCII without spaces. */
export const ORIGIN_TEXT = /^[\x21-\x7e]{1,128}$/
/** Writer ids are chosen by the browser (random, at least 128 bits), base64url-like. */
export const WRITER_TEXT = /^[A-Za-z0-9_-]{1,64}$/

/** One origin window: the reducer state of the messages one super-peer boot accepted in it. */
export interface WindowEntry {
  readonly origin: string
  readonly window: number
  /** The reducer's canonical bytes for this window. */
  readonly state: Uint8Array
  /** The origin's ed25519 signature over windowSigningBytes, or null (unsigned, tests only). */
  readonly signature: Uint8Array | null
}

/** Where a message was first sent: the only window that can already hold it. */
export interface Prior {
  readonly origin: string
  readonly window: number
  /**
   * True when the browser never heard that super-peer accept the send (no `accepted`, no
   * refusal): the message is in that window or in none, and which is not known.
   */
  readonly unconfirmed?: boolean
}

/** A message resent after failover; counted once by (writer, id), and only if `prior` was not. */
export interface ResentEntry {
  readonly writer: string
  readonly id: number
  /** The super-peer that accepted the resend, and its window then (the message's sample order). */
  readonly origin: string
  readonly window: number
  readonly prior: Prior | null
  /** Canonical JSON of the message body. */
  readonly body: string
  readonly signature: Uint8Array | null
}

export interface Partial {
  readonly channel: string
  /** KIND_CODES of the channel's reducer. */
  readonly kind: number
  readonly windows: ReadonlyMap<string, WindowEntry>
  readonly resent: ReadonlyMap<string, ResentEntry>
}

export const windowKey = (origin: string, window: number): string => `${origin} ${window}`
export const resentKey = (writer: string, id: number): string => `${writer} ${id}`

/** A partial from entries; duplicates are resolved as mergePartials resolves them. */
export function partialOf (channel: string, kind: number, windows: readonly WindowEntry[] = [], resent: readonly ResentEntry[] = []): MutablePartial {
  const out: MutablePartial = { channel, kind, windows: new Map(), resent: new Map() }
  for (const entry of windows) putWindow(out.windows, entry)
  for (const entry of resent) putResent(out.resent, entry)
  return out
}

/** Thrown when partials of different channels or kinds are merged: shells check first. */
export class MismatchedPartialsError extends Error {
  static override name = 'MismatchedPartialsError'
  override name = 'MismatchedPartialsError'
}

export interface MergeResult {
  readonly partial: Partial
  /** Keys present in both with different bytes: a bug or a rogue peer. The kept one is chosen by bytes. */
  readonly conflicts: number
}

/** A partial whose maps its owner may change (a tier's or super-peer's outgoing partial). */
export interface MutablePartial extends Partial {
  readonly windows: Map<string, WindowEntry>
  readonly resent: Map<string, ResentEntry>
}

/** The union of two partials of one channel. Inputs are left alone. */
export function mergePartials (a: Partial, b: Partial): MergeResult {
  const partial: MutablePartial = { channel: a.channel, kind: a.kind, windows: new Map(a.windows), resent: new Map(a.resent) }
  return { partial, conflicts: mergeIntoPartial(partial, b) }
}

/**
 * Adds `source` to `target` in place (the same union as mergePartials, at O(|source|)): a tier
 * merges each child's partial this way. Returns the number of conflicts.
 */
export function mergeIntoPartial (target: MutablePartial, source: Partial): number {
  if (target.channel !== source.channel || target.kind !== source.kind) {
    throw new MismatchedPartialsError(`cannot merge partials of ${target.channel}/${target.kind} and ${source.channel}/${source.kind}`)
  }
  let conflicts = 0
  for (const entry of source.windows.values()) if (putWindow(target.windows, entry)) conflicts++
  for (const entry of source.resent.values()) if (putResent(target.resent, entry)) conflicts++
  return conflicts
}

/** Adds `entry`; true when the map held different bytes under its key (the byte-smaller one stays). */
function putWindow (map: Map<string, WindowEntry>, entry: WindowEntry): boolean {
  const key = windowKey(entry.origin, entry.window)
  const mine = map.get(key)
  if (mine === undefined) {
    map.set(key, entry)
    return false
  }
  if (mine === entry) return false
  const order = compareBytes(windowEntryBytes(mine), windowEntryBytes(entry))
  if (order > 0) map.set(key, entry)
  return order !== 0
}

function putResent (map: Map<string, ResentEntry>, entry: ResentEntry): boolean {
  const key = resentKey(entry.writer, entry.id)
  const mine = map.get(key)
  if (mine === undefined) {
    map.set(key, entry)
    return false
  }
  if (mine === entry) return false
  const order = compareBytes(resentEntryBytes(mine), resentEntryBytes(entry))
  if (order > 0) map.set(key, entry)
  return order !== 0
}

/**
 * Conflicts keep the entry whose bytes sort first, a choice that does not depend on arrival.
 * A signed entry sorts before an unsigned one only by accident of its bytes, so tiers verify
 * signatures before merging (the shells' job) rather than rely on this.
 */
function compareBytes (a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i]
  return a.length - b.length
}

// ---------- bytes ----------

function writeWindowBody (out: ByteWriter, entry: WindowEntry): void {
  out.string(entry.origin)
  out.varint(entry.window)
  out.bytes(entry.state)
}

function writePrior (out: ByteWriter, prior: Prior | null): void {
  if (prior === null) {
    out.u8(0)
  } else {
    out.u8(prior.unconfirmed === true ? 2 : 1)
    out.string(prior.origin)
    out.varint(prior.window)
  }
}

function writeResentBody (out: ByteWriter, entry: ResentEntry): void {
  out.string(entry.writer)
  out.varint(entry.id)
  out.string(entry.origin)
  out.varint(entry.window)
  writePrior(out, entry.prior)
  out.string(entry.body)
}

function writeSignature (out: ByteWriter, signature: Uint8Array | null): void {
  out.bytes(signature ?? new Uint8Array(0))
}

function windowEntryBytes (entry: WindowEntry): Uint8Array {
  const out = new ByteWriter()
  writeWindowBody(out, entry)
  writeSignature(out, entry.signature)
  return out.finish()
}

function resentEntryBytes (entry: ResentEntry): Uint8Array {
  const out = new ByteWriter()
  writeResentBody(out, entry)
  writeSignature(out, entry.signature)
  return out.finish()
}

/** What an origin signs for a window entry: prefix, kind, channel, then the entry without its signature. */
export function windowSigningBytes (channel: string, kind: number, entry: WindowEntry): Uint8Array {
  const out = new ByteWriter()
  for (const byte of WINDOW_SIGNING_PREFIX) out.u8(byte)
  out.u8(kind)
  out.string(channel)
  writeWindowBody(out, entry)
  return out.finish()
}

/** What the accepting super-peer signs for a resent entry. */
export function resentSigningBytes (channel: string, kind: number, entry: ResentEntry): Uint8Array {
  const out = new ByteWriter()
  for (const byte of RESENT_SIGNING_PREFIX) out.u8(byte)
  out.u8(kind)
  out.string(channel)
  writeResentBody(out, entry)
  return out.finish()
}

const byWindowKey = (a: WindowEntry, b: WindowEntry): number => compareStrings(a.origin, b.origin) || a.window - b.window
const byResentKey = (a: ResentEntry, b: ResentEntry): number => compareStrings(a.writer, b.writer) || a.id - b.id

/** Canonical bytes: entries sorted by (origin, window) and (writer, id). Equal partials, equal bytes. */
export function encodePartial (partial: Partial): Uint8Array {
  const out = new ByteWriter()
  out.u8(PARTIAL_VERSION)
  out.u8(partial.kind)
  out.string(partial.channel)
  const windows = [...partial.windows.values()].sort(byWindowKey)
  out.varint(windows.length)
  for (const entry of windows) {
    writeWindowBody(out, entry)
    writeSignature(out, entry.signature)
  }
  const resent = [...partial.resent.values()].sort(byResentKey)
  out.varint(resent.length)
  for (const entry of resent) {
    writeResentBody(out, entry)
    writeSignature(out, entry.signature)
  }
  return out.finish()
}

export type DecodePartialResult = { ok: true, partial: Partial } | { ok: false, error: string }

/** Checks structure, limits and canonical order; states are checked by the ledger's reducer. */
export function decodePartial (bytes: Uint8Array): DecodePartialResult {
  try {
    return { ok: true, partial: decode(new ByteReader(bytes)) }
  } catch (err) {
    if (err instanceof PartialProblem) return { ok: false, error: `invalid partial: ${err.message}` }
    throw err
  }
}

function text (input: ByteReader, what: string, max: number, pattern: RegExp): string {
  const value = input.string(what, max)
  if (!pattern.test(value)) throw new PartialProblem(`${what} ${JSON.stringify(value)} does not match ${pattern.source}`)
  return value
}

function signature (input: ByteReader): Uint8Array | null {
  const raw = input.bytes('signature', SIGNATURE_BYTES)
  if (raw.length === 0) return null
  if (raw.length !== SIGNATURE_BYTES) throw new PartialProblem(`signature: ${raw.length} bytes, expected 0 or ${SIGNATURE_BYTES}`)
  return raw.slice()
}

function decode (input: ByteReader): Partial {
  const version = input.u8('version')
  if (version !== PARTIAL_VERSION) throw new PartialProblem(`version ${version}, expected ${PARTIAL_VERSION}`)
  const kind = input.u8('kind')
  const channel = text(input, 'channel', 32, CHANNEL_NAME)
  const windows = new Map<string, WindowEntry>()
  const windowCount = input.varint('window entry count')
  if (windowCount > MAX_ENTRIES) throw new PartialProblem(`${windowCount} window entries, more than ${MAX_ENTRIES}`)
  let previous: WindowEntry | null = null
  for (let i = 0; i < windowCount; i++) {
    const origin = text(input, 'origin', MAX_ORIGIN_BYTES, ORIGIN_TEXT)
    const window = input.varint('window')
    const state = input.bytes('state', MAX_STATE_BYTES).slice()
    const entry: WindowEntry = { origin, window, state, signature: signature(input) }
    if (previous !== null && byWindowKey(previous, entry) >= 0) throw new PartialProblem('window entries must be sorted by (origin, window) and distinct')
    windows.set(windowKey(origin, window), entry)
    previous = entry
  }
  const resent = new Map<string, ResentEntry>()
  const resentCount = input.varint('resent entry count')
  if (resentCount > MAX_ENTRIES) throw new PartialProblem(`${resentCount} resent entries, more than ${MAX_ENTRIES}`)
  let before: ResentEntry | null = null
  for (let i = 0; i < resentCount; i++) {
    const writer = text(input, 'writer', MAX_WRITER_BYTES, WRITER_TEXT)
    const id = input.varint('message id')
    if (id === 0) throw new PartialProblem('message ids start at 1')
    const origin = text(input, 'origin', MAX_ORIGIN_BYTES, ORIGIN_TEXT)
    const window = input.varint('window')
    const flag = input.u8('prior flag')
    if (flag > 2) throw new PartialProblem(`prior flag must be 0, 1 or 2, got ${flag}`)
    const prior: Prior | null = flag === 0 ? null : { origin: text(input, 'prior origin', MAX_ORIGIN_BYTES, ORIGIN_TEXT), window: input.varint('prior window') }
    if (prior !== null && flag === 2) (prior as { unconfirmed?: boolean }).unconfirmed = true
    const body = input.string('body', MAX_BODY_BYTES)
    const entry: ResentEntry = { writer, id, origin, window, prior, body, signature: signature(input) }
    if (before !== null && byResentKey(before, entry) >= 0) throw new PartialProblem('resent entries must be sorted by (writer, id) and distinct')
    resent.set(resentKey(writer, id), entry)
    before = entry
  }
  input.done()
  return { channel, kind, windows, resent }
}
