import type { Libp2p, PeerId } from '@libp2p/interface'

/**
 * Keeps a backbone node connected to several peers, not only its bootstrap list. libp2p 3 does
 * not dial the peers it learns of: peers come into the peer store from identify, from the
 * discovery topic (pubsub peer discovery, see libp2p-node.ts) and, after a restart, from the
 * persisted peer store. While the node has fewer than `target` connections, this dials known
 * peers it is not connected to, with a growing pause after each failed dial. So a restarted
 * super-peer rejoins the peers it had, and the loss of any one node (a bootstrap peer, the
 * authority) leaves the others connected to each other.
 */
export interface PeerKeeperOptions {
  /** Connections to keep; gossipsub's mesh degree D is 6. */
  target: number
  /** How often to check. */
  intervalMs: number
  /** Pause after a failed dial; doubles per failure up to maxBackoffMs. */
  backoffMs: number
  maxBackoffMs: number
  dialTimeoutMs: number
}

export const PEER_KEEPER_DEFAULTS: PeerKeeperOptions = {
  target: 6,
  intervalMs: 2_000,
  backoffMs: 5_000,
  maxBackoffMs: 5 * 60_000,
  dialTimeoutMs: 5_000
}

export function keepPeersConnected (node: Libp2p, options: Partial<PeerKeeperOptions> = {}): void {
  const opts = { ...PEER_KEEPER_DEFAULTS, ...options }
  const failures = new Map<string, { count: number, retryAt: number }>()
  const dialing = new Set<string>()
  let checking = false

  const check = async (): Promise<void> => {
    if (checking || node.status !== 'started') return
    checking = true
    try {
      const connected = new Set(node.getConnections().map(c => c.remotePeer.toString()))
      let missing = opts.target - connected.size - dialing.size
      if (missing <= 0) return
      const now = Date.now()
      const known = await node.peerStore.all({
        filters: [peer => peer.addresses.length > 0 && !peer.id.equals(node.peerId) && !connected.has(peer.id.toString())]
      })
      // Least-failed first, and otherwise in random order, so a fleet does not converge on one peer.
      const candidates = known.map(peer => peer.id).filter(id => (failures.get(id.toString())?.retryAt ?? 0) <= now && !dialing.has(id.toString()))
      shuffle(candidates)
      candidates.sort((a, b) => (failures.get(a.toString())?.count ?? 0) - (failures.get(b.toString())?.count ?? 0))
      for (const peer of candidates) {
        if (missing-- <= 0) break
        dial(peer)
      }
    } catch {
      // The peer store is closed while stopping; the next tick (if any) tries again.
    } finally {
      checking = false
    }
  }

  const dial = (peer: PeerId): void => {
    const key = peer.toString()
    dialing.add(key)
    node.dial(peer, { signal: AbortSignal.timeout(opts.dialTimeoutMs) }).then(() => {
      failures.delete(key)
    }, () => {
      const count = (failures.get(key)?.count ?? 0) + 1
      failures.set(key, { count, retryAt: Date.now() + Math.min(opts.maxBackoffMs, opts.backoffMs * 2 ** (count - 1)) })
    }).finally(() => { dialing.delete(key) })
  }

  const timer = setInterval(() => { void check() }, opts.intervalMs)
  timer.unref()
  const onDiscovery = (): void => { void check() }
  node.addEventListener('peer:discovery', onDiscovery)
  node.addEventListener('stop', () => {
    clearInterval(timer)
    node.removeEventListener('peer:discovery', onDiscovery)
  }, { once: true })
  void check()
}

function shuffle<T> (items: T[]): void {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1))
    ;[items[i], items[j]] = [items[j], items[i]]
  }
}
