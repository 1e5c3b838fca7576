/**
 * Which documents' trees a membership change can move, so that a host carrying thousands of
 * documents recomputes only those (docs/architecture.md, "Tiers at scale").
 *
 * A tree is a function of, per region with demand: the carrier set (it fixes the members lists
 * and the splits) and one election per scope. Rendezvous election makes the effect of one member
 * decidable from the tree already computed: with its proxy P unchanged, a scope's election moves
 * only if the changed member X
 *   - was P and left, changed weight, or stopped claiming the scope or having room (a P that
 *     still claims it, or never did and still has room, stays: its load alone moves nothing);
 *   - or the scope was unserved (P undefined: anyone may fill it);
 *   - claims the scope now (holds it: it could be a better-ranked incumbent; not ranked here);
 *   - or, where P is not an incumbent (P won as the best-ranked member with room), X now has
 *     room and ranks above P (before, it ranked above P only while full).
 * A member that leaves without being P moves nothing: P is still the best holder, or still the
 * best with room. Changes compose: each one that moves nothing leaves P in place, so the next
 * is judged against the same tree.
 */
import { rendezvousScore } from './rank.ts'
import type { DocTree, ScopeNode, TreeMember } from './tree.ts'

/** One member's entry in the view before and after a change; undefined where it is absent. */
export interface MemberChange {
  readonly peerId: string
  readonly before: TreeMember | undefined
  readonly after: TreeMember | undefined
}

/**
 * False only if computeDocTree over the view after `change` provably equals `tree` (computed
 * over the view before, with no exclusions and the same fan-out). `current` looks a peer up in
 * the view after the change; a proxy it names is one the change did not touch.
 */
export function changeMovesTree (tree: DocTree, change: MemberChange, current: (peerId: string) => TreeMember | undefined): boolean {
  const { peerId, before, after } = change
  const carriedBefore = before?.carries(tree.docId) === true
  const carriedAfter = after?.carries(tree.docId) === true
  // A carrier came, went or moved region: the members lists and splits change.
  if ((carriedBefore || carriedAfter) && (carriedBefore !== carriedAfter || before!.region !== after!.region)) return true
  for (const region of tree.regions) {
    const was = before?.region === region.region
    const is = after?.region === region.region
    if (!was && !is) continue
    // The region scope elects among every member of the region.
    if (electionMoves(region, peerId, was ? before : undefined, is ? after : undefined, current)) return true
    // A carrier here (on both sides, as checked above) is also a candidate in its sub-scopes.
    if (carriedAfter) {
      for (const sub of subScopesHolding(region, peerId)) if (electionMoves(sub, peerId, before, after, current)) return true
    }
  }
  return false
}

/** True if any of `changes` may move the tree (see changeMovesTree). */
export function changesMoveTree (tree: DocTree, changes: readonly MemberChange[], current: (peerId: string) => TreeMember | undefined): boolean {
  return changes.some(change => changeMovesTree(tree, change, current))
}

function electionMoves (node: ScopeNode, peerId: string, before: TreeMember | undefined, after: TreeMember | undefined,
  current: (peerId: string) => TreeMember | undefined): boolean {
  const proxy = node.proxy
  if (proxy === undefined) return true
  if (proxy === peerId) return proxyMoves(node.scope, before, after)
  if (after === undefined) return false // a candidate that was not the proxy left
  const incumbent = current(proxy)
  if (incumbent === undefined) return true
  if (after.holds(node.scope)) return true
  if (incumbent.holds(node.scope)) return false
  if (after.load >= after.capacity) return false
  return ranksAbove(node.scope, after, incumbent)
}

/** The proxy itself changed: it stays if its rank is the same and it still wins the way it won. */
function proxyMoves (scope: string, before: TreeMember | undefined, after: TreeMember | undefined): boolean {
  if (before === undefined || after === undefined || before.weight !== after.weight) return true
  // Claiming it, it is the best claimant: those above it claim nothing (else they would be proxy).
  if (after.holds(scope)) return false
  // It won by room with no claimant anywhere (else the best claimant would be proxy): still so.
  return before.holds(scope) || after.load >= after.capacity
}

/** The same order as the election's ranking (rank.ts): higher score first, ties to the lower peer id. */
function ranksAbove (scope: string, a: TreeMember, b: TreeMember): boolean {
  const sa = rendezvousScore(scope, a.peerId, a.weight)
  const sb = rendezvousScore(scope, b.peerId, b.weight)
  return sa !== sb ? sa > sb : a.peerId < b.peerId
}

/** The sub-scopes under `node` whose candidates include `peerId` (its path down the tree). */
function subScopesHolding (node: ScopeNode, peerId: string): ScopeNode[] {
  for (const sub of node.scopes) {
    if (contains(sub, peerId)) return [sub, ...subScopesHolding(sub, peerId)]
  }
  return []
}

function contains (node: ScopeNode, peerId: string): boolean {
  return node.proxy === peerId || node.members.includes(peerId) || node.scopes.some(sub => contains(sub, peerId))
}
