/**
 * One document's distribution tree, computed from a membership view (docs/architecture.md, "Tiers"):
 *
 *   authority → region proxy (one per region with demand) → sub-scope proxies → carriers
 *
 * A region has demand when one of its members carries the document (has viewers for it). The
 * region proxy is elected among all live members of the region, carriers or not, so it does not
 * move when viewers come and go. When a proxy would serve more than `fanout` children, they split
 * into k = min(fanout, ceil(children / fanout)) sub-scopes of equal size (scope.ts); each
 * sub-scope elects its proxy among its own carriers, which serves the rest, splitting again if
 * needed. Depth is thus about log_fanout(carriers). Pure: every node with the same view computes
 * the same tree.
 */
import { elect } from './rank.ts'
import type { Candidate } from './rank.ts'
import { regionScope, splitIntoSubScopes, subScope, subScopeCount } from './scope.ts'

/** The parent of a region scope: the document's authority (never a peer id: "@" is not in one). */
export const AUTHORITY_PARENT = '@authority'
export const MIN_FANOUT = 2

export interface TreeMember extends Candidate {
  readonly region: string
  /** True if it carries the document for viewers of its own (demand). */
  carries (docId: string): boolean
}

export interface ScopeNode {
  readonly scope: string
  readonly region: string
  /** 1 for a region scope, 2 for its sub-scopes, ... */
  readonly depth: number
  /** Proxy of the enclosing scope, or AUTHORITY_PARENT. */
  readonly parent: string
  /** Undefined when no candidate has room: the scope is unserved and its members hang from `parent`. */
  readonly proxy: string | undefined
  /** Carriers served directly by the proxy (not through a sub-scope), sorted. */
  readonly members: readonly string[]
  readonly scopes: readonly ScopeNode[]
}

export interface DocTree {
  readonly docId: string
  readonly fanout: number
  /** One per region with demand, sorted by region. */
  readonly regions: readonly ScopeNode[]
}

export interface TreeOptions {
  /** Most children one proxy serves (>= 2). */
  readonly fanout: number
  /** Peers to pass over in elections (suspected dead: failover before their lease ends). */
  readonly exclude?: ReadonlySet<string>
}

export function computeDocTree (docId: string, members: readonly TreeMember[], options: TreeOptions): DocTree {
  if (!Number.isSafeInteger(options.fanout) || options.fanout < MIN_FANOUT) throw new RangeError(`fanout must be an integer >= ${MIN_FANOUT}, got ${options.fanout}`)
  const byRegion = new Map<string, TreeMember[]>()
  for (const member of members) {
    if (options.exclude?.has(member.peerId) === true) continue
    const list = byRegion.get(member.region)
    if (list === undefined) byRegion.set(member.region, [member])
    else list.push(member)
  }
  const regions: ScopeNode[] = []
  for (const region of [...byRegion.keys()].sort()) {
    const inRegion = byRegion.get(region)!
    const carriers = inRegion.filter(m => m.carries(docId))
    if (carriers.length === 0) continue // no demand: the region gets none of the document's frames
    regions.push(buildScope(regionScope(docId, region), region, 1, AUTHORITY_PARENT, carriers, inRegion, options))
  }
  return { docId, fanout: options.fanout, regions }
}

function buildScope (scope: string, region: string, depth: number, parent: string, carriers: readonly TreeMember[],
  candidates: readonly TreeMember[], options: TreeOptions): ScopeNode {
  const { proxy } = elect(scope, candidates)
  if (proxy === undefined) return { scope, region, depth, parent, proxy, members: sortedIds(carriers), scopes: [] }
  const children = carriers.filter(c => c.peerId !== proxy)
  if (children.length <= options.fanout) return { scope, region, depth, parent, proxy, members: sortedIds(children), scopes: [] }
  const byId = new Map(children.map(c => [c.peerId, c]))
  const groups = splitIntoSubScopes(scope, children.map(c => c.peerId), subScopeCount(children.length, options.fanout))
  const scopes = groups.map((ids, i) => {
    const group = ids.map(id => byId.get(id)!)
    // A sub-scope elects among its own carriers: its proxy wants the document anyway.
    return buildScope(subScope(scope, i), region, depth + 1, proxy, group, group, options)
  })
  return { scope, region, depth, parent, proxy, members: [], scopes }
}

function sortedIds (members: readonly TreeMember[]): string[] {
  return members.map(m => m.peerId).sort()
}

export interface TreeChild {
  readonly peerId: string
  /** The scope through which the child hangs here. */
  readonly scope: string
}

export interface Role {
  readonly scope: string
  readonly region: string
  readonly depth: number
  readonly role: 'proxy' | 'member'
  /** Where this node takes the document from: a peer id or AUTHORITY_PARENT. */
  readonly parent: string
  /** Whom it passes the document to (proxies only). */
  readonly children: readonly TreeChild[]
}

/** What one node does in a document's tree: at most one proxy role and at most one member role. */
export function rolesOf (tree: DocTree, peerId: string): Role[] {
  const roles: Role[] = []
  const visit = (node: ScopeNode): void => {
    if (node.proxy === peerId) roles.push({ scope: node.scope, region: node.region, depth: node.depth, role: 'proxy', parent: node.parent, children: childrenOf(node) })
    if (node.members.includes(peerId)) {
      roles.push({ scope: node.scope, region: node.region, depth: node.depth, role: 'member', parent: node.proxy ?? node.parent, children: [] })
    }
    node.scopes.forEach(visit)
  }
  tree.regions.forEach(visit)
  return roles
}

function childrenOf (node: ScopeNode): TreeChild[] {
  const children: TreeChild[] = node.members.map(peerId => ({ peerId, scope: node.scope }))
  for (const sub of node.scopes) {
    if (sub.proxy !== undefined) children.push({ peerId: sub.proxy, scope: sub.scope })
    else children.push(...sub.members.map(peerId => ({ peerId, scope: sub.scope }))) // unserved: its members hang here
  }
  return children
}

/** Levels of proxies below the authority: 1 when the region proxy serves every carrier itself. */
export function scopeDepth (node: ScopeNode): number {
  return node.scopes.reduce((deepest, sub) => Math.max(deepest, scopeDepth(sub)), node.depth)
}
