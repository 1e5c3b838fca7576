/**
 * The compiled policy and its compiler (the language: docs/privacy.md).
 *
 * A policy is the document's top-level field "@policy", set by the authority like any other
 * change. Missing or invalid, the document shows nothing and admits no observer (DENY_ALL).
 */
import type { Json, JsonObject } from '../json.ts'
import { isJsonObject } from '../json.ts'
import { decodePublicKey } from '../identity/envelope.ts'
import { PROTO_KEY } from '../delta/keys.ts'
import { compileCondition, merge } from './condition.ts'
import type { ConditionScope, Reads } from './condition.ts'
import { parsePath } from './paths.ts'
import { PolicyProblem } from './problem.ts'
import { newTrieNode, trieNodeAt } from './rules.ts'
import type { Rule, TrieNode } from './rules.ts'
import type { Dirty } from './dirty.ts'

/** The document field holding the policy. Never visible to any viewer. */
export const POLICY_FIELD = '@policy'
/** Where the authority writes input acknowledgements down the log (src/reduce/acks.ts). */
export const INPUT_STATE_FIELD = '@input'
/** Top-level fields no viewer ever sees, whatever the rules say. */
export const HIDDEN_ROOT_FIELDS: ReadonlySet<string> = new Set([POLICY_FIELD, INPUT_STATE_FIELD])
export const POLICY_VERSION = 1
/** Bounds that keep one policy's cost small: it is evaluated for every class on every frame. */
export const MAX_RULES = 256
export const MAX_NAMED_POLICIES = 256
export const MAX_VIEW_FIELDS = 32
export const MAX_TOKEN_KEYS = 16
/** Strings in view state longer than this (unless a field says otherwise) fall back to the default. */
export const DEFAULT_VIEW_MAX_LENGTH = 256
export const MAX_VIEW_MAX_LENGTH = 4096

export type ViewType = 'string' | 'number' | 'integer' | 'boolean'

export interface ViewField {
  readonly type: ViewType
  readonly default: Json
  readonly maxLength: number
}

export interface Policy {
  readonly observe: { readonly anonymous: boolean, readonly identified: boolean }
  /**
   * May viewers of one class relay the class stream to each other, browser to browser? Off unless
   * the policy says so: a WebRTC connection shows each browser the other's IP address.
   */
  readonly relay: boolean
  /** Field rules and requires by pattern. */
  readonly root: TrieNode
  readonly rules: readonly Rule[]
  readonly view: ReadonlyMap<string, ViewField>
  /** Everything the rules read (not the unused named policies). */
  readonly reads: Reads
  /** Which rules a delta makes stale, computed once per delta for all classes. */
  readonly dirtyCache: WeakMap<JsonObject, Dirty>
}

export type CompileResult = { ok: true, policy: Policy } | { ok: false, error: string }

// "input" declares input channels; src/reduce/channels.ts compiles it (privacy ignores it).
const TOP_KEYS = ['version', 'observe', 'policies', 'fields', 'records', 'view', 'tokenKeys', 'input', 'relay']
const VIEW_TYPES: readonly string[] = ['string', 'number', 'integer', 'boolean']
const VIEW_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/

function emptyPolicy (): Policy {
  return {
    observe: { anonymous: false, identified: false },
    relay: false,
    root: newTrieNode(null),
    rules: [],
    view: new Map(),
    reads: merge([]),
    dirtyCache: new WeakMap()
  }
}

/** Shows nothing, admits no one: the policy of a document without a valid "@policy". */
export const DENY_ALL: Policy = emptyPolicy()

export function compilePolicy (json: Json): CompileResult {
  try {
    return { ok: true, policy: compile(json) }
  } catch (err) {
    if (err instanceof PolicyProblem) return { ok: false, error: `invalid policy: ${err.message}` }
    throw err
  }
}

const cache = new WeakMap<JsonObject, { text: string, policy: Policy, error?: string }>()

/**
 * The policy of a document tree: tree["@policy"] compiled, or DENY_ALL when it is missing or
 * invalid (policyProblemOfTree says why). Cached by the policy object's identity and JSON text,
 * since mergeInto changes the object in place.
 */
export function policyOfTree (tree: JsonObject): Policy {
  return compiledOfTree(tree).policy
}

/**
 * Why the tree's "@policy" is invalid (compilePolicy's error, naming the rule at fault), or
 * undefined when it is valid or absent. A super-peer admits no viewer while it is invalid.
 */
export function policyProblemOfTree (tree: JsonObject): string | undefined {
  return compiledOfTree(tree).error
}

function compiledOfTree (tree: JsonObject): { policy: Policy, error?: string } {
  if (!Object.hasOwn(tree, POLICY_FIELD)) return { policy: DENY_ALL }
  const json = tree[POLICY_FIELD]
  if (!isJsonObject(json)) return { policy: DENY_ALL, error: 'invalid policy: policy must be a JSON object' }
  const text = JSON.stringify(json)
  const hit = cache.get(json)
  if (hit !== undefined && hit.text === text) return hit
  const compiled = compilePolicy(json)
  const entry = compiled.ok ? { text, policy: compiled.policy } : { text, policy: DENY_ALL, error: compiled.error }
  cache.set(json, entry)
  return entry
}

function compile (json: Json): Policy {
  const top = objectAt(json, 'policy')
  for (const key of Object.keys(top)) {
    if (!TOP_KEYS.includes(key)) throw new PolicyProblem(`unknown key "${key}" (expected ${TOP_KEYS.join(', ')})`)
  }
  if (top.version !== POLICY_VERSION) throw new PolicyProblem(`"version" must be ${POLICY_VERSION}`)
  checkTokenKeys(top.tokenKeys)
  const policy = emptyPolicy() as { -readonly [K in keyof Policy]: Policy[K] }
  policy.observe = compileObserve(top.observe)
  policy.view = compileView(top.view)
  if (top.relay !== undefined && typeof top.relay !== 'boolean') throw new PolicyProblem('"relay" must be true or false')
  policy.relay = top.relay === true

  const policies = top.policies === undefined ? {} : objectAt(top.policies, 'policies')
  if (Object.keys(policies).length > MAX_NAMED_POLICIES) throw new PolicyProblem(`more than ${MAX_NAMED_POLICIES} named policies`)
  const scope: ConditionScope = { policies, compiled: new Map(), compiling: new Set(), viewFields: new Set(policy.view.keys()) }
  // Compiled even when unused, so that a typo in one is reported.
  for (const name of Object.keys(policies)) compileCondition({ policy: name }, `policies.${name}`, scope)

  const rules: Rule[] = []
  const fields = top.fields === undefined ? {} : objectAt(top.fields, 'fields')
  for (const pattern of Object.keys(fields)) {
    const where = `fields["${pattern}"]`
    const node = trieNodeAt(policy.root, patternAt(pattern, where))
    if (node.field !== null) throw new PolicyProblem(`${where}: same pattern as fields["${node.field.pattern}"]`)
    node.field = { kind: 'field', pattern, condition: compileCondition(fields[pattern], where, scope), node }
    rules.push(node.field)
  }
  const records = top.records === undefined ? {} : objectAt(top.records, 'records')
  for (const pattern of Object.keys(records)) {
    const where = `records["${pattern}"]`
    const segments = patternAt(pattern, where)
    if (segments.length === 0) throw new PolicyProblem(`${where}: the document root is not a record (use "observe")`)
    const record = objectAt(records[pattern], where)
    const extra = Object.keys(record).filter(k => k !== 'require')
    if (extra.length > 0 || !Object.hasOwn(record, 'require')) throw new PolicyProblem(`${where}: expected {"require": condition}`)
    const node = trieNodeAt(policy.root, segments)
    if (node.require !== null) throw new PolicyProblem(`${where}: same pattern as records["${node.require.pattern}"]`)
    node.require = { kind: 'require', pattern, condition: compileCondition(record.require, `${where}.require`, scope), node }
    rules.push(node.require)
  }
  if (rules.length > MAX_RULES) throw new PolicyProblem(`more than ${MAX_RULES} rules`)
  policy.rules = rules
  policy.reads = merge(rules.map(r => r.condition.reads))
  return policy
}

function objectAt (json: Json | undefined, where: string): JsonObject {
  if (!isJsonObject(json)) throw new PolicyProblem(`${where} must be a JSON object`)
  return json
}

function patternAt (pattern: string, where: string): string[] {
  const segments = parsePath(pattern, where, 'pattern')
  if (HIDDEN_ROOT_FIELDS.has(segments[0])) throw new PolicyProblem(`${where}: "${segments[0]}" is never visible`)
  return segments
}

function compileObserve (json: Json | undefined): Policy['observe'] {
  if (json === undefined) return { anonymous: false, identified: false }
  const observe = objectAt(json, 'observe')
  for (const key of Object.keys(observe)) {
    if (key !== 'anonymous' && key !== 'identified') throw new PolicyProblem(`observe: unknown key "${key}" (expected anonymous, identified)`)
    if (typeof observe[key] !== 'boolean') throw new PolicyProblem(`observe.${key} must be true or false`)
  }
  return { anonymous: observe.anonymous === true, identified: observe.identified === true }
}

function compileView (json: Json | undefined): Map<string, ViewField> {
  const out = new Map<string, ViewField>()
  if (json === undefined) return out
  const view = objectAt(json, 'view')
  const names = Object.keys(view)
  if (names.length > MAX_VIEW_FIELDS) throw new PolicyProblem(`view: more than ${MAX_VIEW_FIELDS} fields`)
  for (const name of names) {
    const where = `view.${name}`
    if (!VIEW_NAME.test(name) || name === PROTO_KEY) throw new PolicyProblem(`${where}: a view field name is a letter or "_" then up to 63 letters, digits or "_" (not "__proto__")`)
    const decl = objectAt(view[name], where)
    for (const key of Object.keys(decl)) {
      if (key !== 'type' && key !== 'default' && key !== 'maxLength') throw new PolicyProblem(`${where}: unknown key "${key}" (expected type, default, maxLength)`)
    }
    if (typeof decl.type !== 'string' || !VIEW_TYPES.includes(decl.type)) throw new PolicyProblem(`${where}.type must be one of ${VIEW_TYPES.join(', ')}`)
    const type = decl.type as ViewType
    const maxLength = decl.maxLength ?? DEFAULT_VIEW_MAX_LENGTH
    if (typeof maxLength !== 'number' || !Number.isSafeInteger(maxLength) || maxLength < 0 || maxLength > MAX_VIEW_MAX_LENGTH) {
      throw new PolicyProblem(`${where}.maxLength must be an integer 0..${MAX_VIEW_MAX_LENGTH}`)
    }
    if (decl.maxLength !== undefined && type !== 'string') throw new PolicyProblem(`${where}.maxLength applies to strings only`)
    const field: ViewField = { type, default: null, maxLength }
    const fallback = decl.default ?? null
    if (fallback !== null && !fitsViewField(field, fallback)) throw new PolicyProblem(`${where}.default is not a valid ${type}`)
    out.set(name, { ...field, default: fallback })
  }
  return out
}

/** True when `value` is a valid value of the view field. */
export function fitsViewField (field: ViewField, value: Json | undefined): boolean {
  switch (field.type) {
    case 'string': return typeof value === 'string' && value.length <= field.maxLength
    case 'number': return typeof value === 'number' && Number.isFinite(value)
    case 'integer': return typeof value === 'number' && Number.isSafeInteger(value)
    case 'boolean': return typeof value === 'boolean'
  }
}

function checkTokenKeys (json: Json | undefined): void {
  if (json === undefined) return
  if (!Array.isArray(json) || json.length > MAX_TOKEN_KEYS) throw new PolicyProblem(`tokenKeys must be an array of at most ${MAX_TOKEN_KEYS} public keys`)
  json.forEach((key, i) => {
    const decoded = decodePublicKey(key)
    if (!decoded.ok) throw new PolicyProblem(`tokenKeys[${i}]: ${decoded.error}`)
  })
}

