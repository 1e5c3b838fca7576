/**
 * What a gossipsub validator answers for each outcome of frame checks, in one table so the
 * super-peer, the browser and docs/protocol.md agree. Kept free of libp2p types: the caller
 * maps these three words onto TopicValidatorResult.
 */
import type { ChainStep } from './chain.ts'
import type { FrameErrorCode } from './frame.ts'

export type GossipVerdict = 'accept' | 'reject' | 'ignore'

export type FrameOutcome = FrameErrorCode | ChainStep

const VERDICTS: Record<FrameOutcome, GossipVerdict> = {
  // Anything only a faulty or malicious sender could produce: penalise the peer.
  'too-large': 'reject',
  'unsupported-version': 'reject',
  malformed: 'reject',
  'bad-doc-id': 'reject',
  'bad-body': 'reject',
  'wrong-doc': 'reject',
  'bad-signature': 'reject',
  fork: 'reject',
  'bad-epoch': 'reject',
  // Honest peers send these all the time (gossip races): drop without penalty.
  duplicate: 'ignore',
  stale: 'ignore',
  // Valid but ahead of us: do not forward yet; the receiver fetches the missing frames.
  gap: 'ignore',
  next: 'accept'
}

export function verdictFor (outcome: FrameOutcome): GossipVerdict {
  return VERDICTS[outcome]
}
