import assert from 'node:assert/strict'
import type { Json, JsonObject } from '../../../src/json.ts'
import { cloneTree, composeDeltas, listInsert, listRemove, mergeInto } from '../../../src/delta/index.ts'
import type { ListOpResult } from '../../../src/delta/index.ts'
import { ClassView, POLICY_FIELD, PolicyChangedError, compilePolicy, filterView, policyChanged } from '../../../src/privacy/index.ts'
import type { Policy, Viewer } from '../../../src/privacy/index.ts'

function policy (extra: JsonObject): Policy {
  const result = compilePolicy({ version: 1, observe: { anonymous: true, identified: true }, ...extra })
  if (!result.ok) assert.fail(result.error)
  return result.policy
}

const ok = (r: ListOpResult): JsonObject => { if (!r.ok) assert.fail(r.error); return r.value }
const alice: Viewer = { principal: 'alice', roles: [] }
const bob: Viewer = { principal: 'bob', roles: [] }
const anon: Viewer = { roles: [] }

/** A document and its classes; `frame` applies changes and returns each class's delta. */
function game (p: Policy, tree: JsonObject, viewers: Viewer[], view: Json = {}) {
  const classes = viewers.map(v => new ClassView(p, v, view, tree))
  return {
    classes,
    frame (...changes: Array<JsonObject | ((t: JsonObject) => JsonObject)>): Array<JsonObject | null> {
      const before = cloneTree(tree)
      const deltas = changes.map(c => {
        const delta = typeof c === 'function' ? c(tree) : c
        mergeInto(tree, delta)
        return delta
      })
      const composed = composeDeltas(before, deltas)
      assert.ok(composed !== null)
      const out = classes.map(cls => cls.update(composed, tree))
      classes.forEach((cls, i) => assert.deepEqual(cls.view, filterView(p, viewers[i], view, tree)))
      return out
    }
  }
}

describe('privacy/class-view', () => {
  it('Adama golden flip: a guarded field turning hidden is sent as null, and whole when it returns', () => {
    const p = policy({ policies: { on: { eq: [{ doc: '/x' }, true] } }, fields: { '/x': 'public', '/r': { policy: 'on' } } })
    const g = game(p, { x: true, r: { z: 1000 } }, [anon])
    assert.deepEqual(g.classes[0].view, { x: true, r: { z: 1000 } })
    assert.deepEqual(g.frame({ x: false }), [{ x: false, r: null }])
    assert.deepEqual(g.frame({ r: { z: 1001 } }), [null])
    assert.deepEqual(g.frame({ x: true }), [{ x: true, r: { z: 1001 } }])
  })

  it('card game: own hand, others\' hand sizes, and a reveal that flips every hand', () => {
    const p = policy({
      policies: { revealed: { eq: [{ doc: '/phase' }, 'reveal'] } },
      fields: {
        '/phase': 'public',
        '/players': 'public',
        '/players/*/owner': 'private',
        '/players/*/hand': { any: [{ viewer_is: 'owner' }, { policy: 'revealed' }] }
      }
    })
    const tree: JsonObject = {
      phase: 'play',
      players: {
        '@o': ['a', 'b'],
        a: { owner: 'alice', size: 2, hand: { '@o': [1, 2], 1: 'K', 2: 'Q' } },
        b: { owner: 'bob', size: 1, hand: { '@o': [3], 3: 'A' } }
      }
    }
    const g = game(p, tree, [alice, bob, anon])
    assert.deepEqual(g.classes[0].view, {
      phase: 'play', players: { '@o': ['a', 'b'], a: { size: 2, hand: { '@o': [1, 2], 1: 'K', 2: 'Q' } }, b: { size: 1 } }
    })
    // Bob draws a card: only Bob sees it; everyone sees his size change.
    assert.deepEqual(g.frame(t => ok(listInsert(t, ['players', 'b', 'hand'], 4, '7', 1)), { players: { b: { size: 2 } } }), [
      { players: { b: { size: 2 } } },
      { players: { b: { size: 2, hand: { 4: '7', '@o': [3, 4] } } } },
      { players: { b: { size: 2 } } }
    ])
    // Reveal: every hand becomes visible to everyone, sent whole to those who lacked it.
    assert.deepEqual(g.frame({ phase: 'reveal' }), [
      { phase: 'reveal', players: { b: { hand: { '@o': [3, 4], 3: 'A', 4: '7' } } } },
      { phase: 'reveal', players: { a: { hand: { '@o': [1, 2], 1: 'K', 2: 'Q' } } } },
      { phase: 'reveal', players: { a: { hand: { '@o': [1, 2], 1: 'K', 2: 'Q' } }, b: { hand: { '@o': [3, 4], 3: 'A', 4: '7' } } } }
    ])
    // Next round: hidden again, sent as null.
    assert.deepEqual(g.frame({ phase: 'play' }), [
      { phase: 'play', players: { b: { hand: null } } },
      { phase: 'play', players: { a: { hand: null } } },
      { phase: 'play', players: { a: { hand: null }, b: { hand: null } } }
    ])
    // A hand changing owner moves it from one viewer to the other.
    assert.deepEqual(g.frame({ players: { a: { owner: 'bob' } } }), [
      { players: { a: { hand: null } } },
      { players: { a: { hand: { '@o': [1, 2], 1: 'K', 2: 'Q' } } } },
      null
    ])
  })

  it('rooms: an item moving into the chosen room appears, one moving out leaves', () => {
    const p = policy({
      view: { room: { type: 'string', default: 'lobby' } },
      fields: { '/posts': 'public' },
      records: { '/posts/*': { require: { eq: [{ field: 'room' }, { view: 'room' }] } } }
    })
    const tree: JsonObject = { posts: { '@o': [1, 2], 1: { room: 'lobby', t: 'hi' }, 2: { room: 'red', t: 'r' } } }
    const g = game(p, tree, [anon])
    assert.deepEqual(g.frame(t => ok(listInsert(t, ['posts'], 3, { room: 'red', t: 'x' }, 2))), [null])
    assert.deepEqual(g.frame(t => ok(listInsert(t, ['posts'], 4, { room: 'lobby', t: 'y' }, 0))), [{ posts: { 4: { room: 'lobby', t: 'y' }, '@o': [4, 1] } }])
    assert.deepEqual(g.frame({ posts: { 2: { room: 'lobby' } } }), [{ posts: { 2: { room: 'lobby', t: 'r' }, '@o': [[0, 1], 2] } }])
    assert.deepEqual(g.frame({ posts: { 1: { room: 'red' } } }), [{ posts: { 1: null, '@o': [4, 2] } }])
    assert.deepEqual(g.frame(t => ok(listRemove(t, ['posts'], 3))), [null])
  })

  it('a policy change is the caller\'s to handle: policyChanged, and update refuses', () => {
    const p = policy({ fields: { '/': 'public' } })
    const cls = new ClassView(p, anon, {}, { a: 1 })
    assert.equal(policyChanged({ '@policy': { version: 1 } }), true)
    assert.equal(policyChanged({ a: 2 }), false)
    assert.throws(() => cls.update({ '@policy': { version: 1 } }, { a: 1 }), PolicyChangedError)
  })

  it('a class that may not observe sees nothing and is sent nothing', () => {
    const p = policy({ observe: { identified: true }, fields: { '/': 'public' } })
    const cls = new ClassView(p, anon, {}, { a: 1 })
    assert.deepEqual(cls.view, {})
    assert.equal(cls.update({ a: 2 }, { a: 2 }), null)
  })

  it('items a raw "@s"/"@o" delta drops without naming them leave the view too', () => {
    const p = policy({ fields: { '/l': 'public' } })
    const tree: JsonObject = { l: { '@o': [0, 1, 2], 0: 'a', 1: 'b', 2: 'c' } }
    const cls = new ClassView(p, anon, {}, tree)
    mergeInto(tree, { l: { '@s': 1 } })
    assert.deepEqual(cls.update({ l: { '@s': 1 } }, tree), { l: { 1: null, 2: null, '@o': [0] } })
  })

  it('cost follows the change: one insertion into 10,000 items reads a handful of items', () => {
    const p = policy({
      policies: { revealed: { eq: [{ doc: '/phase' }, 'reveal'] } },
      fields: { '/phase': 'public', '/posts': 'public', '/posts/*/secret': { policy: 'revealed' } },
      records: { '/posts/*': { require: { viewer_is: 'owner' } } }
    })
    const real: JsonObject = { '@o': [] }
    for (let i = 0; i < 10_000; i++) {
      (real['@o'] as number[]).push(i)
      real[i] = { owner: i % 2 === 0 ? 'alice' : 'bob', t: i, secret: i }
    }
    let reads = 0
    let scans = 0
    const counted = new Proxy(real, {
      get: (target, key, receiver) => { if (key !== '@o') reads++; return Reflect.get(target, key, receiver) },
      getOwnPropertyDescriptor: (target, key) => { if (key !== '@o') reads++; return Reflect.getOwnPropertyDescriptor(target, key) },
      ownKeys: target => { scans++; return Reflect.ownKeys(target) }
    })
    const tree: JsonObject = { phase: 'play', other: 0, posts: counted }
    const cls = new ClassView(p, alice, {}, tree)
    const frame = (delta: JsonObject): JsonObject | null => {
      const composed = composeDeltas(cloneTree({ ...tree, posts: real }), [delta])
      mergeInto(tree, delta)
      reads = 0
      scans = 0
      return cls.update(composed as JsonObject, tree)
    }
    assert.deepEqual(frame(ok(listInsert(tree, ['posts'], 'n', { owner: 'alice', t: 'new' }, 5000))),
      { posts: { n: { owner: 'alice', t: 'new' }, '@o': [[0, 2499], 'n', [2500, 4999]] } })
    assert.ok(reads < 10 && scans === 0, `${reads} item reads, ${scans} scans`)
    assert.equal(frame({ other: 1 }), null)
    assert.ok(reads === 0 && scans === 0, `${reads} item reads, ${scans} scans`)
    // A change to what a rule reads re-evaluates exactly the nodes that rule guards.
    const reveal = frame({ phase: 'reveal' }) as JsonObject
    assert.equal(Object.keys(reveal.posts as JsonObject).length, 5000)
    assert.deepEqual((reveal.posts as JsonObject)[4], { secret: 4 })
  })
})

// Questions an implementer working from docs/privacy.md alone had to guess; the page now answers
// each, and these pin the answers for filterView and ClassView alike (game() checks both).
describe('privacy: what docs/privacy.md settles', () => {
  it('a "/" rule reads the document root as its record', () => {
    const p = policy({ fields: { '/': { eq: [{ field: 'mode' }, 'open'] }, '/mode': 'public' } })
    const g = game(p, { mode: 'open', a: 1 }, [anon])
    assert.deepEqual(g.classes[0].view, { mode: 'open', a: 1 })
    assert.deepEqual(g.frame({ mode: 'closed' }), [{ mode: 'closed', a: null }])
    assert.deepEqual(g.frame({ mode: 'open' }), [{ mode: 'open', a: 1 }])
  })

  it('doc and field operands that reach a list compare its tree form, never an array', () => {
    const tags = { '@o': ['x'], x: 'red' }
    const p = policy({
      fields: {
        '/tags': 'public',
        '/asTree': { eq: [{ doc: '/tags' }, { literal: tags }] },
        '/asArray': { eq: [{ doc: '/tags' }, ['red']] },
        '/inList': { in: ['red', { doc: '/tags' }] },
        '/byItem': { eq: [{ doc: '/tags/x' }, 'red'] },
        '/records/*/v': { eq: [{ field: 'tags' }, { literal: tags }] }
      }
    })
    const tree: JsonObject = { tags: structuredClone(tags), asTree: 1, asArray: 1, inList: 1, byItem: 1, records: { r: { tags: structuredClone(tags), v: 1 } } }
    const g = game(p, tree, [anon])
    assert.deepEqual(g.classes[0].view, { tags, asTree: 1, byItem: 1, records: { r: { v: 1 } } })
    assert.deepEqual(g.frame(t => ok(listInsert(t, ['tags'], 'y', 'blue', 1))), [{ tags: { y: 'blue', '@o': ['x', 'y'] }, asTree: null }])
  })

  it('a frame writing "@input" (acknowledgements) changes no view', () => {
    const p = policy({ fields: { '/': 'public' } })
    const g = game(p, { a: 1 }, [anon])
    assert.deepEqual(g.frame({ '@input': { poll: { counted: { 'sp/a': [[1, 1]] } } }, a: 2 }), [{ a: 2 }])
    assert.deepEqual(g.classes[0].view, { a: 2 })
  })

  it('only the top-level "@policy" is skipped: a nested "@policy" key is ordinary data', () => {
    const p = policy({ fields: { '/a': 'public', '/b/@policy': 'private', '/b': 'public' } })
    const g = game(p, { [POLICY_FIELD]: { version: 1 }, a: { [POLICY_FIELD]: 'shown', n: 1 }, b: { [POLICY_FIELD]: 'hidden', n: 2 } }, [anon])
    assert.deepEqual(g.classes[0].view, { a: { [POLICY_FIELD]: 'shown', n: 1 }, b: { n: 2 } })
    assert.deepEqual(g.frame({ a: { [POLICY_FIELD]: 'changed' } }), [{ a: { [POLICY_FIELD]: 'changed' } }])
  })
})
