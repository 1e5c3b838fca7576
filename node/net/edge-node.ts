// The libp2p node a super-peer serves browsers from: WebRTC-Direct and WebSockets only.

import { join } from 'node:path'
import { identify } from '@libp2p/identify'
import { keychain } from '@libp2p/keychain'
import { noise } from '@libp2p/noise'
import { webRTCDirect } from '@libp2p/webrtc'
import { webSockets } from '@libp2p/websockets'
import { yamux } from '@libp2p/yamux'
import { createLibp2p } from 'libp2p'
import { openNodeDatastore } from './datastore.ts'
import type { Identify } from '@libp2p/identify'
import type { Libp2p, PrivateKey } from '@libp2p/interface'
import type { Keychain } from '@libp2p/keychain'

/**
 * Browsers never meet the backbone: they reach a separate node that speaks only the observe
 * protocol (plus identify), with its own identity. A browser that asks for gossipsub or the
 * catch-up protocol is told "protocol not supported" by multistream-select, so it can neither
 * read the unfiltered frames nor publish any. It also keeps browser connection churn out of
 * the backbone's connection manager and peer scores.
 */
/** How often the edge node probes a browser connection (libp2p's default is 10 s). */
export const EDGE_PING_INTERVAL_MS = 60_000

export type EdgeNode = Libp2p<{ identify: Identify, keychain: Keychain }>

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
}

export async function createEdgeNode (opts: EdgeNodeOptions): Promise<EdgeNode> {
  const datastore = opts.dataDir === undefined ? undefined : await openNodeDatastore(join(opts.dataDir, 'edge'))
  return await createLibp2p({
    privateKey: opts.privateKey,
    datastore,
    addresses: { listen: opts.listen, announce: opts.announce },
    transports: [webRTCDirect(), webSockets()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionManager: {
      maxConnections: opts.maxConnections,
      inboundConnectionThreshold: opts.inboundConnectionThreshold,
      maxIncomingPendingConnections: opts.maxIncomingPendingConnections
    },
    // Browsers probe their own connection; probing thousands of them from here every 10 s (a new
    // stream, on WebRTC a new data channel, each time) costs more CPU than the frames (bench:fanout).
    connectionMonitor: { pingInterval: EDGE_PING_INTERVAL_MS },
    services: { identify: identify(), keychain: keychain() }
  })
}
