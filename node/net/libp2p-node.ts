// The libp2p node that authorities and super-peers run: the backbone of a deltacast network.

import { keepBootstrapConnected } from './bootstrap-keeper.ts'
import { keepPeersConnected } from './peer-keeper.ts'
import { bootstrap } from '@libp2p/bootstrap'
import { prometheusMetrics } from '@libp2p/prometheus-metrics'
import { pubsubPeerDiscovery } from '@libp2p/pubsub-peer-discovery'
import { identify } from '@libp2p/identify'
import { KEEP_ALIVE } from '@libp2p/interface'
import { keychain } from '@libp2p/keychain'
import { noise } from '@libp2p/noise'
import { tcp } from '@libp2p/tcp'
import { webRTCDirect } from '@libp2p/webrtc'
import { webSockets } from '@libp2p/websockets'
import { yamux } from '@libp2p/yamux'
import { createLibp2p } from 'libp2p'
import { openNodeDatastore } from './datastore.ts'
import { backboneGossip } from './gossip.ts'
import type { BackbonePubSub } from './score.ts'
import type { AddrInfo } from '@libp2p/gossipsub/types'
import type { Identify } from '@libp2p/identify'
import type { ComponentLogger, ConnectionGater, Libp2p, PrivateKey } from '@libp2p/interface'
import type { Keychain } from '@libp2p/keychain'
import type { Libp2pOptions } from 'libp2p'
import type { Registry } from 'prom-client'

/**
 * Connection limits. libp2p's defaults (300 connections, 5 new inbound connections per second
 * per host, 10 pending inbound) are too low for a super-peer serving many browsers, and far too
 * low for load tests where every observer comes from 127.0.0.1.
 */
export const DEFAULT_MAX_CONNECTIONS = 1000
export const DEFAULT_INBOUND_CONNECTION_THRESHOLD = 1000
export const DEFAULT_MAX_INCOMING_PENDING_CONNECTIONS = 256

export type BackboneServices = {
  pubsub: BackbonePubSub
  identify: Identify
  /**
   * Holds the WebRTC-Direct certificate's private key in the datastore. Without a keychain the
   * transport neither stores its key nor its certificate, and the certhash changes on restart.
   */
  keychain: Keychain
}

export type BackboneNode = Libp2p<BackboneServices>

/** Streams one backbone connection may hold each way: every relay stream (one per document) plus the few others. */
export const MAX_STREAMS_PER_CONNECTION = 10_240

export interface BackboneNodeOptions {
  /** The node's identity; the peer id derives from it. Keep it stable across restarts. */
  privateKey: PrivateKey
  /**
   * Directory for persistent state (created if missing; libp2p's datastore goes in
   * dataDir/datastore). With it, the WebRTC-Direct certhash and the peer store survive restarts;
   * without it they live in memory. Not written to after stop() resolves.
   */
  dataDir?: string
  /** Multiaddrs to listen on (see listenAddresses() in listen.ts). */
  listen: string[]
  /** Multiaddrs to announce instead of the listen addresses (public address behind NAT). */
  announce?: string[]
  /** Multiaddrs with /p2p/<peer id> of nodes to dial at start and keep connected. */
  bootstrap: string[]
  /** Gossipsub direct peers: always forwarded to; must be configured on both sides. */
  directPeers?: AddrInfo[]
  /** Most open connections before the connection manager prunes. Default 1000. */
  maxConnections?: number
  /** New inbound connections per second allowed from one host. Default 1000. */
  inboundConnectionThreshold?: number
  /** Decides who may connect (e.g. only certified peers). Default: everyone. */
  connectionGater?: ConnectionGater
  /** Gossipsub's application score per peer id (e.g. the fleet guard's). Default 0. */
  appSpecificScore?: (peerId: string) => number
  /** Runs after the node is built and before it starts listening (e.g. to register handlers first). */
  beforeStart?: (node: BackboneNode) => Promise<void>
  /** libp2p's logger (e.g. defaultLogger() or prefixLogger(name) from @libp2p/logger). */
  logger?: ComponentLogger
  /**
   * Registry for libp2p's own metrics (@libp2p/prometheus-metrics) and the process's default
   * metrics (memory, CPU, event-loop lag). Without it libp2p collects none.
   */
  metricsRegistry?: Registry
  /** Sent to peers by identify (e.g. "deltacast/0.1.0 super-peer region=eu"); shown in /peers. */
  userAgent?: string
  /** Connections the peer keeper holds (peer-keeper.ts). Default 6. */
  targetPeers?: number
}

/**
 * Backbone nodes announce their addresses on this topic (@libp2p/pubsub-peer-discovery), so a
 * node that joined through one bootstrap peer learns of the others and dials them.
 */
export const PEER_DISCOVERY_TOPIC = '/deltacast/1/peers'
export const PEER_DISCOVERY_INTERVAL_MS = 5_000

/**
 * Tag for bootstrap peers. Its KEEP_ALIVE prefix makes the connection manager redial them when
 * they disconnect (5 tries with backoff) and at the next start (the tag is in the peer store).
 */
export const BOOTSTRAP_TAG = `${KEEP_ALIVE}-bootstrap`

/**
 * Bootstrap discovery: dials the list once, 1 s after start, and tags the peers so the
 * connection manager does not prune them. No tagTTL: @libp2p/bootstrap 12 sets no expiry without
 * one, and the `tagTTL: Infinity` its docs suggest is refused by @libp2p/peer-store 12 ("Tag ttl
 * must be an integer"), which silently cancels the whole bootstrap (only a log line).
 */
function peerDiscovery (list: string[]): Libp2pOptions<BackboneServices>['peerDiscovery'] {
  const fromPeers = quietPublishes(pubsubPeerDiscovery({ topics: [PEER_DISCOVERY_TOPIC], interval: PEER_DISCOVERY_INTERVAL_MS }))
  // @libp2p/bootstrap refuses an empty list
  return list.length === 0 ? [fromPeers] : [bootstrap({ list, tagName: BOOTSTRAP_TAG }), fromPeers]
}

/**
 * Pubsub peer discovery publishes the same bytes every interval and drops the promise. Our
 * message id is sha256(data), so a repeat within gossipsub's seen-cache time (2 min) is refused
 * as a duplicate, and that unhandled rejection would end the process. Its publishes go through
 * a pubsub whose rejections are dropped instead: the first announcement already went out.
 */
function quietPublishes<C extends { pubsub?: unknown }, T> (factory: (components: C) => T): (components: C) => T {
  return (components) => {
    const quiet = new Proxy(components, {
      get (target, property) {
        const value: unknown = Reflect.get(target, property, target)
        if (property !== 'pubsub' || value == null) return value
        const pubsub = value as { publish: (...args: unknown[]) => Promise<unknown> }
        return new Proxy(pubsub, {
          get (inner, name) {
            if (name === 'publish') return async (...args: unknown[]) => await pubsub.publish(...args).catch(() => undefined)
            const member: unknown = Reflect.get(inner, name, inner)
            return typeof member === 'function' ? member.bind(inner) : member
          }
        })
      }
    })
    return factory(quiet)
  }
}

/**
 * Creates and starts a backbone node: TCP, WebSockets and WebRTC-Direct transports, Noise,
 * Yamux, identify, and gossipsub configured for deltacast (see gossip.ts). Peers are found
 * through the bootstrap list, the discovery topic and the peer store, and kept connected. Document topics are
 * unscored until scoreTopic() (score.ts) registers them.
 */
export async function createBackboneNode (opts: BackboneNodeOptions): Promise<BackboneNode> {
  const datastore = opts.dataDir == null ? undefined : await openNodeDatastore(opts.dataDir)
  const node = await createLibp2p<BackboneServices>({
    privateKey: opts.privateKey,
    start: false,
    datastore,
    addresses: {
      listen: opts.listen,
      announce: opts.announce
    },
    transports: [tcp(), webSockets(), webRTCDirect()],
    connectionEncrypters: [noise()],
    // One relay stream per document a tier child follows from its parent: a host carrying
    // 10,000 documents from one parent needs that many on one connection (yamux's default is 1,000).
    streamMuxers: [yamux({ maxInboundStreams: MAX_STREAMS_PER_CONNECTION, maxOutboundStreams: MAX_STREAMS_PER_CONNECTION })],
    peerDiscovery: peerDiscovery(opts.bootstrap),
    connectionManager: {
      maxConnections: opts.maxConnections ?? DEFAULT_MAX_CONNECTIONS,
      inboundConnectionThreshold: opts.inboundConnectionThreshold ?? DEFAULT_INBOUND_CONNECTION_THRESHOLD,
      maxIncomingPendingConnections: DEFAULT_MAX_INCOMING_PENDING_CONNECTIONS
    },
    connectionGater: opts.connectionGater,
    logger: opts.logger,
    // One registry per node (an authority and a super-peer may share a process); the module's
    // shared name map is reset on creation, which leaves other registries' metrics alone.
    metrics: opts.metricsRegistry === undefined ? undefined : prometheusMetrics({ registry: opts.metricsRegistry }),
    nodeInfo: opts.userAgent === undefined ? undefined : { userAgent: opts.userAgent },
    services: {
      identify: identify(),
      keychain: keychain(),
      pubsub: backboneGossip({ directPeers: opts.directPeers, appSpecificScore: opts.appSpecificScore })
    }
  })
  await opts.beforeStart?.(node)
  await node.start()
  keepBootstrapConnected(node, opts.bootstrap)
  keepPeersConnected(node, opts.targetPeers === undefined ? {} : { target: opts.targetPeers })
  return node
}
