import assert from 'node:assert/strict'
import { AUTHORITY_PARENT, computeDocTree, regionScope } from '../../../src/elect/index.ts'
import type { TreeMember } from '../../../src/elect/index.ts'
import { distinctAnnouncementRate, NOMINAL_COSTS, ownRefreshRate, predictSmall } from '../../../src/sim/index.ts'
import type { SmallCase } from '../../../src/sim/index.ts'

const DOC = `${'k'.repeat(52)}.bench`
const id = (i: number): string => `12D3KooW${String(i).padStart(44, 'p')}`

/** bench:tiers' shape: eu, us and ap, `perRegion` super-peers each, viewers on every eu and us super-peer. */
function benchCase (perRegion: number, fanout: number): SmallCase {
  const regions = ['eu', 'us', 'ap']
  // Listed out of region order on purpose: the prediction must not depend on it.
  const hosts = Array.from({ length: 3 * perRegion }, (_, i) => ({ peerId: id(i), region: regions[i % 3] }))
  const carriers = hosts.flatMap((h, host) => h.region === 'ap' ? [] : [{ host, viewers: 1 }])
  return { regions, hosts, docId: DOC, carriers, frameRate: 20, fanout, meshDegree: 6 }
}

describe('sim: calibration at bench:tiers\' scale', () => {
  it('one copy per region with viewers from the authority, one relay per other carrier, none into ap', () => {
    const p = predictSmall(benchCase(3, 32), { ...NOMINAL_COSTS, frameBytes: 715 })
    assert.equal(p.authorityFramesPerFrame, 2)
    assert.equal(p.relayFramesPerFrame, 4)
    assert.equal(p.framesPerFrame, 6)
    assert.deepEqual(p.copiesIntoRegion, { eu: 1, us: 1, ap: 0 })
    assert.equal(p.authorityFrameBytesPerFrame, 2 * (715 + NOMINAL_COSTS.backboneOverheadBytes))
    assert.equal(p.crossSiteFrameBytesPerFrame, p.authorityFrameBytesPerFrame)
    assert.deepEqual(p.trees.map(t => t.region), ['eu', 'us'])
    // Every carrier has a parent; the region proxies take the document from the authority.
    assert.equal(p.parents.size, 6)
    for (const t of p.trees) assert.equal(p.parents.get(t.proxy!), AUTHORITY_PARENT)
  })

  it('its trees are computeDocTree\'s over the same members, down to sub-scopes at a small fan-out', () => {
    const input = benchCase(7, 2)
    const p = predictSmall(input, NOMINAL_COSTS)
    const carrying = new Set(input.carriers.map(c => input.hosts[c.host].peerId))
    const members: TreeMember[] = input.hosts.map(h => ({ peerId: h.peerId, region: h.region, weight: 1, capacity: 10_000, load: 0, holds: () => false, carries: () => carrying.has(h.peerId) }))
    assert.deepEqual(p.trees, computeDocTree(DOC, members, { fanout: 2 }).regions)
    assert.ok(p.trees.some(t => t.scopes.length > 0), 'a fan-out of 2 over 7 carriers needs sub-scopes')
    // Each carrier still gets each frame once: one message per carrier, plus the non-carrier proxies'.
    assert.ok(p.framesPerFrame >= 14)
    assert.equal(p.parents.size, p.framesPerFrame)
  })

  it('membership: every node is on every region\'s topic, and never receives its own announcement', () => {
    const p = predictSmall(benchCase(3, 32), NOMINAL_COSTS)
    // 9 members renewing a lease every 15 s; each node hears the 8 others.
    assert.equal(ownRefreshRate(3), 1 / 15)
    assert.ok(Math.abs(p.membershipPerNodePerS - 8 / 15) < 1e-12, String(p.membershipPerNodePerS))
    assert.ok(Math.abs(distinctAnnouncementRate([3, 3, 3], 'refresh') - 9 / 15) < 1e-12)
    assert.ok(p.membershipBoundPerNodePerS > p.membershipPerNodePerS)
    // Half the regions joined, half the announcements.
    assert.ok(Math.abs(distinctAnnouncementRate([3, 3], 'refresh', 1) - 3 / 15) < 1e-12)
  })

  it('a member that announces it holds a role keeps it: the incumbent is part of the membership input', () => {
    const input = benchCase(3, 32)
    const fresh = predictSmall(input, NOMINAL_COSTS).trees.find(t => t.region === 'eu')!
    const other = input.hosts.findIndex(h => h.region === 'eu' && h.peerId !== fresh.proxy)
    const held = predictSmall({ ...input, holding: [{ host: other, scope: regionScope(DOC, 'eu') }] }, NOMINAL_COSTS)
    assert.equal(held.trees.find(t => t.region === 'eu')!.proxy, input.hosts[other].peerId)
    assert.equal(held.parents.get(fresh.proxy!), input.hosts[other].peerId, 'the hash winner now follows the incumbent')
  })

  it('refuses a host in a region it was not told about', () => {
    const input = benchCase(1, 32)
    assert.throws(() => predictSmall({ ...input, hosts: [...input.hosts, { peerId: id(99), region: 'mars' }] }, NOMINAL_COSTS), /region mars/)
  })
})
