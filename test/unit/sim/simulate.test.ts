import assert from 'node:assert/strict'
import {
  AUTHORITY, buildFleet, EventQueue, fleetOf, makeRegions, max, NOMINAL_COSTS, regionTree, resultOf, runKills, runTreePass, SIM_DEFAULTS, simulate, sizeFleet, sum, treeContext, zipfViewers
} from '../../../src/sim/index.ts'
import type { SimConfig } from '../../../src/sim/index.ts'
import { prng } from '../../../src/sim/random.ts'

const SMALL: SimConfig = { ...SIM_DEFAULTS, viewers: 2_000_000, superPeers: 600, regions: 4, documents: 300, spread: 2_000, kills: 15, exactDocs: 3, durationS: 60 }

describe('sim: a small run', function () {
  this.timeout(60_000)

  it('is deterministic for a seed, and another seed gives another run', () => {
    const a = simulate(SMALL, NOMINAL_COSTS)
    const b = simulate(SMALL, NOMINAL_COSTS)
    const c = simulate({ ...SMALL, seed: 2 }, NOMINAL_COSTS)
    const figures = (r: ReturnType<typeof simulate>): unknown => ({ tree: resultOf(r, r.tree, 0), flat: resultOf(r, r.flat!, 0), egress: Array.from(r.tree.egress), failover: r.tree.failoverMs })
    assert.deepEqual(figures(a), figures(b))
    assert.notDeepEqual(figures(a), figures(c))
  })

  it('places every viewer once, and the Zipf split sums to the viewers asked for', () => {
    const fleet = buildFleet(SMALL)
    assert.equal(sum(zipfViewers(SMALL.viewers, SMALL.documents, SMALL.zipf)), SMALL.viewers)
    assert.equal(sum(fleet.hostViewers), SMALL.viewers)
    assert.equal(sum(fleet.carrierViewers), SMALL.viewers)
    assert.ok(fleet.docViewers[0] > fleet.docViewers[SMALL.documents - 1] * 100, 'popularity is skewed')
    for (let i = 0; i < fleet.carrierViewers.length; i++) assert.ok(fleet.carrierViewers[i] <= SMALL.spread, 'the balancer spreads a document before a host exceeds spread')
  })

  it('reaches each carrier exactly once per frame, and charges every link to its sender', () => {
    const fleet = buildFleet(SMALL)
    const ctx = treeContext(fleet, NOMINAL_COSTS, prng(1))
    const R = fleet.regions.length
    const deliveries = new Map<number, number>()
    let links = 0
    let authorityLinks = 0
    const totals = runTreePass(ctx, undefined, {
      link (doc, from, to) {
        links++
        if (from === AUTHORITY) authorityLinks++
        else assert.equal(fleet.hostRegion[from], fleet.hostRegion[to], 'tree links below the authority stay in the region')
        deliveries.set(doc * fleet.hostIds.length + to, (deliveries.get(doc * fleet.hostIds.length + to) ?? 0) + 1)
      }
    })
    for (let d = 0; d < SMALL.documents; d++) {
      for (let i = fleet.pairStart[d * R]; i < fleet.pairStart[(d + 1) * R]; i++) {
        assert.equal(deliveries.get(d * fleet.hostIds.length + fleet.carrierHost[i]), 1, `carrier ${fleet.carrierHost[i]} of document ${d}`)
      }
    }
    for (const count of deliveries.values()) assert.equal(count, 1, 'no host receives a document twice')
    const frameWire = NOMINAL_COSTS.frameBytes + NOMINAL_COSTS.backboneOverheadBytes
    const perLink = frameWire * SMALL.frameRate
    assert.ok(Math.abs(sum(totals.relayEgress) - (links - authorityLinks) * perLink) < 1e-6 * links * perLink, 'relay egress = links from hosts')
    assert.ok(Math.abs(sum(totals.docAuthorityEgress) - authorityLinks * perLink) < 1e-6 * links * perLink, 'authority egress = links from authorities')
    assert.ok(Math.abs(sum(totals.framesIn) - links * SMALL.frameRate) < 1e-6 * links, 'every frame sent is received')
    // Each (document, region) with demand is one authority link; each proxy role one link into it.
    assert.equal(authorityLinks, totals.regionTrees - totals.unservedScopes)
    assert.ok(max(totals.docDepth) >= 2, 'the popular documents need sub-scopes')
    // Partials: what the tiers receive is what was sent; the authorities get at most one per region per window.
    assert.ok(Math.abs(sum(totals.tierPartials) - sum(totals.partialsIn) - sum(totals.docAuthorityPartials)) < 1e-6 * sum(totals.tierPartials))
    assert.ok(max(totals.docAuthorityPartials) <= R * 1000 / SMALL.windowMs + 1e-9)
  })

  it('the stand-in wins a region as often as its non-carriers would', () => {
    // One region of 100 members, 10 carriers per document: a non-carrier proxy 90% of the time.
    const regions = makeRegions(1, prng(1))
    const hosts = Array.from({ length: 100 }, (_, i) => ({ peerId: `12D3KooW${String(i).padStart(44, 'q')}`, region: 0 }))
    const random = prng(5)
    const docs = Array.from({ length: 1500 }, (_, d) => ({
      docId: `${'a'.repeat(52)}.doc-${d}`, home: 0, carriers: Array.from({ length: 10 }, (_, k) => ({ host: (d * 7 + k * 10 + Math.floor(random() * 10)) % 100, viewers: 1 }))
    })).map(doc => ({ ...doc, carriers: [...new Map(doc.carriers.map(c => [c.host, c])).values()] }))
    const fleet = fleetOf({ ...SMALL, exactDocs: 0 }, { regions, hosts, docs })
    const ctx = treeContext(fleet, NOMINAL_COSTS, prng(3))
    let nonCarrier = 0
    let expected = 0
    docs.forEach((doc, d) => {
      const node = regionTree(ctx, d, 0)!
      if (!doc.carriers.some(c => hosts[c.host].peerId === node.proxy)) nonCarrier++
      expected += (100 - doc.carriers.length) / 100
    })
    assert.ok(Math.abs(nonCarrier - expected) / docs.length < 0.03, `non-carrier proxies ${nonCarrier}, expected ${expected.toFixed(0)} of ${docs.length}`)
  })

  it('kills: every orphan waits at least detection plus its resubscribe round trips, and the dead are passed over', () => {
    const fleet = buildFleet(SMALL)
    const ctx = treeContext(fleet, NOMINAL_COSTS, prng(1))
    const totals = runTreePass(ctx)
    const failover = runKills(ctx, totals, prng(2))
    assert.equal(failover.kills, SMALL.kills)
    assert.equal(new Set(failover.killed).size, SMALL.kills)
    assert.ok(failover.samples.length > 0 && failover.kills > failover.leafKills)
    const floor = SMALL.detectMs + SMALL.resubscribeRtts * 2 // 2 ms: the shortest round trip, inside a region
    for (const s of failover.samples) assert.ok(s.outageMs >= floor, `outage ${s.outageMs} ms`)
    const dead = new Set(failover.killed.map(h => fleet.hostIds[h]))
    const R = fleet.regions.length
    for (const victim of failover.killed) {
      for (const pair of totals.proxyPairs[victim]) {
        const node = regionTree(ctx, Math.floor(pair / R), pair % R)
        const named = JSON.stringify(node ?? null)
        for (const id of dead) assert.ok(!named.includes(id), `a dead host is still in the tree of pair ${pair}`)
      }
    }
  })

  it('sizing: hosts grow with viewers and cover the egress they must carry', () => {
    const target = { regionNames: ['a', 'b'], documents: 1000, zipf: 1, locality: 0.5, frameRate: 10, spread: 5000, nicBitsPerS: 10e9, cores: 16, maxViewersPerHost: 1e9, utilization: 0.6 }
    const small = sizeFleet({ ...target, viewersPerRegion: [1e7, 1e6] }, NOMINAL_COSTS)
    const large = sizeFleet({ ...target, viewersPerRegion: [4e7, 4e6] }, NOMINAL_COSTS)
    assert.ok(small[0].hosts > small[1].hosts)
    assert.ok(large[0].hosts >= 3.5 * small[0].hosts && large[0].hosts <= 4.5 * small[0].hosts, `${small[0].hosts} -> ${large[0].hosts}`)
    for (const row of [...small, ...large]) {
      const viewerBytes = row.viewers * target.frameRate * (NOMINAL_COSTS.viewerMessageBytes + NOMINAL_COSTS.viewerOverheadBytes)
      assert.ok(row.hosts * target.nicBitsPerS / 8 * target.utilization >= viewerBytes, `${row.region}: enough NIC`)
      assert.ok(row.egressPerHost <= target.nicBitsPerS / 8 * target.utilization + 1e-6)
    }
    const capped = sizeFleet({ ...target, maxViewersPerHost: 1000, viewersPerRegion: [1e7, 1e6] }, NOMINAL_COSTS)
    assert.deepEqual(capped.map(r => [r.hosts, r.bound]), [[10_000, 'viewers'], [1_000, 'viewers']])
  })

  it('the event queue pops in time order, ties in insertion order', () => {
    const q = new EventQueue<{ at: number, name: string }>()
    for (const [at, name] of [[5, 'a'], [1, 'b'], [5, 'c'], [0, 'd'], [3, 'e']] as const) q.push({ at, name })
    const names: string[] = []
    for (let e = q.pop(); e !== undefined; e = q.pop()) names.push(e.name)
    assert.deepEqual(names, ['d', 'b', 'e', 'a', 'c'])
  })
})
