/**
 * The tree model's steady state: for every (document, region) with demand, the real
 * computeDocTree over that region's candidates (members.ts), then one walk of the region's
 * scope tree that charges each link's frames, partials and roles to the hosts at its ends.
 *
 * Regions are independent in computeDocTree (each region's scope sees only its own members), so
 * computing one region at a time gives the same region nodes as one call over the whole fleet
 * (test/unit/sim/tree-pass.test.ts checks this) and lets a failover recompute one region.
 */
import { computeDocTree, scopeDepth } from '../elect/index.ts'
import type { ScopeNode } from '../elect/index.ts'
import type { UnitCosts } from './costs.ts'
import type { Fleet } from './fleet.ts'
import { ElectionState, hostMembers, pairCandidates } from './members.ts'
import type { HostMember } from './members.ts'

/** The authority, as the sender of a link. */
export const AUTHORITY = -1
/** Tiers kept apart in the per-tier figures; deeper ones are counted in the last. */
export const MAX_TIERS = 16

export interface LinkVisitor {
  /** One frame link: `from` (a host, or AUTHORITY) sends every frame of `doc` to `to`. */
  link (doc: number, from: number, to: number): void
}

export interface TreeTotals {
  /** Per host, bytes/s: frames relayed, partials sent up. */
  readonly relayEgress: Float64Array
  readonly partialEgress: Float64Array
  /** Per host: frames received per second, proxy roles, partials received per second. */
  readonly framesIn: Float64Array
  readonly roles: Float64Array
  readonly partialsIn: Float64Array
  /** Per document: deepest scope (1 = the region proxy serves every carrier), authority egress bytes/s, cross-region bytes per frame. */
  readonly docDepth: Uint8Array
  readonly docAuthorityEgress: Float64Array
  readonly docCrossRegionBytesPerFrame: Float64Array
  /** Per document: partials/s and partial bytes/s reaching its authority. */
  readonly docAuthorityPartials: Float64Array
  readonly docAuthorityPartialBytes: Float64Array
  /** Per tier (0 = authority, 1 = region proxies, ...): partials/s received in total, and the most one node receives. */
  readonly tierPartials: Float64Array
  readonly tierMaxPartialsPerNode: Float64Array
  /** Per host: the pairs (doc × regions + region) in which it is a proxy, for failover. */
  readonly proxyPairs: number[][]
  /** Hosts whose proxy roles reached their capacity (from then on they took no new role). */
  hostsAtCapacity: number
  unservedScopes: number
  regionTrees: number
}

export interface TreeContext {
  readonly fleet: Fleet
  readonly costs: UnitCosts
  readonly state: ElectionState
  readonly hosts: readonly HostMember[]
  readonly hostIndex: ReadonlyMap<string, number>
  readonly random: () => number
}

export function treeContext (fleet: Fleet, costs: UnitCosts, random: () => number): TreeContext {
  const state = new ElectionState(fleet, fleet.config.roleCapacity)
  const hosts = hostMembers(fleet, state)
  return { fleet, costs, state, hosts, hostIndex: new Map(fleet.hostIds.map((id, h) => [id, h])), random }
}

/** The region node of pair (doc, region), from the real computeDocTree; undefined without demand. */
export function regionTree (ctx: TreeContext, doc: number, region: number, options: { exclude?: ReadonlySet<string>, keep?: number } = {}): ScopeNode | undefined {
  const exact = doc < ctx.fleet.config.exactDocs
  const candidates = pairCandidates(ctx.fleet, ctx.state, ctx.hosts, doc, region, exact, ctx.random, options.keep)
  if (candidates.length === 0) return undefined
  const tree = computeDocTree(ctx.fleet.docIds[doc], candidates, { fanout: ctx.fleet.config.fanout, exclude: options.exclude })
  return tree.regions[0]
}

/** Expected chance that a host with `viewers` viewers of a document has input in one window. */
export function inputChance (fleet: Fleet, viewers: number): number {
  const c = fleet.config
  return 1 - Math.exp(-viewers * c.writers * c.writerMessagesPerS * c.windowMs / 1000)
}

export function runTreePass (ctx: TreeContext, onPair?: (done: number, total: number) => void, visitor?: LinkVisitor): TreeTotals {
  const { fleet, costs, state } = ctx
  const c = fleet.config
  const H = fleet.hostIds.length
  const R = fleet.regions.length
  const totals: TreeTotals = {
    relayEgress: new Float64Array(H),
    partialEgress: new Float64Array(H),
    framesIn: new Float64Array(H),
    roles: state.load,
    partialsIn: new Float64Array(H),
    docDepth: new Uint8Array(c.documents),
    docAuthorityEgress: new Float64Array(c.documents),
    docCrossRegionBytesPerFrame: new Float64Array(c.documents),
    docAuthorityPartials: new Float64Array(c.documents),
    docAuthorityPartialBytes: new Float64Array(c.documents),
    tierPartials: new Float64Array(MAX_TIERS),
    tierMaxPartialsPerNode: new Float64Array(MAX_TIERS),
    proxyPairs: Array.from({ length: H }, () => []),
    hostsAtCapacity: 0,
    unservedScopes: 0,
    regionTrees: 0
  }
  const frameWire = costs.frameBytes + costs.backboneOverheadBytes
  const windowsPerS = 1000 / c.windowMs
  const partialBytes = (entries: number): number => costs.partialHeaderBytes + costs.backboneOverheadBytes + entries * costs.partialEntryBytes
  const hostOf = (peerId: string): number => ctx.hostIndex.get(peerId)!
  const tierOf = (depth: number): number => Math.min(MAX_TIERS - 1, depth)

  let doc = 0
  const link = (from: number, to: number): void => {
    if (from === AUTHORITY) {
      totals.docAuthorityEgress[doc] += frameWire * c.frameRate
      if (fleet.hostRegion[to] !== fleet.docHome[doc]) totals.docCrossRegionBytesPerFrame[doc] += frameWire
    } else {
      totals.relayEgress[from] += frameWire * c.frameRate
      if (fleet.hostRegion[to] !== fleet.hostRegion[from]) totals.docCrossRegionBytesPerFrame[doc] += frameWire
    }
    totals.framesIn[to] += c.frameRate
    visitor?.link(doc, from, to)
  }
  const hostTierPartials = new Float64Array(H * MAX_TIERS)
  /** `from` sends `to` (the proxy of a scope at depth toDepth, or the authority at tier 0) a partial with `chance` per window. */
  const uplink = (from: number, to: number, chance: number, entries: number, toDepth: number): void => {
    const perS = chance * windowsPerS
    const tier = tierOf(toDepth)
    totals.partialEgress[from] += perS * partialBytes(entries)
    totals.tierPartials[tier] += perS
    if (to === AUTHORITY) {
      totals.docAuthorityPartials[doc] += perS
      totals.docAuthorityPartialBytes[doc] += perS * partialBytes(entries)
    } else {
      totals.partialsIn[to] += perS
      hostTierPartials[to * MAX_TIERS + tier] += perS
    }
  }
  const own = (h: number): number => state.carrying[h] === state.stamp ? inputChance(fleet, state.pairViewers[h]) : 0

  /** A partial going up: chance per window that it is sent, expected window entries in it, sender. */
  type Sender = [chance: number, entries: number, from: number]
  /**
   * Walks a scope: links its proxy to `parent` and its members to the proxy (or, unserved, to
   * `parent`), charges the partials its proxy receives, and returns the partials it sends `parent`.
   */
  const visit = (node: ScopeNode, parent: number): Sender[] => {
    if (node.proxy === undefined) {
      totals.unservedScopes++
      return node.members.map(id => { const m = hostOf(id); link(parent, m); return [own(m), own(m), m] })
    }
    const proxy = hostOf(node.proxy)
    link(parent, proxy)
    state.load[proxy]++
    totals.proxyPairs[proxy].push(doc * R + fleet.hostRegion[proxy])
    const received: Sender[] = node.members.map(id => { const m = hostOf(id); link(proxy, m); return [own(m), own(m), m] })
    for (const sub of node.scopes) received.push(...visit(sub, proxy))
    let quiet = 1 - own(proxy)
    let entries = own(proxy)
    for (const [chance, e, from] of received) {
      uplink(from, proxy, chance, e, node.depth)
      quiet *= 1 - chance
      entries += e
    }
    return [[1 - quiet, entries, proxy]]
  }

  const pairs = c.documents * R
  for (doc = 0; doc < c.documents; doc++) {
    for (let g = 0; g < R; g++) {
      const node = regionTree(ctx, doc, g)
      if (node === undefined) continue
      totals.regionTrees++
      totals.docDepth[doc] = Math.max(totals.docDepth[doc], scopeDepth(node))
      for (const [chance, entries, from] of visit(node, AUTHORITY)) uplink(from, AUTHORITY, chance, entries, 0)
    }
    if (onPair !== undefined && (doc & 255) === 0) onPair(doc * R, pairs)
  }
  onPair?.(pairs, pairs)
  for (let h = 0; h < H; h++) {
    if (state.load[h] >= c.roleCapacity) totals.hostsAtCapacity++
    for (let t = 0; t < MAX_TIERS; t++) totals.tierMaxPartialsPerNode[t] = Math.max(totals.tierMaxPartialsPerNode[t], hostTierPartials[h * MAX_TIERS + t])
  }
  return totals
}
