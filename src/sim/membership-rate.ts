/**
 * How many membership announcements a node receives. Every region has its own topic, but a node
 * joins each region topic a connected peer subscribes to (node/membership: relayRegions, up to
 * MAX_RELAYED_REGIONS), and authorities join every topic their peers use, so through them every
 * node ends up on every region's topic and receives all regions' announcements.
 */
import { refreshPeriodMs, regionAnnouncementRate } from '../membership/index.ts'

/** node/membership's MAX_RELAYED_REGIONS: the most region topics one node joins. */
export const MAX_JOINED_REGIONS = 64

export function joinedRegions (regions: number): number {
  return Math.min(regions, MAX_JOINED_REGIONS)
}

/**
 * Distinct announcements per second on the topics of `joined` of the regions of these sizes
 * (a mean region's share when not all are joined). 'refresh': steady state, only leases renewed;
 * 'bound': the schedule's most, every member changing as often as its change interval allows.
 */
export function distinctAnnouncementRate (regionSizes: readonly number[], mode: 'refresh' | 'bound', joined = joinedRegions(regionSizes.length)): number {
  const rate = (n: number): number => mode === 'bound' ? regionAnnouncementRate(n) : Math.max(1, n) * 1000 / refreshPeriodMs(n)
  const all = regionSizes.reduce((s, n) => s + (n > 0 ? rate(n) : 0), 0)
  return regionSizes.length === 0 ? 0 : all * Math.min(1, joined / regionSizes.length)
}

/** A member's own lease renewals per second (it never receives its own announcement back). */
export function ownRefreshRate (regionSize: number): number {
  return 1000 / refreshPeriodMs(regionSize)
}
