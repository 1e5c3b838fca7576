// Which super-peer addresses to dial, in which order, and how long to wait between rounds.

import { multiaddr } from '@multiformats/multiaddr'

export type BrowserTransport = 'webrtc-direct' | 'websockets'

/** WebRTC-Direct first (no TLS certificate needed), WebSockets as the fallback. */
export const DEFAULT_TRANSPORTS: readonly BrowserTransport[] = Object.freeze(['webrtc-direct', 'websockets'])

/** The addresses of one super-peer, in dial order. */
export interface Candidate {
  /** Peer id when the addresses carry /p2p/, else the address itself. */
  key: string
  addrs: string[]
}

export function transportOf (addr: string): BrowserTransport | undefined {
  const names = multiaddr(addr).getComponents().map(component => component.name)
  if (names.includes('webrtc-direct')) return 'webrtc-direct'
  if (names.includes('ws') || names.includes('wss')) return 'websockets'
  return undefined
}

function peerIdOf (addr: string): string | undefined {
  return multiaddr(addr).getComponents().findLast(component => component.name === 'p2p')?.value
}

/**
 * Groups the bootstrap addresses by super-peer (in the order each first appears) and sorts each
 * group by transport preference; addresses of transports not in `transports` are dropped. A
 * super-peer with edge workers announces several addresses of one transport (one WebRTC-Direct
 * port per worker): those come in a random order (`random`, in [0, 1)), so its browsers spread
 * over its workers.
 */
export function candidatesFrom (bootstrap: readonly string[], transports: readonly BrowserTransport[], random: () => number = Math.random): Candidate[] {
  const groups = new Map<string, Candidate>()
  for (const addr of bootstrap) {
    let transport: BrowserTransport | undefined
    try {
      transport = transportOf(addr)
    } catch {
      continue
    }
    if (transport === undefined || !transports.includes(transport)) continue
    const key = peerIdOf(addr) ?? addr
    const group = groups.get(key) ?? { key, addrs: [] }
    group.addrs.push(addr)
    groups.set(key, group)
  }
  const rank = (addr: string): number => transports.indexOf(transportOf(addr) as BrowserTransport)
  return [...groups.values()].map(group => {
    // a random key per address breaks ties within a transport (Fisher-Yates would need a copy per rank)
    const order = new Map(group.addrs.map(addr => [addr, random()]))
    return { key: group.key, addrs: group.addrs.toSorted((a, b) => rank(a) - rank(b) || order.get(a)! - order.get(b)!) }
  })
}

/** The candidate after the one with `lastKey` (wrapping), or the first. */
export function nextCandidate (candidates: readonly Candidate[], lastKey: string | undefined): Candidate | undefined {
  if (candidates.length === 0) return undefined
  const index = candidates.findIndex(candidate => candidate.key === lastKey)
  return candidates[(index + 1) % candidates.length]
}

export interface BackoffOptions {
  /** Delay before the second consecutive attempt; doubled after each failure. */
  initialMs: number
  /** Upper bound on any delay. */
  maxMs: number
}

export const DEFAULT_BACKOFF: BackoffOptions = Object.freeze({ initialMs: 250, maxMs: 15_000 })

/**
 * Delay before attempt number `failures` (0 = first retry after a working session): exponential,
 * bounded, with "equal jitter" (half fixed, half random) so thousands of viewers losing the same
 * super-peer do not all come back in the same instant.
 */
export function backoffDelay (failures: number, options: BackoffOptions, random: number): number {
  const ceiling = Math.min(options.maxMs, options.initialMs * 2 ** Math.min(failures, 30))
  return ceiling / 2 + random * ceiling / 2
}
