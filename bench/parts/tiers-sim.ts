// bench:tiers' calibration of the simulator: what the real processes did under tiers, and what the
// simulator (src/sim/calibrate.ts, the same tree pass as the planet-scale run) predicts for the
// same members, carriers, frame rate and frame size; a row per figure with the ratio and whether
// it is within 20%.

import { isDeepStrictEqual } from 'node:util'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { Digest, leaseMs, signAnnouncementSync } from '../../src/membership/index.ts'
import { NOMINAL_COSTS, predictSmall } from '../../src/sim/index.ts'
import type { ScopeNode } from '../../src/elect/index.ts'

/** The bound on the simulator's error at this scale. */
export const WITHIN = 0.2

/** What the processes under tiers said and counted over the measured frames. */
export interface TiersObserved {
  readonly docId: string
  readonly regions: readonly string[]
  readonly withViewers: readonly string[]
  readonly frames: number
  readonly frameRate: number
  readonly frameBytes: number
  /** Each super-peer's /topology (peerId, region, fanout, its document's tree) and /status addrs. */
  readonly superPeers: ReadonlyArray<{
    readonly peerId: string
    readonly region: string
    readonly fanout: number
    readonly addrs: readonly string[]
    /** Its role in the document's tree, as it claims it, and the tree its view elects. */
    readonly role?: string
    readonly scope?: string
    readonly tree?: { regions: ScopeNode[] }
  }>
  /** Counter deltas over the frames. */
  readonly authorityFramesSent: number
  readonly relayFramesSent: number
  readonly copiesIntoRegions: number
  /** membership_accepted per super-peer per second, over a window of one refresh period. */
  readonly membershipPerNodePerS: number
  /**
   * Kernel bytes on the sites' links over the frames, and over as long a time just before with no
   * frames: the authority's egress, what entered the regions with viewers, all sites' egress.
   * Relays inside a region stay inside its namespace and cross no link.
   */
  readonly authorityEgress: number
  readonly viewerRegionsIngress: number
  readonly totalEgress: number
  readonly idleAuthorityEgress: number
  readonly idleViewerRegionsIngress: number
  readonly idleTotalEgress: number
  /** All sites' egress per second with no frames. */
  readonly idleTotalEgressPerS: number
}

export interface CalibrationRow {
  readonly figure: string
  readonly sim: number
  readonly measured: number
  readonly ratio: number
  readonly within: boolean
}

export interface Calibration {
  /** Every region tree the simulator computed equals the one the region's super-peers elected. */
  readonly treesEqual: boolean
  readonly treeMismatches: string[]
  readonly rows: CalibrationRow[]
}

/** A membership announcement as a super-peer of this run signs it (its region, addresses, the document). */
async function announcementBytes (observed: TiersObserved): Promise<number> {
  const key = await generateKeyPair('Ed25519')
  const sample = observed.superPeers.find(p => observed.withViewers.includes(p.region)) ?? observed.superPeers[0]
  const now = Date.now()
  return signAnnouncementSync(key, {
    region: sample.region, seq: now, expires: now + leaseMs(observed.superPeers.filter(p => p.region === sample.region).length),
    weight: 1, capacity: 10_000, load: 1, cert: '', addrs: sample.addrs.slice(0, 4), docs: Digest.of([observed.docId]), roles: Digest.of([`${observed.docId}/${sample.region}`])
  }).byteLength
}

export async function calibrate (observed: TiersObserved): Promise<Calibration> {
  const hosts = observed.superPeers.map(p => ({ peerId: p.peerId, region: p.region }))
  const carriers = observed.superPeers.flatMap((p, host) => observed.withViewers.includes(p.region) ? [{ host, viewers: 1 }] : [])
  const costs = { ...NOMINAL_COSTS, frameBytes: observed.frameBytes, announcementBytes: await announcementBytes(observed) }
  // Who holds a role is part of the membership input: a live incumbent keeps it (src/elect/rank.ts).
  const holding = observed.superPeers.flatMap((p, host) => p.role === 'proxy' && p.scope !== undefined ? [{ host, scope: p.scope }] : [])
  const sim = predictSmall({
    regions: observed.regions, hosts, docId: observed.docId, carriers, frameRate: observed.frameRate, fanout: observed.superPeers[0].fanout, meshDegree: 6, holding
  }, costs)

  // The real decision for a region is what that region's super-peers elected (every one of them agrees when settled).
  const treeMismatches: string[] = []
  for (const region of observed.regions) {
    // As the processes show it: JSON, where an unserved scope's proxy is left out.
    const found = sim.trees.find(t => t.region === region)
    const simulated = found === undefined ? undefined : JSON.parse(JSON.stringify(found))
    for (const peer of observed.superPeers.filter(p => p.region === region)) {
      const real = peer.tree?.regions.find(t => t.region === region)
      if (!isDeepStrictEqual(real, simulated)) treeMismatches.push(`${region}: ${peer.peerId} elected ${JSON.stringify(real)}, the simulator ${JSON.stringify(simulated)}`)
    }
  }

  const f = observed.frames
  const row = (figure: string, simValue: number, measured: number): CalibrationRow => {
    const ratio = measured === 0 ? (simValue === 0 ? 1 : Number.POSITIVE_INFINITY) : simValue / measured
    return { figure, sim: simValue, measured, ratio, within: Math.abs(ratio - 1) <= WITHIN }
  }
  const viewerRegions = observed.withViewers
  return {
    treesEqual: treeMismatches.length === 0,
    treeMismatches,
    rows: [
      row('authority frame messages per frame', sim.authorityFramesPerFrame, observed.authorityFramesSent / f),
      row('frame messages per frame, all nodes', sim.framesPerFrame, (observed.authorityFramesSent + observed.relayFramesSent) / f),
      row('copies into each region with viewers', viewerRegions.reduce((s, r) => s + sim.copiesIntoRegion[r], 0) / viewerRegions.length, observed.copiesIntoRegions / f / viewerRegions.length),
      row('membership accepted/s per super-peer', sim.membershipPerNodePerS, observed.membershipPerNodePerS),
      row('authority egress B/frame, above no-frame', sim.authorityFrameBytesPerFrame, (observed.authorityEgress - observed.idleAuthorityEgress) / f),
      row('into regions with viewers B/frame, above no-frame', sim.crossSiteFrameBytesPerFrame, (observed.viewerRegionsIngress - observed.idleViewerRegionsIngress) / f),
      row('authority egress B/frame, everything', sim.authorityFrameBytesPerFrame, observed.authorityEgress / f),
      row('all sites egress B/s with no frames', sim.membershipBytesPerS, observed.idleTotalEgressPerS)
    ]
  }
}

/** The comparison as printed lines. */
export function calibrationLines (c: Calibration): string[] {
  const n = (x: number): string => Number.isFinite(x) ? (Math.abs(x) >= 100 ? String(Math.round(x)) : x.toFixed(2)) : 'inf'
  return [
    `simulator vs measured (tiers), within ${WITHIN * 100}%:`,
    `${'topology: region trees equal the elected ones'.padEnd(44)} ${c.treesEqual ? 'yes' : 'no'}`,
    ...c.treeMismatches.map(m => `  ${m}`),
    `${'figure'.padEnd(44)} ${'sim'.padStart(9)} ${'measured'.padStart(9)} ${'ratio'.padStart(6)}  within`,
    ...c.rows.map(r => `${r.figure.padEnd(44)} ${n(r.sim).padStart(9)} ${n(r.measured).padStart(9)} ${n(r.ratio).padStart(6)}  ${r.within ? 'yes' : 'no'}`)
  ]
}
