import assert from 'node:assert/strict'
import type { Json, JsonObject } from '../../../src/json.ts'
import { compilePolicy, filterView } from '../../../src/privacy/index.ts'
import type { Policy, Viewer } from '../../../src/privacy/index.ts'

function policy (extra: JsonObject): Policy {
  const result = compilePolicy({ version: 1, observe: { anonymous: true, identified: true }, ...extra })
  if (!result.ok) assert.fail(result.error)
  return result.policy
}

const anon: Viewer = { roles: [] }
const alice: Viewer = { principal: 'alice', roles: [] }
const bob: Viewer = { principal: 'bob', roles: [] }
const judge: Viewer = { principal: 'jo', roles: ['judge'] }

const see = (p: Policy, viewer: Viewer, tree: JsonObject, view: Json = {}): JsonObject => filterView(p, viewer, view, tree)

describe('privacy/filter', () => {
  it('fields are private by default; public shows a field and its subtree', () => {
    const p = policy({ fields: { '/score': 'public', '/config': 'public' } })
    assert.deepEqual(see(p, anon, { score: 3, secret: 'x', config: { a: { b: 1 } } }), { score: 3, config: { a: { b: 1 } } })
  })

  it('a deeper rule overrides the one above it, both ways', () => {
    const p = policy({ fields: { '/': 'public', '/game/solution': 'private', '/vault': 'private', '/vault/label': 'public' } })
    const tree = { title: 't', game: { board: [1, 2], solution: 42 }, vault: { label: 'L', gold: 9 } }
    assert.deepEqual(see(p, anon, tree), { title: 't', game: { board: [1, 2] }, vault: { label: 'L' } })
  })

  it('a hidden container appears only around visible descendants; a visible empty one stays', () => {
    const p = policy({ fields: { '/a/b/c': 'public', '/e': 'public' } })
    assert.deepEqual(see(p, anon, { a: { b: { d: 1 }, x: 2 }, e: {} }), { e: {} })
    assert.deepEqual(see(p, anon, { a: { b: { c: 0, d: 1 }, x: 2 }, e: {} }), { a: { b: { c: 0 } }, e: {} })
  })

  it('"@policy" is never visible, even under a public root', () => {
    const p = policy({ fields: { '/': 'public' } })
    assert.deepEqual(see(p, anon, { '@policy': { version: 1 }, a: 1 }), { a: 1 })
  })

  it('"@input" (input acknowledgements) is never visible, and no rule may name it', () => {
    const p = policy({ fields: { '/': 'public' } })
    assert.deepEqual(see(p, anon, { '@input': { poll: { counted: { 'sp/a': [[1, 2]] } } }, a: 1 }), { a: 1 })
    const named = compilePolicy({ version: 1, fields: { '/@input': 'public' } })
    assert.equal(named.ok, false)
    assert.match(named.ok ? '' : named.error, /"@input" is never visible/)
  })

  it('viewer_is inside list items: each player sees only their own hand', () => {
    const p = policy({ fields: { '/players/*/name': 'public', '/players/*/hand': { viewer_is: 'owner' } } })
    const tree = {
      players: {
        '@o': ['p1', 'p2'],
        p1: { name: 'Ann', owner: 'alice', hand: { '@o': [1, 2], 1: 'K', 2: 'Q' } },
        p2: { name: 'Bo', owner: 'bob', hand: { '@o': [3], 3: 'A' } }
      }
    }
    assert.deepEqual(see(p, alice, tree), {
      players: { '@o': ['p1', 'p2'], p1: { name: 'Ann', hand: { '@o': [1, 2], 1: 'K', 2: 'Q' } }, p2: { name: 'Bo' } }
    })
    assert.deepEqual(see(p, bob, tree), {
      players: { '@o': ['p1', 'p2'], p1: { name: 'Ann' }, p2: { name: 'Bo', hand: { '@o': [3], 3: 'A' } } }
    })
    assert.deepEqual(see(p, anon, tree), { players: { '@o': ['p1', 'p2'], p1: { name: 'Ann' }, p2: { name: 'Bo' } } })
  })

  it('named policies read document fields and the viewer\'s roles', () => {
    const p = policy({
      policies: { revealed: { eq: [{ doc: '/phase' }, 'reveal'] }, judge: { role: 'judge' } },
      fields: { '/phase': 'public', '/answer': { any: [{ policy: 'revealed' }, { policy: 'judge' }] } }
    })
    assert.deepEqual(see(p, alice, { phase: 'play', answer: 42 }), { phase: 'play' })
    assert.deepEqual(see(p, judge, { phase: 'play', answer: 42 }), { phase: 'play', answer: 42 })
    assert.deepEqual(see(p, alice, { phase: 'reveal', answer: 42 }), { phase: 'reveal', answer: 42 })
  })

  it('comparisons: an absent side is never equal (anonymous owns nothing), in, order, exists', () => {
    const p = policy({
      fields: {
        '/a': { eq: [{ field: 'owner' }, { viewer: 'principal' }] },
        '/b': { in: [{ doc: '/level' }, [2, 3]] },
        '/c': { lt: [{ doc: '/level' }, 3] },
        '/d': { exists: { doc: '/flag' } },
        '/e': { not: 'identified' }
      }
    })
    // No owner field and no principal: still not equal.
    assert.deepEqual(see(p, anon, { a: 1, b: 1, c: 1, d: 1, e: 1, level: 2 }), { b: 1, c: 1, e: 1 })
    assert.deepEqual(see(p, alice, { a: 1, b: 1, c: 1, d: 1, e: 1, level: 3, owner: 'alice', flag: false }), { a: 1, b: 1, d: 1 })
  })

  it('record require hides the whole item, overriding deeper public fields', () => {
    const p = policy({
      fields: { '/cards': 'public' },
      records: { '/cards/*': { require: { any: [{ eq: [{ field: 'played' }, true] }, { viewer_is: 'owner' }] } } }
    })
    const tree = { cards: { '@o': ['x', 'y', 'z'], x: { v: 1, owner: 'bob', played: true }, y: { v: 2, owner: 'bob' }, z: { v: 3, owner: 'alice' } } }
    assert.deepEqual(see(p, alice, tree), {
      cards: { '@o': ['x', 'z'], x: { v: 1, owner: 'bob', played: true }, z: { v: 3, owner: 'alice' } }
    })
    assert.deepEqual(see(p, anon, tree), { cards: { '@o': ['x'], x: { v: 1, owner: 'bob', played: true } } })
  })

  it('view state: the view holds only the chosen room\'s posts', () => {
    const p = policy({
      view: { room: { type: 'string', default: 'lobby' } },
      fields: { '/posts': 'public', '/posts/*/room': 'private' },
      records: { '/posts/*': { require: { eq: [{ field: 'room' }, { view: 'room' }] } } }
    })
    const tree = { posts: { '@o': [1, 2, 3], 1: { room: 'lobby', t: 'hi' }, 2: { room: 'red', t: 'r' }, 3: { room: 'lobby', t: 'yo' } } }
    assert.deepEqual(see(p, anon, tree), { posts: { '@o': [1, 3], 1: { t: 'hi' }, 3: { t: 'yo' } } })
    assert.deepEqual(see(p, anon, tree, { room: 'red' }), { posts: { '@o': [2], 2: { t: 'r' } } })
    assert.deepEqual(see(p, anon, tree, { room: 'void' }), { posts: { '@o': [] } })
  })

  it('the most specific pattern wins: a literal key beats "*" at the leftmost difference', () => {
    const p = policy({ fields: { '/*/x': 'public', '/a/*': 'private', '/b/*': 'public', '/b/x': 'private' } })
    assert.deepEqual(see(p, anon, { a: { x: 1, y: 2 }, b: { x: 3, y: 4 }, c: { x: 5, y: 6 } }), { b: { y: 4 }, c: { x: 5 } })
  })

  it('"~1" and "~0" escape "/" and "~" in pattern segments', () => {
    const p = policy({ fields: { '/a~1b/c~0d': 'public' } })
    assert.deepEqual(see(p, anon, { 'a/b': { 'c~d': 1, e: 2 } }), { 'a/b': { 'c~d': 1 } })
  })
})
