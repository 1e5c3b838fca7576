/**
 * The simulator at the scale of bench:tiers (bench/tiers.ts): the same regions, super-peers and
 * carriers as the real processes, the authority outside every region, and the figures the bench
 * measures, predicted by the tree model (runTreePass, so the real computeDocTree) and the unit
 * costs. bench:tiers feeds it the peer ids its processes report and prints prediction beside
 * measurement; `npm run simulate -- --bench-tiers` prints it for made-up ids.
 */
import { AUTHORITY_PARENT } from '../elect/index.ts'
import type { ScopeNode } from '../elect/index.ts'
import { SIM_DEFAULTS } from './config.ts'
import type { UnitCosts } from './costs.ts'
import { fleetOf } from './fleet.ts'
import type { Region } from './fleet.ts'
import { distinctAnnouncementRate, joinedRegions, ownRefreshRate } from './membership-rate.ts'
import { prng } from './random.ts'
import { AUTHORITY, regionTree, runTreePass, treeContext } from './tree-pass.ts'

export interface SmallCase {
  /** Region names of the super-peers (the authority runs outside all of them). */
  readonly regions: readonly string[]
  readonly hosts: ReadonlyArray<{ readonly peerId: string, readonly region: string }>
  readonly docId: string
  /** Hosts (indexes into `hosts`) that announce demand for the document, and their viewers. */
  readonly carriers: ReadonlyArray<{ readonly host: number, readonly viewers: number }>
  readonly frameRate: number
  readonly fanout: number
  /** Gossipsub mesh degree (D) of the membership topics. */
  readonly meshDegree: number
  /**
   * Scopes hosts proxy already, as they announce them: the real election keeps a live incumbent,
   * so which member holds a role depends on the order they came up in. None: a fleet from scratch.
   */
  readonly holding?: ReadonlyArray<{ readonly host: number, readonly scope: string }>
}

export interface SmallPrediction {
  /** Region trees as computeDocTree elects them, by region name. */
  readonly trees: readonly ScopeNode[]
  /** Each host's parent for the document (peer id, or AUTHORITY_PARENT); hosts not in the tree are absent. */
  readonly parents: ReadonlyMap<string, string>
  /** Frame messages per frame: sent by the authority, sent by super-peers, all. */
  readonly authorityFramesPerFrame: number
  readonly relayFramesPerFrame: number
  readonly framesPerFrame: number
  /** Copies of a frame entering each region (from the authority or another region). */
  readonly copiesIntoRegion: Readonly<Record<string, number>>
  /** Backbone bytes of those frame messages per frame (frame + modelled per-message overhead). */
  readonly authorityFrameBytesPerFrame: number
  readonly frameBytesPerFrame: number
  /** Bytes per frame of the frame messages that cross from one site to another (the authority's, and relays between regions). */
  readonly crossSiteFrameBytesPerFrame: number
  /**
   * Membership announcements a super-peer accepts per second (distinct: gossipsub duplicates are
   * dropped before acceptance) in steady state, when nothing changes and only leases are renewed;
   * and the schedule's bound, when every member changes as often as it may.
   */
  readonly membershipPerNodePerS: number
  readonly membershipBoundPerNodePerS: number
  /** Membership bytes on all links per second in steady state, duplicates included. */
  readonly membershipBytesPerS: number
}

export function predictSmall (input: SmallCase, costs: UnitCosts): SmallPrediction {
  // The authority's site is a region of its own with no super-peers, so every link from it crosses.
  const names = [...input.regions, '(authority)']
  const regions: Region[] = names.map(name => ({ name, share: 1 / names.length, lat: 0, lon: 0 }))
  const order = input.hosts.map((h, index) => ({ ...h, index, region: input.regions.indexOf(h.region) }))
  for (const h of order) if (h.region < 0) throw new RangeError(`host ${h.peerId} is in region ${input.hosts[h.index].region}, not one of ${input.regions.join(', ')}`)
  order.sort((a, b) => a.region - b.region || a.index - b.index)
  const position = new Map(order.map((h, i) => [h.index, i]))
  const fleet = fleetOf({ ...SIM_DEFAULTS, fanout: input.fanout, frameRate: input.frameRate, meshDegree: input.meshDegree, exactDocs: 1, kills: 0 }, {
    regions,
    hosts: order.map(h => ({ peerId: h.peerId, region: h.region })),
    docs: [{ docId: input.docId, home: input.regions.length, carriers: input.carriers.map(c => ({ host: position.get(c.host)!, viewers: c.viewers })) }]
  })
  const contextOf = (): ReturnType<typeof treeContext> => {
    const ctx = treeContext(fleet, costs, prng(1))
    for (const { host, scope } of input.holding ?? []) {
      const h = position.get(host)!
      ctx.state.held.set(h, new Set([...ctx.state.held.get(h) ?? [], scope]))
    }
    return ctx
  }
  const ctx = contextOf()
  const trees = input.regions.map((_, g) => regionTree(ctx, 0, g)).filter((n): n is ScopeNode => n !== undefined)
  const parents = new Map<string, string>()
  const copiesIntoRegion: Record<string, number> = Object.fromEntries(input.regions.map(r => [r, 0]))
  let authorityFrames = 0
  let relayFrames = 0
  let crossSite = 0
  // A fresh context: regionTree above charged nothing, but the pass must start from zero load.
  runTreePass(contextOf(), undefined, {
    link (_doc, from, to) {
      parents.set(fleet.hostIds[to], from === AUTHORITY ? AUTHORITY_PARENT : fleet.hostIds[from])
      if (from === AUTHORITY) authorityFrames++
      else relayFrames++
      if (from === AUTHORITY || fleet.hostRegion[from] !== fleet.hostRegion[to]) {
        copiesIntoRegion[names[fleet.hostRegion[to]]]++
        crossSite++
      }
    }
  })
  const frameWire = costs.frameBytes + costs.backboneOverheadBytes
  const sizes = input.regions.map(r => input.hosts.filter(h => h.region === r).length)
  const joined = joinedRegions(sizes.length)
  // Every super-peer and the authority subscribe to every region's topic they see a peer use.
  const subscribers = input.hosts.length + 1
  const distinct = distinctAnnouncementRate(sizes, 'refresh', joined)
  const wire = costs.announcementBytes + costs.backboneOverheadBytes
  return {
    trees,
    parents,
    authorityFramesPerFrame: authorityFrames,
    relayFramesPerFrame: relayFrames,
    framesPerFrame: authorityFrames + relayFrames,
    copiesIntoRegion,
    authorityFrameBytesPerFrame: authorityFrames * frameWire,
    frameBytesPerFrame: (authorityFrames + relayFrames) * frameWire,
    crossSiteFrameBytesPerFrame: crossSite * frameWire,
    // A node does not accept its own announcement from the topic.
    membershipPerNodePerS: distinct - sizes.reduce((s, n) => s + n * ownRefreshRate(n), 0) / input.hosts.length,
    membershipBoundPerNodePerS: distinctAnnouncementRate(sizes, 'bound', joined),
    membershipBytesPerS: subscribers * distinct * Math.min(input.meshDegree, subscribers - 1) * wire
  }
}
