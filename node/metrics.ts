import { Counter, Gauge, Histogram, Registry } from 'prom-client'
import type { CounterConfiguration, GaugeConfiguration } from 'prom-client'

/**
 * Metrics of one node, on its own prom-client Registry (an authority and a super-peer may share a
 * process in tests, so nothing goes to prom-client's global registry). Every rejected input is
 * counted here as well as logged, so an operator can alert on rates instead of reading logs.
 * The names are listed in docs/operations.md; a test compares that list with a scrape.
 */
export const METRIC_PREFIX = 'deltacast_'

/** Counter names that start with one of these are one counter with a `reason` label. */
export const COUNTER_FAMILIES: Readonly<Record<string, string>> = {
  frames_rejected_: 'Frames refused before they reached the replica (or, on the authority, frames on its topic that are not its own), by reason',
  heads_rejected_: 'Head announcements refused (malformed, bad signature, another document\'s), by reason',
  observe_refused_: 'Observer streams turned away before joining a document, by reason (the observe protocol\'s error code)',
  backbone_denied_: 'Backbone connections or streams denied to peers outside the fleet, by reason',
  membership_refused_: 'Membership announcements refused (oversized, malformed, flood, stale, forged, uncertified, wrong region, expired, lease too long, table full), by reason',
  uplink_lost_: 'Times a tier child lost the parent it followed a document from, by why (error, closed, or the parent\'s refusal code)',
  relay_ended_: 'Relay streams this parent ended itself (too_slow: the child read too slowly; reset: our chain jumped), by reason',
  input_refused_: 'Writer sends refused by the super-peer, by the refusal code (unknown_channel, forbidden, too_large, invalid_message, rate_limited, window_closed, bad_send, unknown_outcome)',
  partials_rejected_: 'Partials refused whole (malformed, unknown_doc, unknown_channel, wrong_kind, wrong_channel, unrestorable_ledger), by reason',
  tier_trees_recomputed_: 'Document trees computed, by cause (new, moved, demand, suspects): what made each one necessary',
  partial_entries_rejected_: 'Partial entries dropped (unsigned, bad_signature, not_member, fenced, invalid_state, invalid_body), by reason'
}

/** Plain counters, with the HELP line each gets. Others are created on first use with a generic HELP. */
export const COUNTER_HELP: Readonly<Record<string, string>> = {
  frames_published: 'Frames the authority published on the document topic',
  frames_publish_failed: 'Publishes that failed (peers fetch the frame by catch-up)',
  heads_published: 'Head announcements the authority published',
  changes_rejected: 'Changes refused by the authority (invalid delta, too large)',
  input_lines_rejected: '--stdin lines that were not a JSON change request',
  frames_applied: 'Frames applied to a replica',
  frames_ignored_old: 'Frames dropped as duplicates or older than the replica\'s head',
  frames_ahead_of_gap: 'Frames that arrived ahead of a gap and were held until it was filled',
  replica_diverged: 'Signed frames a replica could not apply (it rebuilds itself from peers)',
  heads_received: 'Head announcements accepted (newer than the last one held)',
  heads_ahead: 'Head announcements that showed the replica behind, each starting a catch-up',
  snapshots_applied: 'Snapshots a replica jumped forward to',
  snapshots_rejected: 'Snapshots refused (they did not match a signed state hash)',
  sync_requests_failed: 'Catch-up requests to a peer that failed or timed out',
  sync_requests_served: 'Catch-up requests answered',
  sync_snapshots_served: 'Catch-up answers that started with a snapshot',
  sync_bad_requests: 'Catch-up requests that could not be parsed',
  sync_unknown_doc: 'Catch-up requests for a document not held here',
  sync_stream_errors: 'Catch-up streams that failed while answering',
  upstream_silences: 'Times a document\'s upstream went silent (no frame or head announcement for a few seconds)',
  policy_invalid: 'Frames that left the document with an invalid policy (viewers are refused until it is fixed)',
  membership_accepted: 'Membership announcements accepted into the view',
  membership_announced: 'Membership announcements this node published about itself',
  membership_expired: 'Members dropped from the view when their lease ran out (gone without a goodbye)',
  membership_snapshots_served: 'Membership snapshots served to joining nodes',
  membership_snapshots_received: 'Membership snapshots received when joining or reconnecting',
  membership_snapshot_refused: 'Membership snapshot requests refused (no valid own announcement)',
  membership_snapshot_errors: 'Membership snapshot streams that failed',
  relay_subscriptions: 'Tier children that caught up and now follow a document from this node',
  relay_frames_sent: 'Frames sent to tier children (one per child per frame)',
  relay_snapshots_sent: 'Relay catch-ups that started with a snapshot',
  relay_refused_not_carried: 'Relay requests refused: a document not carried here (or a loop)',
  relay_bad_requests: 'Relay requests that could not be parsed',
  relay_stream_errors: 'Relay streams to tier children that failed',
  uplink_follows: 'Relay streams opened to a tier parent',
  frames_relayed_from_outside_region: 'Frames received from a tier parent outside this region (the authority, or another region\'s proxy)',
  frames_relayed_within_region: 'Frames received from a tier parent inside this region',
  docs_carried: 'Documents this super-peer started carrying (pinned, or asked for by viewers or tier children)',
  docs_dropped_idle: 'Documents dropped after lingering with no viewer and no tier child',
  docs_refused_full: 'Documents refused because --max-docs were carried already',
  partials_received: 'Partials received from children (super-peers or tier proxies) on the reduce protocol',
  partial_windows_counted: 'Origin windows the authority counted (each once, whatever the path)',
  partial_resent_counted: 'Messages resent after failover that the authority counted',
  partial_duplicates: 'Partial entries the authority had already counted (resends after failover, replays): nothing changed',
  input_writes_failed: 'Merged input the authority could not write as a change',
  input_ledgers_restored: 'Channel ledgers the authority rebuilt from the log\'s "@input" record (after a restart)',
  partial_resent_unknown: 'Resent messages with an unconfirmed prior whose window had counted: answered unknown, neither counted nor acknowledged',
  input_accepted: 'Writer messages accepted into a window by this super-peer',
  input_resent_accepted: 'Writer messages resent after failover and accepted by this super-peer',
  input_acked: 'Writer messages acknowledged to their writers (counted in the document)',
  input_origin_fenced: 'Times this super-peer found its origin fenced and started a new boot',
  partials_sent: 'Partials sent to the parent (tier proxy or authority)',
  partial_sends_failed: 'Partial sends to the parent that failed (everything unacknowledged goes again)',
  partial_parent_changes: 'Times partials went to a new parent',
  tier_trees_computed: 'Document trees computed (a change recomputes only the documents whose tree it can move)',
  tier_view_changes: 'Membership views that differed from the last one the tier trees were judged against (each judged once)',
  gossip_fallback_full: 'Times a document with no tier parent could not take the gossip fallback: MAX_FALLBACK_DOCS were on it already',
  swarm_bytes_direct: 'Bytes of class messages of relaying documents this super-peer sent to viewers itself',
  swarm_bytes_relayed: 'Bytes of class messages of relaying documents that viewers received from a relaying browser instead',
  swarm_relays_reported: 'Relaying browsers a child reported (bad or missing message) and that were demoted',
  swarm_reassignments: 'Viewers given a new parent (or sent back to the super-peer) in a relaying document\'s swarm',
  edge_worker_backlog_overflows: 'Edge workers restarted because the frames waiting for them passed --edge-worker-max-backlog-bytes (stopped or starved)',
  edge_worker_bad_messages: 'Malformed messages from an edge worker, dropped',
  edge_worker_resyncs_deferred: 'Resets an edge worker asked for past its rate, made later (never dropped)',
  edge_certificate_renewals: 'WebRTC-Direct certificates the primary renewed and passed to its edge workers'
}

/** Counters the membership relay or member has, and those of a relay parent (authorities and super-peers alike). */
const MEMBERSHIP_COUNTERS = ['membership_accepted', 'membership_expired', 'membership_snapshots_served', 'membership_snapshot_refused', 'membership_snapshot_errors']
const RELAY_COUNTERS = ['relay_subscriptions', 'relay_frames_sent', 'relay_snapshots_sent', 'relay_refused_not_carried', 'relay_bad_requests', 'relay_stream_errors']
/** The authority's end of input, and a super-peer's (node/reduce/). */
const AUTHORITY_INPUT_COUNTERS = ['partials_received', 'partial_windows_counted', 'partial_resent_counted', 'partial_duplicates', 'partial_resent_unknown', 'input_writes_failed', 'input_ledgers_restored']
const SUPER_PEER_INPUT_COUNTERS = ['partials_received', 'input_accepted', 'input_resent_accepted', 'input_acked', 'input_origin_fenced', 'partials_sent', 'partial_sends_failed', 'partial_parent_changes']
/** Counters each kind of node has from the start (so a scrape shows them at 0). */
export const AUTHORITY_COUNTERS = [...AUTHORITY_INPUT_COUNTERS, 'frames_published', 'frames_publish_failed', 'heads_published', 'changes_rejected', 'input_lines_rejected',
  'sync_requests_served', 'sync_snapshots_served', 'sync_bad_requests', 'sync_unknown_doc', 'sync_stream_errors', ...MEMBERSHIP_COUNTERS, ...RELAY_COUNTERS]
export const SUPER_PEER_COUNTERS = ['frames_applied', 'frames_ignored_old', 'frames_ahead_of_gap', 'replica_diverged', 'heads_received', 'heads_ahead',
  'snapshots_applied', 'snapshots_rejected', 'sync_requests_failed', 'sync_requests_served', 'sync_snapshots_served', 'sync_bad_requests',
  'sync_unknown_doc', 'sync_stream_errors', 'upstream_silences', 'policy_invalid', ...MEMBERSHIP_COUNTERS, 'membership_announced',
  'membership_snapshots_received', ...RELAY_COUNTERS, 'uplink_follows', 'frames_relayed_from_outside_region', 'frames_relayed_within_region',
  'docs_carried', 'docs_dropped_idle', 'docs_refused_full', 'tier_trees_computed', 'tier_view_changes', 'gossip_fallback_full', 'swarm_bytes_direct', 'swarm_bytes_relayed', 'swarm_relays_reported', 'swarm_reassignments',
  'edge_worker_backlog_overflows', 'edge_worker_bad_messages', 'edge_worker_resyncs_deferred', 'edge_certificate_renewals', ...SUPER_PEER_INPUT_COUNTERS]

/** Latency buckets in seconds: 1 ms to 30 s. */
export const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]

/**
 * Monotonic counters by name: `inc('frames_rejected_bad_signature')` counts
 * deltacast_frames_rejected_total{reason="bad_signature"}; `inc('frames_applied', 3)` counts
 * deltacast_frames_applied_total. get() and toJSON() give the values by the names used in inc()
 * (what /status shows).
 */
export class Counters {
  private readonly registry: Registry
  private readonly values = new Map<string, number>()
  private readonly metrics = new Map<string, Counter<string>>()

  constructor (registry: Registry = new Registry(), predeclared: readonly string[] = []) {
    this.registry = registry
    for (const prefix of Object.keys(COUNTER_FAMILIES)) this.metric(prefix)
    for (const name of predeclared) this.metric(name)
  }

  inc (name: string, by = 1): void {
    this.values.set(name, (this.values.get(name) ?? 0) + by)
    const prefix = familyOf(name)
    if (prefix === undefined) this.metric(name).inc(by)
    else this.metric(prefix).inc({ reason: name.slice(prefix.length) }, by)
  }

  get (name: string): number {
    return this.values.get(name) ?? 0
  }

  toJSON (): Record<string, number> {
    return Object.fromEntries([...this.values.entries()].sort(([a], [b]) => a.localeCompare(b)))
  }

  /** The prom-client counter for a plain name or a family prefix (created once). */
  private metric (key: string): Counter<string> {
    let metric = this.metrics.get(key)
    if (metric === undefined) {
      const family = COUNTER_FAMILIES[key]
      const config: CounterConfiguration<string> = family === undefined
        ? { name: `${METRIC_PREFIX}${key}_total`, help: COUNTER_HELP[key] ?? `deltacast counter ${key} (see docs/operations.md)`, registers: [this.registry] }
        : { name: `${METRIC_PREFIX}${key.replace(/_$/, '')}_total`, help: family, labelNames: ['reason'], registers: [this.registry] }
      metric = new Counter(config)
      this.metrics.set(key, metric)
    }
    return metric
  }
}

function familyOf (name: string): string | undefined {
  for (const prefix of Object.keys(COUNTER_FAMILIES)) if (name.startsWith(prefix) && name.length > prefix.length) return prefix
  return undefined
}

/** One node's registry, its counters, and helpers for gauges read at scrape time. */
export class NodeMetrics {
  readonly registry = new Registry()
  readonly counters: Counters

  constructor (predeclared: readonly string[]) {
    this.counters = new Counters(this.registry, predeclared)
  }

  /** A gauge whose values `read` returns at each scrape: a number, or values by label value. */
  gauge (name: string, help: string, read: () => number | Array<[Record<string, string>, number]>, labelNames: string[] = []): Gauge<string> {
    const config: GaugeConfiguration<string> = {
      name: METRIC_PREFIX + name,
      help,
      labelNames,
      registers: [this.registry],
      collect () {
        const value = read()
        this.reset()
        if (typeof value === 'number') this.set(value)
        else for (const [labels, v] of value) this.set(labels, v)
      }
    }
    return new Gauge(config)
  }

  /** A counter whose running total `read` returns at each scrape (a count kept elsewhere). */
  total (name: string, help: string, read: () => number): Counter<string> {
    return new Counter({
      name: `${METRIC_PREFIX}${name}_total`,
      help,
      registers: [this.registry],
      collect () {
        this.reset()
        this.inc(read())
      }
    })
  }

  /** A latency histogram in seconds, labelled by document. */
  latency (name: string, help: string): Histogram<'document'> {
    return new Histogram({ name: `${METRIC_PREFIX}${name}_seconds`, help, labelNames: ['document'], buckets: LATENCY_BUCKETS, registers: [this.registry] })
  }

  /** Prometheus text exposition of everything on this node's registry. */
  async scrape (): Promise<{ type: string, body: string }> {
    return { type: this.registry.contentType, body: await this.registry.metrics() }
  }
}
