/**
 * Evaluating conditions for one privacy class against one document tree.
 *
 * Only `Facts` describe the viewer here, and they hold exactly what the policy can read, so two
 * viewers with equal facts get equal answers: that is what makes class keys sound.
 */
import type { Json, JsonObject } from '../json.ts'
import { isJsonObject } from '../json.ts'
import { ownValue } from '../delta/keys.ts'
import { jsonEqual } from '../delta/diff.ts'
import type { CompareOp, Condition, Operand } from './condition.ts'

/** What a class's conditions may know about its viewers (see classKeyOf). */
export interface Facts {
  /** The static observe rule's answer; a class that may not observe sees nothing. */
  readonly may: boolean
  /** Present only when the policy reads it. */
  readonly identified?: boolean
  /** Present only when the policy reads it; null for an anonymous viewer. */
  readonly principal?: string | null
  /** The viewer's roles that the policy mentions, sorted. */
  readonly roles: readonly string[]
  /** The view-state fields the policy reads, sanitized. */
  readonly view: JsonObject
}

/** One evaluation pass: a class, a tree, and answers that do not depend on the record. */
export interface Scope {
  readonly facts: Facts
  readonly tree: JsonObject
  readonly memo: Map<Condition, boolean>
}

export function newScope (facts: Facts, tree: JsonObject): Scope {
  return { facts, tree, memo: new Map() }
}

/**
 * The condition's value for this class. `record` is the object its `field` operands read from.
 * Conditions that read no record field are computed once per pass.
 */
export function evaluate (condition: Condition, scope: Scope, record: Json | undefined): boolean {
  const recordFree = condition.reads.field.length === 0
  if (recordFree) {
    const known = scope.memo.get(condition)
    if (known !== undefined) return known
  }
  const value = compute(condition, scope, record)
  if (recordFree) scope.memo.set(condition, value)
  return value
}

function compute (c: Condition, scope: Scope, record: Json | undefined): boolean {
  switch (c.kind) {
    case 'const': return c.value
    case 'identified': return scope.facts.identified === true
    case 'role': return scope.facts.roles.includes(c.role)
    case 'all': return c.items.every(item => evaluate(item, scope, record))
    case 'any': return c.items.some(item => evaluate(item, scope, record))
    case 'not': return !evaluate(c.item, scope, record)
    case 'exists': return operand(c.operand, scope, record) !== undefined
    case 'compare': return compare(c.op, operand(c.left, scope, record), operand(c.right, scope, record))
  }
}

/** An operand's value; undefined when absent (missing field, anonymous principal). */
function operand (o: Operand, scope: Scope, record: Json | undefined): Json | undefined {
  switch (o.kind) {
    case 'literal': return o.value
    case 'doc': return readPath(scope.tree, o.path)
    case 'field': return readPath(record, o.path)
    case 'principal': return scope.facts.principal ?? undefined
    case 'view': return ownValue(scope.facts.view, o.name)
  }
}

function readPath (from: Json | undefined, path: readonly string[]): Json | undefined {
  let node = from
  for (const segment of path) {
    if (!isJsonObject(node)) return undefined
    node = ownValue(node, segment)
  }
  return node
}

/** An absent side makes every comparison false (so `ne` is true): anonymous equals no one. */
function compare (op: CompareOp, a: Json | undefined, b: Json | undefined): boolean {
  if (op === 'ne') return !compare('eq', a, b)
  if (a === undefined || b === undefined) return false
  switch (op) {
    case 'eq': return jsonEqual(a, b)
    case 'in': return Array.isArray(b) && b.some(x => jsonEqual(a, x))
    default: {
      const comparable = (typeof a === 'number' && typeof b === 'number') || (typeof a === 'string' && typeof b === 'string')
      if (!comparable) return false
      if (op === 'lt') return a < b
      if (op === 'le') return a <= b
      if (op === 'gt') return a > b
      return a >= b
    }
  }
}
