// Members as plain data for the election's property tests (incremental.test.ts and
// placements.test.ts): generated, edited and compared as data, turned into TreeMembers to elect.

import fc from 'fast-check'
import { regionScope } from '../../../src/elect/index.ts'
import type { TreeMember } from '../../../src/elect/index.ts'

/** A member as plain data, so that views and changes can be generated, edited and compared. */
export interface Spec {
  peerId: string
  region: string
  weight: number
  capacity: number
  load: number
  docs: string[]
  /** Scopes it claims (any scope of any document, sub-scopes included). */
  roles: string[]
}

export const DOCS = ['d0', 'd1', 'd2', 'd3']
export const REGIONS = ['eu', 'us']

/** Every region scope of DOCS, each followed by the sub-scopes `subScopes` names (e.g. '0', '1/1'). */
export function scopesOf (subScopes: readonly string[]): string[] {
  return DOCS.flatMap(d => REGIONS.flatMap(r => {
    const root = regionScope(d, r)
    return [root, ...subScopes.map(sub => `${root}/${sub}`)]
  }))
}

/** A TreeMember that keeps the spec it was made from. */
export interface SpecMember extends TreeMember { readonly spec: Spec }

/** The member a spec describes; `carries` replaces its docs when given (a node's own demand). */
export function memberOf (s: Spec, carries?: (docId: string) => boolean): SpecMember {
  const docs = new Set(s.docs)
  const roles = new Set(s.roles)
  return {
    spec: s, peerId: s.peerId, region: s.region, weight: s.weight, capacity: s.capacity, load: s.load,
    carries: carries ?? (d => docs.has(d)),
    holds: scope => roles.has(scope)
  }
}

/** The ranges a generated spec is drawn from. */
export interface SpecBounds {
  maxWeight: number
  maxCapacity: number
  maxLoad: number
  /** Scopes it may claim (at most 4). */
  scopes: readonly string[]
}

export const specArb = (peerId: string, bounds: SpecBounds): fc.Arbitrary<Spec> => fc.record({
  peerId: fc.constant(peerId),
  region: fc.constantFrom(...REGIONS),
  weight: fc.integer({ min: 1, max: bounds.maxWeight }),
  capacity: fc.integer({ min: 0, max: bounds.maxCapacity }),
  load: fc.integer({ min: 0, max: bounds.maxLoad }),
  docs: fc.subarray(DOCS),
  roles: fc.subarray([...bounds.scopes], { maxLength: 4 })
})

/** Small edits are what membership mostly sees: one field at a time. */
export const TWEAKS: ReadonlyArray<(s: Spec) => Spec> = [
  s => ({ ...s, load: s.load + 1 }),
  s => ({ ...s, load: Math.max(0, s.load - 1) }),
  s => ({ ...s, roles: [] }),
  // claims a region scope: of a document it carries, or of one it may not carry
  s => ({ ...s, roles: [...s.roles, regionScope(s.docs[0] ?? 'd0', s.region)] }),
  s => ({ ...s, roles: [...s.roles, regionScope(DOCS[s.load % DOCS.length], s.region)] }),
  s => ({ ...s, docs: s.docs.slice(1) }),
  s => ({ ...s, weight: s.weight + 1 }),
  s => ({ ...s, capacity: 0 }),
  s => ({ ...s, region: s.region === 'eu' ? 'us' : 'eu' })
]
