// The browser's libp2p node: just enough to dial super-peers (no gossipsub). A node that takes part
// in swarms also listens for browser-to-browser WebRTC, signalled through its super-peer's relay.

import { identify } from '@libp2p/identify'
import { noise } from '@libp2p/noise'
import { circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { webRTC, webRTCDirect } from '@libp2p/webrtc'
import { webSockets } from '@libp2p/websockets'
import { yamux } from '@libp2p/yamux'
import { createLibp2p } from 'libp2p'
import type { BrowserTransport } from './candidates.ts'
import type { Libp2p } from '@libp2p/interface'
import type { Identify } from '@libp2p/identify'

export interface ObserverNodeOptions {
  transports: readonly BrowserTransport[]
  /** Allow dialing loopback/LAN addresses and plain ws:// (tests, LAN); refused by default in browsers. */
  allowPrivateAddresses: boolean
  /** How often the connection is probed; a dead super-peer is noticed within about twice this. */
  livenessIntervalMs: number
  /** A probe taking longer than this (at least) marks the connection dead. */
  livenessTimeoutMs: number
  /**
   * Relay class streams to other browsers of a relaying document (browser/swarm.ts): adds the
   * WebRTC transport and a reservation on the super-peer's signalling relay.
   */
  swarm?: { rtcConfiguration?: RTCConfiguration }
}

export type ObserverNode = Libp2p<{ identify: Identify }>

/**
 * The browser's yamux settings. No keep-alive: yamux pings only measure the round trip (a failed
 * one is logged, the connection stays up), and the view has its own liveness (heartbeats, then
 * libp2p's probes), so they cost the super-peer a pong per browser every 30 s for nothing.
 */
export const OBSERVER_YAMUX = Object.freeze({ enableKeepAlive: false })

/** Relay reservations made at once (libp2p's default is 1). */
const RESERVATION_CONCURRENCY = 4

export async function createObserverNode (options: ObserverNodeOptions): Promise<ObserverNode> {
  const swarm = options.swarm
  return createLibp2p({
    ...(swarm === undefined ? {} : { addresses: { listen: ['/p2p-circuit', '/webrtc'] } }),
    transports: [
      ...(options.transports.includes('webrtc-direct') ? [webRTCDirect()] : []),
      ...(options.transports.includes('websockets') ? [webSockets()] : []),
      // no STUN server unless one is configured: there is no public one we may rely on
      // Reservations in parallel: after a failover libp2p redials the dead super-peer's relay
      // (still in the peer store), and one at a time the new super-peer's would wait behind it
      ...(swarm === undefined ? [] : [webRTC({ rtcConfiguration: swarm.rtcConfiguration ?? { iceServers: [] } }), circuitRelayTransport({ reservationConcurrency: RESERVATION_CONCURRENCY })])
    ],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux(OBSERVER_YAMUX)],
    services: { identify: identify() },
    ...(options.allowPrivateAddresses ? { connectionGater: { denyDialMultiaddr: () => false } } : {}),
    connectionMonitor: {
      pingInterval: options.livenessIntervalMs,
      pingTimeout: { minTimeout: options.livenessTimeoutMs }
    }
  })
}
