/**
 * How often a member announces itself, scaled with the size of its region so that the region's
 * topic carries a bounded number of announcements per second however large the fleet grows
 * (docs/architecture.md, "Membership"). n is the number of live members the sender sees in its
 * region, itself included.
 *
 *   change interval  max(1 s, n × 200 ms)     at most one announcement per change interval
 *   refresh period   max(15 s, n × 1 s)       renews the lease when nothing changed
 *   lease            3 × refresh period + 10 s  survives two lost refreshes
 *
 * Per region topic: at most n / changeInterval + n / period <= 5 + 1 = 6 announcements per second
 * once n >= 15 (fewer below), so each node receives O(1) announcements per second from its region,
 * whatever n. The table also refuses more than 1 per second per member on average (burst 5): a
 * hard cap against a member that floods, well above what this schedule sends.
 */
export const MIN_CHANGE_INTERVAL_MS = 1_000
export const CHANGE_INTERVAL_PER_MEMBER_MS = 200
export const MIN_REFRESH_PERIOD_MS = 15_000
export const REFRESH_PERIOD_PER_MEMBER_MS = 1_000
export const LEASE_PERIODS = 3
export const LEASE_SLACK_MS = 10_000

export function changeIntervalMs (regionSize: number): number {
  return Math.max(MIN_CHANGE_INTERVAL_MS, Math.max(1, regionSize) * CHANGE_INTERVAL_PER_MEMBER_MS)
}

export function refreshPeriodMs (regionSize: number): number {
  return Math.max(MIN_REFRESH_PERIOD_MS, Math.max(1, regionSize) * REFRESH_PERIOD_PER_MEMBER_MS)
}

export function leaseMs (regionSize: number): number {
  return LEASE_PERIODS * refreshPeriodMs(regionSize) + LEASE_SLACK_MS
}

/** Announcements per second the schedule puts on one region topic at most (steady state). */
export function regionAnnouncementRate (regionSize: number): number {
  const n = Math.max(1, regionSize)
  return n * 1000 / changeIntervalMs(n) + n * 1000 / refreshPeriodMs(n)
}
