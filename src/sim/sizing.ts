/**
 * Sizing: how many hosts of one size each region needs for a target load, from the same unit
 * costs and the same demand model as the simulation (Zipf documents, home-region locality, the
 * edge balancer's spread). A host is full when its NIC or its CPU reaches `utilization`; the
 * answer leaves that much headroom for imbalance and for taking over a dead host's viewers.
 */
import type { UnitCosts } from './costs.ts'
import { apportion, zipfViewers } from './fleet.ts'

export interface SizingTarget {
  /** Viewers in each region at peak. */
  readonly viewersPerRegion: readonly number[]
  readonly regionNames: readonly string[]
  readonly documents: number
  readonly zipf: number
  readonly locality: number
  readonly frameRate: number
  readonly spread: number
  readonly nicBitsPerS: number
  readonly cores: number
  /** Most viewer connections one host holds (memory, sockets). */
  readonly maxViewersPerHost: number
  /** Most of the NIC or CPU a host may use (0..1]. */
  readonly utilization: number
}

export interface RegionSizing {
  readonly region: string
  readonly viewers: number
  readonly hosts: number
  readonly bound: 'nic' | 'cpu' | 'viewers'
  /** Per host at that size, bytes/s and share of all cores. */
  readonly egressPerHost: number
  readonly cpuPerHost: number
  /** Carrier links into the region (one per carrier and per non-carrier region proxy). */
  readonly links: number
}

export function sizeFleet (target: SizingTarget, costs: UnitCosts): RegionSizing[] {
  const world = target.viewersPerRegion.reduce((s, v) => s + v, 0)
  const docViewers = zipfViewers(world, target.documents, target.zipf)
  const shares = target.viewersPerRegion.map(v => v / world)
  const frameWire = costs.frameBytes + costs.backboneOverheadBytes
  const viewerWire = costs.viewerMessageBytes + costs.viewerOverheadBytes
  return target.viewersPerRegion.map((viewers, g) => {
    // Viewers of each document here, averaged over home regions (homes are drawn by share, so locality cancels out).
    const perDoc = Array.from(docViewers, v => v * shares[g])
    let hosts = 1
    for (let round = 0; round < 50; round++) {
      let links = 0
      for (const v of perDoc) if (v >= 0.5) links += Math.min(hosts, Math.ceil(v / target.spread)) + 1
      const egress = viewers * target.frameRate * viewerWire + links * frameWire * target.frameRate
      const cpuUs = viewers * target.frameRate * costs.sendUs + links * target.frameRate * (costs.verifyFrameUs + costs.sendUs)
      const byNic = Math.ceil(egress / (target.nicBitsPerS / 8 * target.utilization))
      const byCpu = Math.ceil(cpuUs / (target.cores * 1e6 * target.utilization))
      const byViewers = Math.ceil(viewers / target.maxViewersPerHost)
      const next = Math.max(1, byNic, byCpu, byViewers)
      if (next === hosts || round === 49) {
        const bound = byViewers >= Math.max(byNic, byCpu) ? 'viewers' : byNic >= byCpu ? 'nic' : 'cpu'
        return { region: target.regionNames[g], viewers, hosts: next, bound, egressPerHost: egress / next, cpuPerHost: cpuUs / next / (target.cores * 1e6), links }
      }
      hosts = next
    }
    throw new Error('unreachable')
  })
}

/** Viewers per region for a world total, split like the simulation's regions. */
export function viewersByShare (total: number, shares: readonly number[]): number[] {
  return apportion(total, shares)
}
