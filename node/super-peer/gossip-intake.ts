import { TopicValidatorResult } from '@libp2p/gossipsub'
import { scoreTopic } from '../net/score.ts'
import type { FrameOutcome, HeadOutcome } from './doc-carrier.ts'
import type { BackboneNode } from '../net/libp2p-node.ts'
import type { Message } from '@libp2p/gossipsub'
import type { PeerId } from '@libp2p/interface'

/**
 * Where a frame arrives on the flat mesh: the gossipsub validators of one document's frame and
 * head topics. Each hands the bytes to the carrier (which verifies and applies them) and turns
 * the outcome into gossipsub's verdict: Accept forwards the message, Ignore drops it, Reject
 * drops it and lowers the sender's score.
 */
export interface GossipReceiver {
  readonly topic: string
  readonly headTopic: string
  receive (bytes: Uint8Array, from: PeerId): FrameOutcome
  receiveHead (bytes: Uint8Array, from: PeerId): HeadOutcome
}

/** The verdict for each outcome of a frame (docs/protocol.md, "Receiver validation"). */
const FRAME_VERDICT: Record<FrameOutcome, TopicValidatorResult> = {
  applied: TopicValidatorResult.Accept,
  duplicate: TopicValidatorResult.Ignore,
  stale: TopicValidatorResult.Ignore,
  gap: TopicValidatorResult.Ignore,
  diverged: TopicValidatorResult.Ignore,
  fork: TopicValidatorResult.Reject,
  invalid: TopicValidatorResult.Reject,
  rejected: TopicValidatorResult.Reject
}

const HEAD_VERDICT: Record<HeadOutcome, TopicValidatorResult> = {
  accepted: TopicValidatorResult.Accept,
  old: TopicValidatorResult.Ignore,
  rejected: TopicValidatorResult.Reject
}

export class GossipIntake {
  private readonly node: BackboneNode
  private readonly receiver: GossipReceiver
  /** Fleet admission for topic publishers (FleetGuard.mayPublish); everyone when absent. */
  private readonly mayPublish: ((peerId: string, topic: string) => boolean) | undefined

  constructor (node: BackboneNode, receiver: GossipReceiver, mayPublish?: (peerId: string, topic: string) => boolean) {
    this.node = node
    this.receiver = receiver
    this.mayPublish = mayPublish
  }

  /** True while frames come from the document's gossipsub topic. */
  get joined (): boolean {
    return this.node.services.pubsub.topicValidators.get(this.receiver.topic) !== undefined
  }

  join (): void {
    if (this.joined) return
    const { topic, headTopic } = this.receiver
    this.subscribe(topic, (peer, message) => FRAME_VERDICT[this.receiver.receive(message.data, peer)])
    this.subscribe(headTopic, (peer, message) => HEAD_VERDICT[this.receiver.receiveHead(message.data, peer)])
  }

  leave (): void {
    if (!this.joined) return
    const pubsub = this.node.services.pubsub
    for (const topic of [this.receiver.topic, this.receiver.headTopic]) {
      pubsub.topicValidators.delete(topic)
      pubsub.unsubscribe(topic)
    }
  }

  private subscribe (topic: string, verdict: (peer: PeerId, message: Message) => TopicValidatorResult): void {
    const pubsub = this.node.services.pubsub
    scoreTopic(pubsub, topic)
    // Fleet first: a peer the fleet does not admit is Rejected before its bytes are even parsed.
    pubsub.topicValidators.set(topic, (peer, message) =>
      this.mayPublish !== undefined && !this.mayPublish(peer.toString(), topic) ? TopicValidatorResult.Reject : verdict(peer, message))
    pubsub.subscribe(topic)
  }
}
