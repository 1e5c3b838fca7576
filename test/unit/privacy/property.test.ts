/**
 * The privacy property: for random documents, policies, viewers, view states and frames, a
 * viewer that starts from ClassView's view and applies every delta it returns holds exactly
 * filterView of the document after each frame; no delta carries anything outside that view; the
 * browser form (integrate) agrees; and equal class keys mean equal views.
 */
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { assertIdsAgree } from '../../helpers/assert-ids.ts'
import type { Json, JsonObject } from '../../../src/json.ts'
import { isJsonObject } from '../../../src/json.ts'
import {
  checkDelta, cloneTree, composeDeltas, integrate, isList, isListNode, keysOf, listInsert, listMove,
  listRemove, materialize, mergeInto, UncomposableDeltasError
} from '../../../src/delta/index.ts'
import type { ItemId, ListOpResult } from '../../../src/delta/index.ts'
import { ClassView, classKeyOf, compilePolicy, filterView } from '../../../src/privacy/index.ts'
import type { Policy, Viewer } from '../../../src/privacy/index.ts'

const RUNS = process.env.CI === 'true' ? 2000 : 300

const PRINCIPALS = ['alice', 'bob', 'carol']
const PHASES = ['lobby', 'play', 'reveal']
const ROOMS = ['lobby', 'red', 'blue']
const PLAYER_IDS: ItemId[] = ['p1', 'p2', 'p3', 4, 5]
const POST_IDS: ItemId[] = [1, 2, 3, 'q', 'r']

// ---------- documents and changes ----------

interface Op { kind: number, a: number, b: number, c: number }
const opArb: fc.Arbitrary<Op> = fc.record({ kind: fc.nat(14), a: fc.nat(99), b: fc.nat(99), c: fc.nat(99) })

const ok = (r: ListOpResult): JsonObject | null => r.ok ? r.value : null
const orderOf = (node: Json | undefined): ItemId[] => isListNode(node) ? node['@o'] : []
const pick = <T>(xs: readonly T[], n: number): T | undefined => xs.length === 0 ? undefined : xs[n % xs.length]

function owner (n: number): JsonObject {
  return n % 4 === 3 ? {} : { owner: PRINCIPALS[n % 3] }
}

function player (a: number, b: number): JsonObject {
  const cards: JsonObject = { '@o': [] }
  for (let i = 0; i < b % 3; i++) {
    cards['@o'] = [...(cards['@o'] as ItemId[]), `k${i}`]
    cards[`k${i}`] = (a + i) % 13
  }
  return { name: `n${a % 5}`, ...owner(a + b), score: b % 4, hand: { n: b % 3, cards } }
}

/** A delta for `op` against `tree`, or null when the op does not fit. */
function deltaFor (tree: JsonObject, op: Op): JsonObject | null {
  const { kind, a, b, c } = op
  const players = orderOf(tree.players)
  const posts = orderOf(tree.posts)
  const someone = pick(players, a)
  switch (kind) {
    case 0: return { phase: PHASES[a % 3] }
    case 1: return a % 3 === 0 ? { secret: null } : { secret: { v: b % 5, deep: { w: c % 3 } } }
    case 2: return [{ meta: { a: b % 3 } }, { meta: { b: { c: c % 3 } } }, { meta: null }, { meta: 7 }][a % 4]
    case 3: return ok(listInsert(tree, ['players'], PLAYER_IDS[a % PLAYER_IDS.length], player(b, c), c % (players.length + 1)))
    case 4: return someone === undefined ? null : ok(listMove(tree, ['players'], someone, b % players.length))
    case 5: return someone === undefined ? null : ok(listRemove(tree, ['players'], someone))
    case 6: {
      if (someone === undefined) return null
      const changes: JsonObject[] = [
        { owner: PRINCIPALS[b % 3] }, { owner: null }, { name: `n${b % 5}` }, { score: b % 4 },
        { hand: { n: b % 3 } }, { hand: player(b, c).hand }, { hand: 'folded' }
      ]
      return { players: { [String(someone)]: changes[c % changes.length] } }
    }
    case 7:
    case 8: {
      if (someone === undefined) return null
      const hand = (tree.players as JsonObject)[String(someone)] as JsonObject
      const cards = isJsonObject(hand.hand) ? orderOf(hand.hand.cards) : []
      const path = ['players', String(someone), 'hand', 'cards']
      if (kind === 7 || cards.length === 0) return ok(listInsert(tree, path, `k${b % 6}`, c % 13, c % (cards.length + 1)))
      return ok(listRemove(tree, path, cards[b % cards.length]))
    }
    case 9: return ok(listInsert(tree, ['posts'], POST_IDS[a % POST_IDS.length], { room: ROOMS[b % 3], text: `t${c % 4}`, ...owner(c) }, c % (posts.length + 1)))
    case 10: {
      const post = pick(posts, a)
      if (post === undefined) return null
      return { posts: { [String(post)]: b % 2 === 0 ? { room: ROOMS[c % 3] } : { text: `t${c % 4}`, ...owner(c) } } }
    }
    case 11: {
      const post = pick(posts, a)
      if (post === undefined) return null
      return ok(b % 2 === 0 ? listRemove(tree, ['posts'], post) : listMove(tree, ['posts'], post, c % posts.length))
    }
    case 13: return { [a % 2 === 0 ? 'meta' : 'secret']: { '@o': ['x', 'b'], x: { v: b % 3 }, b: c % 3 } }
    case 12: return a % 5 === 0 ? { players: null } : { score: { total: b % 7, [`by${c % 3}`]: a % 2 } }
    default: return { phase: PHASES[b % 3], meta: { a: c % 3 } }
  }
}

/** Applies the ops that fit to `tree` (in place); returns their deltas. */
function apply (tree: JsonObject, ops: Op[]): JsonObject[] {
  const deltas: JsonObject[] = []
  for (const op of ops) {
    const delta = deltaFor(tree, op)
    if (delta === null || !checkDelta(tree, delta).ok) continue
    mergeInto(tree, delta)
    deltas.push(delta)
  }
  return deltas
}

// ---------- policies ----------

const someLeafArb: fc.Arbitrary<Json> = fc.constantFrom<Json>(
  'private', 'identified', { role: 'r1' }, { role: 'r2' }, { viewer_is: 'owner' },
  { eq: [{ doc: '/phase' }, 'reveal'] }, { in: [{ doc: '/phase' }, ['play', 'reveal']] },
  { eq: [{ field: 'room' }, { view: 'room' }] }, { eq: [{ field: 'owner' }, { viewer: 'principal' }] },
  { ne: [{ field: 'owner' }, { viewer: 'principal' }] }, { exists: { field: 'owner' } }, { lt: [{ field: 'score' }, 2] },
  { eq: [{ doc: '/meta/a' }, 1] }, { gt: [{ field: 'n' }, 0] }, { eq: [{ view: 'room' }, 'red'] },
  { eq: [{ field: 'hand/n' }, 1] }, { exists: { doc: '/secret' } }, { policy: 'p1' }, { exists: { field: 'a' } }, { exists: { field: 'v' } },
  { gt: [{ doc: '/players/p1/score' }, 1] }, { eq: [{ field: 'phase' }, 'play'] }, { eq: [{ doc: '/secret/x/v' }, 1] }
)
// Biased towards "public" so that views are rarely empty.
const leafArb: fc.Arbitrary<Json> = fc.oneof({ arbitrary: fc.constant<Json>('public'), weight: 2 }, { arbitrary: someLeafArb, weight: 3 })

const conditionArb: fc.Arbitrary<Json> = fc.letrec<{ c: Json }>(tie => ({
  c: fc.oneof({ depthSize: 'small', withCrossShrink: true },
    { arbitrary: leafArb, weight: 4 },
    { arbitrary: fc.array(tie('c'), { minLength: 1, maxLength: 3 }).map(items => ({ any: items })), weight: 1 },
    { arbitrary: fc.array(tie('c'), { minLength: 1, maxLength: 3 }).map(items => ({ all: items })), weight: 1 },
    { arbitrary: tie('c').map(item => ({ not: item })), weight: 1 })
})).c

const FIELD_PATTERNS = [
  '/', '/phase', '/players', '/players/*', '/players/*/name', '/players/*/hand', '/players/*/hand/cards',
  '/players/*/hand/cards/*', '/players/*/score', '/players/*/*', '/players/p1', '/posts', '/posts/*',
  '/posts/*/text', '/meta', '/meta/b', '/meta/*', '/secret', '/secret/deep', '/secret/*', '/secret/x/v', '/*', '/score/*'
]
const RECORD_PATTERNS = ['/players/*', '/posts/*', '/players/*/hand/cards/*', '/meta', '/players/*/hand', '/secret/*']

const policyArb: fc.Arbitrary<JsonObject> = fc.record({
  anonymous: fc.boolean(),
  identified: fc.boolean(),
  p1: conditionArb.filter(c => !JSON.stringify(c).includes('"policy"')),
  fields: fc.uniqueArray(fc.tuple(fc.constantFrom(...FIELD_PATTERNS), conditionArb), { selector: ([p]) => p, minLength: 1, maxLength: 7 }),
  records: fc.uniqueArray(fc.tuple(fc.constantFrom(...RECORD_PATTERNS), conditionArb), { selector: ([p]) => p, maxLength: 2 })
}).map(p => ({
  version: 1,
  observe: { anonymous: p.anonymous || p.identified, identified: p.identified || !p.anonymous },
  policies: { p1: p.p1 },
  fields: Object.fromEntries(p.fields),
  records: Object.fromEntries(p.records.map(([pattern, require]) => [pattern, { require }])),
  view: { room: { type: 'string', default: 'lobby' } }
}))

const viewerArb: fc.Arbitrary<{ viewer: Viewer, view: Json }> = fc.record({
  principal: fc.constantFrom(undefined, ...PRINCIPALS),
  roles: fc.subarray(['r1', 'r2', 'r3']),
  room: fc.constantFrom<Json | undefined>('lobby', 'red', 'blue', 5, undefined)
}).map(({ principal, roles, room }): { viewer: Viewer, view: Json } => ({
  viewer: principal === undefined ? { roles } : { principal, roles },
  view: room === undefined ? {} : { room }
}))

// ---------- checks ----------

/** Every value `delta` sends is in `view` (the viewer's state after it): nothing hidden leaks. */
function assertWithin (delta: Json, view: Json | undefined, path: string): void {
  if (!isJsonObject(delta)) {
    assert.deepStrictEqual(delta, view, `delta value at ${path} is not what the viewer may see`)
    return
  }
  assert.ok(isJsonObject(view), `delta reaches ${path}, which the viewer does not see`)
  for (const key of Object.keys(delta)) {
    const value = delta[key]
    if (value === null) continue
    if (key === '@o') {
      for (const entry of value as Json[]) {
        if (!Array.isArray(entry)) assert.ok(orderOf(view).includes(entry as ItemId), `"@o" at ${path} names hidden id ${String(entry)}`)
      }
      continue
    }
    assertWithin(value, Object.hasOwn(view, key) ? view[key] : undefined, `${path}/${key}`)
  }
}

interface Watcher { viewer: Viewer, view: Json, cls: ClassView, copy: JsonObject, browser: JsonObject }

function watch (policy: Policy, tree: JsonObject, v: { viewer: Viewer, view: Json }): Watcher {
  const cls = new ClassView(policy, v.viewer, v.view, tree)
  const copy = cloneTree(cls.view)
  assert.deepStrictEqual(copy, filterView(policy, v.viewer, v.view, tree))
  return { ...v, cls, copy, browser: materialize(copy) as JsonObject }
}

function step (policy: Policy, w: Watcher, delta: JsonObject, tree: JsonObject): void {
  const expected = filterView(policy, w.viewer, w.view, tree)
  const out = w.cls.update(delta, tree)
  if (out !== null) {
    assert.deepStrictEqual(checkDelta(w.copy, out), { ok: true })
    mergeInto(w.copy, out)
    assertWithin(out, w.copy, '')
    w.browser = integrate(w.browser, out)
  }
  assert.deepStrictEqual(w.copy, expected, `view differs after ${JSON.stringify(delta)} (sent ${JSON.stringify(out)})`)
  assert.deepStrictEqual(w.cls.view, expected)
  assert.deepStrictEqual(w.browser, materialize(expected))
  assertIdsAgree(w.copy, w.browser)
}

describe('privacy properties', function () {
  this.timeout(120_000)

  it('policies from the generator compile', () => {
    for (const json of fc.sample(policyArb, { numRuns: 200, seed: 7 })) {
      const compiled = compilePolicy(json)
      assert.ok(compiled.ok, compiled.ok ? '' : compiled.error)
    }
  })

  it('each class, applying its deltas, holds exactly filterView after every frame', () => {
    fc.assert(fc.property(
      policyArb, fc.array(opArb, { maxLength: 24 }), fc.array(fc.array(opArb, { minLength: 1, maxLength: 4 }), { maxLength: 8 }),
      fc.array(viewerArb, { minLength: 1, maxLength: 5 }),
      (json, setup, frames, viewers) => {
        const compiled = compilePolicy(json)
        if (!compiled.ok) throw new Error(compiled.error)
        const policy = compiled.policy
        const tree: JsonObject = {}
        apply(tree, setup)
        const watchers = viewers.map(v => watch(policy, tree, v))
        for (const ops of frames) {
          const before = cloneTree(tree)
          const deltas = apply(tree, ops)
          let composed: JsonObject | null
          try {
            composed = composeDeltas(before, deltas)
          } catch (err) {
            if (!(err instanceof UncomposableDeltasError)) throw err
            // A list became an object within the frame: send its changes one by one.
            for (const delta of deltas) {
              mergeInto(before, delta)
              const now = cloneTree(before)
              for (const w of watchers) step(policy, w, delta, now)
            }
            continue
          }
          if (composed !== null) for (const w of watchers) step(policy, w, composed, tree)
        }
        for (let i = 0; i < watchers.length; i++) {
          for (let j = i + 1; j < watchers.length; j++) {
            const [a, b] = [watchers[i], watchers[j]]
            if (classKeyOf(policy, a.viewer, a.view) !== classKeyOf(policy, b.viewer, b.view)) continue
            assert.deepStrictEqual(filterView(policy, a.viewer, a.view, tree), filterView(policy, b.viewer, b.view, tree))
            assert.deepStrictEqual(a.cls.view, b.cls.view)
          }
        }
      }), { numRuns: RUNS })
  })

  it('equal class keys mean equal views (many viewers, one document)', () => {
    fc.assert(fc.property(policyArb, fc.array(opArb, { maxLength: 25 }), fc.array(viewerArb, { minLength: 2, maxLength: 8 }), (json, ops, viewers) => {
      const compiled = compilePolicy(json)
      if (!compiled.ok) throw new Error(compiled.error)
      const tree: JsonObject = {}
      apply(tree, ops)
      const byKey = new Map<string, JsonObject>()
      for (const { viewer, view } of viewers) {
        const key = classKeyOf(compiled.policy, viewer, view)
        const seen = filterView(compiled.policy, viewer, view, tree)
        const other = byKey.get(key)
        if (other === undefined) byKey.set(key, seen)
        else assert.deepStrictEqual(seen, other, `key ${key}`)
      }
    }), { numRuns: RUNS })
  })
})
