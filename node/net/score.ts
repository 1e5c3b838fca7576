// Gossipsub peer scoring for document topics.
//
// Gossipsub only scores topics that have entries in `scoreParams.topics`; for any other topic a
// Rejected message changes nothing (P4, invalidMessageDeliveries, is counted per scored topic).
// Document topics are created at runtime, so they are registered here as they appear.

import { createTopicScoreParams, validateTopicScoreParams } from '@libp2p/gossipsub/score'
import type { GossipSub } from '@libp2p/gossipsub'
import type { PeerScoreParams, TopicScoreParams } from '@libp2p/gossipsub/score'
import type { PeerId } from '@libp2p/interface'

/**
 * The parts of the gossipsub 17 implementation that its exported `GossipSub` interface leaves out
 * but scoring needs. `score.params` is the same object the router scores with (gossipsub.js passes
 * `opts.scoreParams` to `new PeerScore`), so adding a topic there takes effect immediately.
 */
export interface ScoredPubSub {
  getScore(peerId: string): number
  readonly score: { readonly params: PeerScoreParams }
}

export type BackbonePubSub = GossipSub & ScoredPubSub

/** True if the gossipsub instance exposes the scoring internals this module relies on. */
export function isScoredPubSub (pubsub: GossipSub): pubsub is BackbonePubSub {
  const candidate = pubsub as Partial<ScoredPubSub>
  return typeof candidate.getScore === 'function' &&
    typeof candidate.score?.params?.topics === 'object'
}

/**
 * P4 weight: the penalty is (invalid message count, decaying)² × this × topicWeight 1, so 1, 2, 3
 * invalid messages cost 20, 80, 180 points. A peer's positive topic score here is at most 15
 * (P1 10 + P2 5), so with the default thresholds (gossip -10, publish -50, graylist -80) one
 * Rejected message puts any peer below 0, two put it below the publish threshold, three graylist it.
 */
export const INVALID_MESSAGE_WEIGHT = -20

/** Per-second decay of the invalid-message counter: one invalid message is forgotten after ~4 minutes. */
export const INVALID_MESSAGE_DECAY = 0.99

/**
 * Score parameters for a document topic. Frames are rare and bursty, so the mesh-delivery
 * penalties (P3, P3b), which punish peers for forwarding fewer than a threshold of messages per
 * window, are off: they would push honest peers negative on a quiet document. What remains:
 * a small reward for time in the mesh (P1) and first deliveries (P2), and a heavy, slowly
 * decaying penalty for invalid messages (P4).
 */
export function documentTopicScoreParams (overrides: Partial<TopicScoreParams> = {}): TopicScoreParams {
  const params = createTopicScoreParams({
    topicWeight: 1,
    // P1: meshTime is in ms; +1 per minute in the mesh, capped at +10
    timeInMeshWeight: 1,
    timeInMeshQuantum: 60_000,
    timeInMeshCap: 10,
    // P2: +0.1 per first delivery, capped at +5
    firstMessageDeliveriesWeight: 0.1,
    firstMessageDeliveriesDecay: 0.9,
    firstMessageDeliveriesCap: 50,
    // P3 / P3b off: see above
    meshMessageDeliveriesWeight: 0,
    meshFailurePenaltyWeight: 0,
    // P4
    invalidMessageDeliveriesWeight: INVALID_MESSAGE_WEIGHT,
    invalidMessageDeliveriesDecay: INVALID_MESSAGE_DECAY,
    ...overrides
  })
  validateTopicScoreParams(params)
  return params
}

/**
 * Starts scoring `topic` on this node, so that peers whose messages on it are Rejected by a topic
 * validator lose score. Replaces any parameters the topic had. Counters already kept for the
 * topic are kept.
 */
export function scoreTopic (pubsub: BackbonePubSub, topic: string, params: TopicScoreParams = documentTopicScoreParams()): void {
  validateTopicScoreParams(params)
  pubsub.score.params.topics[topic] = params
}

/** Stops scoring `topic` (e.g. when the node leaves a document). */
export function unscoreTopic (pubsub: BackbonePubSub, topic: string): void {
  delete pubsub.score.params.topics[topic]
}

/**
 * The peer's current gossipsub score. Scores are cached for one heartbeat (1 s by default), so
 * a penalty can take up to that long to show.
 */
export function peerScore (pubsub: BackbonePubSub, peerId: PeerId): number {
  return pubsub.getScore(peerId.toString())
}
