/**
 * Tier election: pure, deterministic ranking of live members per scope (weighted rendezvous
 * hashing) and the per-document distribution tree built from it. Formats: docs/protocol.md,
 * "Election" and "Scopes"; design: docs/architecture.md, "Tiers".
 */
export { ELECT_CONTEXT, SPLIT_CONTEXT, electionDigest, unitInterval } from './hash.ts'
export { MAX_WEIGHT, elect, rankCandidates, rendezvousScore } from './rank.ts'
export type { Candidate, ElectOptions, Election, Ranked } from './rank.ts'
export { SCOPE_SEPARATOR, regionScope, subScope, splitIntoSubScopes, subScopeCount } from './scope.ts'
export { AUTHORITY_PARENT, MIN_FANOUT, computeDocTree, rolesOf, scopeDepth } from './tree.ts'
export type { DocTree, Role, ScopeNode, TreeChild, TreeMember, TreeOptions } from './tree.ts'
export { changeMovesTree, changesMoveTree } from './incremental.ts'
export type { MemberChange } from './incremental.ts'
export { PlacementCache } from './placements.ts'
export type { ComputeCause, Placement, PlacementOptions } from './placements.ts'
