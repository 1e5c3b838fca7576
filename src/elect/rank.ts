/**
 * Weighted rendezvous hashing (highest random weight, logarithmic method):
 *
 *   score(scope, member) = weight / -ln(u),  u = unitInterval(H("deltacast/elect/1", scope, peerId))
 *
 * max over members of weight / -ln(u) picks member m with probability weight_m / Σ weight, the
 * exact weighted share, with no virtual nodes and no table to agree on. Removing a member moves
 * only the scopes it won (each to its own runner-up); adding one moves only the scopes it now
 * wins. Ties (equal scores, about 2^-50 per pair) go to the lower peer id.
 */
import { ELECT_CONTEXT, electionDigest, unitInterval } from './hash.ts'

/** Largest weight a member may declare (the announcement's u16); weights are relative. */
export const MAX_WEIGHT = 0xffff

export interface Candidate {
  readonly peerId: string
  /** Relative share of roles, 1..MAX_WEIGHT. */
  readonly weight: number
  /** Most roles it will hold. */
  readonly capacity: number
  /** Roles it holds now (as it last announced). */
  readonly load: number
  /** True if it already holds this scope's role (it keeps it at capacity: hysteresis). */
  holds (scope: string): boolean
}

export interface Ranked {
  readonly peerId: string
  readonly score: number
}

export interface Election {
  /** The proxy, or undefined if no candidate has room (the scope is unserved). */
  readonly proxy: string | undefined
  /** Every candidate not excluded, best first: the failover order. */
  readonly ranking: readonly Ranked[]
}

export interface ElectOptions {
  /** Peers to pass over, e.g. a parent this node just lost the connection to (failover). */
  readonly exclude?: ReadonlySet<string>
}

export function rendezvousScore (scope: string, peerId: string, weight: number): number {
  return weight / -Math.log(unitInterval(electionDigest(ELECT_CONTEXT, scope, peerId)))
}

/** Candidates best first for this scope. Pure: the same candidates give the same order everywhere. */
export function rankCandidates (scope: string, candidates: readonly Candidate[], options: ElectOptions = {}): Ranked[] {
  const ranked: Ranked[] = []
  for (const candidate of candidates) {
    if (options.exclude?.has(candidate.peerId) === true) continue
    ranked.push({ peerId: candidate.peerId, score: rendezvousScore(scope, candidate.peerId, candidate.weight) })
  }
  return ranked.sort(byScore)
}

/**
 * The scope's proxy: the best-ranked candidate that has room (load < capacity) or already holds
 * the role. A member at capacity takes no new role but keeps the ones it has, so a busy proxy is
 * not bounced between members each time its load touches the limit.
 */
export function elect (scope: string, candidates: readonly Candidate[], options: ElectOptions = {}): Election {
  const ranking = rankCandidates(scope, candidates, options)
  const byId = new Map(candidates.map(c => [c.peerId, c]))
  const proxy = ranking.find(({ peerId }) => {
    const c = byId.get(peerId)!
    return c.load < c.capacity || c.holds(scope)
  })?.peerId
  return { proxy, ranking }
}

function byScore (a: Ranked, b: Ranked): number {
  if (a.score !== b.score) return b.score - a.score
  return a.peerId < b.peerId ? -1 : a.peerId > b.peerId ? 1 : 0
}
