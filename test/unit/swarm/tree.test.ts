import assert from 'node:assert/strict'
import fc from 'fast-check'
import { SwarmTree } from '../../../src/swarm/index.ts'
import type { SwarmLimits } from '../../../src/swarm/index.ts'

const RELAY = { capacity: 3, quality: 1 }
const DECLINES = { capacity: 0, quality: 1 }

function tree (limits: Partial<SwarmLimits> = {}): SwarmTree {
  return new SwarmTree({ minRoots: 2, maxChildren: 4, maxDepth: 2, demotionMs: 1000, ...limits })
}

/** Every rule a tree must keep, whatever happened to it. */
function checkInvariants (t: SwarmTree, limits: SwarmLimits, declining: Set<string>, demoted: Map<string, number>, now: number): void {
  for (const id of t.ids()) {
    const parent = t.parentOf(id)
    if (parent !== null && parent !== undefined) {
      assert.ok(t.has(parent), `${id}'s parent ${parent} is in the tree`)
      assert.ok(t.childrenOf(parent).includes(id), `${parent} lists ${id}`)
    }
    assert.ok(t.depthOf(id) <= limits.maxDepth, `${id} within maxDepth`)
    assert.ok(t.childrenOf(id).length <= limits.maxChildren, `${id} within maxChildren`)
    if (declining.has(id)) {
      assert.equal(parent, null, `${id} declines relaying: fed directly`)
      assert.equal(t.childrenOf(id).length, 0, `${id} declines relaying: no children`)
    }
    const until = demoted.get(id)
    if (until !== undefined && until > now) assert.equal(t.childrenOf(id).length, 0, `${id} is demoted`)
    for (const child of t.childrenOf(id)) assert.equal(t.parentOf(child), id)
  }
}

describe('swarm tree', () => {
  // every rule below is also checked after each step of random sequences (the property test)
  it('feeds minRoots viewers directly and hangs the rest below them, shallowest and least loaded first', () => {
    const t = tree()
    const ids = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h']
    const moves = ids.map(id => t.join(id, RELAY, 0))
    assert.deepEqual(moves.slice(0, 2), [[], []])
    assert.deepEqual(moves.slice(2).map(m => m[0].parent), ['a', 'b', 'a', 'b', 'a', 'b'])
    assert.deepEqual(t.direct(), ['a', 'b'])
    assert.ok(t.direct().length <= ids.length / 3)
  })

  it('goes one level deeper when the roots are full, never past maxDepth', () => {
    const t = tree({ maxChildren: 2 })
    for (let i = 0; i < 14; i++) t.join(`p${i}`, RELAY, 0)
    // 2 roots, 4 at depth 1, 8 at depth 2: all 14 placed, none deeper
    assert.deepEqual(t.direct(), ['p0', 'p1'])
    assert.equal(t.ids().filter(id => t.depthOf(id) === 2).length, 8)
    t.join('p14', RELAY, 0)
    assert.equal(t.parentOf('p14'), null, 'no slot within maxDepth: fed directly')
  })

  it('feeds a viewer that declines relaying directly and never gives it children', () => {
    const t = tree()
    t.join('a', RELAY, 0)
    t.join('b', RELAY, 0)
    assert.deepEqual(t.join('m', DECLINES, 0), [])
    assert.equal(t.parentOf('m'), null)
    t.join('c', RELAY, 0)
    assert.notEqual(t.parentOf('c'), 'm')
  })

  it('prefers the better measured quality among parents at the same depth', () => {
    const t = tree()
    t.join('a', { capacity: 3, quality: 0.2 }, 0)
    t.join('b', { capacity: 3, quality: 0.9 }, 0)
    assert.deepEqual(t.join('c', RELAY, 0), [{ id: 'c', parent: 'b', from: null }])
  })

  it('re-parents the children of a relay that leaves, each keeping its own children', () => {
    const t = tree({ maxChildren: 2, maxDepth: 3 })
    for (const id of ['a', 'b', 'c', 'd', 'e', 'f', 'g']) t.join(id, RELAY, 0)
    // a: c, e   b: d, f   c: g
    assert.equal(t.parentOf('g'), 'c')
    const moved = t.leave('a', 0)
    assert.deepEqual(moved.map(m => m.id).sort(), ['c', 'e'])
    assert.equal(t.parentOf('g'), 'c', 'a grandchild does not move')
    for (const { id, parent } of moved) assert.equal(t.parentOf(id), parent)
    assert.ok(!t.has('a'))
  })

  it('a report demotes the relay: its children move, it gets none until demotionMs has passed', () => {
    const t = tree()
    for (const id of ['a', 'b', 'c', 'd', 'e']) t.join(id, RELAY, 0)
    assert.deepEqual(t.childrenOf('a'), ['c', 'e'])
    const moved = t.report('c', 'a', 100)
    assert.deepEqual(moved, [{ id: 'c', parent: 'b', from: 'a' }, { id: 'e', parent: 'b', from: 'a' }], 'moved under the other root, not under each other')
    assert.deepEqual(t.childrenOf('a'), [])
    t.join('f', RELAY, 500)
    assert.notEqual(t.parentOf('f'), 'a', 'still demoted')
    t.leave('f', 1200)
    // demotion over: a (b is full) takes children again
    t.join('g', RELAY, 1200)
    t.join('h', RELAY, 1200)
    assert.deepEqual([t.parentOf('g'), t.parentOf('h')], ['a', 'a'])
    assert.deepEqual(t.report('x', 'a', 0), [], 'a report from a stranger changes nothing')
    assert.deepEqual(t.report('d', 'a', 0), [], 'a report against a relay that is not the parent changes nothing')
  })

  it('a child that cannot reach its parent moves elsewhere, and the parent is not demoted', () => {
    const t = tree()
    for (const id of ['a', 'b', 'c', 'd', 'e']) t.join(id, RELAY, 0)
    assert.deepEqual(t.unreachable('c', 'a', 0), [{ id: 'c', parent: 'b', from: 'a' }])
    t.join('f', RELAY, 0)
    assert.equal(t.parentOf('f'), 'a', 'a still takes children')
  })

  it('a relay lowering its capacity sheds its youngest children; declining makes it direct', () => {
    const t = tree()
    for (const id of ['a', 'b', 'c', 'd', 'e', 'f', 'g']) t.join(id, RELAY, 0)
    assert.deepEqual(t.childrenOf('a'), ['c', 'e', 'g'])
    const moved = t.update('a', { capacity: 1, quality: 1 }, 0)
    assert.deepEqual(moved.map(m => m.id), ['e', 'g'])
    assert.deepEqual(t.childrenOf('a'), ['c'])
    assert.equal(t.parentOf('g'), 'c', 'the shed child went one level down, under c')
    const declined = t.update('c', DECLINES, 0)
    assert.deepEqual(declined, [{ id: 'g', parent: 'd', from: 'c' }, { id: 'c', parent: null, from: 'a' }], 'c sheds g and is fed directly')
  })

  it('keeps its rules through any sequence of joins, leaves, reports and updates (property)', () => {
    const limits: SwarmLimits = { minRoots: 2, maxChildren: 3, maxDepth: 2, demotionMs: 50 }
    const op = fc.oneof(
      fc.record({ kind: fc.constant('join' as const), id: fc.nat(19), capacity: fc.nat(5), quality: fc.double({ min: 0, max: 1, noNaN: true }) }),
      fc.record({ kind: fc.constant('leave' as const), id: fc.nat(19) }),
      fc.record({ kind: fc.constant('report' as const), id: fc.nat(19) }),
      fc.record({ kind: fc.constant('unreachable' as const), id: fc.nat(19) }),
      fc.record({ kind: fc.constant('update' as const), id: fc.nat(19), capacity: fc.nat(5), quality: fc.double({ min: 0, max: 1, noNaN: true }) })
    )
    fc.assert(fc.property(fc.array(op, { maxLength: 80 }), ops => {
      const t = new SwarmTree(limits)
      const declining = new Set<string>()
      const demoted = new Map<string, number>()
      let now = 0
      for (const o of ops) {
        now += 7
        const id = `v${o.id}`
        let moves
        if (o.kind === 'join' || o.kind === 'update') {
          const known = t.has(id)
          if (o.kind === 'update' && !known) continue
          moves = o.kind === 'join' ? t.join(id, o, now) : t.update(id, o, now)
          if (o.capacity === 0) declining.add(id)
          else declining.delete(id)
        } else if (o.kind === 'leave') {
          moves = t.leave(id, now)
          declining.delete(id)
        } else {
          const parent = t.parentOf(id)
          if (parent === null || parent === undefined) continue
          if (o.kind === 'unreachable') {
            moves = t.unreachable(id, parent, now)
            assert.notEqual(t.parentOf(id), parent, 'not placed under the parent it could not reach')
          } else {
            moves = t.report(id, parent, now)
            demoted.set(parent, now + limits.demotionMs)
          }
        }
        for (const move of moves) assert.equal(t.parentOf(move.id), move.parent, 'each assignment says where the viewer is now')
        checkInvariants(t, limits, declining, demoted, now)
      }
    }), { numRuns: 400, seed: 12 })
  })
})
