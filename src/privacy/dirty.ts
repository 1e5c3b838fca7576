/**
 * What a frame's delta can change about visibility: which rules read a document path the delta
 * touches (computed once per delta and shared by every class), and whether a record's fields
 * that a rule reads were touched.
 */
import type { Json, JsonObject } from '../json.ts'
import { isJsonObject } from '../json.ts'
import { carriesListKeys } from '../delta/keys.ts'
import type { Reads } from './condition.ts'
import type { Policy } from './policy.ts'
import type { Rule, TrieNode } from './rules.ts'

export interface Dirty {
  /** Rules whose document reads the delta touched: every node they guard is recomputed. */
  readonly rules: ReadonlySet<Rule>
  /** Those rules' trie nodes and all their ancestors: the patterns a walk must follow to reach them. */
  readonly below: ReadonlySet<TrieNode>
}

const CLEAN: Dirty = { rules: new Set(), below: new Set() }

export function dirtyOf (policy: Policy, delta: JsonObject): Dirty {
  const known = policy.dirtyCache.get(delta)
  if (known !== undefined) return known
  const rules = new Set<Rule>()
  const below = new Set<TrieNode>()
  for (const rule of policy.rules) {
    if (!rule.condition.reads.doc.some(path => touchesPath(delta, path))) continue
    rules.add(rule)
    for (let n: TrieNode | null = rule.node; n !== null && !below.has(n); n = n.parent) below.add(n)
  }
  const dirty = rules.size === 0 ? CLEAN : { rules, below }
  policy.dirtyCache.set(delta, dirty)
  return dirty
}

/**
 * True when applying `delta` may change the value at `path`: the delta reaches the path, or
 * replaces or reorders something on the way (an "@o"/"@s" may drop items it does not name).
 */
export function touchesPath (delta: JsonObject, path: readonly string[]): boolean {
  let node: Json = delta
  for (const segment of path) {
    if (!isJsonObject(node) || carriesListKeys(node)) return true
    if (!Object.hasOwn(node, segment)) return false
    node = node[segment]
  }
  return true
}

/**
 * True when `patch` (the delta at a record, undefined when the delta does not reach it) may
 * change a record field that `reads` looks at.
 */
export function touchesFields (reads: Reads, patch: Json | undefined): boolean {
  if (reads.field.length === 0 || patch === undefined) return false
  if (!isJsonObject(patch) || carriesListKeys(patch)) return true
  return reads.field.some(key => Object.hasOwn(patch, key))
}
