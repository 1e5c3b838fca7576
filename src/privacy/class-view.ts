/**
 * The incremental view of one privacy class: what the class has been sent, kept up to date frame
 * by frame at a cost that follows the change, not the document.
 *
 * `update` walks the frame's delta. Below a node the delta touches, a child is recomputed from
 * scratch (filter.ts) only when something its guards read may have changed: the child itself was
 * set or replaced, its record fields that a rule reads were touched, or a document path a rule
 * reads was touched (then every node that rule guards is recomputed, found by following the rule's
 * pattern, not by scanning the document). Otherwise its guards decide as before and the walk
 * descends only where the delta goes. The new view shares untouched subtrees with the old one, so
 * diffTrees between them costs what changed.
 */
import type { Json, JsonObject } from '../json.ts'
import { isJsonObject } from '../json.ts'
import { ORDER, SIZE, carriesListKeys, isListNode, itemKey, ownValue } from '../delta/keys.ts'
import type { ItemId, ListNode } from '../delta/keys.ts'
import { sameOrder } from '../delta/order.ts'
import { diffTrees } from '../delta/diff.ts'
import { HIDDEN_ROOT_FIELDS, POLICY_FIELD } from './policy.ts'
import type { Policy } from './policy.ts'
import { newScope } from './evaluate.ts'
import type { Facts, Scope } from './evaluate.ts'
import { childVisible, requiresHold, rootVisible, showChild, showRoot } from './filter.ts'
import { dirtyOf, touchesFields } from './dirty.ts'
import type { Dirty } from './dirty.ts'
import { advance, fieldRuleOf, hasBelow } from './rules.ts'
import type { States } from './rules.ts'
import { factsOf } from './viewer.ts'
import type { Viewer } from './viewer.ts'

/**
 * Thrown by ClassView.update when the frame changes "@policy": compile the new policy
 * (policyOfTree), form the classes again, and send each viewer diffTrees(old view, new view).
 */
export class PolicyChangedError extends Error {
  static override name = 'PolicyChangedError'
  override name = 'PolicyChangedError'
  constructor (message = `the frame changes "${POLICY_FIELD}": rebuild every class under the new policy`) {
    super(message)
  }
}

/** True when the frame delta changes the policy (so every class must be rebuilt). */
export function policyChanged (delta: JsonObject): boolean {
  return Object.hasOwn(delta, POLICY_FIELD)
}

export class ClassView {
  readonly #policy: Policy
  readonly #facts: Facts
  #view: JsonObject

  /** Computes the class's view of `tree` (O(document), once per class). */
  constructor (policy: Policy, viewer: Viewer, viewState: Json, tree: JsonObject) {
    this.#policy = policy
    this.#facts = factsOf(policy, viewer, viewState)
    this.#view = this.#facts.may ? showRoot(policy, newScope(this.#facts, tree)) : {}
  }

  /** What the class has been sent, in tree form. Read-only: later views share parts of it. */
  get view (): JsonObject {
    return this.#view
  }

  /**
   * The class's delta for one frame: `delta` is the frame's changes composed into one tree-form
   * delta (composeDeltas) and `treeAfter` the document after it. Returns null when the view did
   * not change. The result shares values with `view`; treat it as read-only.
   * @throws PolicyChangedError when the delta changes "@policy" (check policyChanged first)
   */
  update (delta: JsonObject, treeAfter: JsonObject): JsonObject | null {
    if (policyChanged(delta)) throw new PolicyChangedError()
    if (!this.#facts.may) return null
    const pass: Pass = { scope: newScope(this.#facts, treeAfter), dirty: dirtyOf(this.#policy, delta) }
    const next = refreshRoot(this.#policy, pass, this.#view, delta)
    const out = diffTrees(this.#view, next)
    this.#view = next
    return out
  }
}

interface Pass {
  readonly scope: Scope
  readonly dirty: Dirty
}

function refreshRoot (policy: Policy, pass: Pass, view: JsonObject, delta: JsonObject): JsonObject {
  const rule = policy.root.field
  if (rule !== null && (pass.dirty.rules.has(rule) || touchesFields(rule.condition.reads, delta))) {
    return showRoot(policy, pass.scope)
  }
  const g = rootVisible(policy, pass.scope)
  const next = refreshObject(pass, pass.scope.tree, view, delta, [policy.root], g, HIDDEN_ROOT_FIELDS) as JsonObject | undefined
  return next ?? (Object.keys(view).length === 0 ? view : {})
}

/**
 * The new view of object or list `t` (old view `v`, delta `d`, null when the walk only follows
 * stale rules), whose guards did not change: `g` is its visibility as before the frame.
 */
function refreshObject (pass: Pass, t: JsonObject, v: Json | undefined, d: JsonObject | null, states: States, g: boolean, skip: ReadonlySet<string> | null): Json | undefined {
  const list = isListNode(t)
  const base: JsonObject = isJsonObject(v) ? v : list ? { [ORDER]: [] } : {}
  const keys = new Set<string>()
  let every = false
  if (d !== null) {
    for (const key of Object.keys(d)) if (key !== ORDER && key !== SIZE) keys.add(key)
    // Rules of this object's children read this object's fields (a list's items read their own).
    if (!list) every = addFieldReaders(states, d, keys)
  }
  if (addStale(states, pass.dirty, keys)) every = true
  if (every) addEveryKey(t, base, keys)

  let out = base
  let grown = 0
  let membership = false
  for (const key of keys) {
    if (skip?.has(key) === true) continue
    const before = ownValue(base, key)
    const child = ownValue(t, key)
    const after = child === undefined ? undefined : refreshChild(pass, t, key, child, before, d, states, g)
    if (after === before) continue
    if (out === base) out = { ...base }
    if (after === undefined) delete out[key]
    else out[key] = after
    if ((before === undefined) !== (after === undefined)) {
      membership = true
      grown += after === undefined ? -1 : 1
    }
  }
  if (list && (membership || (d !== null && carriesListKeys(d)))) {
    out = reorder(t, base, out, (base[ORDER] as ItemId[]).length + grown)
  }
  return g || nonEmpty(out) ? out : undefined
}

function refreshChild (pass: Pass, t: JsonObject, key: string, child: Json, before: Json | undefined, d: JsonObject | null, states: States, g: boolean): Json | undefined {
  const childStates = advance(states, key)
  const patch = d === null ? undefined : ownValue(d, key)
  const rule = fieldRuleOf(childStates)
  const ruleRecordPatch = isListNode(t) ? patch : d ?? undefined
  const stale = (patch !== undefined && !isJsonObject(patch)) ||
    kindChanged(before, child) ||
    (rule !== null && (pass.dirty.rules.has(rule) || touchesFields(rule.condition.reads, ruleRecordPatch))) ||
    childStates.some(s => s.require !== null && (pass.dirty.rules.has(s.require) || touchesFields(s.require.condition.reads, patch)))
  if (stale) return showChild(pass.scope, t, child, childStates, g)
  // Nothing the child's guards read changed, so they decide as before the frame.
  if (!isJsonObject(child) || !requiresHold(pass.scope, childStates, child)) return before
  const visible = childVisible(pass.scope, t, child, childStates, g)
  if (!visible && !hasBelow(childStates)) return before
  return refreshObject(pass, child, before, isJsonObject(patch) ? patch : null, childStates, visible, null)
}

/** A view value whose kind (scalar, object, list) differs from the tree's: recompute it. */
function kindChanged (before: Json | undefined, child: Json): boolean {
  if (before === undefined) return false
  if (!isJsonObject(before) || !isJsonObject(child)) return isJsonObject(before) !== isJsonObject(child)
  return isListNode(before) !== isListNode(child)
}

/** Children whose field rule reads a field of this object that `d` touches. True: every child. */
function addFieldReaders (states: States, d: JsonObject, keys: Set<string>): boolean {
  let every = false
  for (const s of states) {
    for (const [key, node] of s.literal) {
      if (node.field !== null && touchesFields(node.field.condition.reads, d)) keys.add(key)
    }
    const wild = s.wildcard?.field
    if (wild != null && touchesFields(wild.condition.reads, d)) every = true
  }
  return every
}

/** Children on the way to a rule whose document reads changed. True: every child. */
function addStale (states: States, dirty: Dirty, keys: Set<string>): boolean {
  if (dirty.below.size === 0) return false
  let every = false
  for (const s of states) {
    if (!dirty.below.has(s)) continue
    for (const [key, node] of s.literal) if (dirty.below.has(node)) keys.add(key)
    if (s.wildcard !== null && dirty.below.has(s.wildcard)) every = true
  }
  return every
}

function addEveryKey (t: JsonObject, base: JsonObject, keys: Set<string>): void {
  if (isListNode(t)) for (const id of t[ORDER]) keys.add(itemKey(id))
  else for (const key of Object.keys(t)) keys.add(key)
  for (const key of Object.keys(base)) if (key !== ORDER) keys.add(key)
}

/**
 * The view list's order: the tree's, less hidden items. `items` counts the items `out` holds;
 * when the new order holds fewer, the tree dropped some without naming them (a raw "@o"/"@s"
 * may), and only then are the old ones looked for.
 */
function reorder (t: ListNode, base: JsonObject, out: JsonObject, items: number): JsonObject {
  let next = out
  const writable = (): JsonObject => (next === base ? (next = { ...base }) : next)
  let order = t[ORDER].filter(id => Object.hasOwn(next, itemKey(id)))
  if (order.length < items) {
    for (const id of base[ORDER] as ItemId[]) {
      const key = itemKey(id)
      if (!Object.hasOwn(t, key) && Object.hasOwn(next, key)) delete writable()[key]
    }
    order = t[ORDER].filter(id => Object.hasOwn(next, itemKey(id)))
  }
  if (!sameOrder(next[ORDER] as ItemId[], order)) writable()[ORDER] = order
  return next
}

function nonEmpty (node: JsonObject): boolean {
  if (isListNode(node)) return node[ORDER].length > 0
  for (const key in node) if (Object.hasOwn(node, key)) return true
  return false
}
