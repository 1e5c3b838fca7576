/**
 * What a simulation run models (docs/simulation.md explains each knob). Defaults are the
 * planet-scale case: 10^9 viewers on 50,000 super-peers in 10 regions, 100,000 documents.
 */
export interface SimConfig {
  readonly viewers: number
  readonly superPeers: number
  readonly regions: number
  readonly documents: number
  /** Zipf exponent of document popularity: viewers of rank r ∝ r^-zipf. */
  readonly zipf: number
  /** Share of a document's viewers in its home region (the rest spread by region population). */
  readonly locality: number
  /** Frames per second each document's authority publishes. */
  readonly frameRate: number
  /** Tree fan-out (children per proxy). */
  readonly fanout: number
  /** Flat mesh degree (gossipsub D). */
  readonly meshDegree: number
  /** The edge balancer puts at most this many viewers of one document on one super-peer before adding another. */
  readonly spread: number
  /** Host NIC, bits per second (egress). */
  readonly nicBitsPerS: number
  readonly cores: number
  /** Most proxy roles one member takes (its announced capacity). */
  readonly roleCapacity: number
  /** Share of viewers who write on the document's input channel, and how often each writes. */
  readonly writers: number
  readonly writerMessagesPerS: number
  readonly windowMs: number
  /** Host kills spread over the simulated duration, and how long a child takes to notice a dead parent. */
  readonly kills: number
  readonly durationS: number
  readonly detectMs: number
  /** Round trips to resubscribe to a new parent (TCP, Noise, yamux + protocol select, first request). */
  readonly resubscribeRtts: number
  /** This many most popular documents elect region proxies over every member of the region, hash by hash. */
  readonly exactDocs: number
  readonly seed: number
}

export const SIM_DEFAULTS: SimConfig = {
  viewers: 1_000_000_000,
  superPeers: 50_000,
  regions: 10,
  documents: 100_000,
  zipf: 1.0,
  locality: 0.5,
  frameRate: 10,
  fanout: 6,
  meshDegree: 6,
  spread: 5_000,
  nicBitsPerS: 10e9,
  cores: 16,
  roleCapacity: 10_000,
  writers: 0.01,
  writerMessagesPerS: 0.1,
  windowMs: 1_000,
  kills: 100,
  durationS: 600,
  detectMs: 1_000,
  resubscribeRtts: 3,
  exactDocs: 10,
  seed: 1
}

/** The first thing wrong with a configuration, or undefined. */
export function configProblem (c: SimConfig): string | undefined {
  const positive: Array<keyof SimConfig> = ['viewers', 'superPeers', 'regions', 'documents', 'frameRate', 'spread', 'nicBitsPerS', 'cores', 'roleCapacity', 'windowMs', 'durationS', 'resubscribeRtts']
  for (const key of positive) if (!(Number.isFinite(c[key]) && c[key] > 0)) return `${key} must be a positive number, got ${c[key]}`
  const whole: Array<keyof SimConfig> = ['viewers', 'superPeers', 'regions', 'documents', 'fanout', 'meshDegree', 'spread', 'roleCapacity', 'kills', 'exactDocs', 'seed']
  for (const key of whole) if (!Number.isSafeInteger(c[key]) || c[key] < 0) return `${key} must be a whole number, got ${c[key]}`
  if (c.fanout < 2) return `fanout must be at least 2, got ${c.fanout}`
  if (c.meshDegree < 1) return `meshDegree must be at least 1, got ${c.meshDegree}`
  if (c.superPeers < c.regions) return `need at least one super-peer per region (${c.superPeers} super-peers, ${c.regions} regions)`
  if (c.regions > 1000) return `at most 1000 regions, got ${c.regions}`
  if (!(c.zipf >= 0)) return `zipf must be >= 0, got ${c.zipf}`
  for (const key of ['locality', 'writers'] as const) if (!(c[key] >= 0 && c[key] <= 1)) return `${key} must be in [0, 1], got ${c[key]}`
  if (!(c.writerMessagesPerS >= 0)) return `writerMessagesPerS must be >= 0, got ${c.writerMessagesPerS}`
  if (!(c.detectMs >= 0)) return `detectMs must be >= 0, got ${c.detectMs}`
  if (c.kills > c.superPeers - c.regions) return `kills (${c.kills}) must leave every region a member`
  return undefined
}
