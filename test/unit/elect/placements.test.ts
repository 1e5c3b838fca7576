import assert from 'node:assert/strict'
import fc from 'fast-check'
import { PlacementCache, computeDocTree, regionScope } from '../../../src/elect/index.ts'
import type { ComputeCause, Placement, TreeMember } from '../../../src/elect/index.ts'
import { DOCS, memberOf as specMember, scopesOf, specArb as specArbOf, TWEAKS } from './specs.ts'
import type { Spec, SpecBounds, SpecMember } from './specs.ts'

const SELF = 'p0'
const PEERS = ['p0', 'p1', 'p2', 'p3', 'p4', 'p5', 'p6']
const SCOPES = scopesOf(['0', '1'])
const BOUNDS: SpecBounds = { maxWeight: 3, maxCapacity: 5, maxLoad: 5, scopes: SCOPES }
const specArb = (peerId: string): fc.Arbitrary<Spec> => specArbOf(peerId, BOUNDS)

/** The member a spec describes; this node's own entry reads its demand from `demand`, as the shell's does. */
function memberOf (s: Spec, demand: ReadonlySet<string>): SpecMember {
  return specMember(s, s.peerId === SELF ? d => demand.has(d) : undefined)
}

/** What a tree reads of a member (its own entry's demand is tracked per document instead). */
function same (a: TreeMember, b: TreeMember): boolean {
  const [x, y] = [(a as SpecMember).spec, (b as SpecMember).spec]
  return JSON.stringify(x.peerId === SELF ? { ...x, docs: [] } : x) === JSON.stringify(y.peerId === SELF ? { ...y, docs: [] } : y)
}

function viewFor (specs: ReadonlyMap<string, Spec>, demand: ReadonlySet<string>): Map<string, TreeMember> {
  return new Map([...specs.values()].map(s => [s.peerId, memberOf(s, demand)]))
}

function cacheOf (fanout: number, causes?: ComputeCause[]): PlacementCache {
  return new PlacementCache({ selfId: SELF, fanout, same, computed: cause => causes?.push(cause) })
}

/** One step of a node's life: the view changes, its demand changes, or it reads a placement. */
type Step =
  | { kind: 'set', peerId: string, spec: Spec | undefined }
  | { kind: 'tweak', peerId: string, tweak: number }
  | { kind: 'demand', docId: string, demands: boolean, carries: boolean }
  | { kind: 'allDemand', demand: string[], carrying: string[] }

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...PEERS).chain(peerId => fc.record({ kind: fc.constant('set' as const), peerId: fc.constant(peerId), spec: fc.option(specArb(peerId), { nil: undefined, freq: 3 }) })) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('tweak' as const), peerId: fc.constantFrom(...PEERS), tweak: fc.integer({ min: 0, max: TWEAKS.length - 1 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('demand' as const), docId: fc.constantFrom(...DOCS), demands: fc.boolean(), carries: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('allDemand' as const), demand: fc.subarray(DOCS), carrying: fc.subarray(DOCS) }) }
)

/** Suspect sets an uplink might pass: none, or one or two peers. */
const suspectsArb = fc.subarray(PEERS.slice(1), { maxLength: 2 })

describe('elect/placements', () => {
  it('property: over random changes, every placement read equals the one computed afresh', () => {
    let reads = 0
    let computed = 0
    fc.assert(fc.property(
      fc.tuple(...PEERS.map(p => fc.option(specArb(p), { nil: undefined, freq: 5 }))),
      fc.subarray(DOCS), fc.subarray(DOCS),
      fc.array(fc.tuple(stepArb, fc.array(fc.tuple(fc.constantFrom(...DOCS), suspectsArb), { maxLength: 3 })), { minLength: 1, maxLength: 8 }),
      fc.integer({ min: 2, max: 3 }),
      (initial, demand0, carrying0, steps, fanout) => {
        const specs = new Map<string, Spec>()
        for (const s of initial) if (s !== undefined) specs.set(s.peerId, s)
        let demand = new Set(demand0)
        let carrying = new Set([...carrying0, ...demand0])
        const causes: ComputeCause[] = []
        const cache = cacheOf(fanout, causes)
        cache.setAllDemand(demand, carrying)
        cache.setView(viewFor(specs, cache.demand))
        // Everything read once, with and without suspects, so that what the steps change is cached.
        for (const d of DOCS) { cache.get(d); cache.get(d, new Set(['p1'])) }
        reads += 2 * DOCS.length
        for (const [step, reads_] of steps) {
          if (step.kind === 'set') {
            if (step.spec === undefined) specs.delete(step.peerId)
            else specs.set(step.peerId, step.spec)
          } else if (step.kind === 'tweak') {
            const s = specs.get(step.peerId)
            if (s !== undefined) specs.set(step.peerId, TWEAKS[step.tweak](s))
          } else if (step.kind === 'demand') {
            if (step.demands) demand.add(step.docId)
            else demand.delete(step.docId)
            if (step.carries) carrying.add(step.docId)
            else carrying.delete(step.docId)
            cache.setDemand(step.docId, step.demands, step.carries)
          } else {
            demand = new Set(step.demand)
            carrying = new Set(step.carrying)
            cache.setAllDemand(demand, carrying)
          }
          cache.setView(viewFor(specs, cache.demand))
          // The same state, computed from scratch.
          const fresh = cacheOf(fanout)
          fresh.setAllDemand(demand, carrying)
          fresh.setView(viewFor(specs, fresh.demand))
          const checks: Array<[string, string[]]> = [...DOCS.map(d => [d, []] as [string, string[]]), [DOCS[0], ['p1']], ...reads_]
          for (const [d, suspects] of checks) {
            reads++
            const got = cache.get(d, new Set(suspects))
            assert.deepEqual(plain(got), plain(fresh.get(d, new Set(suspects))), `doc ${d}, suspects [${suspects.join(', ')}] after ${JSON.stringify(step)}`)
          }
        }
        computed += causes.length
      }), { numRuns: 1500, seed: 20_261_202 })
    // The cache must save work, not recompute (nearly) every read: the check would pass trivially
    // otherwise. Random re-announcements move much of a 7-member region, so the bar is modest.
    assert.ok(computed < reads * 0.7, `computed ${computed} trees for ${reads} reads: the cache keeps too little`)
  })

  it('a document carried only for tier children keeps its placement through a change that moves neither of its trees', () => {
    const causes: ComputeCause[] = []
    const cache = cacheOf(4, causes)
    const specs = new Map<string, Spec>([
      // p1 holds the region scope and carries d0; this node carries d0 only for children of its own.
      ['p1', { peerId: 'p1', region: 'eu', weight: 1, capacity: 10, load: 1, docs: ['d0'], roles: [regionScope('d0', 'eu')] }],
      [SELF, { peerId: SELF, region: 'eu', weight: 1, capacity: 10, load: 0, docs: [], roles: [] }]
    ])
    cache.setAllDemand(new Set(), new Set(['d0']))
    cache.setView(viewFor(specs, cache.demand))
    const first = cache.get('d0')
    assert.equal(first.role, undefined)
    assert.equal(first.follow?.parent, 'p1', 'it follows where it would as a carrier')
    assert.notEqual(first.carrierTree, undefined)
    // A member joins below the incumbent carrying nothing: nothing to recompute.
    specs.set('p2', { peerId: 'p2', region: 'eu', weight: 1, capacity: 10, load: 0, docs: [], roles: [] })
    cache.setView(viewFor(specs, cache.demand))
    assert.equal(cache.get('d0'), first)
    assert.deepEqual(causes, ['new'])
    // The incumbent leaves: both trees move, so it is recomputed.
    specs.delete('p1')
    cache.setView(viewFor(specs, cache.demand))
    assert.notEqual(cache.get('d0'), first)
    assert.deepEqual(causes, ['new', 'moved'])
  })

  it('a placement passing over suspects is kept for the same suspects, and recomputed for others', () => {
    const causes: ComputeCause[] = []
    const cache = cacheOf(4, causes)
    const specs = new Map<string, Spec>(['p1', 'p2', SELF].map(p => [p, { peerId: p, region: 'eu', weight: 1, capacity: 10, load: 0, docs: ['d0'], roles: [] }]))
    cache.setAllDemand(new Set(['d0']), new Set(['d0']))
    cache.setView(viewFor(specs, cache.demand))
    const suspected = cache.get('d0', new Set(['p1']))
    assert.equal(cache.get('d0', new Set(['p1'])), suspected)
    // A change to the suspect alone cannot move a tree that passes over it.
    specs.set('p1', { ...specs.get('p1')!, load: 3, roles: [regionScope('d0', 'eu')] })
    cache.setView(viewFor(specs, cache.demand))
    assert.equal(cache.get('d0', new Set(['p1'])), suspected)
    cache.get('d0', new Set(['p2']))
    assert.deepEqual(causes, ['suspects', 'suspects'])
  })

  it('a change of demand drops only the document it is for, and only if it differs', () => {
    const causes: ComputeCause[] = []
    const cache = cacheOf(4, causes)
    const specs = new Map<string, Spec>([[SELF, { peerId: SELF, region: 'eu', weight: 1, capacity: 10, load: 0, docs: [], roles: [] }]])
    cache.setAllDemand(new Set(['d0', 'd1']), new Set(['d0', 'd1']))
    cache.setView(viewFor(specs, cache.demand))
    cache.get('d0')
    cache.get('d1')
    cache.setDemand('d0', true, true)
    cache.setAllDemand(new Set(['d0', 'd1']), new Set(['d0', 'd1']))
    cache.get('d0')
    cache.setDemand('d1', false, true)
    cache.get('d0')
    assert.deepEqual(cache.get('d1').tree, computeDocTree('d1', [], { fanout: 4 }))
    assert.deepEqual(causes, ['new', 'new', 'demand'])
  })
})

/** A placement as data (trees and roles are plain already). */
function plain (p: Placement): unknown {
  return { tree: p.tree, role: p.role, follow: p.follow, carrierTree: p.carrierTree }
}
