import { join } from 'node:path'
import { parseDocId } from '../../src/log/index.ts'
import { bytesToHex } from '@noble/hashes/utils.js'
import { loadOrCreateKey } from '../identity.ts'
import { DirLock } from '../dir-lock.ts'
import { createBackboneNode } from '../net/libp2p-node.ts'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import { FleetGuard, loadFleetSettings, membersOnly } from '../fleet/index.ts'
import type { FleetCert } from '../../src/identity/index.ts'
import { serveSync } from '../sync/sync-server.ts'
import { startAdminServer } from '../admin-http.ts'
import { topologyPageRoute } from '../topology/admin-page.ts'
import { NodeMetrics, SUPER_PEER_COUNTERS } from '../metrics.ts'
import { healthAnswer, peersOf, processInfo, userAgentOf } from '../node-info.ts'
import { installedMissingPatches } from '../dependency-patches.ts'
import { ErrorCode } from '../../src/observe/protocol.ts'
import type { Counters } from '../metrics.ts'
import { CarrierSet } from './carriers.ts'
import { serveRelay } from '../relay/relay-server.ts'
import { DEFAULT_CAPACITY, startBackboneMembership } from '../membership/index.ts'
import { Tiers } from '../tiers/tiers.ts'
import type { DocCarrier } from './doc-carrier.ts'
import { DEFAULT_OBSERVER_SERVER_OPTIONS, OBSERVER_CONNECTION_MANAGER, startObserverServer } from './observer-server.ts'
import { createEdgeNode, loadEdgeCertificate } from '../net/edge-node.ts'
import { EdgeWorkers, transportCounts } from './edge-workers.ts'
import { viewerAdmission } from './viewer-admission.ts'
import type { TransportCounts } from './edge-workers.ts'
import type { EdgeLimits } from '../net/edge-node.ts'
import type { ObservableDoc } from '../../src/observe/observable-doc.ts'
import type { DocRefusal, ObserverServerOptions } from './observer-server.ts'
import { InputHub } from '../reduce/input-hub.ts'
import type { MembershipService } from '../membership/index.ts'
import type { EdgeNode } from '../net/edge-node.ts'
import type { ObserverServer } from './observer-server.ts'
import type { AdminServer } from '../admin-http.ts'
import type { BackboneNode } from '../net/libp2p-node.ts'
import type { Logger } from '../log.ts'
import type { SuperPeerConfig } from './config.ts'

/**
 * The browser-facing side, with its own identity: an edge libp2p node in this thread and the
 * observer server on it, or edge worker processes each with their own node (--edge-workers).
 */
export interface Edge {
  /** The edge identity's peer id (every worker shares it). */
  readonly peerId: string
  /** The addresses browsers dial (with edge workers: every worker's). */
  addrs (): string[]
  readonly server: ObserverServer
  /** The edge node, when the edge runs in this thread. */
  readonly node?: EdgeNode
  /** The edge workers, when they serve browsers. */
  readonly workers?: EdgeWorkers
  /** Observe streams and browser connections now, by transport. */
  transports (): TransportCounts
  /** Reasons the edge is not healthy. */
  problems (): string[]
  stop (): Promise<void>
}

/**
 * A super-peer: a backbone node that carries documents, admitted to the backbone by its fleet
 * certificate. It verifies and replicates their frames, serves catch-up to fleet peers, and
 * serves browsers each their privacy class's view from a separate edge node.
 */
export interface SuperPeer {
  readonly node: BackboneNode
  readonly edge?: Edge
  readonly carriers: CarrierSet
  readonly tiers?: Tiers
  readonly counters: Counters
  readonly metrics: NodeMetrics
  readonly admin?: AdminServer
  readonly fleet: FleetGuard
  /** Who is alive in this region and what they carry; trees and roles per document (for /topology). */
  readonly membership: MembershipService
  /** Viewers' input: writer streams, and partials from tier children, merged and sent up. */
  readonly input: InputHub
  stop (): Promise<void>
}

export async function startSuperPeer (config: SuperPeerConfig, log: Logger): Promise<SuperPeer> {
  // Before the key or peer store is opened: two processes on one identity would confuse the mesh.
  const lock = await DirLock.acquire(config.dataDir, 'super-peer')
  try {
    return await startLocked(config, log, lock)
  } catch (err) {
    await lock.release()
    throw err
  }
}

async function startLocked (config: SuperPeerConfig, log: Logger, lock: DirLock): Promise<SuperPeer> {
  const startedAt = Date.now()
  const metrics = new NodeMetrics(SUPER_PEER_COUNTERS)
  for (const docId of config.docs) {
    const parsed = parseDocId(docId)
    if (!parsed.ok) throw new Error(`bad document id "${docId}": ${parsed.error}`)
  }
  const privateKey = await loadOrCreateKey(config.keyFile ?? join(config.dataDir, 'peer.key'))
  const fleetSettings = await loadFleetSettings(config, peerIdFromPrivateKey(privateKey).toString(), Date.now())
  const counters = metrics.counters
  // Under tiers documents are carried on demand: their authorities' keys come with the doc ids asked for.
  const fleet = new FleetGuard({ ...fleetSettings, docIds: config.docs, anyDocKey: config.topology === 'tiers', counters })
  const node = await createBackboneNode({
    privateKey,
    metricsRegistry: metrics.registry,
    userAgent: userAgentOf('super-peer', config.region),
    dataDir: config.dataDir,
    listen: config.listen,
    announce: config.announce,
    bootstrap: config.bootstrap,
    maxConnections: config.maxConnections,
    connectionGater: fleet.connectionGater,
    appSpecificScore: fleet.appSpecificScore,
    beforeStart: async node => { await fleet.attach(node, log) }
  })
  let stopping = false
  const servesObservers = config.observeListen.length > 0
  let edge: Edge | undefined
  let tiers: Tiers | undefined
  let membership: MembershipService | undefined
  const carriers = new CarrierSet({
    node,
    log,
    counters,
    get tiers () { return tiers },
    viewers: docId => edge?.server.viewers(docId) ?? 0,
    changed: docId => {
      tiers?.invalidate(docId)
      membership?.changed()
    }
  }, {
    topology: config.topology,
    pinned: config.docs,
    maxDocs: config.maxDocs,
    lingerMs: config.lingerMs,
    carrier: {
      maxFrameBytes: config.maxFrameBytes,
      syncIntervalMs: config.syncIntervalMs,
      composeDeltas: servesObservers,
      mayPublish: (peerId, topic) => fleet.mayPublish(peerId, topic)
    }
  })
  // Who carries what in this region; under tiers the trees are computed from it.
  const started = await startBackboneMembership(node, {
    privateKey, counters, log, fleet, fleetSettings, region: config.region,
    // While joining, it announces itself full, so that no one elects it before it has looked around.
    // Load is the roles it holds (docs/architecture.md, "Capacity and hysteresis"), not the
    // documents it carries: a host carrying 10,000 documents as a member has room to proxy.
    local: () => {
      const roles = tiers?.proxyScopes() ?? []
      return { docs: carriers.demanded(), roles, load: tiers?.joining() === true ? DEFAULT_CAPACITY : roles.length }
    }
  })
  membership = started.service
  if (config.topology === 'tiers') tiers = new Tiers({
      node,
      membership: started.service,
      counters,
      carried: () => carriers.docIds(),
      demanded: () => carriers.demanded(),
      carries: docId => carriers.has(docId),
      demands: docId => carriers.demands(docId),
      sourcesOf: docId => fleet.sourcesOf(docId)
    }, { fanout: config.fanout })
    fleet.addEventListener('certified', event => {
      if ((event as CustomEvent<FleetCert>).detail.scope === 'document') tiers?.sourcesChanged()
    })
  const members = membersOnly(node, fleet)
  await serveSync(members, docId => carriers.get(docId)?.replica, log, counters)
  await serveRelay(members, (docId, child) => carriers.relaySource(docId, child), log, counters)
  const input = new InputHub({
    node,
    members,
    privateKey,
    carrier: docId => carriers.get(docId),
    // The parent followed now (a peer id; not 'gossip'), else the one the tree names.
    tierParent: tiers === undefined ? undefined : docId => {
      const upstream = carriers.upstream(docId)
      return upstream !== undefined && upstream !== 'gossip' ? upstream : tiers?.standing(docId).parent
    },
    isMember: peer => fleet.isMember(peer),
    counters,
    log
  })
  await input.start()
  started.service.addEventListener('change', () => { carriers.reconsider() })
  tiers?.addEventListener('change', () => {
    carriers.reconsider()
    started.service.changed()
  })

  if (servesObservers) {
    const lookup = async (docId: string, signal: AbortSignal): Promise<ObservableDoc | DocRefusal | undefined> => {
      const doc = await carriers.observable(docId, signal)
      if (doc === undefined || !('code' in doc)) return doc
      // A full host says so (the browser tries the next super-peer); a bad id is an unknown doc.
      return doc.code === 'full' ? { refuse: ErrorCode.busy, message: doc.error } : undefined
    }
    edge = config.edgeWorkers > 0
      ? await startEdgeWorkers(config, lookup, log, counters, input)
      : await startEdgeInThread(config, lookup, log, counters, input)
  }

  registerSuperPeerMetrics(metrics, node, edge, carriers, tiers, input, startedAt)
  carriers.start()
  const health = (): string[] => {
    const problems: string[] = []
    if (stopping) problems.push('stopping')
    if (node.status !== 'started') problems.push(`backbone node is ${node.status}`)
    if (edge !== undefined) problems.push(...edge.problems())
    for (const [, carrier] of carriers.entries()) if (carrier.replica.diverged) problems.push(`replica of ${carrier.docId} diverged; rebuilding it from peers`)
    return problems
  }
  let adminUrl: string | undefined
  const topologyPage = topologyPageRoute(() => adminUrl, config.peerAdmin ?? [])
  const admin = config.admin === undefined
    ? undefined
    : await startAdminServer(config.admin, async path => {
      if (path === '/healthz') return healthAnswer(health())
      if (path === '/metrics') return await metrics.scrape()
      if (path === '/peers') return { body: JSON.stringify(await peersOf(node, fleet)) }
      return await (topologyPage(path) ?? adminRoute(path, node, edge, carriers, tiers, counters, config, fleet, startedAt))
    })
  adminUrl = admin?.url
  log.info({ peerId: node.peerId.toString(), addrs: node.getMultiaddrs().map(String), region: config.region }, 'super-peer started')
  warnMissingPatches(log)

  return {
    node,
    edge,
    carriers,
    tiers,
    counters,
    metrics,
    admin,
    fleet,
    membership: started.service,
    input,
    stop: async () => {
      stopping = true
      input.stop()
      await started.stop()
      fleet.stop()
      await edge?.stop()
      await carriers.stop()
      await admin?.close()
      await node.stop()
      await lock.release()
    }
  }
}

/** Gauges read at scrape time, and the latency histograms fed by each carrier as it starts. */
function registerSuperPeerMetrics (metrics: NodeMetrics, node: BackboneNode, edge: Edge | undefined, carriers: CarrierSet, tiers: Tiers | undefined, input: InputHub, startedAt: number): void {
  const perDoc = (read: (carrier: DocCarrier) => number) => () => carriers.entries().map(([docId, carrier]): [Record<string, string>, number] => [{ document: docId }, read(carrier)])
  metrics.gauge('seq', 'Head seq of the replica', perDoc(carrier => carrier.replica.head.seq), ['document'])
  metrics.gauge('dependency_patches_missing', 'Dependency patches (patches/) this process runs without, by severity: an installed package has none of them', () => (['security', 'cost'] as const).map((severity): [Record<string, string>, number] => [{ severity }, installedMissingPatches().filter(p => p.severity === severity).length]), ['severity'])
  metrics.gauge('lag_frames', 'Frames the replica is behind the authority\'s last head announcement', perDoc(carrier => carrier.lag()), ['document'])
  metrics.gauge('upstream_age_seconds', 'Seconds since the last frame or head announcement from upstream', perDoc(carrier => carrier.upstreamState().ageMs / 1000), ['document'])
  metrics.gauge('upstream_silent', '1 while the upstream is silent (no word for a few seconds), else 0', perDoc(carrier => carrier.upstreamState().silent ? 1 : 0), ['document'])
  metrics.gauge('topic_subscribers', 'Peers subscribed to the document topic', perDoc(carrier => node.services.pubsub.getSubscribers(carrier.topic).length), ['document'])
  metrics.gauge('backbone_connections', 'Open backbone connections', () => node.getConnections().length)
  metrics.gauge('docs_carried_now', 'Documents this super-peer carries now', () => carriers.size)
  metrics.gauge('input_writers', 'Writer streams (connect) open now, across documents', () => input.writers())
  if (tiers !== undefined) {
    metrics.gauge('tier_roles', 'Documents in whose tree this node is proxy or member now', () => {
      const counts = { proxy: 0, member: 0 }
      for (const [docId] of carriers.entries()) {
        const role = tiers.standing(docId).role?.role
        if (role !== undefined) counts[role]++
      }
      return [[{ role: 'proxy' }, counts.proxy], [{ role: 'member' }, counts.member]]
    }, ['role'])
    metrics.gauge('tier_children', 'Tier children following a document from this node', perDoc(carrier => carriers.childrenOf(carrier.docId).length), ['document'])
  }
  const applied = metrics.latency('frame_applied', 'From the authority signing a frame (its time field) to this replica applying it')
  const delivered = metrics.latency('frame_delivered', 'From the authority signing a frame to its viewer deltas being handed to the observer streams')
  carriers.onCarry(carrier => {
    const appliedHere = applied.labels(carrier.docId)
    const deliveredHere = delivered.labels(carrier.docId)
    // A tap runs after the carrier handed the frame to the observers (synchronously).
    carrier.tap(({ frame }) => {
      // History replayed at start (signed before we ran) is not latency.
      if (frame.time < startedAt) return
      const seconds = Math.max(0, Date.now() - frame.time) / 1000
      appliedHere.observe(seconds)
      if (edge !== undefined && edge.server.viewers(carrier.docId) > 0) deliveredHere.observe(seconds)
    })
  })
  if (edge === undefined) return
  const byTransport = (count: (counts: { observers: number, connections: number }) => number) => () =>
    Object.entries(edge.transports()).map(([transport, counts]): [Record<string, string>, number] => [{ transport }, count(counts)])
  metrics.gauge('observers', 'Observer streams open, by transport', byTransport(counts => counts.observers), ['transport'])
  metrics.gauge('observer_connections', 'Browser connections to the edge node, by transport', byTransport(counts => counts.connections), ['transport'])
  const stats = (): ReturnType<typeof edge.server.stats> => edge.server.stats()
  metrics.gauge('privacy_classes', 'Privacy classes across documents (viewers who see the same thing share one)', () => stats().classes)
  metrics.total('observer_streams_accepted', 'Observer streams accepted since start', () => stats().accepted)
  metrics.total('observer_streams_refused', 'Observer streams turned away since start (busy, bad request, unknown doc, unauthorized, forbidden)', () => stats().refused)
  metrics.total('observer_streams_ejected', 'Observer streams closed by the super-peer after joining (a too-large message, a rate limit, an expired token)', () => stats().ejected)
  metrics.total('observer_resyncs', 'Times a slow observer\'s queue was dropped and replaced by a fresh view', () => stats().resyncs)
  metrics.total('observer_refused_sends', 'Messages observers tried to send (every one refused: observe is read-only)', () => stats().refusedSends)
  metrics.total('observer_messages_sent', 'Messages handed to observer streams', () => stats().sent)
  metrics.total('observer_heartbeats', 'Heartbeats sent to observers that had been sent nothing for a second (how browsers notice a dead super-peer)', () => stats().heartbeats)
  metrics.total('observer_frozen_dropped', 'Observers dropped because their stream accepted nothing for --observe-stall-timeout-ms (they stopped reading)', () => stats().frozen)
}

function adminRoute (path: string, node: BackboneNode, edge: Edge | undefined, carriers: CarrierSet, tiers: Tiers | undefined, counters: Counters, config: SuperPeerConfig, fleet: FleetGuard, startedAt: number) {
  if (path === '/topology') return { body: JSON.stringify(topologyOf(node, carriers, tiers, config)) }
  if (path === '/fleet') {
    const mesh = Object.fromEntries(carriers.entries().map(([docId, carrier]) => [docId, fleet.meshPeers(carrier.topic)]))
    return { body: JSON.stringify({ ...fleet.status(), mesh }) }
  }
  if (path === '/status') {
    return {
      body: JSON.stringify({
        ...processInfo(startedAt),
        peerId: node.peerId.toString(),
        region: config.region,
        addrs: node.getMultiaddrs().map(String),
        observe: edge === undefined ? undefined : { peerId: edge.peerId, addrs: edge.addrs(), ...edge.server.stats(), workers: edge.workers?.workers() },
        docs: Object.fromEntries(carriers.entries().map(([docId, carrier]) => [docId, {
          seq: carrier.replica.head.seq,
          epoch: carrier.replica.head.epoch,
          head: bytesToHex(carrier.replica.head.hash),
          subscribers: node.services.pubsub.getSubscribers(carrier.topic).length,
          // the authority's head as last announced, how far behind it we are, and how long since we heard
          authority: carrier.authorityHead,
          lag: carrier.lag(),
          upstream: carrier.upstreamState()
        }])),
        counters: counters.toJSON()
      })
    }
  }
  const swarm = /^\/docs\/([^/]+)\/swarm$/.exec(path)
  if (swarm !== null) {
    // relaying between browsers: per class, who is fed how and the bytes each way; each seat
    const docId = decodeURIComponent(swarm[1])
    return { body: JSON.stringify({ classes: edge?.server.offload(docId) ?? [], seats: edge?.server.seats(docId) ?? [] }) }
  }
  const events = /^\/docs\/([^/]+)\/events$/.exec(path)
  if (events !== null) {
    const carrier = carriers.get(decodeURIComponent(events[1]))
    if (carrier === undefined) return { status: 404, body: JSON.stringify({ error: 'not carried here' }) }
    // One event per applied frame, with the wall-clock time it was applied (for latency figures).
    return {
      events: (send: (data: unknown) => void) => {
        return carrier.tap(({ frame }) => { send({ seq: frame.seq, at: performance.timeOrigin + performance.now() }) })
      }
    }
  }
  const state = /^\/docs\/([^/]+)\/state$/.exec(path)
  if (state !== null) {
    const carrier = carriers.get(decodeURIComponent(state[1]))
    if (carrier === undefined) return { status: 404, body: JSON.stringify({ error: 'not carried here' }) }
    return { body: JSON.stringify({ seq: carrier.replica.head.seq, head: bytesToHex(carrier.replica.head.hash), tree: carrier.replica.tree }) }
  }
  return undefined
}

/**
 * This node's place in each carried document's tree: its scope and role, where it takes the
 * document from, who follows it from here, and the tree its membership view computes.
 */
function topologyOf (node: BackboneNode, carriers: CarrierSet, tiers: Tiers | undefined, config: SuperPeerConfig) {
  return {
    peerId: node.peerId.toString(),
    region: config.region,
    topology: config.topology,
    fanout: tiers?.fanout,
    members: tiers?.members().map(m => ({ peerId: m.peerId, region: m.region, load: m.load, capacity: m.capacity, weight: m.weight, expiresInMs: m.expires - Date.now() })),
    docs: Object.fromEntries(carriers.entries().map(([docId, carrier]) => {
      const standing = tiers?.standing(docId)
      return [docId, {
        seq: carrier.replica.head.seq,
        role: standing?.role?.role ?? (config.topology === 'tiers' ? 'none' : 'flat'),
        scope: standing?.role?.scope,
        depth: standing?.role?.depth,
        parent: carriers.upstream(docId),
        electedParent: standing?.parent,
        children: carriers.childrenOf(docId),
        tree: standing?.tree
      }]
    }))
  }
}

type Lookup = (docId: string, signal: AbortSignal) => Promise<ObservableDoc | DocRefusal | undefined>

/** The edge node's limits, from the observe flags. */
function edgeLimits (config: SuperPeerConfig): Partial<EdgeLimits> {
  return {
    maxConnectionsPerAddress: config.observeMaxConnectionsPerAddress,
    newConnectionsPerAddress: config.observeNewConnectionsPerAddress,
    httpTimeoutMs: config.observeHttpTimeoutMs,
    upgradeTimeoutMs: config.observeUpgradeTimeoutMs,
    maxSockets: config.observeMaxSockets
  }
}

function observerOptions (config: SuperPeerConfig): ObserverServerOptions {
  return {
    ...DEFAULT_OBSERVER_SERVER_OPTIONS,
    maxObservers: config.maxObservers,
    maxStreamsPerConnection: config.observeMaxStreamsPerConnection,
    stallTimeoutMs: config.observeStallTimeoutMs,
    heartbeatMs: config.observeHeartbeatMs
  }
}

const edgeConnectionManager = (config: SuperPeerConfig) => ({
  ...OBSERVER_CONNECTION_MANAGER,
  maxConnections: Math.max(OBSERVER_CONNECTION_MANAGER.maxConnections, config.maxObservers)
})

/** The edge in this thread: one edge node, its observer server, and relaying between browsers. */
async function startEdgeInThread (config: SuperPeerConfig, lookup: Lookup, log: Logger, counters: Counters, input: InputHub): Promise<Edge> {
  const edgeKey = await loadOrCreateKey(join(config.dataDir, 'edge.key'))
  const node = await createEdgeNode({
    privateKey: edgeKey,
    signalling: {},
    dataDir: config.dataDir,
    listen: config.observeListen,
    announce: config.observeAnnounce,
    ...edgeConnectionManager(config),
    limits: edgeLimits(config),
    onRefused: reason => { counters.inc(`observe_refused_${reason}`) }
  })
  const server = startObserverServer(node, lookup, {
    ...observerOptions(config),
    swarm: { key: edgeKey, counters, reachable: peer => hasReservation(node, peer) }
  }, log, counters, input)
  await server.ready
  return {
    peerId: node.peerId.toString(),
    addrs: () => node.getMultiaddrs().map(String),
    server,
    node,
    transports: () => transportCounts(node.getConnections()),
    problems: () => node.status === 'started' ? [] : [`edge node is ${node.status}`],
    stop: async () => {
      await server.stop()
      await node.stop()
    }
  }
}

/**
 * The edge on worker processes: the admission (documents, policy, classes) stays in this process,
 * each worker holds its browsers' streams. Relaying between browsers is not served this way.
 */
async function startEdgeWorkers (config: SuperPeerConfig, lookup: Lookup, log: Logger, counters: Counters, input: InputHub): Promise<Edge> {
  const edgeKey = await loadOrCreateKey(join(config.dataDir, 'edge.key'))
  // one certificate for every worker, so all their addresses carry the same certhash
  const certificate = await loadEdgeCertificate(edgeKey, config.dataDir)
  // --max-observers is the process's: each worker takes its share
  const server = { ...observerOptions(config), maxObservers: Math.ceil(config.maxObservers / config.edgeWorkers) }
  const admission = viewerAdmission(lookup, { lookupTimeoutMs: server.requestTimeoutMs }, log, counters, input)
  const workers = new EdgeWorkers(admission, {
    count: config.edgeWorkers,
    privateKey: edgeKey,
    certificate,
    listen: config.observeListen,
    announce: config.observeAnnounce,
    limits: edgeLimits(config),
    connectionManager: edgeConnectionManager(config),
    server,
    counters,
    log,
    maxBacklogBytes: config.edgeWorkerMaxBacklogBytes,
    // workers are handed the certificate, so @libp2p/webrtc renews it for none of them: the primary does
    renewCertificate: async () => await loadEdgeCertificate(edgeKey, config.dataDir)
  })
  try {
    await workers.start()
  } catch (err) {
    await workers.stop()
    throw err
  }
  const stop = async (): Promise<void> => {
    await workers.stop()
    admission.close()
  }
  return {
    peerId: peerIdFromPrivateKey(edgeKey).toString(),
    addrs: () => workers.addrs(),
    server: {
      ready: Promise.resolve(),
      stop,
      stats: () => workers.stats(),
      viewers: docId => admission.viewers(docId),
      offload: () => [],
      seats: () => []
    },
    workers,
    transports: () => workers.transports(),
    problems: () => workers.problems(),
    stop
  }
}

/** Whether a browser holds a signalling reservation on the edge (only then can its swarm children reach it). */
function hasReservation (edge: EdgeNode, peer: string): boolean {
  return edge.services.signalling?.reservations.has(peerIdFromString(peer)) ?? false
}

/**
 * Says which dependency patches this process lacks (an application that installed the package
 * has none): a warning naming what an operator must know for the security one, one line for the
 * ones that only cost CPU or memory.
 */
function warnMissingPatches (log: Logger): void {
  const missing = installedMissingPatches()
  for (const patch of missing.filter(p => p.severity === 'security')) {
    log.warn({ package: patch.package, reason: patch.reason }, `${patch.package} runs without deltacast's patch: ${patch.without}. Run the super-peer from a clone of the repository (npm ci applies patches/), or terminate WebSockets in a proxy in front of it (docs/operations.md, "The WebSockets patch")`)
  }
  const cost = missing.filter(p => p.severity === 'cost').map(p => p.package)
  if (cost.length > 0) log.info({ packages: cost }, `running without deltacast's cost patches for ${cost.join(', ')} (more CPU and memory per browser; docs/operations.md)`)
}
