import { join } from 'node:path'
import { parseDocId } from '../../src/log/index.ts'
import { bytesToHex } from '@noble/hashes/utils.js'
import { loadOrCreateKey } from '../identity.ts'
import { createBackboneNode } from '../net/libp2p-node.ts'
import { peerScore } from '../net/score.ts'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { FleetGuard, guardTopicValidator, loadFleetSettings, membersOnly } from '../fleet/index.ts'
import { serveSync } from '../sync/sync-server.ts'
import { startAdminServer } from '../admin-http.ts'
import { Counters } from '../metrics.ts'
import { DocCarrier } from './doc-carrier.ts'
import { ObservableCarrier } from './observable-carrier.ts'
import { OBSERVER_CONNECTION_MANAGER, startObserverServer } from './observer-server.ts'
import { createEdgeNode } from '../net/edge-node.ts'
import type { EdgeNode } from '../net/edge-node.ts'
import type { ObserverServer } from './observer-server.ts'
import type { AdminServer } from '../admin-http.ts'
import type { AppliedFrame } from '../../src/replica/index.ts'
import type { BackboneNode } from '../net/libp2p-node.ts'
import type { Logger } from '../log.ts'
import type { SuperPeerConfig } from './config.ts'

/** The browser-facing side: its own libp2p node and the observer server on it. */
export interface Edge {
  readonly node: EdgeNode
  readonly server: ObserverServer
}

/**
 * A super-peer: a backbone node that carries documents, admitted to the backbone by its fleet
 * certificate. It verifies and replicates their frames, serves catch-up to fleet peers, and
 * serves browsers each their privacy class's view from a separate edge node.
 */
export interface SuperPeer {
  readonly node: BackboneNode
  readonly edge?: Edge
  readonly carriers: ReadonlyMap<string, DocCarrier>
  readonly counters: Counters
  readonly admin?: AdminServer
  readonly fleet: FleetGuard
  stop (): Promise<void>
}

export async function startSuperPeer (config: SuperPeerConfig, log: Logger): Promise<SuperPeer> {
  for (const docId of config.docs) {
    const parsed = parseDocId(docId)
    if (!parsed.ok) throw new Error(`bad document id "${docId}": ${parsed.error}`)
  }
  const privateKey = await loadOrCreateKey(config.keyFile ?? join(config.dataDir, 'peer.key'))
  const fleetSettings = await loadFleetSettings(config, peerIdFromPrivateKey(privateKey).toString(), Date.now())
  const counters = new Counters()
  const fleet = new FleetGuard({ ...fleetSettings, docIds: config.docs, counters })
  const node = await createBackboneNode({
    privateKey,
    dataDir: config.dataDir,
    listen: config.listen,
    announce: config.announce,
    bootstrap: config.bootstrap,
    maxConnections: config.maxConnections,
    connectionGater: fleet.connectionGater,
    appSpecificScore: fleet.appSpecificScore,
    beforeStart: async node => { await fleet.attach(node, log) }
  })
  const carriers = new Map<string, DocCarrier>()
  const observable = new Map<string, ObservableCarrier>()
  const servesObservers = config.observeListen.length > 0
  await serveSync(membersOnly(node, fleet), docId => carriers.get(docId)?.replica, log, counters)
  for (const docId of config.docs) {
    const carrier = new DocCarrier(node, docId, {
      maxFrameBytes: config.maxFrameBytes,
      syncIntervalMs: config.syncIntervalMs,
      composeDeltas: servesObservers
    }, log, counters)
    carriers.set(docId, carrier)
    if (servesObservers) observable.set(docId, new ObservableCarrier(carrier))
    carrier.start()
    guardTopicValidator(node.services.pubsub, carrier.topic, fleet)
  }

  let edge: Edge | undefined
  if (servesObservers) {
    const edgeNode = await createEdgeNode({
      privateKey: await loadOrCreateKey(join(config.dataDir, 'edge.key')),
      dataDir: config.dataDir,
      listen: config.observeListen,
      announce: config.observeAnnounce,
      ...OBSERVER_CONNECTION_MANAGER,
      maxConnections: Math.max(OBSERVER_CONNECTION_MANAGER.maxConnections, config.maxObservers),
      limits: {
        maxConnectionsPerAddress: config.observeMaxConnectionsPerAddress,
        newConnectionsPerAddress: config.observeNewConnectionsPerAddress,
        httpTimeoutMs: config.observeHttpTimeoutMs,
        upgradeTimeoutMs: config.observeUpgradeTimeoutMs,
        maxSockets: config.observeMaxSockets
      },
      onRefused: reason => { counters.inc(`observe_refused_${reason}`) }
    })
    const server = startObserverServer(edgeNode, docId => observable.get(docId), {
      maxObservers: config.maxObservers,
      maxStreamsPerConnection: config.observeMaxStreamsPerConnection,
      stallTimeoutMs: config.observeStallTimeoutMs
    }, log, counters)
    await server.ready
    edge = { node: edgeNode, server }
  }

  const admin = config.admin === undefined
    ? undefined
    : await startAdminServer(config.admin, path => adminRoute(path, node, edge, carriers, counters, config, fleet))
  log.info({ peerId: node.peerId.toString(), addrs: node.getMultiaddrs().map(String), region: config.region }, 'super-peer started')

  return {
    node,
    edge,
    carriers,
    counters,
    admin,
    fleet,
    stop: async () => {
      fleet.stop()
      await edge?.server.stop()
      await edge?.node.stop()
      for (const carrier of carriers.values()) carrier.stop()
      await admin?.close()
      await node.stop()
    }
  }
}

function adminRoute (path: string, node: BackboneNode, edge: Edge | undefined, carriers: Map<string, DocCarrier>, counters: Counters, config: SuperPeerConfig, fleet: FleetGuard) {
  if (path === '/fleet') {
    const mesh = Object.fromEntries([...carriers.values()].map(carrier => [carrier.docId, fleet.meshPeers(carrier.topic)]))
    return { body: JSON.stringify({ ...fleet.status(), mesh }) }
  }
  if (path === '/status') {
    return {
      body: JSON.stringify({
        peerId: node.peerId.toString(),
        region: config.region,
        addrs: node.getMultiaddrs().map(String),
        observe: edge === undefined ? undefined : { peerId: edge.node.peerId.toString(), addrs: edge.node.getMultiaddrs().map(String), ...edge.server.stats() },
        docs: Object.fromEntries([...carriers].map(([docId, carrier]) => [docId, {
          seq: carrier.replica.head.seq,
          epoch: carrier.replica.head.epoch,
          head: bytesToHex(carrier.replica.head.hash),
          subscribers: node.services.pubsub.getSubscribers(carrier.topic).length
        }])),
        counters: counters.toJSON()
      })
    }
  }
  if (path === '/peers') {
    return {
      body: JSON.stringify(node.getPeers().map(peer => ({ peerId: peer.toString(), score: peerScore(node.services.pubsub, peer) })))
    }
  }
  if (path === '/metrics') {
    const observers = edge?.server.stats()
    return {
      type: 'text/plain; version=0.0.4',
      body: counters.toPrometheus({
        connections: node.getConnections().length,
        ...(observers === undefined ? {} : { observers: observers.observers, observer_connections: edge!.node.getConnections().length, observer_resyncs: observers.resyncs, observer_frozen_dropped: observers.frozen })
      })
    }
  }
  const events = /^\/docs\/([^/]+)\/events$/.exec(path)
  if (events !== null) {
    const carrier = carriers.get(decodeURIComponent(events[1]))
    if (carrier === undefined) return { status: 404, body: JSON.stringify({ error: 'not carried here' }) }
    // One event per applied frame, with the wall-clock time it was applied (for latency figures).
    return {
      events: (send: (data: unknown) => void) => {
        const onApplied = (applied: AppliedFrame[]): void => {
          const at = performance.timeOrigin + performance.now()
          for (const { frame } of applied) send({ seq: frame.seq, at })
        }
        carrier.on('applied', onApplied)
        return () => { carrier.off('applied', onApplied) }
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
