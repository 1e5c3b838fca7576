import assert from 'node:assert/strict'
import fc from 'fast-check'
import { changeMovesTree, changesMoveTree, computeDocTree, regionScope } from '../../../src/elect/index.ts'
import type { MemberChange, TreeMember } from '../../../src/elect/index.ts'
import { DOCS, memberOf, scopesOf, specArb as specArbOf, TWEAKS } from './specs.ts'
import type { Spec, SpecBounds } from './specs.ts'

const SCOPES = scopesOf(['0', '1', '0/0', '1/1'])
const BOUNDS: SpecBounds = { maxWeight: 4, maxCapacity: 6, maxLoad: 6, scopes: SCOPES }
const specArb = (peerId: string): fc.Arbitrary<Spec> => specArbOf(peerId, BOUNDS)

/** A change of one member: it leaves, joins, or announces something else. */
const changeArb = (peers: readonly string[]): fc.Arbitrary<{ peerId: string, after: Spec | undefined }> =>
  fc.constantFrom(...peers).chain(peerId => fc.record({
    peerId: fc.constant(peerId),
    after: fc.option(specArb(peerId), { nil: undefined, freq: 4 })
  }))

const tweakArb = fc.constantFrom(...TWEAKS)

function treesOf (view: Map<string, Spec>, fanout: number) {
  const members = [...view.values()].map(s => memberOf(s))
  return new Map(DOCS.map(d => [d, computeDocTree(d, members, { fanout })]))
}

describe('elect/incremental', () => {
  it('property: a tree the changes are judged not to move equals the tree computed afresh', () => {
    const peers = Array.from({ length: 9 }, (_, i) => `p${i}`)
    let moved = 0
    let kept = 0
    fc.assert(fc.property(
      fc.tuple(...peers.map(p => fc.option(specArb(p), { nil: undefined, freq: 5 }))),
      fc.array(fc.oneof(changeArb(peers), fc.tuple(fc.constantFrom(...peers), tweakArb).map(([peerId, tweak]) => ({ peerId, tweak }))), { minLength: 1, maxLength: 4 }),
      fc.integer({ min: 2, max: 3 }),
      (initial, edits, fanout) => {
        const before = new Map<string, Spec>()
        for (const s of initial) if (s !== undefined) before.set(s.peerId, s)
        const after = new Map(before)
        for (const edit of edits) {
          if ('tweak' in edit) {
            const s = after.get(edit.peerId)
            if (s !== undefined) after.set(edit.peerId, edit.tweak(s))
          } else if (edit.after === undefined) after.delete(edit.peerId)
          else after.set(edit.peerId, edit.after)
        }
        const changes: MemberChange[] = peers
          .filter(p => before.get(p) !== after.get(p))
          .map(p => ({ peerId: p, before: before.has(p) ? memberOf(before.get(p)!) : undefined, after: after.has(p) ? memberOf(after.get(p)!) : undefined }))
        const current = new Map([...after.values()].map(s => [s.peerId, memberOf(s)]))
        const old = treesOf(before, fanout)
        const fresh = treesOf(after, fanout)
        for (const d of DOCS) {
          if (changesMoveTree(old.get(d)!, changes, p => current.get(p))) {
            moved++
            continue
          }
          kept++
          assert.deepEqual(fresh.get(d), old.get(d), `doc ${d}: judged unmoved by ${JSON.stringify(changes.map(c => c.peerId))} but recomputation differs`)
        }
      }), { numRuns: 3000, seed: 8_8 })
    // The judgement must not be trivially "everything moves": most small changes keep most trees.
    assert.ok(kept > moved / 4, `kept ${kept} trees, recomputed ${moved}: the check is too coarse to save work`)
  })

  it('a member joining below an incumbent proxy, or one leaving that held nothing, moves no tree', () => {
    const incumbent: TreeMember = { peerId: 'P', region: 'eu', weight: 1, capacity: 10, load: 1, carries: d => d === 'd0', holds: s => s === regionScope('d0', 'eu') }
    const view = new Map([['P', incumbent]])
    const tree = computeDocTree('d0', [incumbent], { fanout: 4 })
    const joiner: TreeMember = { peerId: 'X', region: 'eu', weight: 60_000, capacity: 10, load: 0, carries: () => false, holds: () => false }
    assert.equal(changeMovesTree(tree, { peerId: 'X', before: undefined, after: joiner }, p => view.get(p) ?? (p === 'X' ? joiner : undefined)), false)
    assert.equal(changeMovesTree(tree, { peerId: 'X', before: joiner, after: undefined }, p => view.get(p)), false)
    // The proxy leaving, or the joiner carrying the document, does move it.
    assert.equal(changeMovesTree(tree, { peerId: 'P', before: incumbent, after: undefined }, () => undefined), true)
    assert.equal(changeMovesTree(tree, { peerId: 'X', before: undefined, after: { ...joiner, carries: d => d === 'd0' } }, p => view.get(p)), true)
  })

  it('without an incumbent, a joiner with room that outranks the proxy moves the tree; one that is full does not', () => {
    const mk = (peerId: string, load: number): TreeMember => ({ peerId, region: 'eu', weight: 1, capacity: 2, load, carries: d => d === 'd0', holds: () => false })
    const members = ['a', 'b', 'c'].map(p => mk(p, 0))
    const tree = computeDocTree('d0', members, { fanout: 4 })
    const proxy = tree.regions[0].proxy!
    const view = new Map(members.map(m => [m.peerId, m]))
    // Find a peer id that outranks the proxy in this scope.
    const above = Array.from({ length: 200 }, (_, i) => `z${i}`).find(p => {
      const t = computeDocTree('d0', [...members, { ...mk(p, 0), carries: () => false }], { fanout: 4 })
      return t.regions[0].proxy === p
    })!
    const roomy = { ...mk(above, 0), carries: () => false }
    const full = { ...mk(above, 2), carries: () => false }
    assert.notEqual(proxy, above)
    assert.equal(changeMovesTree(tree, { peerId: above, before: undefined, after: roomy }, p => view.get(p)), true)
    assert.equal(changeMovesTree(tree, { peerId: above, before: undefined, after: full }, p => view.get(p)), false)
  })
})
