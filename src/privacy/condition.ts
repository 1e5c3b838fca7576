/**
 * Conditions of the policy language: their compiled form and the compiler from JSON.
 *
 * Every compiled condition carries `reads`, what it can look at (document paths, record fields,
 * the viewer's principal and roles, view-state fields). Class keys are built from the viewer
 * facts it reads; incremental updates re-evaluate a rule only when what it reads changed.
 */
import type { Json, JsonObject } from '../json.ts'
import { isJsonObject } from '../json.ts'
import { parsePath } from './paths.ts'
import { PolicyProblem } from './problem.ts'

export type CompareOp = 'eq' | 'ne' | 'in' | 'lt' | 'le' | 'gt' | 'ge'
const COMPARE_OPS: readonly string[] = ['eq', 'ne', 'in', 'lt', 'le', 'gt', 'ge']

export type Operand =
  | { readonly kind: 'literal', readonly value: Json }
  | { readonly kind: 'doc', readonly path: readonly string[] }
  | { readonly kind: 'field', readonly path: readonly string[] }
  | { readonly kind: 'principal' }
  | { readonly kind: 'view', readonly name: string }

export interface Reads {
  /** Absolute document paths. */
  readonly doc: ReadonlyArray<readonly string[]>
  /** First segments of record-relative paths (the record's keys a change must touch to matter). */
  readonly field: readonly string[]
  readonly principal: boolean
  readonly identified: boolean
  readonly roles: readonly string[]
  readonly view: readonly string[]
}

type Body =
  | { readonly kind: 'const', readonly value: boolean }
  | { readonly kind: 'identified' }
  | { readonly kind: 'role', readonly role: string }
  | { readonly kind: 'all' | 'any', readonly items: readonly Condition[] }
  | { readonly kind: 'not', readonly item: Condition }
  | { readonly kind: 'compare', readonly op: CompareOp, readonly left: Operand, readonly right: Operand }
  | { readonly kind: 'exists', readonly operand: Operand }

export type Condition = Body & { readonly reads: Reads, readonly height: number }

/** Conditions nest at most this deep (named policies included), so evaluation cannot exhaust the stack. */
export const MAX_CONDITION_HEIGHT = 32

const NO_READS: Reads = { doc: [], field: [], principal: false, identified: false, roles: [], view: [] }

/** Where a condition compiles: named policies (compiled on first use) and declared view fields. */
export interface ConditionScope {
  readonly policies: JsonObject
  readonly compiled: Map<string, Condition>
  readonly compiling: Set<string>
  readonly viewFields: ReadonlySet<string>
}

export function compileCondition (json: Json, where: string, scope: ConditionScope): Condition {
  if (json === true || json === 'public') return make(where, { kind: 'const', value: true }, [])
  if (json === false || json === 'private') return make(where, { kind: 'const', value: false }, [])
  if (json === 'identified') return make(where, { kind: 'identified' }, [], { ...NO_READS, identified: true })
  if (!isJsonObject(json)) {
    throw new PolicyProblem(`${where}: a condition is "public", "private", "identified", true, false or an object with one key; got ${JSON.stringify(json)}`)
  }
  const keys = Object.keys(json)
  if (keys.length !== 1) throw new PolicyProblem(`${where}: a condition object has exactly one key; got ${JSON.stringify(keys)}`)
  const key = keys[0]
  const arg = json[key]
  const at = `${where}.${key}`
  switch (key) {
    case 'policy': return namedPolicy(arg, at, scope)
    case 'all':
    case 'any': {
      if (!Array.isArray(arg)) throw new PolicyProblem(`${at}: expected an array of conditions`)
      const items = arg.map((c, i) => compileCondition(c, `${at}[${i}]`, scope))
      return make(where, { kind: key, items }, items)
    }
    case 'not': {
      const item = compileCondition(arg, at, scope)
      return make(where, { kind: 'not', item }, [item])
    }
    case 'role':
      if (typeof arg !== 'string' || arg === '') throw new PolicyProblem(`${at}: expected a role name`)
      return make(where, { kind: 'role', role: arg }, [], { ...NO_READS, roles: [arg] })
    case 'viewer_is': {
      const path = parsePath(arg, at, 'relative')
      const left: Operand = { kind: 'field', path }
      return make(where, { kind: 'compare', op: 'eq', left, right: { kind: 'principal' } }, [],
        merge([readsOf(left), readsOf({ kind: 'principal' })]))
    }
    case 'exists': {
      const operand = compileOperand(arg, at, scope)
      return make(where, { kind: 'exists', operand }, [], readsOf(operand))
    }
    default: {
      if (!COMPARE_OPS.includes(key)) {
        throw new PolicyProblem(`${where}: unknown condition "${key}" (expected policy, all, any, not, role, viewer_is, exists, ${COMPARE_OPS.join(', ')})`)
      }
      if (!Array.isArray(arg) || arg.length !== 2) throw new PolicyProblem(`${at}: expected [left, right]`)
      const left = compileOperand(arg[0], `${at}[0]`, scope)
      const right = compileOperand(arg[1], `${at}[1]`, scope)
      return make(where, { kind: 'compare', op: key as CompareOp, left, right }, [], merge([readsOf(left), readsOf(right)]))
    }
  }
}

function namedPolicy (name: Json, at: string, scope: ConditionScope): Condition {
  if (typeof name !== 'string' || !Object.hasOwn(scope.policies, name)) {
    throw new PolicyProblem(`${at}: no policy named ${JSON.stringify(name)} in "policies"`)
  }
  const done = scope.compiled.get(name)
  if (done !== undefined) return done
  if (scope.compiling.has(name)) throw new PolicyProblem(`${at}: policy "${name}" refers to itself`)
  scope.compiling.add(name)
  const condition = compileCondition(scope.policies[name], `policies.${name}`, scope)
  scope.compiling.delete(name)
  scope.compiled.set(name, condition)
  return condition
}

function compileOperand (json: Json, where: string, scope: ConditionScope): Operand {
  if (!isJsonObject(json)) return { kind: 'literal', value: json }
  const keys = Object.keys(json)
  if (keys.length !== 1) throw new PolicyProblem(`${where}: an operand object has exactly one key (doc, field, viewer, view or literal)`)
  const key = keys[0]
  const arg = json[key]
  switch (key) {
    case 'literal': return { kind: 'literal', value: arg }
    case 'doc': {
      const path = parsePath(arg, `${where}.doc`, 'absolute')
      if (path[0] === '@policy') throw new PolicyProblem(`${where}.doc: conditions cannot read "@policy"`)
      return { kind: 'doc', path }
    }
    case 'field': return { kind: 'field', path: parsePath(arg, `${where}.field`, 'relative') }
    case 'viewer':
      if (arg !== 'principal') throw new PolicyProblem(`${where}.viewer: only "principal" can be read (use {"role": ...} for roles)`)
      return { kind: 'principal' }
    case 'view':
      if (typeof arg !== 'string' || !scope.viewFields.has(arg)) {
        throw new PolicyProblem(`${where}.view: ${JSON.stringify(arg)} is not declared in "view"`)
      }
      return { kind: 'view', name: arg }
    default:
      throw new PolicyProblem(`${where}: unknown operand "${key}" (expected doc, field, viewer, view or literal)`)
  }
}

function readsOf (operand: Operand): Reads {
  switch (operand.kind) {
    case 'doc': return { ...NO_READS, doc: [operand.path] }
    case 'field': return { ...NO_READS, field: [operand.path[0]] }
    case 'principal': return { ...NO_READS, principal: true }
    case 'view': return { ...NO_READS, view: [operand.name] }
    default: return NO_READS
  }
}

/** The union of several read sets. */
export function merge (all: readonly Reads[]): Reads {
  if (all.length === 0) return NO_READS
  if (all.length === 1) return all[0]
  return {
    doc: all.flatMap(r => r.doc),
    field: [...new Set(all.flatMap(r => r.field))],
    principal: all.some(r => r.principal),
    identified: all.some(r => r.identified),
    roles: [...new Set(all.flatMap(r => r.roles))],
    view: [...new Set(all.flatMap(r => r.view))]
  }
}

function make (where: string, body: Body, children: readonly Condition[], own: Reads = NO_READS): Condition {
  const height = 1 + Math.max(0, ...children.map(c => c.height))
  if (height > MAX_CONDITION_HEIGHT) throw new PolicyProblem(`${where}: conditions nest deeper than ${MAX_CONDITION_HEIGHT} levels`)
  return { ...body, reads: merge([own, ...children.map(c => c.reads)]), height }
}
