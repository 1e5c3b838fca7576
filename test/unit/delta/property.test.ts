/**
 * Property tests over random trees and random valid delta sequences:
 * - composeDeltas(before, ds) applied to before equals applying ds one by one;
 * - integrate on the browser form agrees with mergeInto on the tree form (values and list ids).
 */
import assert from 'node:assert/strict'
import { isDeepStrictEqual } from 'node:util'
import fc from 'fast-check'
import { assertIdsAgree } from '../../helpers/assert-ids.ts'
import type { Json, JsonObject } from '../../../src/json.ts'
import { isJsonObject } from '../../../src/json.ts'
import {
  checkDelta, cloneTree, composeDeltas, integrate, isList, isListNode, keysOf, listInsert, listMove,
  listRemove, materialize, mergeInto, orderDelta
} from '../../../src/delta/index.ts'
import type { ItemId, ListOpResult } from '../../../src/delta/index.ts'

const ID_POOL: ItemId[] = ['a', 'b', 'c', 'd', 'e', 0, 1, 2, 3, '2', 'zz']
const LIST_KEYS = ['L', 'M']
const FIELD_KEYS = ['f', 'g']

interface Op { kind: number, a: number, b: number, c: number, value: Json }

const valueArb: fc.Arbitrary<Json> = fc.oneof(
  fc.integer({ min: -3, max: 3 }), fc.constantFrom('x', 'y', ''), fc.boolean(),
  fc.constant<Json>([1, { k: 2 }]), fc.constant<Json>({ p: 1, q: { r: 'deep' } })
)
const opArb: fc.Arbitrary<Op> = fc.record({ kind: fc.nat(12), a: fc.nat(), b: fc.nat(), c: fc.nat(), value: valueArb })

/** Tiny deterministic PRNG so one op can make many choices. */
function rng (seed: number): () => number {
  let s = seed >>> 0
  return () => {
    s = (s + 0x6D2B79F5) >>> 0
    let t = Math.imul(s ^ (s >>> 15), 1 | s)
    t ^= t + Math.imul(t ^ (t >>> 7), 61 | t)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

function orderAt (tree: JsonObject, key: string): ItemId[] {
  const node = tree[key]
  return isListNode(node) ? node['@o'] : []
}

function itemValue (value: Json, c: number): Json {
  if (c % 3 === 0) return { v: value, sub: { '@o': ['p'], p: 1 } }
  if (c % 3 === 1) return { v: value }
  return value
}

const fromListOp = (r: ListOpResult): JsonObject | null => r.ok ? r.value : null

/** A delta for `op` against `tree` (null when the op does not fit the tree). */
function deltaFor (tree: JsonObject, op: Op): JsonObject | null {
  const { kind, a, b, c, value } = op
  const field = FIELD_KEYS[a % FIELD_KEYS.length]
  const list = LIST_KEYS[a % LIST_KEYS.length]
  const order = orderAt(tree, list)
  const pick = (n: number): ItemId | undefined => order.length === 0 ? undefined : order[n % order.length]
  switch (kind) {
    case 0: return { [field]: value }
    case 1: return { [field]: null }
    case 2: return { [field]: { p: value, q: null, r: { s: value } } }
    case 3: return fromListOp(listInsert(tree, [list], ID_POOL[b % ID_POOL.length], itemValue(value, c), c % (order.length + 1)))
    case 4: { const id = pick(b); return id === undefined ? null : fromListOp(listMove(tree, [list], id, c % order.length)) }
    case 5: { const id = pick(b); return id === undefined ? null : fromListOp(listRemove(tree, [list], id)) }
    case 6: {
      const id = pick(b)
      if (id === undefined) return null
      return { [list]: { [String(id)]: c % 2 === 0 ? { v: value, w: null } : value } }
    }
    case 7: return isListNode(tree[list]) ? { [list]: { '@s': b % (order.length + 1) } } : null
    case 8: return multiChange(tree, list, c)
    case 9: {
      if (c % 3 === 0) return { [list]: null }
      if (c % 3 === 1) return { [list]: Array.isArray(value) || isJsonObject(value) ? 7 : value }
      const id = ID_POOL[b % ID_POOL.length]
      return { [list]: { '@o': [id], [String(id)]: itemValue(value, b) } }
    }
    case 10: {
      const id = pick(b)
      if (id === undefined) return null
      const sub = orderAt((tree[list] as JsonObject)[String(id)] as JsonObject ?? {}, 'sub')
      if (c % 2 === 0 || sub.length === 0) return fromListOp(listInsert(tree, [list, String(id), 'sub'], `s${c % 5}`, value, c % (sub.length + 1)))
      return fromListOp(listRemove(tree, [list, String(id), 'sub'], sub[c % sub.length]))
    }
    case 11: {
      const n = orderAt(tree, 'I').length
      if (c % 3 === 0) return { I: { '@s': b % (n + 1) } }
      const delta: JsonObject = { '@s': n + 1 + (b % 3) }
      for (let i = n; i < (delta['@s'] as number); i++) delta[i] = { v: i }
      if (n > 0) delta[b % n] = value
      return { I: delta }
    }
    default: {
      // Two changes in one delta, on different top-level keys.
      const first = deltaFor(tree, { ...op, kind: 8 })
      const second = deltaFor(tree, { ...op, kind: 2, a: a + 1 })
      return first === null || second === null ? null : { ...first, ...second }
    }
  }
}

/** Removes, updates, adds and moves several items of one list in one delta. */
function multiChange (tree: JsonObject, list: string, seed: number): JsonObject {
  const random = rng(seed)
  const before = orderAt(tree, list)
  const delta: JsonObject = {}
  const after: ItemId[] = []
  for (const id of before) {
    if (random() < 0.2) {
      delta[String(id)] = null
      continue
    }
    if (random() < 0.2) delta[String(id)] = { v: Math.floor(random() * 5) }
    after.push(id)
  }
  for (const id of ID_POOL) {
    const key = String(id)
    if (random() < 0.25 && !after.some(x => String(x) === key) && !Object.hasOwn(delta, key)) {
      after.splice(Math.floor(random() * (after.length + 1)), 0, id)
      delta[key] = itemValue(Math.floor(random() * 5), Math.floor(random() * 3))
    }
  }
  if (after.length > 1 && random() < 0.5) {
    const [moved] = after.splice(Math.floor(random() * after.length), 1)
    after.splice(Math.floor(random() * (after.length + 1)), 0, moved)
  }
  delta['@o'] = random() < 0.5 ? orderDelta(before, after) : after
  return { [list]: delta }
}

/** Applies the ops that fit, in order, to a copy of `start`; returns the deltas used and the result. */
function run (start: JsonObject, ops: Op[]): { deltas: JsonObject[], tree: JsonObject } {
  const tree = cloneTree(start)
  const deltas: JsonObject[] = []
  for (const op of ops) {
    const delta = deltaFor(tree, op)
    if (delta === null || !checkDelta(tree, delta).ok) continue
    mergeInto(tree, delta)
    deltas.push(delta)
  }
  return { deltas, tree }
}

const RUNS = 300

describe('delta properties', function () {
  this.timeout(20_000)

  it('generators produce many valid deltas (sanity)', () => {
    const ops = fc.sample(opArb, { numRuns: 500, seed: 1 })
    const { deltas, tree } = run({}, ops)
    assert.ok(deltas.length > 250, `only ${deltas.length} of 500 ops fit`)
    assert.ok(JSON.stringify(tree).includes('@o'))
  })

  it('composeDeltas(before, ds) applied to before equals applying ds one by one', () => {
    fc.assert(fc.property(fc.array(opArb, { maxLength: 25 }), fc.array(opArb, { maxLength: 10 }), (setup, ops) => {
      const before = run({}, setup).tree
      const { deltas, tree: expected } = run(before, ops)
      const untouched = cloneTree(before)
      const composed = composeDeltas(before, deltas)
      assert.deepStrictEqual(before, untouched, 'composeDeltas changed before')
      if (composed === null) {
        assert.deepStrictEqual(before, expected)
        return
      }
      assert.ok(!isDeepStrictEqual(before, expected), `non-null delta for no change: ${JSON.stringify(composed)}`)
      assert.deepStrictEqual(checkDelta(before, composed), { ok: true })
      const got = cloneTree(before)
      mergeInto(got, composed)
      assert.deepStrictEqual(got, expected)
      // The composed delta must not alias before: applying it in place must not change it.
      const wire = JSON.stringify(composed)
      mergeInto(before, composed)
      assert.equal(JSON.stringify(composed), wire)
    }), { numRuns: RUNS })
  })

  it('integrate on the browser form agrees with mergeInto then materialize', () => {
    fc.assert(fc.property(fc.array(opArb, { maxLength: 25 }), fc.array(opArb, { maxLength: 10 }), (setup, ops) => {
      let tree = run({}, setup).tree
      let view = materialize(tree) as JsonObject
      assertIdsAgree(tree, view)
      for (const op of ops) {
        const delta = deltaFor(tree, op)
        if (delta === null || !checkDelta(tree, delta).ok) continue
        const viewBefore = materialize(tree)
        const next = cloneTree(tree)
        mergeInto(next, delta)
        const integrated = integrate(view, delta)
        assert.deepStrictEqual(view, viewBefore, 'integrate changed its input')
        assert.deepStrictEqual(integrated, materialize(next))
        assertIdsAgree(next, integrated)
        tree = next
        view = integrated
      }
    }), { numRuns: RUNS })
  })

  it('integrate of a composed delta matches the final tree', () => {
    fc.assert(fc.property(fc.array(opArb, { maxLength: 20 }), fc.array(opArb, { maxLength: 10 }), (setup, ops) => {
      const before = run({}, setup).tree
      const { deltas, tree: after } = run(before, ops)
      const composed = composeDeltas(before, deltas)
      const view = composed === null ? materialize(before) : integrate(materialize(before) as JsonObject, composed)
      assert.deepStrictEqual(view, materialize(after))
      assertIdsAgree(after, view)
    }), { numRuns: RUNS })
  })
})
