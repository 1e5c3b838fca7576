/**
 * One simulation run: build the fleet, compute every region tree with the real election, charge
 * links to hosts, play the kills, and the same fleet as a flat mesh; then the figures. Pure and
 * deterministic for a config and unit costs (time is simulated; progress is reported through a
 * callback).
 */
import { regionScope } from '../elect/index.ts'
import { ANNOUNCEMENT_SIGNATURE_BYTES, Digest, encodeBody, leaseMs } from '../membership/index.ts'
import type { SimConfig } from './config.ts'
import type { UnitCosts } from './costs.ts'
import { runKills } from './failover.ts'
import type { FailoverTotals } from './failover.ts'
import { runFlatPass } from './flat.ts'
import type { FlatTotals } from './flat.ts'
import { buildFleet, regionSize } from './fleet.ts'
import type { Fleet } from './fleet.ts'
import { distinctAnnouncementRate } from './membership-rate.ts'
import { prng } from './random.ts'
import { max, percentile, sum } from './stats.ts'
import { MAX_TIERS, runTreePass, treeContext } from './tree-pass.ts'
import type { TreeTotals } from './tree-pass.ts'

export type Phase = 'fleet' | 'trees' | 'kills' | 'flat'
export type Progress = (phase: Phase, done: number, total: number) => void

/** One design's figures (the tree, or the flat mesh). */
export interface DesignFigures {
  readonly maxDepth: number
  /** Per host: total egress bytes/s and its share of the NIC; CPU share of all cores. */
  readonly egress: Float64Array
  /** Per host: the backbone part of its egress (relayed frames, partials, membership), bytes/s. */
  readonly backboneEgress: Float64Array
  readonly egressVsNic: Float64Array
  readonly cpu: Float64Array
  readonly authorityEgressBytesPerS: number
  readonly crossRegionBytesPerFrameTop: number
  readonly crossRegionBytesPerFrameMean: number
  readonly membershipMsgsPerSPerNode: number
  readonly membershipBytesPerSPerNode: number
  readonly authorityPartialsPerS: number
  readonly authorityPartialBytesPerS: number
  /** Per document: depth in proxy levels (tree) or hops from the authority (flat). */
  readonly docDepth: ArrayLike<number>
  /** Tier 0 = authorities (all documents), 1 = region proxies, ...: partials/s in total and the most one node receives. */
  readonly tierPartials: readonly number[]
  readonly tierMaxPartialsPerNode: readonly number[]
  readonly failoverMs: readonly number[]
}

export interface SimReport {
  readonly config: SimConfig
  readonly costs: UnitCosts
  readonly fleet: Fleet
  readonly tree: DesignFigures
  readonly flat: DesignFigures | undefined
  readonly treeTotals: TreeTotals
  readonly flatTotals: FlatTotals | undefined
  readonly failover: FailoverTotals
}

export function simulate (config: SimConfig, costs: UnitCosts, options: { flat?: boolean, progress?: Progress } = {}): SimReport {
  const progress = options.progress ?? (() => {})
  progress('fleet', 0, 1)
  const fleet = buildFleet(config)
  progress('fleet', 1, 1)
  const ctx = treeContext(fleet, costs, prng(config.seed + 1))
  const treeTotals = runTreePass(ctx, (done, total) => progress('trees', done, total))
  const failover = runKills(ctx, treeTotals, prng(config.seed + 2), (done, total) => progress('kills', done, total))
  const measured = { ...costs, announcementBytes: announcementBytes(fleet, treeTotals, prng(config.seed + 4)) }
  const flatTotals = options.flat === false ? undefined : runFlatPass(fleet, costs, prng(config.seed + 3), (done, total) => progress('flat', done, total))
  return {
    config,
    fleet,
    costs: measured,
    tree: treeFigures(fleet, measured, treeTotals, failover),
    flat: flatTotals === undefined ? undefined : flatFigures(fleet, measured, flatTotals),
    treeTotals,
    flatTotals,
    failover
  }
}

/** Hosts whose announcement is encoded for real (its size depends only on how many documents and roles it lists). */
const ANNOUNCEMENT_SAMPLE = 200

/**
 * Mean bytes of a host's announcement: the real encodeBody (plus the signature) with Bloom
 * digests of the doc ids it carries and the scope ids it proxies, over sampled hosts.
 */
function announcementBytes (fleet: Fleet, totals: TreeTotals, random: () => number): number {
  const R = fleet.regions.length
  const sample = new Map<number, string[]>()
  for (let i = 0; i < ANNOUNCEMENT_SAMPLE; i++) sample.set(Math.floor(random() * fleet.hostIds.length), [])
  for (let p = 0; p < fleet.pairStart.length - 1; p++) {
    for (let i = fleet.pairStart[p]; i < fleet.pairStart[p + 1]; i++) sample.get(fleet.carrierHost[i])?.push(fleet.docIds[Math.floor(p / R)])
  }
  let bytes = 0
  for (const [h, docs] of sample) {
    const region = fleet.regions[fleet.hostRegion[h]].name
    const roles = totals.proxyPairs[h].map(pair => regionScope(fleet.docIds[Math.floor(pair / R)], fleet.regions[pair % R].name))
    const body = encodeBody(fleet.hostIds[h], {
      region,
      seq: 1_700_000_000_000,
      expires: 1_700_000_000_000 + leaseMs(regionSize(fleet, fleet.hostRegion[h])),
      weight: 1,
      capacity: fleet.config.roleCapacity,
      load: totals.roles[h],
      cert: '',
      docs: Digest.of(docs),
      roles: Digest.of(roles)
    })
    bytes += body.length + ANNOUNCEMENT_SIGNATURE_BYTES
  }
  return bytes / sample.size
}

/** Viewer egress per host (the same in both designs): each viewer gets each frame's delta once. */
function viewerEgress (fleet: Fleet, costs: UnitCosts): Float64Array {
  const perViewer = fleet.config.frameRate * (costs.viewerMessageBytes + costs.viewerOverheadBytes)
  return fleet.hostViewers.map(v => v * perViewer)
}

function membershipPerNode (fleet: Fleet, costs: UnitCosts): { msgs: Float64Array, bytes: Float64Array } {
  const D = fleet.config.meshDegree
  // Every node is on every region's topic (membership-rate.ts), and each announcement reaches it
  // once per mesh peer that forwards it (duplicates included).
  const rate = distinctAnnouncementRate(fleet.regions.map((_, g) => regionSize(fleet, g)), 'bound') * D
  const msgs = new Float64Array(fleet.hostIds.length).fill(rate)
  const bytes = new Float64Array(fleet.hostIds.length).fill(rate * (costs.announcementBytes + costs.backboneOverheadBytes))
  return { msgs, bytes }
}

function shareOf (fleet: Fleet, egress: Float64Array, cpuUs: Float64Array): { egressVsNic: Float64Array, cpu: Float64Array } {
  const nicBytes = fleet.config.nicBitsPerS / 8
  const coreUs = fleet.config.cores * 1e6
  return { egressVsNic: egress.map(e => e / nicBytes), cpu: cpuUs.map(u => u / coreUs) }
}

function treeFigures (fleet: Fleet, costs: UnitCosts, t: TreeTotals, failover: FailoverTotals): DesignFigures {
  const c = fleet.config
  const viewers = viewerEgress(fleet, costs)
  const membership = membershipPerNode(fleet, costs)
  const frameWire = costs.frameBytes + costs.backboneOverheadBytes
  const backboneEgress = t.relayEgress.map((r, h) => r + t.partialEgress[h] + membership.bytes[h])
  const egress = viewers.map((v, h) => v + backboneEgress[h])
  const cpuUs = egress.map((_, h) =>
    t.framesIn[h] * costs.verifyFrameUs +
    (fleet.hostViewers[h] * c.frameRate + t.relayEgress[h] / frameWire) * costs.sendUs +
    t.partialsIn[h] * costs.mergeEntryUs +
    membership.msgs[h] * costs.verifyFrameUs)
  const top = topDoc(fleet)
  return {
    maxDepth: max(t.docDepth),
    egress,
    backboneEgress,
    ...shareOf(fleet, egress, cpuUs),
    authorityEgressBytesPerS: max(t.docAuthorityEgress),
    crossRegionBytesPerFrameTop: t.docCrossRegionBytesPerFrame[top],
    crossRegionBytesPerFrameMean: sum(t.docCrossRegionBytesPerFrame) / c.documents,
    membershipMsgsPerSPerNode: max(membership.msgs),
    membershipBytesPerSPerNode: max(membership.bytes),
    authorityPartialsPerS: max(t.docAuthorityPartials),
    authorityPartialBytesPerS: max(t.docAuthorityPartialBytes),
    docDepth: t.docDepth,
    tierPartials: trimTiers(t.tierPartials),
    // Tier 0's "node" is one document's authority.
    tierMaxPartialsPerNode: [max(t.docAuthorityPartials), ...Array.from(t.tierMaxPartialsPerNode.subarray(1, trimTiers(t.tierPartials).length))],
    failoverMs: failover.samples.map(s => s.outageMs)
  }
}

function flatFigures (fleet: Fleet, costs: UnitCosts, f: FlatTotals): DesignFigures {
  const c = fleet.config
  const viewers = viewerEgress(fleet, costs)
  const frameWire = costs.frameBytes + costs.backboneOverheadBytes
  const backboneEgress = f.relayEgress.map((r, h) => r + f.partialEgress[h])
  const egress = viewers.map((v, h) => v + backboneEgress[h])
  const cpuUs = egress.map((_, h) =>
    f.topics[h] * c.frameRate * f.copiesPerFrame * costs.verifyFrameUs +
    (fleet.hostViewers[h] * c.frameRate + f.relayEgress[h] / frameWire) * costs.sendUs)
  const top = topDoc(fleet)
  const authorityPartials = sum(f.docAuthorityPartials)
  const tierPartials = [authorityPartials]
  return {
    maxDepth: max(f.docHops),
    egress,
    backboneEgress,
    ...shareOf(fleet, egress, cpuUs),
    authorityEgressBytesPerS: max(f.docAuthorityEgress),
    crossRegionBytesPerFrameTop: f.docCrossRegionBytesPerFrame[top],
    crossRegionBytesPerFrameMean: sum(f.docCrossRegionBytesPerFrame) / c.documents,
    membershipMsgsPerSPerNode: 0,
    membershipBytesPerSPerNode: 0,
    authorityPartialsPerS: max(f.docAuthorityPartials),
    authorityPartialBytesPerS: max(f.docAuthorityPartialBytes),
    docDepth: f.docHops,
    tierPartials,
    tierMaxPartialsPerNode: [max(f.docAuthorityPartials)],
    failoverMs: []
  }
}

/** The most popular document (rank 0 by construction). */
function topDoc (_fleet: Fleet): number { return 0 }

function trimTiers (values: Float64Array): number[] {
  let last = 0
  for (let t = 0; t < MAX_TIERS; t++) if (values[t] > 0) last = t
  return Array.from(values.subarray(0, last + 1))
}

/** The RESULT line's figures for one design. */
export function resultOf (report: SimReport, design: DesignFigures, wallS: number): Record<string, number> {
  const r = (x: number, digits = 3): number => Number.isFinite(x) ? Number(x.toPrecision(digits + 3)) : -1
  return {
    viewers: sum(report.fleet.hostViewers),
    super_peers: report.fleet.hostIds.length,
    documents: report.config.documents,
    regions: report.config.regions,
    max_depth: design.maxDepth,
    max_egress_vs_nic: r(max(design.egressVsNic)),
    p99_egress_vs_nic: r(percentile(design.egressVsNic, 99)),
    max_cpu_share: r(max(design.cpu)),
    authority_egress_bytes_per_s: r(design.authorityEgressBytesPerS),
    cross_region_bytes_per_frame_top_doc: r(design.crossRegionBytesPerFrameTop),
    membership_msgs_per_s_per_node: r(design.membershipMsgsPerSPerNode),
    failover_ms_p50: r(percentile(design.failoverMs, 50)),
    failover_ms_p99: design.failoverMs.length === 0 ? 0 : r(percentile(design.failoverMs, 99)),
    authority_partials_per_s: r(design.authorityPartialsPerS),
    wall_s: r(wallS)
  }
}
