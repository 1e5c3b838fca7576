import { publicKeyToProtobuf } from '@libp2p/crypto/keys'
import { encodeVarint } from '../../src/observe/varint.ts'
import { concatBytes } from '../../src/log/bytes.ts'
import { PEER_DISCOVERY_INTERVAL_MS, PEER_DISCOVERY_TOPIC } from './libp2p-node.ts'
import type { BackboneNode } from './libp2p-node.ts'
import type { PeerId } from '@libp2p/interface'

/**
 * An authority introduces the super-peers connected to it to each other. Each backbone node
 * announces itself on the discovery topic, but with fleet certificates enforced nothing is
 * forwarded to an authority (its score sits below gossipsub's publish threshold), so super-peers
 * that know only the authority would never hear of each other and would stay in a star around
 * it. Every interval the authority publishes, on the same topic, the record each of its
 * member peers would publish for itself; pubsub peer discovery on the receivers takes it like
 * any other, and their peer keepers dial.
 */
export const INTRODUCTIONS_PER_ROUND = 16

/** @libp2p/pubsub-peer-discovery's `Peer` message: `bytes publicKey = 1; repeated bytes addrs = 2`. */
export function encodePeerRecord (peer: PeerId, addrs: Uint8Array[]): Uint8Array {
  if (peer.publicKey === undefined) throw new TypeError(`peer ${peer.toString()} carries no public key`)
  const field = (tag: number, bytes: Uint8Array): Uint8Array => concatBytes([Uint8Array.of(tag), encodeVarint(bytes.length), bytes])
  return concatBytes([field(0x0a, publicKeyToProtobuf(peer.publicKey)), ...addrs.map(addr => field(0x12, addr))])
}

export function introducePeers (node: BackboneNode, isMember: (peerId: string) => boolean, intervalMs = PEER_DISCOVERY_INTERVAL_MS): () => void {
  const round = async (): Promise<void> => {
    const members = new Map(node.getConnections().map(c => [c.remotePeer.toString(), c.remotePeer]))
    for (const id of members.keys()) if (!isMember(id)) members.delete(id)
    if (members.size < 2) return
    const chosen = [...members.values()].sort(() => Math.random() - 0.5).slice(0, INTRODUCTIONS_PER_ROUND)
    for (const id of chosen) {
      const peer = await node.peerStore.get(id).catch(() => undefined)
      if (peer === undefined || peer.addresses.length === 0) continue
      // An unchanged record repeats within gossipsub's seen-cache time: refused as a duplicate, which is fine.
      await node.services.pubsub.publish(PEER_DISCOVERY_TOPIC, encodePeerRecord(peer.id, peer.addresses.map(a => a.multiaddr.bytes))).catch(() => {})
    }
  }
  const timer = setInterval(() => { void round().catch(() => {}) }, intervalMs)
  timer.unref()
  return () => { clearInterval(timer) }
}
