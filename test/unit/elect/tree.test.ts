import assert from 'node:assert/strict'
import fc from 'fast-check'
import { AUTHORITY_PARENT, computeDocTree, regionScope, rolesOf, scopeDepth, splitIntoSubScopes } from '../../../src/elect/index.ts'
import type { DocTree, ScopeNode, TreeMember } from '../../../src/elect/index.ts'

const DOC = 'doc.example'

function member (peerId: string, region: string, carries: boolean, init: { capacity?: number, load?: number } = {}): TreeMember {
  return { peerId, region, weight: 1, capacity: init.capacity ?? 1000, load: init.load ?? 0, holds: () => false, carries: d => carries && d === DOC }
}

function region (name: string, carriers: number, idle = 0): TreeMember[] {
  return [
    ...Array.from({ length: carriers }, (_, i) => member(`${name}C${i}`, name, true)),
    ...Array.from({ length: idle }, (_, i) => member(`${name}I${i}`, name, false))
  ]
}

function scopes (node: ScopeNode): ScopeNode[] {
  return [node, ...node.scopes.flatMap(scopes)]
}

/** Every parent/child link, as proxies see them and as children see them, must agree. */
function checkLinks (tree: DocTree, members: readonly TreeMember[]): void {
  const childOf = new Map<string, string>()
  for (const m of members) {
    for (const role of rolesOf(tree, m.peerId)) {
      for (const child of role.children) {
        assert.ok(!childOf.has(child.peerId), `${child.peerId} has two parents`)
        childOf.set(child.peerId, m.peerId)
      }
    }
  }
  for (const m of members) {
    const roles = rolesOf(tree, m.peerId)
    const parents = new Set(roles.map(r => r.parent))
    assert.ok(parents.size <= 1, `${m.peerId} takes the document from ${[...parents].join(', ')}`)
    const parent = [...parents][0]
    if (parent === undefined) assert.ok(!m.carries(DOC) || tree.regions.every(r => r.region !== m.region), `carrier ${m.peerId} has no place`)
    else if (parent === AUTHORITY_PARENT) assert.ok(!childOf.has(m.peerId))
    else assert.equal(childOf.get(m.peerId), parent, `${m.peerId}'s parent ${parent} does not list it`)
  }
}

describe('elect/tree', () => {
  it('gives each region with demand one proxy under the authority, and none to a region without', () => {
    const members = [...region('eu', 3, 2), ...region('us', 2), ...region('ap', 0, 4)]
    const tree = computeDocTree(DOC, members, { fanout: 8 })
    assert.deepEqual(tree.regions.map(r => r.region), ['eu', 'us'])
    for (const r of tree.regions) {
      assert.equal(r.scope, regionScope(DOC, r.region))
      assert.equal(r.parent, AUTHORITY_PARENT)
      assert.ok(r.proxy !== undefined && r.proxy.startsWith(r.region), 'the proxy is a member of its region')
      assert.equal(scopeDepth(r), 1)
      const carriers = members.filter(m => m.region === r.region && m.carries(DOC)).map(m => m.peerId)
      assert.deepEqual(r.members, carriers.filter(c => c !== r.proxy).sort())
    }
    checkLinks(tree, members)
    for (const idle of region('ap', 0, 4)) assert.deepEqual(rolesOf(tree, idle.peerId), [])
  })

  it('agreement: the same members in any order give the same tree', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 60 }), fc.integer({ min: 0, max: 10 }), fc.integer({ min: 2, max: 6 }), fc.integer(), (carriers, idle, fanout, seed) => {
      const members = [...region('eu', carriers, idle), ...region('us', Math.ceil(carriers / 2))]
      const shuffled = [...members].sort((a, b) => mix(a.peerId, seed) - mix(b.peerId, seed))
      assert.deepEqual(computeDocTree(DOC, shuffled, { fanout }), computeDocTree(DOC, members, { fanout }))
    }), { numRuns: 60 })
  })

  it('splits a scope past its fan-out: no proxy serves more than fanout children, every carrier has one place, depth about log_fanout(carriers)', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 300 }), fc.integer({ min: 2, max: 10 }), (carriers, fanout) => {
      const members = region('eu', carriers, 3)
      const tree = computeDocTree(DOC, members, { fanout })
      const [root] = tree.regions
      for (const node of scopes(root)) {
        if (node.proxy === undefined) continue
        assert.ok(node.members.length + node.scopes.length <= fanout, `${node.scope} serves ${node.members.length + node.scopes.length} > ${fanout}`)
      }
      const placed = scopes(root).flatMap(n => [...n.members, ...(n === root ? [] : [n.proxy!])])
      const expected = members.filter(m => m.carries(DOC) && m.peerId !== root.proxy).map(m => m.peerId)
      assert.deepEqual(placed.sort(), expected.sort(), 'each carrier is a member or a sub-scope proxy, once')
      const bound = Math.max(1, Math.ceil(Math.log(carriers) / Math.log(fanout)))
      assert.ok(scopeDepth(root) <= bound, `depth ${scopeDepth(root)} for ${carriers} carriers, fanout ${fanout} (bound ${bound})`)
      checkLinks(tree, members)
    }), { numRuns: 80 })
  })

  it('reaches depth 2 with a small fan-out and returns to 1 when demand falls', () => {
    const many = region('eu', 12, 2)
    assert.equal(scopeDepth(computeDocTree(DOC, many, { fanout: 4 }).regions[0]), 2)
    const few = region('eu', 3, 2)
    assert.equal(scopeDepth(computeDocTree(DOC, few, { fanout: 4 }).regions[0]), 1)
  })

  it('a full region proxy candidate is passed over; with everyone full the carriers hang from the authority', () => {
    const members = region('eu', 3).map(m => ({ ...m, capacity: 1, load: 1, holds: () => false, carries: m.carries }))
    const tree = computeDocTree(DOC, members, { fanout: 4 })
    const [root] = tree.regions
    assert.equal(root.proxy, undefined)
    assert.deepEqual(root.members, ['euC0', 'euC1', 'euC2'])
    for (const m of members) assert.deepEqual(rolesOf(tree, m.peerId).map(r => [r.role, r.parent]), [['member', AUTHORITY_PARENT]])
  })

  it('excluding a suspected proxy hands its scope to the runner-up and keeps everyone else in place', () => {
    const members = region('eu', 5, 5)
    const before = computeDocTree(DOC, members, { fanout: 8 })
    const dead = before.regions[0].proxy!
    const after = computeDocTree(DOC, members, { fanout: 8, exclude: new Set([dead]) })
    assert.notEqual(after.regions[0].proxy, dead)
    assert.deepEqual(after.regions[0].members, before.regions[0].members.filter(m => m !== after.regions[0].proxy))
  })

  it('sub-scope split: equal sizes, and one carrier joining moves at most k - 1 others', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 400 }), fc.integer({ min: 1, max: 12 }), (n, k) => {
      const ids = Array.from({ length: n }, (_, i) => `C${i}`)
      const before = splitIntoSubScopes('d/eu', ids, k)
      const sizes = before.map(g => g.length)
      assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1, `sizes ${sizes.join(',')}`)
      assert.deepEqual(before.flat().sort(), [...ids].sort())
      const after = splitIntoSubScopes('d/eu', [...ids, 'NEW'], k)
      const groupOf = (groups: string[][]): Map<string, number> => new Map(groups.flatMap((g, i) => g.map(id => [id, i] as const)))
      const a = groupOf(before)
      const b = groupOf(after)
      const moved = ids.filter(id => a.get(id) !== b.get(id)).length
      assert.ok(moved <= k - 1, `${moved} carriers moved with k=${k}`)
    }), { numRuns: 100 })
  })

  it('refuses a fan-out below 2 (it could never split)', () => {
    assert.throws(() => computeDocTree(DOC, [], { fanout: 1 }), RangeError)
  })
})

function mix (text: string, seed: number): number {
  let h = seed | 0
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x9e3779b1)
  return h
}
