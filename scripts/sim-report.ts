/** The simulation report: Markdown with the figures and SVG plots (written beside it). */
import { changeIntervalMs, leaseMs } from '../src/membership/index.ts'
import { distinctAnnouncementRate, max, percentile, regionSize, sum } from '../src/sim/index.ts'
import type { DesignFigures, SimReport } from '../src/sim/index.ts'
import { barChart, cdfChart } from './sim-svg.ts'

export interface ReportFiles {
  readonly markdown: string
  readonly svgs: Map<string, string>
}

const fmt = (n: number, digits = 0): string => Number.isFinite(n) ? n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }) : 'n/a'
const pct = (share: number): string => `${fmt(share * 100, 2)}%`

function depthCounts (depths: ArrayLike<number>): number[] {
  const counts: number[] = []
  for (let i = 0; i < depths.length; i++) counts[depths[i]] = (counts[depths[i]] ?? 0) + 1
  return Array.from(counts, c => c ?? 0)
}

export function writeReport (report: SimReport, run: { tree: Record<string, number>, flat?: Record<string, number>, wallS: number, svgDir: string }): ReportFiles {
  const { config: c, costs, fleet, tree, flat, failover, treeTotals } = report
  const svgs = new Map<string, string>()
  const img = (name: string, alt: string, svg: string): string => { svgs.set(name, svg); return `![${alt}](${run.svgDir}/${name})` }
  const designs: Array<[string, DesignFigures]> = flat === undefined ? [['tree', tree]] : [['tree', tree], ['flat mesh', flat]]
  const viewers = sum(fleet.hostViewers)
  const top = fleet.docViewers[0]
  const exactViewers = sum(fleet.docViewers.subarray(0, c.exactDocs))
  const largest = Math.max(...fleet.regions.map((_, g) => regionSize(fleet, g)))

  const treeDepths = depthCounts(tree.docDepth)
  const flatDepths = flat === undefined ? [] : depthCounts(flat.docDepth)
  const depthLabels = Array.from({ length: Math.max(treeDepths.length, flatDepths.length) }, (_, i) => String(i)).slice(1)
  const depthSvg = img('depth.svg', 'documents by depth', barChart('Documents by depth (tree: proxy levels; flat: hops from the authority)', depthLabels,
    [{ name: 'tree', values: treeDepths.slice(1) }, ...(flat === undefined ? [] : [{ name: 'flat mesh', values: flatDepths.slice(1) }])], 'depth', 'documents', { log: true }))
  const egressSvg = img('egress.svg', 'per-host egress against NIC', cdfChart('Per-host egress as a share of its NIC',
    designs.map(([name, d]) => ({ name, values: Array.from(d.egressVsNic, v => v * 100) })), 'egress, % of NIC',
    [{ at: percentile(tree.egressVsNic, 99) * 100, label: 'tree p99' }]))
  const backboneSvg = img('backbone.svg', 'per-host backbone egress', cdfChart('Per-host backbone egress (frames relayed, partials, membership)',
    designs.map(([name, d]) => ({ name, values: Array.from(d.backboneEgress, v => v * 8 / 1e6) })), 'Mbit/s',
    [{ at: percentile(tree.backboneEgress, 99) * 8 / 1e6, label: 'tree p99' }]))
  const crossSvg = img('cross-region.svg', 'cross-region bytes per frame', barChart('Cross-region bytes per frame', ['most popular document', 'mean over documents'],
    designs.map(([name, d]) => ({ name, values: [d.crossRegionBytesPerFrameTop, d.crossRegionBytesPerFrameMean] })), '', 'bytes per frame', { log: true }))
  const failoverSvg = img('failover.svg', 'failover time distribution', cdfChart(`Relay failover after ${fmt(failover.kills)} random host kills (${fmt(failover.samples.length)} orphaned links)`,
    [{ name: 'tree', values: tree.failoverMs }], 'ms until frames flow again', [{ at: percentile(tree.failoverMs, 99), label: 'p99' }]))
  const tierLabels = tree.tierPartials.map((_, t) => t === 0 ? 'authorities' : `tier ${t}`)
  const tierSvg = img('reducers.svg', 'reducer partials per second by tier', barChart('Reducer partials per second received, by tier (all documents)', tierLabels,
    [{ name: 'tree', values: tree.tierPartials }, ...(flat === undefined ? [] : [{ name: 'flat mesh', values: [flat.tierPartials[0]] }])], '', 'partials/s', { log: true }))

  const row = (label: string, f: (d: DesignFigures) => string): string => `| ${label} | ${designs.map(([, d]) => f(d)).join(' | ')} |`
  const failoverP = (p: number): string => tree.failoverMs.length === 0 ? 'n/a' : fmt(percentile(tree.failoverMs, p))
  const lines = [
    '# Simulation: a deltacast fleet at planet scale',
    '',
    `Written by \`npm run simulate\` (scripts/simulate.ts, model in src/sim/); rerun it to refresh this page. Seed ${c.seed}, ${fmt(run.wallS, 1)} s of wall time on this machine.`,
    '',
    '## The case',
    '',
    `- ${fmt(viewers)} viewers on ${fmt(fleet.hostIds.length)} super-peers in ${c.regions} regions (${fleet.regions.map(r => `${r.name} ${pct(r.share)}`).join(', ')}).`,
    `- ${fmt(c.documents)} documents, Zipf exponent ${c.zipf}: the most popular has ${fmt(top)} viewers, the least ${fmt(fleet.docViewers[c.documents - 1])}. ${pct(c.locality)} of a document's viewers are in its home region (where its authority runs), the rest spread by region population.`,
    `- ${c.frameRate} frames/s per document; tree fan-out ${c.fanout}; flat mesh degree ${c.meshDegree}. The edge balancer puts at most ${fmt(c.spread)} viewers of one document on one super-peer: ${fmt(fleet.carrierHost.length)} (document, carrier) pairs, ${fmt(fleet.carrierHost.length / fleet.hostIds.length, 1)} documents per super-peer on average.`,
    `- Hosts: ${c.nicBitsPerS / 1e9} Gbit/s NIC, ${c.cores} cores, at most ${fmt(c.roleCapacity)} proxy roles. ${pct(c.writers)} of viewers write ${c.writerMessagesPerS} messages/s on one tally channel per document, ${c.windowMs} ms windows.`,
    `- ${fmt(c.kills)} random host kills over ${fmt(c.durationS)} simulated seconds; a child notices a dead parent after ${fmt(c.detectMs)} ms and resubscribes in ${c.resubscribeRtts} round trips.`,
    '',
    '## What is exact, what is modelled, what is sampled',
    '',
    '- **Exact (the real code):** every region tree of every document with demand is `computeDocTree` (src/elect/tree.ts), so splits, sub-scope elections, depth and who serves whom are the super-peers\' own decisions. Failover recomputes the region tree with the real `exclude`. Frame, viewer-message, announcement and partial sizes come from the real codecs (`signFrameSync`, `encodeMessage`, `encodeBody` with real Bloom digests, `encodePartial` with ed25519-signed tally entries); frame verification, election hashing and tier merging are timed on this machine.',
    `- **Sampled:** region-proxy elections. The ${fmt(c.exactDocs)} most popular documents (${pct(exactViewers / viewers)} of viewers) hash every member of the region. For the rest, the region's non-carriers enter the election as one stand-in member (drawn uniformly among them) whose weight is their number; weighted rendezvous hashing elects a member with probability weight / Σ weight, so the stand-in wins exactly as often as "some non-carrier" would, but *which* non-carrier is sampled. Announcement sizes: ${200} sampled hosts, encoded for real.`,
    '- **Modelled:** hosts (NIC, cores), the latency matrix (great-circle distance at 2/3 of c, routes 1.5 times longer, 2 ms inside a region), the edge balancer, viewers as counts, per-packet overheads (backbone ' + `${costs.backboneOverheadBytes} B, WebRTC ${costs.viewerOverheadBytes} B), the cost of a send (${costs.sendUs} µs), input as an expected rate (a host sends a partial in a window with probability 1 - e^-λ), gossipsub duplicates of membership announcements (each node receives an announcement once per mesh peer, D = ${c.meshDegree}), and failover as detection + re-election (hashes × measured µs) + resubscribe round trips, with one level of chaining when the new parent must itself subscribe.`,
    '- **Not modelled:** queues, loss and congestion; catch-up after failover; gossipsub control traffic (heartbeats, IHAVE gossip), identify, ping, head announcements and catch-up polls, about 13 KB/s per host in bench:tiers, in both designs; viewers reconnecting after their own super-peer dies (counted below, not timed); load and capacity lagging one announcement.',
    '- **Calibration against real processes:** for the same members and carriers the simulator elects the same region trees and parents as the tiers processes (test/integration/sim-calibration.test.ts; test/unit/sim/tree-pass.test.ts against a real MembershipTable). `npm run bench:tiers` runs the simulator on its own processes\' members and prints its message counts beside the measured ones: frame messages, copies per region and membership announcements agree within 20% (docs/benchmarks.md, bench:tiers).',
    '',
    '## Unit costs (measured in this run unless marked)',
    '',
    '| cost | value |',
    '|---|---|',
    `| signed frame (mean of 3 representative deltas) | ${fmt(costs.frameBytes)} B |`,
    `| viewer message \`{"data":…,"seq":N}\` with length prefix | ${fmt(costs.viewerMessageBytes)} B |`,
    `| membership announcement (mean of sampled hosts) | ${fmt(costs.announcementBytes)} B |`,
    `| partial: fixed part + per signed tally entry | ${fmt(costs.partialHeaderBytes)} B + ${fmt(costs.partialEntryBytes)} B |`,
    `| verifyFrameSync | ${fmt(costs.verifyFrameUs, 1)} µs |`,
    `| one rendezvous score (sha256 + log) | ${fmt(costs.hashUs, 2)} µs |`,
    `| Outbox.add of one entry at a tier | ${fmt(costs.mergeEntryUs, 2)} µs |`,
    `| backbone / WebRTC overhead per message (modelled) | ${costs.backboneOverheadBytes} B / ${costs.viewerOverheadBytes} B |`,
    '',
    'The machine is shared: timings move with its load (the hash and verify times above are what this run saw).',
    '',
    '## Figures',
    '',
    `| figure | ${designs.map(([name]) => name).join(' | ')} |`,
    `|---|${designs.map(() => '---').join('|')}|`,
    row('deepest document (tree: proxy levels below the authority; flat: hops)', d => fmt(d.maxDepth)),
    row('per-host egress / NIC, max', d => pct(max(d.egressVsNic))),
    row('per-host egress / NIC, p99', d => pct(percentile(d.egressVsNic, 99))),
    row('per-host egress / NIC, median', d => pct(percentile(d.egressVsNic, 50))),
    row('per-host backbone egress, max / p99 (Mbit/s)', d => `${fmt(max(d.backboneEgress) * 8 / 1e6, 1)} / ${fmt(percentile(d.backboneEgress, 99) * 8 / 1e6, 1)}`),
    row('per-host CPU, max share of all cores', d => pct(max(d.cpu))),
    row('authority egress, most popular document', d => `${fmt(d.authorityEgressBytesPerS)} B/s`),
    row('cross-region bytes per frame, most popular document', d => fmt(d.crossRegionBytesPerFrameTop)),
    row('cross-region bytes per frame, mean over documents', d => fmt(d.crossRegionBytesPerFrameMean)),
    row('membership messages/s per node (received, duplicates included)', d => fmt(d.membershipMsgsPerSPerNode, 1)),
    row('membership bytes/s per node', d => fmt(d.membershipBytesPerSPerNode)),
    row('partials/s reaching the busiest authority', d => fmt(d.authorityPartialsPerS, 1)),
    row('partial bytes/s reaching the busiest authority', d => fmt(d.authorityPartialBytesPerS)),
    row('partials/s reaching all authorities', d => fmt(d.tierPartials[0])),
    row('failover p50 / p99 / max (ms)', d => d === tree ? `${failoverP(50)} / ${failoverP(99)} / ${failoverP(100)}` : 'no single parent: other mesh peers keep delivering'),
    '',
    '### Tree depth per document',
    '',
    depthSvg,
    '',
    `Depth is ceil(log_${c.fanout}(carriers in the region)) at most; the flat mesh's hop count grows with log_${c.meshDegree - 1} of all carriers worldwide.`,
    '',
    '### Per-host egress against its NIC',
    '',
    egressSvg,
    '',
    'Egress is viewer deltas (the same in both designs) plus relayed frames, partials and membership. Viewer deltas dominate, so the two curves nearly coincide; the backbone part alone shows the difference:',
    '',
    backboneSvg,
    '',
    'In the flat mesh every carrier sends every frame of every document it carries to its mesh peers; in the tree a carrier relays only the documents it is proxy of, to at most fan-out children.',
    '',
    '### Authority egress and cross-region bytes',
    '',
    crossSvg,
    '',
    'In the tree the authority sends each frame once per region with demand, and only those links cross regions. A flat mesh spans regions at random, so most of its links do.',
    '',
    '### Membership',
    '',
    `Each region has its own topic, but a node joins every region topic a connected peer uses (authorities join them all), so every node receives every region's announcements: at most ${fmt(tree.membershipMsgsPerSPerNode / c.meshDegree, 1)} distinct announcements/s (the schedule's bound, regionAnnouncementRate, summed over ${c.regions} regions), ${fmt(tree.membershipMsgsPerSPerNode, 1)} with gossipsub duplicates, whatever the regions' sizes. In steady state, when nothing changes, only lease renewals are sent: one per member per refresh period, ${fmt(distinctAnnouncementRate(report.fleet.regions.map((_, g) => regionSize(report.fleet, g)), 'refresh'), 1)}/s here. The flat mesh has no membership of its own; its cost is one gossipsub topic per carried document (${fmt(max(report.flatTotals?.topics ?? []))} topics on the busiest host, against gossipsub's practical limit of about 1,000).`,
    '',
    `**Caveat the simulation does not model.** The schedule scales with region size: the largest region here (${fmt(largest)} members) has a change interval of ${fmt(changeIntervalMs(largest) / 1000)} s and a lease of ${fmt(leaseMs(largest) / 1000)} s (${fmt(leaseMs(largest) / 3_600_000, 1)} h). So a member's change of documents or roles can take up to ${fmt(changeIntervalMs(largest) / 60_000)} minutes to reach its region, and a host that dies without a goodbye stays in the views of every node that did not itself detect it for hours: a newcomer, or a node that was not its child, still elects it. The simulation lets every node pass over a dead host at once (as its children do); the tiers shell needs a faster way to spread "found dead" (or shorter leases for proxies) to make that true.`,
    '',
    '### Failover under random host kills',
    '',
    failoverSvg,
    '',
    `${fmt(failover.kills)} kills: ${fmt(failover.kills - failover.leafKills)} hit a proxy (${fmt(failover.regionTreesRecomputed)} region trees recomputed), ${fmt(failover.leafKills)} hit hosts that proxied nothing. ${fmt(failover.samples.length)} children lost their parent; ${fmt(failover.moves)} other nodes changed parent because a split moved (make-before-break, no outage). ${fmt(failover.viewersDisconnected)} viewers were on killed hosts and must reconnect to another super-peer (browser failover, not timed here).`,
    '',
    '### Reducer messages by tier',
    '',
    tierSvg,
    '',
    '| tier | partials/s received, all documents | most one node receives |',
    '|---|---|---|',
    ...tree.tierPartials.map((v, t) => `| ${t === 0 ? 'authorities' : `tier ${t}`} | ${fmt(v, 1)} | ${fmt(tree.tierMaxPartialsPerNode[t] ?? 0, 1)} |`),
    ...(flat === undefined ? [] : [`| flat mesh: authorities | ${fmt(flat.tierPartials[0], 1)} | ${fmt(flat.tierMaxPartialsPerNode[0], 1)} |`]),
    '',
    'A partial carries one entry per origin window below it, so bytes grow with the super-peers below but messages do not: the authority of a document receives one partial per region per window in the tree, one per carrier in the flat design.',
    '',
    `Region trees computed: ${fmt(treeTotals.regionTrees)}; unserved scopes: ${fmt(treeTotals.unservedScopes)}; hosts at role capacity: ${fmt(treeTotals.hostsAtCapacity)}.`,
    '',
    '## RESULT',
    '',
    '```',
    `RESULT ${JSON.stringify(run.tree)}`,
    ...(run.flat === undefined ? [] : [`flat:  ${JSON.stringify(run.flat)}`]),
    '```',
    ''
  ]
  return { markdown: lines.join('\n'), svgs }
}
