import { generateKeyPair } from '@libp2p/crypto/keys'
import { gossipsub } from '@libp2p/gossipsub'
import { identify } from '@libp2p/identify'
import { noise } from '@libp2p/noise'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { createLibp2p } from 'libp2p'
import { backboneGossipOptions } from '../../node/net/gossip.ts'

/**
 * A misbehaving backbone peer: the same stack as a super-peer, except that its own duplicate
 * cache never matches (random message ids), so it can replay frames the network has already seen.
 */
export async function createRogueNode () {
  return await createLibp2p({
    privateKey: await generateKeyPair('Ed25519'),
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: {
      identify: identify(),
      pubsub: gossipsub({ ...backboneGossipOptions(), msgIdFn: () => crypto.getRandomValues(new Uint8Array(32)) })
    }
  })
}
