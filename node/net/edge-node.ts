// The libp2p node a super-peer serves browsers from: WebRTC-Direct and WebSockets only.

import { join } from 'node:path'
import { circuitRelayServer } from '@libp2p/circuit-relay-v2'
import { identify } from '@libp2p/identify'
import { keychain } from '@libp2p/keychain'
import { noise } from '@libp2p/noise'
import { webRTCDirect } from '@libp2p/webrtc'
import { webSockets } from '@libp2p/websockets'
import { yamux } from '@libp2p/yamux'
import { createLibp2p } from 'libp2p'
import { openNodeDatastore } from './datastore.ts'
import { EdgeDatastore } from './edge-datastore.ts'
import { AddressLimiter } from './address-limits.ts'
import { lazyComponentLogger } from './lazy-logger.ts'
import type { AddressLimits, AddressRefusal } from './address-limits.ts'
import type { CircuitRelayService } from '@libp2p/circuit-relay-v2'
import type { Identify } from '@libp2p/identify'
import type { Libp2p, PrivateKey } from '@libp2p/interface'
import type { Keychain } from '@libp2p/keychain'
import type { TransportCertificate } from '@libp2p/webrtc'

/**
 * Browsers never meet the backbone: they reach a separate node that speaks only the observe
 * protocol (plus identify), with its own identity. A browser that asks for gossipsub or the
 * catch-up protocol is told "protocol not supported" by multistream-select, so it can neither
 * read the unfiltered frames nor publish any. It also keeps browser connection churn out of
 * the backbone's connection manager and peer scores.
 */
/** How often the edge node probes a browser connection (libp2p's default is 10 s). */
export const EDGE_PING_INTERVAL_MS = 60_000

/** The RTCConfiguration of the edge's WebRTC-Direct peer connections (one per browser). */
export const EDGE_RTC_CONFIGURATION: RTCConfiguration = Object.freeze({ iceServers: [] })

export type EdgeNode = Libp2p<{ identify: Identify, keychain: Keychain, signalling?: CircuitRelayService }>

/**
 * A circuit relay for signalling only: browsers of a relaying document open their
 * browser-to-browser WebRTC connections through it (@libp2p/webrtc), and nothing else fits
 * through its limits. Relay v2's data limits would make it unfit to carry the stream anyway.
 */
export interface SignallingRelayLimits {
  /** Browsers holding a reservation at once (each can then be dialled by its swarm children). */
  maxReservations: number
  /** Bytes one relayed connection may carry: an SDP offer, an answer and ICE candidates. */
  dataLimitBytes: number
  /** How long one relayed connection may stay open. */
  durationLimitMs: number
}

export const SIGNALLING_RELAY_LIMITS: SignallingRelayLimits = Object.freeze({
  maxReservations: 4096,
  dataLimitBytes: 64 * 1024,
  durationLimitMs: 30_000
})

export interface EdgeNodeOptions {
  privateKey: PrivateKey
  /** Persistent state (the WebRTC-Direct certificate) goes in <dataDir>/edge. */
  dataDir?: string
  /** /udp/../webrtc-direct and /tcp/../ws addresses. */
  listen: string[]
  announce?: string[]
  /** Limits for thousands of browsers (libp2p's defaults allow 300 connections). */
  maxConnections: number
  inboundConnectionThreshold: number
  maxIncomingPendingConnections: number
  /** What a hostile client may hold and how fast each stage must finish (defaults: EDGE_LIMITS). */
  limits?: Partial<EdgeLimits>
  /** Called with the reason each time a connection is refused by the per-address limits. */
  onRefused?: (reason: AddressRefusal) => void
  /** Serve a signalling relay for browser-to-browser connections (documents that relay). */
  signalling?: Partial<SignallingRelayLimits>
  /**
   * The WebRTC-Direct certificate to use instead of the one kept in the datastore: edge workers
   * share one (loadEdgeCertificate), so that all their addresses carry the same certhash.
   */
  certificate?: TransportCertificate
  /** WebSockets: listen with SO_REUSEPORT, so that every edge worker accepts on the same port. */
  reusePort?: boolean
}

/**
 * Limits on what one browser, or someone pretending to be many, can make the edge hold. Each
 * stage before a stream is accepted has a deadline: the raw socket (WebSockets), the HTTP
 * upgrade, the libp2p upgrade (Noise + muxer) and the protocol negotiation of each stream.
 */
export interface EdgeLimits extends AddressLimits {
  /** WebSockets: a raw socket whose HTTP upgrade has not completed this long after accept is closed. */
  httpTimeoutMs: number
  /** Noise and muxer negotiation must finish this long after the connection opened. */
  upgradeTimeoutMs: number
  /** A new stream must agree on its protocol within this long. */
  protocolNegotiationTimeoutMs: number
  /** WebSockets: raw sockets open at once, upgraded or not; more are refused at accept. */
  maxSockets: number
  /** Streams one connection may hold open (observe streams have their own, lower, cap). */
  maxStreamsPerConnection: number
  /** WebSockets: bytes buffered in a socket before the connection reports backpressure. */
  maxBufferedBytes: number
}

export const EDGE_LIMITS: EdgeLimits = Object.freeze({
  maxConnectionsPerAddress: 64,
  newConnectionsPerAddress: 32,
  rateWindowMs: 1_000,
  httpTimeoutMs: 5_000,
  upgradeTimeoutMs: 10_000,
  protocolNegotiationTimeoutMs: 5_000,
  maxSockets: 30_000,
  maxStreamsPerConnection: 32,
  maxBufferedBytes: 1024 * 1024
})

export async function createEdgeNode (opts: EdgeNodeOptions): Promise<EdgeNode> {
  const datastore = opts.dataDir === undefined ? undefined : new EdgeDatastore(await openNodeDatastore(join(opts.dataDir, 'edge')))
  const limits: EdgeLimits = { ...EDGE_LIMITS, ...opts.limits }
  const addressLimiter = new AddressLimiter(limits, opts.onRefused ?? (() => {}))
  let rtc: WebRTCDirectInternals | undefined
  const node: EdgeNode = await createLibp2p({
    privateKey: opts.privateKey,
    datastore,
    // libp2p makes a logger per connection, muxer and stream: lazy ones cost ~2.5 KiB less each
    // while logging is off, the same output when it is on (node/net/lazy-logger.ts)
    logger: lazyComponentLogger(),
    addresses: { listen: opts.listen, announce: opts.announce },
    // No STUN servers: @libp2p/webrtc would otherwise give every browser's peer connection four
    // public ones to gather from. The edge listens on an address browsers can already reach (it is
    // in its multiaddr); server-reflexive candidates add nothing but per-connection work.
    transports: [keepingTransport(webRTCDirect({ rtcConfiguration: EDGE_RTC_CONFIGURATION, ...(opts.certificate === undefined ? {} : { certificate: opts.certificate }) }), made => { rtc = made }), webSockets({
      // upgradeTimeout and maxSockets come from patches/@libp2p+websockets+*.patch. Node's own
      // headersTimeout would not help: the transport feeds sockets to an HTTP server that never
      // listens, and such a server does not track its connections' deadlines.
      upgradeTimeout: limits.httpTimeoutMs,
      maxSockets: limits.maxSockets,
      maxBufferedAmount: limits.maxBufferedBytes,
      reusePort: opts.reusePort
    })],
    connectionEncrypters: [noise()],
    // No yamux keep-alive: its pings only measure the round trip (a failed one is logged, the
    // connection stays), so per browser they were a timer, a ping and a pong every 30 s for
    // nothing. Liveness is the heartbeats' (browser side) and the connection monitor's (here).
    streamMuxers: [yamux({ maxInboundStreams: limits.maxStreamsPerConnection, enableKeepAlive: false })],
    connectionGater: addressLimiter.gater(),
    connectionManager: {
      maxConnections: opts.maxConnections,
      inboundConnectionThreshold: opts.inboundConnectionThreshold,
      maxIncomingPendingConnections: opts.maxIncomingPendingConnections,
      inboundUpgradeTimeout: limits.upgradeTimeoutMs,
      inboundStreamProtocolNegotiationTimeout: limits.protocolNegotiationTimeoutMs
    },
    // Browsers probe their own connection; probing thousands of them from here every 10 s (a new
    // stream, on WebRTC a new data channel, each time) costs more CPU than the frames (bench:fanout).
    connectionMonitor: { pingInterval: EDGE_PING_INTERVAL_MS },
    // Browsers identify us; we never identify them (their protocols and addresses are of no use
    // here): one stream fewer per connection, and no peer store record written per browser.
    services: {
      identify: identify({ runOnConnectionOpen: false }),
      keychain: keychain(),
      ...(opts.signalling === undefined ? {} : { signalling: signallingRelay({ ...SIGNALLING_RELAY_LIMITS, ...opts.signalling }) })
    }
  })
  // libp2p writes a peer record for every browser that opens a stream and never drops it: the
  // edge forgets a browser once it has no connection left (it never dials one back).
  node.addEventListener('peer:disconnect', (event) => {
    node.peerStore.delete(event.detail).catch(() => {})
  })
  if (rtc !== undefined) webRTCDirectOf.set(node, rtc)
  return node
}

/**
 * What a certificate renewal goes through in @libp2p/webrtc 6.0.33's Node WebRTCDirectTransport:
 * `certificate` (what new listeners take) and `emitter`, on which each of its listeners hears
 * 'certificate:renew' and serves the new certificate to connections from then on (the ones open
 * stay up) and re-announces its addresses with the new certhash. Both are private: the transport
 * renews only a certificate it made itself, never one it was given (`certificate` option), and
 * offers no public way to swap it.
 */
interface WebRTCDirectInternals {
  certificate?: TransportCertificate
  emitter?: { safeDispatchEvent?: (type: 'certificate:renew', detail: { detail: TransportCertificate }) => boolean }
}

const webRTCDirectOf = new WeakMap<EdgeNode, WebRTCDirectInternals>()

/** A transport factory that hands the instance it makes to `keep` (libp2p keeps it to itself). */
function keepingTransport<F extends (components: any) => unknown> (factory: F, keep: (made: WebRTCDirectInternals) => void): F {
  return ((components: unknown) => {
    const made = factory(components)
    keep(made as WebRTCDirectInternals)
    return made
  }) as F
}

/**
 * Serves `certificate` on an edge node's WebRTC-Direct listeners from now on, exactly as
 * @libp2p/webrtc does when it renews its own: connections open now keep theirs, new ones get
 * this one, and the node's addresses carry its certhash. Throws if the transport no longer has
 * the parts this goes through (a @libp2p/webrtc upgrade): an edge worker then exits and is
 * started again with the new certificate.
 */
export function replaceEdgeCertificate (node: EdgeNode, certificate: TransportCertificate): void {
  const transport = webRTCDirectOf.get(node)
  const dispatch = transport?.emitter?.safeDispatchEvent
  if (transport === undefined || typeof dispatch !== 'function') throw new Error('this @libp2p/webrtc offers no certificate renewal to follow')
  transport.certificate = certificate
  dispatch.call(transport.emitter, 'certificate:renew', { detail: certificate })
}

function signallingRelay (limits: SignallingRelayLimits): ReturnType<typeof circuitRelayServer> {
  return circuitRelayServer({
    reservations: {
      maxReservations: limits.maxReservations,
      applyDefaultLimit: true,
      defaultDataLimit: BigInt(limits.dataLimitBytes),
      defaultDurationLimit: limits.durationLimitMs
    }
  })
}

/**
 * The edge's WebRTC-Direct certificate as @libp2p/webrtc keeps it in <dataDir>/edge (created and
 * stored there if missing), read by starting the transport alone on a node that listens nowhere.
 * The transport only exposes it on its instance, so the factory is wrapped to keep that. A load
 * within a day of the stored certificate's end makes and stores a new one (@libp2p/webrtc).
 */
export async function loadEdgeCertificate (privateKey: PrivateKey, dataDir: string, lifespanMs?: number): Promise<TransportCertificate> {
  let transport: WebRTCDirectInternals | undefined
  const node = await createLibp2p({
    privateKey,
    datastore: await openNodeDatastore(join(dataDir, 'edge')),
    // lifespanMs: how long a certificate made now lasts (libp2p's default, 14 days; tests make short ones)
    transports: [keepingTransport(webRTCDirect(lifespanMs === undefined ? {} : { certificateLifespan: lifespanMs }), made => { transport = made })],
    services: { keychain: keychain() }
  })
  try {
    const certificate = transport?.certificate
    if (certificate === undefined) throw new Error('the WebRTC-Direct transport started without a certificate')
    return { ...certificate }
  } finally {
    await node.stop()
  }
}
