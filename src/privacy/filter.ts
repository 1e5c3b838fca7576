/**
 * The reference semantics: the part of a document tree one class may see, computed from scratch.
 *
 * A node is governed by the most specific field rule matching its path, or else by its parent's
 * (the root's default is private). A node whose governing rule holds is shown; its deeper rules
 * still decide its descendants. A hidden object or list appears only as the container of visible
 * descendants, and not at all when none is visible. A record whose require fails is hidden with
 * all its descendants, whatever deeper rules say. "@policy" and "@input" are never shown.
 */
import type { Json, JsonObject } from '../json.ts'
import { isJsonObject } from '../json.ts'
import { ORDER, isListNode, itemKey, ownValue } from '../delta/keys.ts'
import { HIDDEN_ROOT_FIELDS } from './policy.ts'
import type { Policy } from './policy.ts'
import { evaluate, newScope } from './evaluate.ts'
import type { Scope } from './evaluate.ts'
import { advance, fieldRuleOf, hasBelow } from './rules.ts'
import type { States } from './rules.ts'
import { factsOf } from './viewer.ts'
import type { Viewer } from './viewer.ts'

/** The tree-form view of `tree` this viewer may see (lists keep "@o" of visible items, in order). */
export function filterView (policy: Policy, viewer: Viewer, viewState: Json, tree: JsonObject): JsonObject {
  const facts = factsOf(policy, viewer, viewState)
  if (!facts.may) return {}
  return showRoot(policy, newScope(facts, tree))
}

export function showRoot (policy: Policy, scope: Scope): JsonObject {
  const states = [policy.root]
  const g = rootVisible(policy, scope)
  const shown = showObject(scope, scope.tree, states, g, HIDDEN_ROOT_FIELDS)
  return shown ?? {}
}

/** The root's own field rule (pattern "/"), private when absent. */
export function rootVisible (policy: Policy, scope: Scope): boolean {
  const rule = policy.root.field
  return rule !== null && evaluate(rule.condition, scope, scope.tree)
}

/**
 * A child's view: undefined when its requires fail, else the child governed by its own field
 * rule (read in the parent object, or in the item itself when the parent is a list) or by `g`.
 */
export function showChild (scope: Scope, parent: JsonObject, child: Json, states: States, g: boolean): Json | undefined {
  if (!requiresHold(scope, states, child)) return undefined
  return showValue(scope, child, states, childVisible(scope, parent, child, states, g))
}

export function requiresHold (scope: Scope, states: States, record: Json): boolean {
  for (const s of states) {
    if (s.require !== null && !evaluate(s.require.condition, scope, record)) return false
  }
  return true
}

export function childVisible (scope: Scope, parent: JsonObject, child: Json, states: States, g: boolean): boolean {
  const rule = fieldRuleOf(states)
  if (rule === null) return g
  return evaluate(rule.condition, scope, isListNode(parent) ? child : parent)
}

export function showValue (scope: Scope, value: Json, states: States, g: boolean): Json | undefined {
  if (!isJsonObject(value)) {
    if (!g) return undefined
    return Array.isArray(value) ? structuredClone(value) : value
  }
  return showObject(scope, value, states, g, null)
}

function showObject (scope: Scope, node: JsonObject, states: States, g: boolean, skip: ReadonlySet<string> | null): JsonObject | undefined {
  if (!g && !hasBelow(states)) return undefined
  const out: JsonObject = {}
  if (isListNode(node)) {
    const order = []
    for (const id of node[ORDER]) {
      const key = itemKey(id)
      const item = ownValue(node, key)
      if (item === undefined) continue
      const shown = showChild(scope, node, item, advance(states, key), g)
      if (shown === undefined) continue
      out[key] = shown
      order.push(id)
    }
    out[ORDER] = order
    return g || order.length > 0 ? out : undefined
  }
  let any = false
  for (const key of Object.keys(node)) {
    if (skip?.has(key) === true) continue
    const shown = showChild(scope, node, node[key], advance(states, key), g)
    if (shown === undefined) continue
    out[key] = shown
    any = true
  }
  return g || any ? out : undefined
}
