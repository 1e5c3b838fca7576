import { multiaddr } from '@multiformats/multiaddr'
import type { Libp2p } from '@libp2p/interface'

/**
 * @libp2p/bootstrap dials its list once, shortly after start, and libp2p redials a lost peer only
 * a few times. A super-peer started before its bootstrap peers, or cut off longer than that,
 * would stay alone. This keeps trying: while the node is connected to none of its bootstrap
 * peers, it dials them all every interval.
 */
export const BOOTSTRAP_RETRY_MS = 5_000

export function keepBootstrapConnected (node: Libp2p, list: string[], intervalMs = BOOTSTRAP_RETRY_MS): void {
  if (list.length === 0) return
  const addrs = list.map(addr => multiaddr(addr))
  const peers = addrs.map(addr => addr.getComponents().findLast(c => c.name === 'p2p')?.value)
  const timer = setInterval(() => {
    const connected = peers.some(peer => peer !== undefined && node.getConnections().some(c => c.remotePeer.toString() === peer))
    if (connected) return
    for (const addr of addrs) {
      node.dial(addr, { signal: AbortSignal.timeout(intervalMs) }).catch(() => {
        // Unreachable for now: the next tick tries again.
      })
    }
  }, intervalMs)
  timer.unref()
  node.addEventListener('stop', () => { clearInterval(timer) }, { once: true })
}
