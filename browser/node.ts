// The browser's libp2p node: just enough to dial super-peers (no gossipsub, no listening).

import { identify } from '@libp2p/identify'
import { noise } from '@libp2p/noise'
import { webRTCDirect } from '@libp2p/webrtc'
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
}

export type ObserverNode = Libp2p<{ identify: Identify }>

export async function createObserverNode (options: ObserverNodeOptions): Promise<ObserverNode> {
  return createLibp2p({
    transports: [
      ...(options.transports.includes('webrtc-direct') ? [webRTCDirect()] : []),
      ...(options.transports.includes('websockets') ? [webSockets()] : [])
    ],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: { identify: identify() },
    ...(options.allowPrivateAddresses ? { connectionGater: { denyDialMultiaddr: () => false } } : {}),
    connectionMonitor: {
      pingInterval: options.livenessIntervalMs,
      pingTimeout: { minTimeout: options.livenessTimeoutMs }
    }
  })
}
