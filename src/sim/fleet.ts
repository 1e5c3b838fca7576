/**
 * The modelled world: regions on a globe with a latency matrix, super-peer hosts in them, and
 * documents whose Zipf-distributed viewers are placed on hosts by an edge balancer.
 *
 * Viewers are counts, never objects: a (document, region) pair holds its carriers (the hosts with
 * viewers of it there) and how many viewers each has. Peer ids and doc ids have the real shapes
 * and lengths (the election hashes them), drawn from the seed rather than from real keys.
 */
import type { SimConfig } from './config.ts'
import { prng, randomText, shuffle } from './random.ts'

export interface Region {
  readonly name: string
  /** Share of the world's viewers and hosts. */
  readonly share: number
  readonly lat: number
  readonly lon: number
}

// Population shares loosely follow where internet users are; coordinates are the usual cloud regions.
const KNOWN_REGIONS: ReadonlyArray<Omit<Region, 'share'> & { weight: number }> = [
  { name: 'us-east', weight: 12, lat: 38.9, lon: -77.0 },
  { name: 'eu-west', weight: 11, lat: 53.3, lon: -6.3 },
  { name: 'ap-south', weight: 14, lat: 19.1, lon: 72.9 },
  { name: 'ap-northeast', weight: 9, lat: 35.7, lon: 139.7 },
  { name: 'ap-southeast', weight: 10, lat: 1.35, lon: 103.8 },
  { name: 'us-west', weight: 7, lat: 45.6, lon: -122.7 },
  { name: 'eu-central', weight: 9, lat: 50.1, lon: 8.7 },
  { name: 'sa-east', weight: 9, lat: -23.5, lon: -46.6 },
  { name: 'me-central', weight: 5, lat: 25.2, lon: 55.3 },
  { name: 'af-south', weight: 5, lat: -33.9, lon: 18.4 }
]

const INTRA_REGION_RTT_MS = 2
/** Light in fibre covers about 200 km per ms; routes are about 1.5 times the great circle. */
const KM_PER_MS_ONE_WAY = 200 / 1.5
const EARTH_RADIUS_KM = 6371

export function makeRegions (count: number, random: () => number): Region[] {
  const raw = Array.from({ length: count }, (_, i) => i < KNOWN_REGIONS.length
    ? KNOWN_REGIONS[i]
    : { name: `region-${i}`, weight: 2 + random() * 8, lat: Math.asin(2 * random() - 1) * 180 / Math.PI, lon: random() * 360 - 180 })
  const total = raw.reduce((s, r) => s + r.weight, 0)
  return raw.map(r => ({ name: r.name, share: r.weight / total, lat: r.lat, lon: r.lon }))
}

/** Round-trip times in ms, row-major regions × regions. */
export function latencyMatrix (regions: readonly Region[]): Float64Array {
  const n = regions.length
  const rtt = new Float64Array(n * n)
  for (let a = 0; a < n; a++) {
    for (let b = 0; b < n; b++) {
      rtt[a * n + b] = a === b ? INTRA_REGION_RTT_MS : INTRA_REGION_RTT_MS + 2 * greatCircleKm(regions[a], regions[b]) / KM_PER_MS_ONE_WAY
    }
  }
  return rtt
}

function greatCircleKm (a: Region, b: Region): number {
  const rad = Math.PI / 180
  const dLat = (b.lat - a.lat) * rad
  const dLon = (b.lon - a.lon) * rad
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin(dLon / 2) ** 2
  return 2 * EARTH_RADIUS_KM * Math.asin(Math.min(1, Math.sqrt(h)))
}

/** Splits `total` into integer parts proportional to `weights` (largest remainder), summing exactly to total. */
export function apportion (total: number, weights: readonly number[]): number[] {
  const sum = weights.reduce((s, w) => s + w, 0)
  const exact = weights.map(w => total * w / sum)
  const parts = exact.map(Math.floor)
  let left = total - parts.reduce((s, p) => s + p, 0)
  const order = exact.map((x, i) => ({ i, r: x - Math.floor(x) })).sort((a, b) => b.r - a.r || a.i - b.i)
  for (let k = 0; left > 0; k = (k + 1) % order.length, left--) parts[order[k].i]++
  return parts
}

const BASE58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz'
const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567'
/** Documents per tenant key: a tenant's documents share the key part of their ids. */
const DOCS_PER_TENANT = 1000

export interface Fleet {
  readonly config: SimConfig
  readonly regions: readonly Region[]
  readonly rttMs: Float64Array
  /** Per host: its region index and peer id. Hosts of a region are contiguous. */
  readonly hostRegion: Uint16Array
  readonly hostIds: readonly string[]
  /** First host index of each region, and one past the last (length regions + 1). */
  readonly regionStart: Int32Array
  readonly docIds: readonly string[]
  /** Per document (rank order): viewers and home region (where its authority runs). */
  readonly docViewers: Float64Array
  readonly docHome: Uint16Array
  /**
   * Carriers of pair p = doc × regions + region are carrierHost[pairStart[p] .. pairStart[p + 1]),
   * each with carrierViewers[...] viewers of that document.
   */
  readonly pairStart: Int32Array
  readonly carrierHost: Int32Array
  readonly carrierViewers: Float64Array
  /** Viewers per host over all documents. */
  readonly hostViewers: Float64Array
}

export function regionSize (fleet: Fleet, region: number): number {
  return fleet.regionStart[region + 1] - fleet.regionStart[region]
}

/** Zipf viewers per document, rounded, summing exactly to `viewers`. */
export function zipfViewers (viewers: number, documents: number, exponent: number): Float64Array {
  const weights = Array.from({ length: documents }, (_, r) => (r + 1) ** -exponent)
  return Float64Array.from(apportion(viewers, weights))
}

export function buildFleet (config: SimConfig): Fleet {
  const random = prng(config.seed)
  const regions = makeRegions(config.regions, random)
  const R = regions.length
  const hostsPerRegion = apportion(config.superPeers, regions.map(r => r.share)).map(n => Math.max(1, n))
  const regionStart = new Int32Array(R + 1)
  for (let g = 0; g < R; g++) regionStart[g + 1] = regionStart[g] + hostsPerRegion[g]
  const hosts = regionStart[R]
  const hostRegion = new Uint16Array(hosts)
  const hostIds: string[] = []
  for (let g = 0; g < R; g++) for (let h = regionStart[g]; h < regionStart[g + 1]; h++) hostRegion[h] = g
  for (let h = 0; h < hosts; h++) hostIds.push('12D3KooW' + randomText(BASE58, 44, random))

  const tenants = Math.ceil(config.documents / DOCS_PER_TENANT)
  const tenantKeys = Array.from({ length: tenants }, () => randomText(BASE32, 52, random))
  const docIds = Array.from({ length: config.documents }, (_, d) => `${tenantKeys[Math.floor(d / DOCS_PER_TENANT)]}.doc-${d}`)
  const docViewers = zipfViewers(config.viewers, config.documents, config.zipf)
  const docHome = new Uint16Array(config.documents)
  const cumulative = regions.map((_, g) => regions.slice(0, g + 1).reduce((s, r) => s + r.share, 0))
  for (let d = 0; d < config.documents; d++) {
    const u = random()
    docHome[d] = Math.max(0, cumulative.findIndex(c => u < c))
  }

  // The edge balancer: per region, a cursor walks a shuffled ring of the region's hosts, so the
  // carriers of one (document, region) are distinct and every host gets a similar share.
  const rings = regions.map((_, g) => {
    const ring = Int32Array.from({ length: hostsPerRegion[g] }, (_, i) => regionStart[g] + i)
    shuffle(ring, random)
    return ring
  })
  const cursor = new Int32Array(R)
  const pairStart = new Int32Array(config.documents * R + 1)
  let carrierHost = new Int32Array(1 << 20)
  let carrierViewers = new Float64Array(1 << 20)
  const hostViewers = new Float64Array(hosts)
  let at = 0
  for (let d = 0; d < config.documents; d++) {
    const spreadShares = regions.map((r, g) => (1 - config.locality) * r.share + (g === docHome[d] ? config.locality : 0))
    const perRegion = apportion(docViewers[d], spreadShares)
    for (let g = 0; g < R; g++) {
      pairStart[d * R + g] = at
      const v = perRegion[g]
      if (v === 0) continue
      const n = Math.min(hostsPerRegion[g], Math.ceil(v / config.spread))
      if (at + n > carrierHost.length) {
        const size = Math.max(at + n, carrierHost.length * 2)
        const hostsGrown = new Int32Array(size); hostsGrown.set(carrierHost); carrierHost = hostsGrown
        const viewersGrown = new Float64Array(size); viewersGrown.set(carrierViewers); carrierViewers = viewersGrown
      }
      const base = Math.floor(v / n)
      const extra = v - base * n
      // Carriers sorted by host index, so a pair's slice is canonical whatever the ring order.
      const chosen = new Int32Array(n)
      for (let i = 0; i < n; i++) { chosen[i] = rings[g][cursor[g]]; cursor[g] = (cursor[g] + 1) % hostsPerRegion[g] }
      chosen.sort()
      for (let i = 0; i < n; i++) {
        const viewers = base + (i < extra ? 1 : 0)
        carrierHost[at] = chosen[i]
        carrierViewers[at] = viewers
        hostViewers[chosen[i]] += viewers
        at++
      }
    }
  }
  pairStart[config.documents * R] = at
  return {
    config, regions, rttMs: latencyMatrix(regions), hostRegion, hostIds, regionStart, docIds, docViewers, docHome,
    pairStart, carrierHost: carrierHost.subarray(0, at), carrierViewers: carrierViewers.subarray(0, at), hostViewers
  }
}

export interface FleetInputs {
  readonly regions: readonly Region[]
  /** Hosts in region order (a region's hosts contiguous). */
  readonly hosts: ReadonlyArray<{ readonly peerId: string, readonly region: number }>
  /** Per document, in rank order: its id, home region and carriers with their viewers. */
  readonly docs: ReadonlyArray<{ readonly docId: string, readonly home: number, readonly carriers: ReadonlyArray<{ readonly host: number, readonly viewers: number }> }>
}

/** A fleet from explicit membership inputs (tests compare it with the real code's view of the same members). */
export function fleetOf (config: SimConfig, inputs: FleetInputs): Fleet {
  const R = inputs.regions.length
  const H = inputs.hosts.length
  const hostRegion = Uint16Array.from(inputs.hosts, h => h.region)
  for (let h = 1; h < H; h++) if (hostRegion[h] < hostRegion[h - 1]) throw new RangeError('hosts must be listed region by region')
  const regionStart = new Int32Array(R + 1)
  for (let g = 0; g < R; g++) regionStart[g + 1] = regionStart[g] + inputs.hosts.filter(h => h.region === g).length
  const pairStart = new Int32Array(inputs.docs.length * R + 1)
  const carrierHost: number[] = []
  const carrierViewers: number[] = []
  const hostViewers = new Float64Array(H)
  inputs.docs.forEach((doc, d) => {
    for (let g = 0; g < R; g++) {
      pairStart[d * R + g] = carrierHost.length
      for (const c of [...doc.carriers].filter(c => hostRegion[c.host] === g).sort((a, b) => a.host - b.host)) {
        carrierHost.push(c.host)
        carrierViewers.push(c.viewers)
        hostViewers[c.host] += c.viewers
      }
    }
  })
  pairStart[inputs.docs.length * R] = carrierHost.length
  return {
    config: { ...config, regions: R, superPeers: H, documents: inputs.docs.length, viewers: hostViewers.reduce((s, v) => s + v, 0) },
    regions: inputs.regions,
    rttMs: latencyMatrix(inputs.regions),
    hostRegion,
    hostIds: inputs.hosts.map(h => h.peerId),
    regionStart,
    docIds: inputs.docs.map(d => d.docId),
    docViewers: Float64Array.from(inputs.docs, d => d.carriers.reduce((s, c) => s + c.viewers, 0)),
    docHome: Uint16Array.from(inputs.docs, d => d.home),
    pairStart,
    carrierHost: Int32Array.from(carrierHost),
    carrierViewers: Float64Array.from(carrierViewers),
    hostViewers
  }
}
