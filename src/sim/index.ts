/**
 * The fleet simulator's pure model (docs/simulation.md): a planet of regions and super-peers,
 * Zipf documents, the real election (src/elect) deciding every region tree, kills played as
 * events in simulated time, and a flat mesh for comparison. The shell is scripts/simulate.ts.
 */
export { SIM_DEFAULTS, configProblem } from './config.ts'
export type { SimConfig } from './config.ts'
export { NOMINAL_COSTS } from './costs.ts'
export type { UnitCosts } from './costs.ts'
export { buildFleet, fleetOf, latencyMatrix, makeRegions, regionSize, zipfViewers } from './fleet.ts'
export type { Fleet, FleetInputs, Region } from './fleet.ts'
export { simulate, resultOf } from './simulate.ts'
export type { DesignFigures, Phase, Progress, SimReport } from './simulate.ts'
export { sizeFleet, viewersByShare } from './sizing.ts'
export type { RegionSizing, SizingTarget } from './sizing.ts'
export { histogram, max, percentile, sum } from './stats.ts'
export type { Bin } from './stats.ts'
export { AUTHORITY, regionTree, runTreePass, treeContext } from './tree-pass.ts'
export type { LinkVisitor, TreeContext, TreeTotals } from './tree-pass.ts'
export { parentsOf, runKills } from './failover.ts'
export type { FailoverSample, FailoverTotals } from './failover.ts'
export { EventQueue } from './events.ts'
export { predictSmall } from './calibrate.ts'
export type { SmallCase, SmallPrediction } from './calibrate.ts'
export { distinctAnnouncementRate, joinedRegions, MAX_JOINED_REGIONS, ownRefreshRate } from './membership-rate.ts'
