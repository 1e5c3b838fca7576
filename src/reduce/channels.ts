/**
 * Input channels: what a document lets its viewers send (the declaration: docs/privacy.md,
 * "Who may send"; the kinds: docs/protocol.md, "Reducer kinds").
 *
 * Channels are declared in the policy, under "@policy".input, so they travel in the signed log
 * and every super-peer admits exactly what the authority will count. compileChannels is pure
 * and separate from compilePolicy: the privacy module only lets the key through, and an invalid
 * "input" disables input (every send is refused, naming the problem) without hiding the document.
 */
import type { Json, JsonObject } from '../json.ts'
import { isJsonObject } from '../json.ts'
import { compileCondition } from '../privacy/condition.ts'
import type { Condition } from '../privacy/condition.ts'
import { evaluate, newScope } from '../privacy/evaluate.ts'
import type { Facts } from '../privacy/evaluate.ts'
import { parsePath } from '../privacy/paths.ts'
import { INPUT_STATE_FIELD, POLICY_FIELD } from '../privacy/policy.ts'
import { PolicyProblem } from '../privacy/problem.ts'
import type { Viewer, ViewState } from '../privacy/viewer.ts'
import { utf8Length } from './bytes.ts'
import { countReducer } from './count.ts'
import { DEFAULT_PRECISION, distinctReducer, MAX_PRECISION, MIN_PRECISION } from './distinct.ts'
import { maxReducer, minReducer } from './extreme.ts'
import type { KindName, Reducer } from './kind.ts'
import { CHANNEL_NAME, MAX_BODY_BYTES } from './partial.ts'
import { ChannelProblem } from './problem.ts'
import type { Rate, RateGate } from './rate.ts'
import { MAX_SAMPLE_SIZE, sampleReducer } from './sample.ts'
import { checkMessage, compileSchema } from './schema.ts'
import type { Schema, SchemaRule } from './schema.ts'
import { sumReducer } from './sum.ts'
import { MAX_TALLY_CAPACITY, tallyReducer } from './tally.ts'
import { MAX_WINDOW_MS, MIN_WINDOW_MS } from './window.ts'

/** The policy key holding channel declarations. */
export const INPUT_KEY = 'input'
/** Reserved for the authority's acknowledgements down the log; no channel may write there, no viewer sees it. */
export { INPUT_STATE_FIELD }
export const MAX_CHANNELS = 32
export const DEFAULT_MAX_BYTES = 256
export const DEFAULT_TALLY_KEYS = 32
export const DEFAULT_SAMPLE_SIZE = 10
export const MAX_RATE_MESSAGES = 1000
export const MIN_RATE_MS = 100
export const MAX_RATE_MS = 86_400_000

const KINDS: readonly KindName[] = ['count', 'sum', 'min', 'max', 'tally', 'distinct', 'sample']
const CHANNEL_KEYS = ['kind', 'message', 'send', 'rate', 'windowMs', 'field', 'maxBytes', 'keys', 'size', 'keep', 'precision']
const KIND_PARAMS: Readonly<Record<KindName, readonly string[]>> = {
  count: [], sum: [], min: [], max: [], tally: ['keys'], distinct: ['precision'], sample: ['size', 'keep']
}

export interface Channel {
  readonly name: string
  readonly kind: KindName
  readonly reducer: Reducer<unknown>
  readonly message: Schema
  /** Largest UTF-8 JSON of a message body. */
  readonly maxBytes: number
  /** Who may send, in the policy language; it reads no record field. */
  readonly send: Condition
  readonly rate: Rate
  readonly windowMs: number
  /** Where the authority writes the merged result (absolute document path). */
  readonly field: readonly string[]
  /** Null when the body is a valid message of this channel, else why not (LedgerChannel.check). */
  readonly check: (body: Json) => string | null
}

export interface Channels {
  readonly channels: ReadonlyMap<string, Channel>
  /** Why "input" is invalid (then `channels` is empty), or null. */
  readonly error: string | null
}

export const NO_CHANNELS: Channels = { channels: new Map(), error: null }

/** The channels declared by a "@policy" JSON value. Never throws. */
export function compileChannels (policy: Json): Channels {
  if (!isJsonObject(policy) || policy[INPUT_KEY] === undefined) return NO_CHANNELS
  try {
    return { channels: compile(policy), error: null }
  } catch (err) {
    if (err instanceof ChannelProblem || err instanceof PolicyProblem) return { channels: new Map(), error: `invalid input: ${err.message}` }
    throw err
  }
}

const cache = new WeakMap<JsonObject, { text: string, channels: Channels }>()

/** The channels of a document tree, cached like policyOfTree (mergeInto changes objects in place). */
export function channelsOfTree (tree: JsonObject): Channels {
  const json = Object.hasOwn(tree, POLICY_FIELD) ? tree[POLICY_FIELD] : undefined
  if (!isJsonObject(json)) return NO_CHANNELS
  const text = JSON.stringify(json)
  const hit = cache.get(json)
  if (hit !== undefined && hit.text === text) return hit.channels
  const channels = compileChannels(json)
  cache.set(json, { text, channels })
  return channels
}

function objectAt (json: Json | undefined, where: string): JsonObject {
  if (!isJsonObject(json)) throw new ChannelProblem(`${where} must be a JSON object`)
  return json
}

function integerIn (json: Json | undefined, fallback: number | undefined, min: number, max: number, where: string): number {
  const value = json ?? fallback
  if (value === undefined) throw new ChannelProblem(`${where} is required`)
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new ChannelProblem(`${where} must be an integer ${min}..${max}`)
  }
  return value
}

function compile (policy: JsonObject): Map<string, Channel> {
  const input = objectAt(policy[INPUT_KEY], INPUT_KEY)
  const names = Object.keys(input)
  if (names.length > MAX_CHANNELS) throw new ChannelProblem(`${INPUT_KEY}: more than ${MAX_CHANNELS} channels`)
  const policies = isJsonObject(policy.policies) ? policy.policies : {}
  const viewFields = new Set(isJsonObject(policy.view) ? Object.keys(policy.view) : [])
  const scope = { policies, compiled: new Map(), compiling: new Set<string>(), viewFields }
  const out = new Map<string, Channel>()
  for (const name of names) {
    const where = `${INPUT_KEY}.${name}`
    if (!CHANNEL_NAME.test(name)) throw new ChannelProblem(`${where}: a channel name is a lowercase letter then up to 31 lowercase letters, digits, "_" or "-"`)
    const decl = objectAt(input[name], where)
    for (const key of Object.keys(decl)) {
      if (!CHANNEL_KEYS.includes(key)) throw new ChannelProblem(`${where}: unknown key "${key}" (expected ${CHANNEL_KEYS.join(', ')})`)
    }
    const kind = decl.kind
    if (typeof kind !== 'string' || !(KINDS as readonly string[]).includes(kind)) throw new ChannelProblem(`${where}.kind must be one of ${KINDS.join(', ')}`)
    const kindName = kind as KindName
    for (const key of ['keys', 'size', 'keep', 'precision']) {
      if (decl[key] !== undefined && !KIND_PARAMS[kindName].includes(key)) throw new ChannelProblem(`${where}.${key} does not apply to kind "${kindName}"`)
    }
    const message = compileSchema(decl.message, `${where}.message`)
    const reducer = reducerFor(kindName, decl, message, where)
    const send = compileCondition(decl.send ?? false, `${where}.send`, scope)
    if (send.reads.field.length > 0) throw new ChannelProblem(`${where}.send: a send condition has no record, so it cannot read {"field": ...} or use viewer_is`)
    const rate = objectAt(decl.rate, `${where}.rate`)
    for (const key of Object.keys(rate)) {
      if (key !== 'messages' && key !== 'perMs') throw new ChannelProblem(`${where}.rate: unknown key "${key}" (expected messages, perMs)`)
    }
    const field = parsePath(decl.field, `${where}.field`, 'absolute')
    if (field[0] === POLICY_FIELD || field[0] === INPUT_STATE_FIELD) throw new ChannelProblem(`${where}.field: "${field[0]}" is reserved`)
    for (const other of out.values()) {
      const n = Math.min(other.field.length, field.length)
      if (other.field.slice(0, n).every((s, i) => s === field[i])) throw new ChannelProblem(`${where}.field overlaps the field of channel "${other.name}"`)
    }
    const maxBytes = integerIn(decl.maxBytes, DEFAULT_MAX_BYTES, 1, MAX_BODY_BYTES, `${where}.maxBytes`)
    out.set(name, {
      name,
      kind: kindName,
      reducer,
      message,
      maxBytes,
      send,
      rate: {
        messages: integerIn(rate.messages, undefined, 1, MAX_RATE_MESSAGES, `${where}.rate.messages`),
        perMs: integerIn(rate.perMs, undefined, MIN_RATE_MS, MAX_RATE_MS, `${where}.rate.perMs`)
      },
      windowMs: integerIn(decl.windowMs, undefined, MIN_WINDOW_MS, MAX_WINDOW_MS, `${where}.windowMs`),
      field,
      check: body => checkBody(message, maxBytes, body)?.error ?? null
    })
  }
  return out
}

function reducerFor (kind: KindName, decl: JsonObject, message: Schema, where: string): Reducer<unknown> {
  const needs = (types: readonly string[]): void => {
    if (!types.includes(message.type)) throw new ChannelProblem(`${where}.message: kind "${kind}" needs a message of type ${types.join(' or ')}`)
  }
  switch (kind) {
    case 'count': return countReducer as Reducer<unknown>
    case 'sum':
      // Floating-point sums depend on the order of addition; integer sums do not.
      needs(['integer'])
      return sumReducer as Reducer<unknown>
    case 'min':
    case 'max':
      needs(['integer', 'number'])
      return (kind === 'min' ? minReducer : maxReducer) as Reducer<unknown>
    case 'tally': {
      needs(['string', 'boolean', 'integer'])
      const keys = message.type === 'boolean' ? ['false', 'true'] : message.type === 'string' ? message.enum : null
      const capacity = integerIn(decl.keys, keys?.length ?? DEFAULT_TALLY_KEYS, 1, MAX_TALLY_CAPACITY, `${where}.keys`)
      if (keys !== null && decl.keys !== undefined && capacity !== keys.length) throw new ChannelProblem(`${where}.keys: the message declares ${keys.length} keys`)
      return tallyReducer({ capacity, keys }) as Reducer<unknown>
    }
    case 'distinct':
      needs(['string', 'integer'])
      return distinctReducer(integerIn(decl.precision, DEFAULT_PRECISION, MIN_PRECISION, MAX_PRECISION, `${where}.precision`)) as Reducer<unknown>
    case 'sample': {
      const keep = decl.keep ?? 'last'
      if (keep !== 'first' && keep !== 'last') throw new ChannelProblem(`${where}.keep must be "first" or "last"`)
      return sampleReducer({ size: integerIn(decl.size, DEFAULT_SAMPLE_SIZE, 1, MAX_SAMPLE_SIZE, `${where}.size`), keep }) as Reducer<unknown>
    }
  }
}

// ---------- admission ----------

/** Why a send was refused; the codes the writer protocol sends back (docs/protocol.md). */
export type RefusalCode = 'unknown-channel' | 'forbidden' | 'too-large' | 'invalid-message' | 'rate-limited'

export type Admission =
  | { ok: true, channel: Channel }
  | { ok: false, code: RefusalCode, error: string, rule?: SchemaRule }

function checkBody (schema: Schema, maxBytes: number, body: Json): { code: 'too-large' | 'invalid-message', error: string, rule?: SchemaRule } | null {
  // Canonical JSON only orders keys, so JSON.stringify has its length.
  const bytes = utf8Length(JSON.stringify(body))
  if (bytes > maxBytes) return { code: 'too-large', error: `message is ${bytes} bytes, more than the channel's ${maxBytes}` }
  const problem = checkMessage(schema, body)
  return problem === null ? null : { code: 'invalid-message', error: problem.message, rule: problem.rule }
}

/**
 * Who sends: the viewer as its token proved it, with its sanitized view state. Keep one object
 * per session and replace it when the view state changes: its facts are cached by identity.
 */
export interface Sender {
  readonly viewer: Viewer
  readonly viewState: ViewState
}

const factsCache = new WeakMap<Sender, Facts>()

/** Everything a send condition may read about the sender (computed once per Sender object). */
function factsOfSender (sender: Sender): Facts {
  let facts = factsCache.get(sender)
  if (facts === undefined) {
    const identified = typeof sender.viewer.principal === 'string'
    facts = { may: true, identified, principal: identified ? sender.viewer.principal : null, roles: [...sender.viewer.roles].sort(), view: sender.viewState }
    factsCache.set(sender, facts)
  }
  return facts
}

/** True when the channel's send condition holds for this sender against the current tree. */
export function maySend (channel: Channel, sender: Sender, tree: JsonObject): boolean {
  if (channel.send.kind === 'const') return channel.send.value
  return evaluate(channel.send, newScope(factsOfSender(sender), tree), undefined)
}

/**
 * The super-peer's check of one send, in order: the channel exists, the sender may send, the
 * message fits its size and schema, and the sender is within its rate (checked last, so a
 * refused message costs no token). Changes nothing but the bucket.
 */
export function admit (channels: Channels, name: string, body: Json, sender: Sender, tree: JsonObject, bucket: RateGate, now: number): Admission {
  const channel = channels.channels.get(name)
  if (channel === undefined) {
    const why = channels.error !== null ? ` (${channels.error})` : ''
    return { ok: false, code: 'unknown-channel', error: `the document declares no input channel ${JSON.stringify(name)}${why}` }
  }
  if (!maySend(channel, sender, tree)) return { ok: false, code: 'forbidden', error: `this viewer may not send on channel "${name}"` }
  const problem = checkBody(channel.message, channel.maxBytes, body)
  if (problem !== null) return { ok: false, ...problem }
  if (!bucket.take(now)) return { ok: false, code: 'rate-limited', error: `more than ${channel.rate.messages} messages per ${channel.rate.perMs} ms on channel "${name}"` }
  return { ok: true, channel }
}
