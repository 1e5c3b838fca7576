/**
 * Changing a document's policy safely: the authority checks the policy a change leaves behind,
 * and replaces a whole policy with one merge patch.
 *
 * A change merges into "@policy" like into any other field (RFC 7396), so sending a new policy
 * as is keeps every key of the old one it does not mention. policyReplacement computes the patch
 * that deletes those keys and sets the new ones, so that after it "@policy" is exactly the new
 * policy, in the same frame: no frame ever holds a mix, or no policy at all.
 */
import type { Json, JsonObject } from '../json.ts'
import { isJsonObject } from '../json.ts'
import { ORDER, SIZE, PROTO_KEY, ownValue } from '../delta/keys.ts'
import { UnrepresentableDiffError, diffTrees } from '../delta/diff.ts'
import { mergeInto } from '../delta/merge.ts'
import { POLICY_FIELD, compilePolicy } from './policy.ts'

export type PolicyCheck = { ok: true } | { ok: false, error: string }
export type PolicyReplacement = { ok: true, delta: JsonObject | null } | { ok: false, error: string }

/**
 * Whether the policy `delta` leaves in `tree` is valid. A delta that does not touch "@policy",
 * or removes it (`{"@policy": null}`: the document becomes a public broadcast, on purpose), is
 * fine; otherwise the merged policy must compile, and the error names the rule at fault.
 * `tree` is not changed.
 */
export function checkPolicyChange (tree: JsonObject, delta: JsonObject): PolicyCheck {
  if (!Object.hasOwn(delta, POLICY_FIELD)) return { ok: true }
  const patch = delta[POLICY_FIELD]
  if (patch === null) return { ok: true }
  const current = ownValue(tree, POLICY_FIELD)
  const probe: JsonObject = current === undefined ? {} : { [POLICY_FIELD]: structuredClone(current) }
  mergeInto(probe, { [POLICY_FIELD]: patch })
  const compiled = compilePolicy(probe[POLICY_FIELD])
  return compiled.ok ? { ok: true } : { ok: false, error: compiled.error }
}

/**
 * The delta that makes `tree["@policy"]` exactly `next` (null: remove the policy), or null when
 * it already is. `next` must be a valid policy that a document can hold as written: merge
 * patches cannot store a `null` member (null deletes) and read an object with "@o"/"@s" as a
 * list, so neither may appear in it.
 */
export function policyReplacement (tree: JsonObject, next: Json): PolicyReplacement {
  const current = ownValue(tree, POLICY_FIELD)
  if (next === null) return { ok: true, delta: current === undefined ? null : { [POLICY_FIELD]: null } }
  const compiled = compilePolicy(next)
  if (!compiled.ok) return compiled
  const unstorable = unstorableAt(next, '')
  if (unstorable !== undefined) return { ok: false, error: `policy cannot be stored as written: ${unstorable}` }
  if (!isJsonObject(current)) return { ok: true, delta: { [POLICY_FIELD]: next } }
  try {
    const diff = diffTrees(current, next as JsonObject)
    return { ok: true, delta: diff === null ? null : { [POLICY_FIELD]: diff } }
  } catch (err) {
    if (!(err instanceof UnrepresentableDiffError)) throw err
    return { ok: false, error: `the current policy cannot be turned into this one by one change (${err.message}): remove it first with null` }
  }
}

/** Where `value` holds something a document cannot store as is (a JSON Pointer), if anywhere. */
function unstorableAt (value: Json, path: string): string | undefined {
  if (Array.isArray(value)) return undefined // arrays are stored whole, nulls and "@o" included
  if (!isJsonObject(value)) return undefined
  for (const key of Object.keys(value)) {
    const at = `${path}/${key.replaceAll('~', '~0').replaceAll('/', '~1')}`
    if (key === ORDER || key === SIZE) return `"${key}" at ${at} would be stored as a list`
    if (key === PROTO_KEY) return `"${PROTO_KEY}" at ${at} is not allowed`
    if (value[key] === null) return `null at ${at} would delete the key (leave the key out instead)`
    const inner = unstorableAt(value[key], at)
    if (inner !== undefined) return inner
  }
  return undefined
}
