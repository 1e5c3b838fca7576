import assert from 'node:assert/strict'
import fc from 'fast-check'
import { elect, rankCandidates, rendezvousScore, splitIntoSubScopes, unitInterval, electionDigest, ELECT_CONTEXT, SPLIT_CONTEXT } from '../../../src/elect/index.ts'
import type { Candidate } from '../../../src/elect/index.ts'

const DOCS = 10_000
const MEMBERS = 50

function candidate (peerId: string, init: Partial<Omit<Candidate, 'peerId' | 'holds'>> & { holding?: string[] } = {}): Candidate {
  const held = new Set(init.holding ?? [])
  return { peerId, weight: init.weight ?? 1, capacity: init.capacity ?? 1_000_000, load: init.load ?? 0, holds: scope => held.has(scope) }
}

const peers = (n: number, prefix = 'P'): Candidate[] => Array.from({ length: n }, (_, i) => candidate(`${prefix}${i}`))
const scopeOf = (i: number): string => `doc${i}.example/eu-west`

/** Proxy of each of the DOCS scopes. */
function proxies (members: readonly Candidate[]): string[] {
  return Array.from({ length: DOCS }, (_, i) => elect(scopeOf(i), members).proxy!)
}

function tally (winners: readonly string[]): Map<string, number> {
  const counts = new Map<string, number>()
  for (const w of winners) counts.set(w, (counts.get(w) ?? 0) + 1)
  return counts
}

const arbMembers = fc.uniqueArray(fc.stringMatching(/^[A-Za-z0-9]{1,12}$/), { minLength: 1, maxLength: 20 })
  .chain(ids => fc.tuple(fc.constant(ids), fc.array(fc.integer({ min: 1, max: 100 }), { minLength: ids.length, maxLength: ids.length })))
  .map(([ids, weights]) => ids.map((id, i) => candidate(id, { weight: weights[i] })))

describe('elect/rank', () => {
  const equal = peers(MEMBERS)
  const REMOVED = 'P17'
  let baseline: string[]
  let withoutOne: string[]
  before(() => {
    baseline = proxies(equal)
    withoutOne = proxies(equal.filter(c => c.peerId !== REMOVED))
  })

  it('maps hashes into the open unit interval', () => {
    assert.equal(unitInterval(new Uint8Array(32)), 0.5 / 2 ** 52)
    assert.equal(unitInterval(new Uint8Array(32).fill(0xff)), (2 ** 52 - 0.5) / 2 ** 52)
    assert.ok(unitInterval(new Uint8Array(32).fill(0xff)) < 1)
    const u = unitInterval(electionDigest(ELECT_CONTEXT, 'doc/eu', 'P1'))
    assert.ok(u > 0 && u < 1)
  })

  it('agreement: any order of the same members gives the same ranking and proxy', () => {
    fc.assert(fc.property(arbMembers, fc.string({ minLength: 1, maxLength: 30 }).map(s => s.replace(/[^\x21-\x7e]/g, 'x')), fc.integer(), (members, scope, seed) => {
      const shuffled = [...members].sort((a, b) => (hashInt(a.peerId, seed) - hashInt(b.peerId, seed)) || (a.peerId < b.peerId ? -1 : 1))
      assert.deepEqual(rankCandidates(scope, shuffled), rankCandidates(scope, members))
      assert.equal(elect(scope, shuffled).proxy, elect(scope, members).proxy)
      assert.equal(elect(scope, members).proxy, rankCandidates(scope, members)[0].peerId)
    }), { numRuns: 200 })
  })

  it('minimal disruption: removing 1 of 50 members moves only the roles it held, about 1/50 of 10,000', () => {
    const moved = baseline.filter((p, i) => p !== withoutOne[i]).length
    const held = baseline.filter(p => p === REMOVED).length
    assert.equal(moved, held, 'every moved role is one the removed member held')
    assert.ok(!withoutOne.includes(REMOVED))
    const fraction = moved / DOCS
    console.log(`      removal moved ${moved} of ${DOCS} roles (${(fraction * 100).toFixed(2)}%, ideal ${(100 / MEMBERS).toFixed(2)}%)`)
    assert.ok(fraction > 0.5 / MEMBERS && fraction < 1.5 / MEMBERS, `moved fraction ${fraction}`)
  })

  it('minimal disruption: adding a member (the same pair read the other way) moves roles only to it', () => {
    withoutOne.forEach((p, i) => { if (baseline[i] !== p) assert.equal(baseline[i], REMOVED) })
  })

  it('spread: 10,000 documents over 50 equal members, the busiest holds at most 1.3x the mean', () => {
    const counts = tally(baseline)
    assert.equal(counts.size, MEMBERS, 'every member holds some roles')
    const mean = DOCS / MEMBERS
    const busiest = Math.max(...counts.values())
    console.log(`      busiest ${busiest}, mean ${mean}: ratio ${(busiest / mean).toFixed(3)}`)
    assert.ok(busiest <= 1.3 * mean, `busiest ${busiest} > 1.3 x ${mean}`)
  })

  it('weights: shares follow declared weights within 10%', () => {
    const weighted = [1, 2, 3, 4, 5].map(w => candidate(`W${w}`, { weight: w }))
    const counts = tally(proxies(weighted))
    const total = 15
    let worst = 0
    for (const c of weighted) {
      const expected = DOCS * c.weight / total
      const error = Math.abs((counts.get(c.peerId) ?? 0) - expected) / expected
      worst = Math.max(worst, error)
      assert.ok(error < 0.1, `${c.peerId}: ${counts.get(c.peerId)} roles, expected ${expected.toFixed(0)}`)
    }
    console.log(`      worst relative weight error ${(worst * 100).toFixed(2)}%`)
  })

  it('capacity: a member at capacity takes no new role but keeps the ones it holds', () => {
    fc.assert(fc.property(arbMembers, fc.integer({ min: 0, max: 999 }), fc.boolean(), (members, doc, holding) => {
      const scope = scopeOf(doc)
      const winner = elect(scope, members).proxy!
      const full = members.map(c => c.peerId === winner
        ? candidate(c.peerId, { weight: c.weight, capacity: 3, load: 3, holding: holding ? [scope] : [] })
        : c)
      const again = elect(scope, full)
      if (holding) assert.equal(again.proxy, winner, 'keeps the role it holds')
      else {
        assert.notEqual(again.proxy, winner, 'takes no new role at capacity')
        assert.equal(again.proxy, members.length === 1 ? undefined : again.ranking[1].peerId, 'the runner-up takes it')
      }
    }), { numRuns: 200 })
  })

  it('capacity: when every member is full the scope is unserved, and over-full members are skipped too', () => {
    const full = [candidate('A', { capacity: 2, load: 2 }), candidate('B', { capacity: 1, load: 5 }), candidate('C', { capacity: 0 })]
    const result = elect('d/eu', full)
    assert.equal(result.proxy, undefined)
    assert.equal(result.ranking.length, 3, 'the ranking still lists everyone (for diagnostics)')
  })

  it('failover: excluding the proxy elects the runner-up', () => {
    const members = peers(10)
    const first = elect('d/eu', members)
    const second = elect('d/eu', members, { exclude: new Set([first.proxy!]) })
    assert.equal(second.proxy, first.ranking[1].peerId)
    assert.equal(second.ranking.length, 9)
  })

  it('scores weight / -ln(u), so doubling a weight doubles the score', () => {
    assert.equal(rendezvousScore('d/eu', 'P1', 2), 2 * rendezvousScore('d/eu', 'P1', 1))
    assert.ok(rendezvousScore('d/eu', 'P1', 1) > 0)
  })
})

function hashInt (text: string, seed: number): number {
  let h = seed | 0
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x9e3779b1)
  return h
}

describe('elect: docs/protocol.md test vector', () => {
  const scope = '25njqamcweflpvkl73j4szahhihoc4xt3ktcgjnpaingr5yhkena.example/eu-west'
  const A = '12D3KooWDwTirQce1RRKnasT5fPVFgzXCy6SiRgSwrwPGLC7zE91'
  const B = '12D3KooWLRPJAA5o6Z6hX1h6Lzj1wSSV3Ux9WdHFSjRqzmFtzLKr'

  it('hashes, scores and elects as documented', () => {
    const prefix = (peer: string, context = ELECT_CONTEXT): string => Buffer.from(electionDigest(context, scope, peer).subarray(0, 8)).toString('hex')
    assert.equal(prefix(A), '9aa424ec4193ab9f')
    assert.equal(prefix(B), '9a6a637a56e7e433')
    assert.equal(unitInterval(electionDigest(ELECT_CONTEXT, scope, A)), 0.6040671421811356)
    assert.equal(unitInterval(electionDigest(ELECT_CONTEXT, scope, B)), 0.6031858609848367)
    assert.equal(rendezvousScore(scope, A, 1), 1.9838517456620528)
    assert.equal(rendezvousScore(scope, B, 2), 3.956244704443237)
    const members = [candidate(A, { weight: 1 }), candidate(B, { weight: 2 })]
    assert.equal(elect(scope, members).proxy, B)
    assert.equal(elect(scope, [candidate(A), candidate(B)]).proxy, A, 'with equal weights A wins: its u is larger')
    assert.equal(prefix(A, SPLIT_CONTEXT), '5c21d972f4012cc5')
    assert.equal(prefix(B, SPLIT_CONTEXT), 'f3cf04105458e316')
    assert.deepEqual(splitIntoSubScopes(scope, [B, A], 2), [[A], [B]])
  })
})
