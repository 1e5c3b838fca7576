// The gossipsub router as deltacast configures it.

import { createHash } from 'node:crypto'
import { gossipsub } from '@libp2p/gossipsub'
import { isScoredPubSub } from './score.ts'
import type { BackbonePubSub } from './score.ts'
import type { GossipSubComponents, GossipsubOpts, Message } from '@libp2p/gossipsub'
import type { AddrInfo } from '@libp2p/gossipsub/types'

/**
 * Message id = sha256(message data). Messages carry no gossipsub signature, sender or seqno
 * (StrictNoSign), so the data is all there is; frames are unique by content (they chain by
 * prevHash), so equal data means the same frame arriving twice.
 */
export function messageId (message: Message): Uint8Array {
  const digest = createHash('sha256').update(message.data).digest()
  return new Uint8Array(digest.buffer, digest.byteOffset, digest.byteLength)
}

export interface BackboneGossipInit {
  /** Peers to keep connected and always forward to; must be configured on both sides. */
  directPeers?: AddrInfo[]
  /** Gossipsub's P5: an extra score per peer (the fleet guard's, see node/fleet/). Default 0. */
  appSpecificScore?: (peerId: string) => number
}

/**
 * Gossipsub options for the backbone:
 * - StrictNoSign: frames are signed by the authority itself; a per-hop gossipsub signature
 *   would add cost and prove nothing about the frame.
 * - allowPublishToZeroTopicPeers: the authority publishes whether or not anyone listens yet.
 * - emitSelf false: a node never receives its own publications.
 * - IP colocation penalty off: super-peers and tests share hosts (loopback, NAT).
 * - doPX: a PRUNE names other mesh peers (with their signed peer records), so a peer turned away
 *   from a full mesh (at Dhi = 12) finds others. Gossipsub prunes only full meshes, so small
 *   fleets rely on the discovery topic and the peer keeper instead (libp2p-node.ts).
 */
export function backboneGossipOptions (init: BackboneGossipInit = {}): Partial<GossipsubOpts> {
  return {
    globalSignaturePolicy: 'StrictNoSign',
    msgIdFn: messageId,
    allowPublishToZeroTopicPeers: true,
    emitSelf: false,
    doPX: true,
    directPeers: init.directPeers ?? [],
    scoreParams: {
      IPColocationFactorWeight: 0,
      ...(init.appSpecificScore === undefined ? {} : { appSpecificScore: init.appSpecificScore })
    }
  }
}

/** The gossipsub service factory, checked to expose the scoring internals (see score.ts). */
export function backboneGossip (init: BackboneGossipInit = {}): (components: GossipSubComponents) => BackbonePubSub {
  const factory = gossipsub(backboneGossipOptions(init))
  return (components) => {
    const pubsub = factory(components)
    if (!isScoredPubSub(pubsub)) {
      throw new TypeError('this @libp2p/gossipsub does not expose getScore() and score.params')
    }
    return pubsub
  }
}
