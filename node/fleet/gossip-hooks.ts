/**
 * The gossipsub 17 internals the fleet guard needs and its exported interface leaves out.
 * Checked at start (isFleetHookable) so an upgrade that changes them fails loudly, not open.
 */
import type { GossipSub } from '@libp2p/gossipsub'

export interface FleetHookablePubSub {
  /** Scores are cached for one heartbeat; a peer's entry is dropped when its standing changes. */
  readonly score: { readonly scoreCache: Map<string, unknown> }
  /** Sends our subscriptions to one peer (gossipsub does this itself only when a stream opens). */
  sendSubscriptions (toPeer: string, topics: string[], subscribe: boolean): void
  getMeshPeers (topic: string): string[]
}

export function isFleetHookable (pubsub: GossipSub): pubsub is GossipSub & FleetHookablePubSub {
  const candidate = pubsub as unknown as Partial<FleetHookablePubSub>
  return candidate.score?.scoreCache instanceof Map && typeof candidate.sendSubscriptions === 'function' &&
    typeof candidate.getMeshPeers === 'function'
}

/** Forget a peer's cached score, so the next check sees its new standing at once. */
export function rescore (pubsub: FleetHookablePubSub, peerId: string): void {
  pubsub.score.scoreCache.delete(peerId)
}
