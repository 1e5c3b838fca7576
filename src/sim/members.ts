/**
 * The membership inputs the real election sees, per (document, region): the region's candidate
 * list as TreeMember objects, handed to the real computeDocTree (src/elect/tree.ts).
 *
 * Exact documents get every live member of the region, as a super-peer's MembershipTable would
 * give. Every other document gets the region's carriers plus one stand-in for all the region's
 * other members: a non-carrier drawn uniformly (all weights are 1) whose weight is the number
 * of members it stands for. Weighted rendezvous hashing elects a member with probability
 * weight / Σ weight, so the stand-in wins exactly as often as "some non-carrier" would, and the
 * carriers' chances are unchanged; everything below the region proxy (splits, sub-scope
 * elections) is then computed hash by hash. This turns O(region size) hashes per pair into
 * O(carriers). Which non-carrier wins is sampled, not the one the real fleet would pick.
 */
import type { TreeMember } from '../elect/index.ts'
import type { Fleet } from './fleet.ts'
import { regionSize } from './fleet.ts'

/** Shared, mutable facts the member objects read (the simulator's view of announcements). */
export class ElectionState {
  /** Proxy roles each host holds now (its announced load). */
  readonly load: Float64Array
  /** carrying[h] === stamp while h carries the pair being computed. */
  readonly carrying: Int32Array
  /** Viewers h has of the pair being computed. */
  readonly pairViewers: Float64Array
  readonly dead: Uint8Array
  readonly deadInRegion: Int32Array
  stamp = 0
  /** Stand-in host per pair (-1: none drawn yet), so a pair's tree is the same each time it is computed. */
  readonly standIn: Int32Array
  /**
   * Scopes each host already proxies (announced in its roles): a live incumbent keeps its role
   * (src/elect/rank.ts), so a fleet with a history elects by it. Empty: a fleet from scratch.
   */
  readonly held = new Map<number, ReadonlySet<string>>()

  readonly fleet: Fleet
  readonly capacity: number

  constructor (fleet: Fleet, capacity: number) {
    this.fleet = fleet
    this.capacity = capacity
    const hosts = fleet.hostIds.length
    this.load = new Float64Array(hosts)
    this.carrying = new Int32Array(hosts)
    this.pairViewers = new Float64Array(hosts)
    this.dead = new Uint8Array(hosts)
    this.deadInRegion = new Int32Array(fleet.regions.length)
    this.standIn = new Int32Array(fleet.pairStart.length - 1).fill(-1)
  }

  kill (host: number): void {
    if (this.dead[host] === 1) return
    this.dead[host] = 1
    this.deadInRegion[this.fleet.hostRegion[host]]++
  }
}

/** One host as a candidate: weight 1, its announced capacity and load, carrying what the state says. */
export class HostMember implements TreeMember {
  readonly weight = 1
  readonly peerId: string
  readonly region: string
  readonly index: number
  private readonly state: ElectionState

  constructor (peerId: string, region: string, index: number, state: ElectionState) {
    this.peerId = peerId
    this.region = region
    this.index = index
    this.state = state
  }

  get capacity (): number { return this.state.capacity }
  get load (): number { return this.state.load[this.index] }
  holds (scope: string): boolean { return this.state.held.get(this.index)?.has(scope) ?? false }
  carries (): boolean { return this.state.carrying[this.index] === this.state.stamp }
}

/** The region's non-carriers, as one candidate of their total weight under one real peer id. */
export class StandInMember implements TreeMember {
  readonly peerId: string
  readonly region: string
  readonly index: number
  readonly weight: number
  private readonly state: ElectionState

  constructor (peerId: string, region: string, index: number, weight: number, state: ElectionState) {
    this.peerId = peerId
    this.region = region
    this.index = index
    this.weight = weight
    this.state = state
  }

  get capacity (): number { return this.state.capacity }
  get load (): number { return this.state.load[this.index] }
  holds (): boolean { return false }
  carries (): boolean { return false }
}

export function hostMembers (fleet: Fleet, state: ElectionState): HostMember[] {
  return fleet.hostIds.map((id, h) => new HostMember(id, fleet.regions[fleet.hostRegion[h]].name, h, state))
}

/**
 * The candidate list for pair (doc, region), and marks its carriers in `state` (until the next
 * call). `random` draws a stand-in the first time a pair needs one. Dead hosts are left out
 * unless `keep` names one (so a failover can pass over it with the real `exclude`).
 */
export function pairCandidates (fleet: Fleet, state: ElectionState, hosts: readonly HostMember[], doc: number, region: number,
  exact: boolean, random: () => number, keep = -1): TreeMember[] {
  const R = fleet.regions.length
  const pair = doc * R + region
  state.stamp++
  const list: TreeMember[] = []
  let alive = 0
  for (let i = fleet.pairStart[pair]; i < fleet.pairStart[pair + 1]; i++) {
    const h = fleet.carrierHost[i]
    if (state.dead[h] === 1 && h !== keep) continue
    state.carrying[h] = state.stamp
    state.pairViewers[h] = fleet.carrierViewers[i]
    if (state.dead[h] === 0) alive++
    list.push(hosts[h])
  }
  if (list.length === 0) return list
  const start = fleet.regionStart[region]
  const end = fleet.regionStart[region + 1]
  if (exact) {
    for (let h = start; h < end; h++) if (state.carrying[h] !== state.stamp && (state.dead[h] === 0 || h === keep)) list.push(hosts[h])
    return list
  }
  if (keep >= 0 && state.standIn[pair] === keep) list.push(standIn(fleet, state, hosts, keep, region, 1))
  const rest = regionSize(fleet, region) - state.deadInRegion[region] - alive
  if (rest <= 0) return list
  let h = state.standIn[pair]
  if (h < 0 || state.dead[h] === 1) {
    // Uniform over the live non-carriers; rejection is cheap unless nearly every member carries the pair.
    do h = start + Math.floor(random() * (end - start)); while (state.carrying[h] === state.stamp || state.dead[h] === 1)
    state.standIn[pair] = h
  }
  list.push(standIn(fleet, state, hosts, h, region, rest))
  return list
}

function standIn (fleet: Fleet, state: ElectionState, hosts: readonly HostMember[], h: number, region: number, weight: number): StandInMember {
  return new StandInMember(hosts[h].peerId, fleet.regions[region].name, h, weight, state)
}
