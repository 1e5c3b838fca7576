import assert from 'node:assert/strict'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { AUTHORITY_PARENT, computeDocTree, rolesOf } from '../../../src/elect/index.ts'
import type { DocTree, TreeMember } from '../../../src/elect/index.ts'
import { docIdFor } from '../../../src/log/index.ts'
import { Digest, leaseMs, MembershipTable, signAnnouncementSync } from '../../../src/membership/index.ts'
import { AUTHORITY, fleetOf, makeRegions, NOMINAL_COSTS, regionTree, runTreePass, SIM_DEFAULTS, treeContext } from '../../../src/sim/index.ts'
import type { Fleet, FleetInputs } from '../../../src/sim/index.ts'
import { prng } from '../../../src/sim/random.ts'

const NOW = 1_700_000_000_000
const REGIONS = makeRegions(3, prng(1))
const PER_REGION = [9, 14, 5]

/** Real keys, real signed announcements, a real MembershipTable: what a super-peer would see. */
async function membership (): Promise<{ table: MembershipTable, inputs: FleetInputs }> {
  const random = prng(42)
  const hosts: Array<{ peerId: string, region: number, key: PrivateKey }> = []
  let seed = 1
  for (let g = 0; g < REGIONS.length; g++) {
    for (let i = 0; i < PER_REGION[g]; i++) {
      const key = await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(seed++))
      hosts.push({ peerId: peerIdFromPrivateKey(key).toString(), region: g, key })
    }
  }
  const docKey = await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(200))
  const docs = Array.from({ length: 12 }, (_, d) => {
    // From one carrier to nearly every host, so trees range from flat to two levels of sub-scopes.
    const share = [0.05, 0.3, 0.6, 0.95][d % 4]
    const carriers = hosts.map((_, h) => h).filter(() => random() < share).map(host => ({ host, viewers: 1 + Math.floor(random() * 500) }))
    return { docId: docIdFor(docKey.publicKey.raw, `doc-${d}`), home: d % REGIONS.length, carriers: carriers.length > 0 ? carriers : [{ host: d, viewers: 10 }] }
  })
  const table = new MembershipTable({ enforcing: false, trustedOperators: [] })
  hosts.forEach((h, index) => {
    const carried = docs.filter(d => d.carriers.some(c => c.host === index)).map(d => d.docId)
    const bytes = signAnnouncementSync(h.key, {
      region: REGIONS[h.region].name, seq: NOW, expires: NOW + leaseMs(PER_REGION[h.region]), weight: 1, capacity: 10_000, load: 0, cert: '',
      docs: Digest.of(carried), roles: Digest.EMPTY
    })
    const result = table.offer(bytes, NOW)
    assert.ok(result.ok, 'announcement accepted')
  })
  return { table, inputs: { regions: REGIONS, hosts: hosts.map(h => ({ peerId: h.peerId, region: h.region })), docs } }
}

const config = { ...SIM_DEFAULTS, fanout: 2, exactDocs: 1_000, kills: 0 }

/** The parent each member takes the document from, by rolesOf. */
function parentsByRoles (tree: DocTree, members: readonly TreeMember[]): Map<string, string> {
  const parents = new Map<string, string>()
  for (const m of members) {
    const roles = rolesOf(tree, m.peerId)
    const receiving = roles.find(r => r.role === 'proxy') ?? roles.find(r => r.role === 'member')
    if (receiving !== undefined) parents.set(m.peerId, receiving.parent)
  }
  return parents
}

describe('sim: topology decisions are the real code\'s', function () {
  this.timeout(60_000)
  let table: MembershipTable
  let fleet: Fleet

  before(async () => {
    const m = await membership()
    table = m.table
    fleet = fleetOf(config, m.inputs)
  })

  it('each region tree equals computeDocTree over the MembershipTable of signed announcements', () => {
    const ctx = treeContext(fleet, NOMINAL_COSTS, prng(1))
    const members = table.live(NOW)
    assert.equal(members.length, fleet.hostIds.length)
    let compared = 0
    fleet.docIds.forEach((docId, d) => {
      const real = computeDocTree(docId, members, { fanout: config.fanout })
      // computeDocTree lists regions by name; the simulator computes them one at a time.
      const simulated = REGIONS.map((_, g) => regionTree(ctx, d, g)).filter(n => n !== undefined).sort((a, b) => a.region < b.region ? -1 : 1)
      assert.deepEqual(simulated, real.regions, `document ${d}`)
      compared += real.regions.length
    })
    assert.ok(compared >= 20, `compared ${compared} region trees`)
  })

  it('every link the pass charges is a parent from rolesOf, and every carrier gets each frame exactly once', () => {
    const ctx = treeContext(fleet, NOMINAL_COSTS, prng(1))
    const received = new Map<string, string[]>()
    runTreePass(ctx, undefined, {
      link (doc, from, to) {
        const key = `${doc} ${fleet.hostIds[to]}`
        received.set(key, [...(received.get(key) ?? []), from === AUTHORITY ? AUTHORITY_PARENT : fleet.hostIds[from]])
      }
    })
    const members = table.live(NOW)
    let deep = 0
    fleet.docIds.forEach((docId, d) => {
      const real = computeDocTree(docId, members, { fanout: config.fanout })
      for (const [peerId, parent] of parentsByRoles(real, members)) {
        assert.deepEqual(received.get(`${d} ${peerId}`), [parent], `document ${d}, ${peerId}`)
        if (parent !== AUTHORITY_PARENT && rolesOf(real, parent).some(r => r.parent !== AUTHORITY_PARENT)) deep++
      }
      const R = REGIONS.length
      for (let i = fleet.pairStart[d * R]; i < fleet.pairStart[(d + 1) * R]; i++) {
        assert.equal(received.get(`${d} ${fleet.hostIds[fleet.carrierHost[i]]}`)?.length, 1, `carrier ${fleet.carrierHost[i]} of document ${d}`)
      }
    })
    assert.ok(deep > 0, 'some carriers hang below a sub-scope proxy')
  })

  it('the stand-in for non-carriers keeps every tree below a region proxy it agrees on', () => {
    const exact = treeContext(fleet, NOMINAL_COSTS, prng(1))
    const sampledFleet: Fleet = { ...fleet, config: { ...fleet.config, exactDocs: 0 } }
    const ctx = treeContext(sampledFleet, NOMINAL_COSTS, prng(7))
    let agreed = 0
    fleet.docIds.forEach((_, d) => {
      REGIONS.forEach((_, g) => {
        const a = regionTree(exact, d, g)
        const b = regionTree(ctx, d, g)
        assert.equal(a === undefined, b === undefined)
        if (a === undefined || b === undefined || a.proxy !== b.proxy) return
        assert.deepEqual(b, a, `document ${d} region ${g}`)
        agreed++
      })
    })
    assert.ok(agreed >= 5, `agreed on ${agreed} region proxies`)
  })
})
