import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { isDeepStrictEqual } from 'node:util'
import { AuthorityDriver } from '../helpers/authority-driver.ts'
import { authorityArgs, killAll, startCli, waitFor } from '../helpers/processes.ts'
import { AUTHORITY_PARENT } from '../../src/elect/index.ts'
import { NOMINAL_COSTS, predictSmall } from '../../src/sim/index.ts'
import type { Running } from '../helpers/processes.ts'

/** Super-peers per region, and which of them carry the document for themselves (--doc). */
const LAYOUT: ReadonlyArray<{ region: string, carrier: boolean }> = [
  { region: 'north', carrier: true }, { region: 'north', carrier: true }, { region: 'north', carrier: true }, { region: 'north', carrier: true },
  { region: 'north', carrier: false }, { region: 'south', carrier: true }, { region: 'south', carrier: false }
]
const FANOUT = 2

/**
 * The simulator's topology decisions against the real processes': an authority and seven
 * super-peers in two regions (OS processes on loopback, --topology tiers, fan-out 2 so that a
 * region splits into sub-scopes). Once every super-peer of a region agrees on its region's tree,
 * the simulator (src/sim/calibrate.ts, as bench:tiers runs it) is given the same members and
 * carriers, and must elect the same trees and give every node the same parent.
 */
describe('simulator calibration: the same trees as the real processes', function () {
  this.timeout(180_000)
  let dir: string

  before(async () => { dir = await mkdtemp(join(tmpdir(), 'dc11-sim-calibration-')) })
  after(async () => {
    await killAll()
    await rm(dir, { recursive: true, force: true, maxRetries: 5 })
  })

  it('every region tree and every parent equals what the simulator computes for the same membership', async () => {
    const authority = await startCli(authorityArgs({ dir: join(dir, 'authority'), name: 'calibration' }))
    const docId = authority.ready.docId as string
    const driver = new AuthorityDriver(authority)
    const id = driver.send({ n: 1 })
    await driver.until('the first change acked', () => driver.acked.has(id))
    // One at a time: six processes starting at once on a loaded 2-core machine miss the start-up deadline.
    const superPeers: Running[] = []
    for (const [i, { region, carrier }] of LAYOUT.entries()) {
      superPeers.push(await startCli(['super-peer',
        '--data-dir', join(dir, `sp${i}`), '--listen', '/ip4/127.0.0.1/tcp/0', '--admin', '127.0.0.1:0', '--observe-listen', 'none',
        '--region', region, '--topology', 'tiers', '--fanout', String(FANOUT), '--sync-interval-ms', '1000',
        ...(carrier ? ['--doc', docId] : []), ...(authority.ready.addrs as string[]).flatMap(a => ['--bootstrap', a])]))
    }
    const regions = [...new Set(LAYOUT.map(l => l.region))]

    let last = ''
    const settled = await waitFor('every super-peer to see its whole region, and those the document reaches to agree on the region\'s tree', async () => {
      const topologies = await Promise.all(superPeers.map(async p => await p.admin('/topology')))
      last = JSON.stringify(topologies.map(t => ({ peerId: t.peerId, members: t.members?.length, doc: t.docs[docId] })))
      for (const region of regions) {
        const here = topologies.filter((_t, i) => LAYOUT[i].region === region)
        if (here.some(t => t.members?.length !== here.length)) return undefined
        // A node the document does not reach (no demand, no role) has no entry for it.
        const trees = here.filter(t => t.docs[docId] !== undefined).map(t => t.docs[docId].tree?.regions.find((r: any) => r.region === region))
        if (trees.length === 0 || trees[0] === undefined || !trees.every(t => isDeepStrictEqual(t, trees[0]))) return undefined
        // And every scope has a proxy (a member that just joined takes no role for a few seconds,
        // so a scope may be unserved for a moment), which claims its role itself: the claims are
        // the held roles given to the simulator.
        const claimed = (node: any): boolean => node.proxy !== undefined && (topologies.find(t => t.peerId === node.proxy)?.docs[docId]?.role === 'proxy' &&
          topologies.find(t => t.peerId === node.proxy)?.docs[docId]?.scope === node.scope && node.scopes.every(claimed))
        if (!claimed(trees[0])) return undefined
      }
      return topologies
    }, { timeoutMs: 90_000, intervalMs: 250 }).catch((err: Error) => { console.error(last); throw err })

    const hosts = settled.map(t => ({ peerId: t.peerId as string, region: t.region as string }))
    // Membership inputs are who is in each region, what each carries and which roles each
    // announces it holds: a live incumbent keeps its role, so who proxies depends on the order the
    // processes came up in. Each node's claim is its own /topology role, not anyone's tree.
    const holding = settled.flatMap((t, host) => t.docs[docId]?.role === 'proxy' ? [{ host, scope: t.docs[docId].scope as string }] : [])
    const sim = predictSmall({
      regions, hosts, docId, carriers: LAYOUT.flatMap((l, host) => l.carrier ? [{ host, viewers: 1 }] : []), frameRate: 10, fanout: FANOUT, meshDegree: 6, holding
    }, NOMINAL_COSTS)
    const simTrees = JSON.parse(JSON.stringify(sim.trees))
    for (const region of regions) {
      const real = settled.find((t, i) => LAYOUT[i].region === region && t.docs[docId] !== undefined)!.docs[docId].tree.regions.find((r: any) => r.region === region)
      assert.deepEqual(real, simTrees.find((t: any) => t.region === region), `the ${region} tree`)
    }
    assert.ok(sim.trees.some(t => t.scopes.length > 0), 'north\'s four carriers split into sub-scopes at fan-out 2')
    // Every node the document reaches: the parent its own view elects is the simulator's.
    let compared = 0
    for (const t of settled) {
      const doc = t.docs[docId]
      // A node still lingering on the document after a role it no longer holds follows it too; the tree does not list it.
      if (doc?.electedParent === undefined || !sim.parents.has(t.peerId)) continue
      assert.equal(doc.electedParent === authority.ready.peerId ? AUTHORITY_PARENT : doc.electedParent, sim.parents.get(t.peerId), `parent of ${t.peerId as string}`)
      compared++
    }
    assert.equal(compared, sim.parents.size, 'the simulator reaches the same nodes')
  })
})
