// The tier trees of one host carrying many documents, under membership churn, in this process:
// the real Tiers (node/tiers/tiers.ts) over an in-memory region (no network), so a membership
// change costs only what it costs the trees. Part of bench:tiers; alone:
//   node bench/parts/tiers-churn.ts [documents]
//
// The host carries every document; it wants 90% itself (viewers) and carries the rest only for
// tier children of its own. Seven other members carry 30% each and hold the scopes their first
// election gave them; 5% of the host's uplinks pass over a suspected parent (one that failed them
// lately), as after a failover or on a loaded host. Each change (a member joins carrying nothing,
// leaves, re-announces its load; a proxy leaves and comes back) is followed, as on a super-peer,
// by every uplink asking its parent again. Measured per change: trees computed and ms; the
// baseline is recomputing every tree, in the same run. BENCH_TIERS_MODULE names another Tiers
// module to drive (the version before a change, to compare).

import { pathToFileURL } from 'node:url'
import { computeDocTree } from '../../src/elect/index.ts'
import type { ScopeNode, TreeMember } from '../../src/elect/index.ts'
import { Digest, Member } from '../../src/membership/index.ts'
import type { Announcement } from '../../src/membership/announcement.ts'
import { Counters } from '../../node/metrics.ts'
import type { Tiers } from '../../node/tiers/tiers.ts'

const REGION = 'bench'
const SELF = 'host'
const OTHERS = 7
const CARRY_SHARE = 0.3
const DEMAND_SHARE = 0.9
const SUSPECT_SHARE = 0.05
const FANOUT = 32

export interface ChurnResult {
  documents: number
  changes: number
  /** Trees computed per change, by kind of change. */
  perChange: Array<{ change: string, trees: number, ms: number }>
  treesPerChange: number
  msPerChange: number
  /** The baseline: every tree computed afresh over the same view, once. */
  fullRecomputeMs: number
  byCause: Record<string, number>
}

/** A small deterministic PRNG (mulberry32), so every run sees the same region. */
function random (seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

function member (peerId: string, docs: Iterable<string>, roles: Iterable<string>, load: number): Member {
  const fields = { peerId, region: REGION, seq: 1, expires: Number.MAX_SAFE_INTEGER, weight: 1, capacity: 100_000, load, cert: '', addrs: [], docs: Digest.of(docs), roles: Digest.of(roles), leaving: false }
  return new Member(fields as unknown as Announcement, REGION, Number.MAX_SAFE_INTEGER)
}

function proxiesOf (node: ScopeNode, into: Map<string, string[]>): void {
  if (node.proxy !== undefined) {
    const list = into.get(node.proxy) ?? []
    list.push(node.scope)
    into.set(node.proxy, list)
  }
  for (const sub of node.scopes) proxiesOf(sub, into)
}

export async function churn (documents: number, module = new URL('../../node/tiers/tiers.ts', import.meta.url).href): Promise<ChurnResult> {
  const { Tiers: TiersClass } = await import(module) as { Tiers: typeof Tiers }
  const rand = random(20261202)
  const docIds = Array.from({ length: documents }, (_, i) => `churn${i}`)
  const demanded = new Set(docIds.filter(() => rand() < DEMAND_SHARE))
  const carried = new Set(docIds)
  const others = Array.from({ length: OTHERS }, (_, i) => `peer${i}`)
  const carries = new Map(others.map(p => [p, docIds.filter(() => rand() < CARRY_SHARE)]))
  // Roles as the first election gives them, announced by each member (hysteresis holds them).
  const plain = (peerId: string, docs: ReadonlySet<string>): TreeMember => ({ peerId, region: REGION, weight: 1, capacity: 100_000, load: 0, carries: d => docs.has(d), holds: () => false })
  const initial = [plain(SELF, demanded), ...others.map(p => plain(p, new Set(carries.get(p))))]
  const roles = new Map<string, string[]>()
  for (const docId of docIds) for (const region of computeDocTree(docId, initial, { fanout: FANOUT }).regions) proxiesOf(region, roles)
  const view = new Map<string, Member>()
  view.set(SELF, member(SELF, demanded, roles.get(SELF) ?? [], roles.get(SELF)?.length ?? 0))
  for (const p of others) view.set(p, member(p, carries.get(p)!, roles.get(p) ?? [], roles.get(p)?.length ?? 0))
  const suspects = new Map(docIds.filter(() => rand() < SUSPECT_SHARE).map(d => [d, new Set([others[Math.floor(rand() * OTHERS)]])]))

  const membership = Object.assign(new EventTarget(), {
    peerId: SELF,
    members: () => [...view.values()],
    status: () => ({ region: REGION })
  })
  const pubsub = Object.assign(new EventTarget(), { getSubscribers: () => [] })
  const node = Object.assign(new EventTarget(), { services: { pubsub } })
  const counters = new Counters()
  const tiers = new TiersClass({
    node: node as never,
    membership: membership as never,
    carried: () => carried,
    demanded: () => demanded,
    demands: d => demanded.has(d),
    carries: d => carried.has(d),
    counters
  }, { fanout: FANOUT, joinGraceMs: 0 })
  // As carriers.reconsider() does after each change: every uplink asks for its parent.
  const reconsider = (): void => {
    for (const docId of docIds) tiers.standing(docId, suspects.get(docId))
  }
  reconsider()

  const proxy = others.reduce((best, p) => (roles.get(p)?.length ?? 0) > (roles.get(best)?.length ?? 0) ? p : best)
  const changes: Array<[string, () => void]> = []
  for (let i = 0; i < 4; i++) {
    const joiner = `joiner${i}`
    changes.push([`a member joins carrying nothing (${i + 1})`, () => { view.set(joiner, member(joiner, [], [], 0)) }])
    changes.push([`it re-announces (load 1) (${i + 1})`, () => { view.set(joiner, member(joiner, [], [], 1)) }])
    changes.push([`it leaves (${i + 1})`, () => { view.delete(joiner) }])
  }
  const held = view.get(proxy)!
  changes.push([`a proxy of ${roles.get(proxy)?.length ?? 0} scopes leaves`, () => { view.delete(proxy) }])
  changes.push(['it comes back holding nothing', () => { view.set(proxy, member(proxy, carries.get(proxy)!, [], 0)) }])
  changes.push(['it re-announces what it held', () => { view.set(proxy, held) }])

  const byCauseBefore = causes(counters)
  const perChange: ChurnResult['perChange'] = []
  for (const [change, apply] of changes) {
    const before = counters.get('tier_trees_computed')
    const t = performance.now()
    apply()
    membership.dispatchEvent(new Event('change'))
    reconsider()
    perChange.push({ change, trees: counters.get('tier_trees_computed') - before, ms: performance.now() - t })
  }
  const byCauseAfter = causes(counters)
  const byCause = Object.fromEntries(Object.entries(byCauseAfter).map(([cause, n]) => [cause, n - (byCauseBefore[cause] ?? 0)]).filter(([, n]) => (n as number) > 0))

  const members = [...view.values()]
  const t = performance.now()
  for (const docId of docIds) computeDocTree(docId, members, { fanout: FANOUT })
  const fullRecomputeMs = performance.now() - t
  const total = perChange.reduce((sum, c) => sum + c.trees, 0)
  const ms = perChange.reduce((sum, c) => sum + c.ms, 0)
  return { documents, changes: perChange.length, perChange, treesPerChange: total / perChange.length, msPerChange: ms / perChange.length, fullRecomputeMs, byCause }
}

function causes (counters: Counters): Record<string, number> {
  const prefix = 'tier_trees_recomputed_'
  return Object.fromEntries(Object.entries(counters.toJSON()).filter(([name]) => name.startsWith(prefix)).map(([name, n]) => [name.slice(prefix.length), n]))
}

export function churnLines (r: ChurnResult): string[] {
  const lines = [`churn    ${r.documents} documents on one host, region of ${OTHERS + 1} members, ${r.changes} membership changes (in process)`]
  for (const c of r.perChange) lines.push(`  ${c.change.padEnd(44)} ${String(c.trees).padStart(7)} trees ${c.ms.toFixed(1).padStart(8)} ms`)
  lines.push(`  per change: ${r.treesPerChange.toFixed(1)} trees, ${r.msPerChange.toFixed(1)} ms (baseline: every tree afresh ${r.fullRecomputeMs.toFixed(1)} ms); by cause ${JSON.stringify(r.byCause)}`)
  return lines
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const module = process.env.BENCH_TIERS_MODULE === undefined ? undefined : pathToFileURL(process.env.BENCH_TIERS_MODULE).href
  const result = await churn(Number(process.argv[2] ?? 10_000), module)
  for (const line of churnLines(result)) console.log(line)
  console.log('RESULT ' + JSON.stringify({ documents: result.documents, trees_recomputed_per_change: Math.round(result.treesPerChange * 10) / 10, ms_per_change: Math.round(result.msPerChange * 10) / 10, full_recompute_ms: Math.round(result.fullRecomputeMs * 10) / 10 }))
}
