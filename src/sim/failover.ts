/**
 * Random host kills, played in simulated time. At a kill, every child of the dead host (in each
 * region tree where it was a proxy) notices after the detection time, recomputes the region's
 * tree passing over the dead host (the real computeDocTree with `exclude`), and dials its new
 * parent; a new parent that was not receiving the document first dials its own parent. Its
 * outage is:
 *
 *   detect + re-election (hashes × measured µs per hash) + resubscribe RTTs × RTT(child, new parent)
 *   [+ RTT/2 for the child's dial to reach it + resubscribe RTTs × RTT(new parent, its parent)]
 *
 * Nodes whose parent moved without dying (a split cut shifted) switch over make-before-break
 * and lose nothing; they are counted as moves. Viewers of the dead host itself must reconnect to
 * another super-peer (the browser's failover, not the tree's); they are counted, not timed.
 */
import { AUTHORITY_PARENT } from '../elect/index.ts'
import type { ScopeNode } from '../elect/index.ts'
import { EventQueue } from './events.ts'
import { regionSize } from './fleet.ts'
import { regionTree } from './tree-pass.ts'
import type { TreeContext, TreeTotals } from './tree-pass.ts'

export interface FailoverSample {
  readonly at: number
  readonly doc: number
  /** Depth of the scope the orphan hung from (1: the dead host was a region proxy). */
  readonly depth: number
  readonly outageMs: number
}

export interface FailoverTotals {
  readonly samples: FailoverSample[]
  /** Hosts killed, in the order they died. */
  readonly killed: number[]
  kills: number
  /** Kills of hosts that were proxy of nothing (only their own viewers were affected). */
  leafKills: number
  regionTreesRecomputed: number
  moves: number
  viewersDisconnected: number
}

type Event = { at: number, kind: 'kill', host: number } | { at: number, kind: 'restored', sample: FailoverSample }

/** Who each node takes the document from in one region tree (AUTHORITY_PARENT for region proxies), and scope depths. */
export function parentsOf (node: ScopeNode | undefined): Map<string, { parent: string, depth: number }> {
  const parents = new Map<string, { parent: string, depth: number }>()
  const visit = (n: ScopeNode): void => {
    if (n.proxy !== undefined) parents.set(n.proxy, { parent: n.parent, depth: n.depth })
    for (const m of n.members) parents.set(m, { parent: n.proxy ?? n.parent, depth: n.depth })
    n.scopes.forEach(visit)
  }
  if (node !== undefined) visit(node)
  return parents
}

function proxiesOf (node: ScopeNode | undefined): Set<string> {
  const proxies = new Set<string>()
  const visit = (n: ScopeNode): void => { if (n.proxy !== undefined) proxies.add(n.proxy); n.scopes.forEach(visit) }
  if (node !== undefined) visit(node)
  return proxies
}

export function runKills (ctx: TreeContext, totals: TreeTotals, random: () => number, onKill?: (done: number, total: number) => void): FailoverTotals {
  const { fleet, costs, state } = ctx
  const c = fleet.config
  const R = fleet.regions.length
  const out: FailoverTotals = { samples: [], killed: [], kills: 0, leafKills: 0, regionTreesRecomputed: 0, moves: 0, viewersDisconnected: 0 }
  const queue = new EventQueue<Event>()
  for (let k = 0; k < c.kills; k++) {
    let host: number
    do host = Math.floor(random() * fleet.hostIds.length); while (state.dead[host] === 1 || regionSize(fleet, fleet.hostRegion[host]) - state.deadInRegion[fleet.hostRegion[host]] <= 1)
    queue.push({ at: random() * c.durationS * 1000, kind: 'kill', host })
  }
  const rtt = (a: number, b: number): number => fleet.rttMs[fleet.hostRegion[a] * R + fleet.hostRegion[b]]
  const rttToAuthority = (a: number, doc: number): number => fleet.rttMs[fleet.hostRegion[a] * R + fleet.docHome[doc]]
  const hostOf = (id: string): number => ctx.hostIndex.get(id)!

  for (let event = queue.pop(); event !== undefined; event = queue.pop()) {
    if (event.kind === 'restored') { out.samples.push(event.sample); continue }
    const victim = event.host
    if (state.dead[victim] === 1) continue
    out.kills++
    out.killed.push(victim)
    out.viewersDisconnected += fleet.hostViewers[victim]
    const pairs = [...new Set(totals.proxyPairs[victim])]
    if (pairs.length === 0) out.leafKills++
    const beforeTrees = pairs.map(pair => regionTree(ctx, Math.floor(pair / R), pair % R))
    state.kill(victim)
    const victimId = fleet.hostIds[victim]
    const exclude = new Set([victimId])
    pairs.forEach((pair, i) => {
      const doc = Math.floor(pair / R)
      const region = pair % R
      const before = parentsOf(beforeTrees[i])
      const afterTree = regionTree(ctx, doc, region, { exclude, keep: victim })
      const after = parentsOf(afterTree)
      out.regionTreesRecomputed++
      // Hosts that became proxies here can die later: give them the pair, as the pass did.
      const proxiesBefore = proxiesOf(beforeTrees[i])
      for (const id of proxiesOf(afterTree)) if (!proxiesBefore.has(id)) totals.proxyPairs[hostOf(id)].push(pair)
      const carriers = fleet.pairStart[pair + 1] - fleet.pairStart[pair]
      const reelectMs = (regionSize(fleet, region) + 2 * carriers) * costs.hashUs / 1000
      for (const [id, now] of after) {
        const then = before.get(id)
        if (then === undefined || then.parent === now.parent) continue
        if (then.parent !== victimId) { out.moves++; continue }
        const child = hostOf(id)
        const dial = now.parent === AUTHORITY_PARENT ? rttToAuthority(child, doc) : rtt(child, hostOf(now.parent))
        let outageMs = c.detectMs + reelectMs + c.resubscribeRtts * dial
        if (now.parent !== AUTHORITY_PARENT) {
          const parent = now.parent
          const parentThen = before.get(parent)
          const parentNow = after.get(parent)!
          if (parentThen === undefined || parentThen.parent !== parentNow.parent) {
            const up = parentNow.parent === AUTHORITY_PARENT ? rttToAuthority(hostOf(parent), doc) : rtt(hostOf(parent), hostOf(parentNow.parent))
            outageMs = Math.max(outageMs, c.detectMs + reelectMs + dial / 2 + c.resubscribeRtts * up + dial / 2)
          }
        }
        queue.push({ at: event.at + outageMs, kind: 'restored', sample: { at: event.at, doc, depth: then.depth, outageMs } })
      }
    })
    onKill?.(out.kills, c.kills)
  }
  return out
}
