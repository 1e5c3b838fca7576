/**
 * The flat mesh the tree replaces, for comparison: every carrier of a document (all regions)
 * and its authority in one gossipsub-like mesh of degree D (a random D-regular graph, drawn by
 * pairing D stubs per node), each node sending every frame to its mesh peers except the one it
 * came from. No membership, no election; input goes straight from every carrier to the authority.
 */
import type { UnitCosts } from './costs.ts'
import type { Fleet } from './fleet.ts'
import { inputChance } from './tree-pass.ts'
import { shuffle } from './random.ts'

export interface FlatTotals {
  /** Per host: frames relayed (bytes/s) and topics (documents) it is subscribed to. */
  readonly relayEgress: Float64Array
  /** Per host: partials sent straight to authorities, bytes/s. */
  readonly partialEgress: Float64Array
  readonly topics: Float64Array
  readonly docHops: Uint16Array
  readonly docAuthorityEgress: Float64Array
  readonly docCrossRegionBytesPerFrame: Float64Array
  readonly docAuthorityPartials: Float64Array
  readonly docAuthorityPartialBytes: Float64Array
  /** Copies of each frame a carrier receives, mean over carriers (duplicates included). */
  copiesPerFrame: number
}

export function runFlatPass (fleet: Fleet, costs: UnitCosts, random: () => number, onDoc?: (done: number, total: number) => void): FlatTotals {
  const c = fleet.config
  const D = c.meshDegree
  const R = fleet.regions.length
  const H = fleet.hostIds.length
  const frameWire = costs.frameBytes + costs.backboneOverheadBytes
  const windowsPerS = 1000 / c.windowMs
  const totals: FlatTotals = {
    relayEgress: new Float64Array(H),
    partialEgress: new Float64Array(H),
    topics: new Float64Array(H),
    docHops: new Uint16Array(c.documents),
    docAuthorityEgress: new Float64Array(c.documents),
    docCrossRegionBytesPerFrame: new Float64Array(c.documents),
    docAuthorityPartials: new Float64Array(c.documents),
    docAuthorityPartialBytes: new Float64Array(c.documents),
    copiesPerFrame: 0
  }
  let copies = 0
  let receivers = 0
  for (let d = 0; d < c.documents; d++) {
    const from = fleet.pairStart[d * R]
    const to = fleet.pairStart[(d + 1) * R]
    // Node 0 is the authority, nodes 1..n the carriers.
    const n = to - from
    const nodes = n + 1
    const region = new Int32Array(nodes)
    region[0] = fleet.docHome[d]
    for (let i = 0; i < n; i++) {
      const h = fleet.carrierHost[from + i]
      region[i + 1] = fleet.hostRegion[h]
      totals.topics[h]++
      const chance = inputChance(fleet, fleet.carrierViewers[from + i])
      const bytes = chance * windowsPerS * (costs.partialHeaderBytes + costs.backboneOverheadBytes + costs.partialEntryBytes)
      totals.docAuthorityPartials[d] += chance * windowsPerS
      totals.docAuthorityPartialBytes[d] += bytes
      totals.partialEgress[h] += bytes
    }
    const adjacency = meshOf(nodes, D, random)
    // Breadth-first from the authority: hops, and who each node first hears the frame from.
    const hops = new Int32Array(nodes).fill(-1)
    const firstFrom = new Int32Array(nodes).fill(-1)
    hops[0] = 0
    const queue = [0]
    for (let q = 0; q < queue.length; q++) {
      const u = queue[q]
      for (const v of adjacency[u]) if (hops[v] < 0) { hops[v] = hops[u] + 1; firstFrom[v] = u; queue.push(v) }
    }
    let deepest = 0
    for (let u = 0; u < nodes; u++) {
      if (hops[u] < 0) continue // cut off from the mesh: gossipsub would graft it at the next heartbeat
      deepest = Math.max(deepest, hops[u])
      let sends = 0
      for (const v of adjacency[u]) {
        if (v === firstFrom[u]) continue
        sends++
        if (region[u] !== region[v]) totals.docCrossRegionBytesPerFrame[d] += frameWire
      }
      if (u === 0) totals.docAuthorityEgress[d] = sends * frameWire * c.frameRate
      else totals.relayEgress[fleet.carrierHost[from + u - 1]] += sends * frameWire * c.frameRate
    }
    for (let u = 1; u < nodes; u++) {
      if (hops[u] < 0) continue
      receivers++
      for (const v of adjacency[u]) if (hops[v] >= 0 && firstFrom[v] !== u) copies++
    }
    totals.docHops[d] = deepest
    if (onDoc !== undefined && (d & 1023) === 0) onDoc(d, c.documents)
  }
  totals.copiesPerFrame = receivers === 0 ? 0 : copies / receivers
  onDoc?.(c.documents, c.documents)
  return totals
}

/** A random graph in which every node has about `degree` neighbours (configuration model, loops and repeats dropped). */
export function meshOf (nodes: number, degree: number, random: () => number): number[][] {
  const adjacency: number[][] = Array.from({ length: nodes }, () => [])
  if (nodes <= degree + 1) {
    for (let u = 0; u < nodes; u++) for (let v = 0; v < nodes; v++) if (u !== v) adjacency[u].push(v)
    return adjacency
  }
  const stubs = new Int32Array(nodes * degree)
  for (let i = 0; i < stubs.length; i++) stubs[i] = Math.floor(i / degree)
  shuffle(stubs, random)
  for (let i = 0; i + 1 < stubs.length; i += 2) {
    const u = stubs[i]
    const v = stubs[i + 1]
    if (u === v || adjacency[u].includes(v)) continue
    adjacency[u].push(v)
    adjacency[v].push(u)
  }
  return adjacency
}
