/**
 * Where a verified frame sits relative to the head of the chain a node holds.
 * Pure: compares numbers and hashes only; signatures are checked before this.
 */
import { bytesEqual } from './bytes.ts'
import { GENESIS_HASH } from './frame.ts'
import type { Frame } from './frame.ts'

export interface ChainHead {
  seq: number
  hash: Uint8Array
  epoch: number
}

/**
 * next       seq = head.seq + 1, prevHash = head.hash, epoch >= head.epoch: apply it.
 * duplicate  seq = head.seq and the same hash: already have it.
 * stale      seq < head.seq: older than the head (cannot tell more without history).
 * gap        seq > head.seq + 1: frames are missing; fetch them.
 * fork       seq = head.seq + 1 with another prevHash, or seq = head.seq with another hash:
 *            two different signed histories, the authority key is misbehaving or leaked.
 * bad-epoch  correctly chained but epoch < head.epoch: epochs must never go backwards.
 *            Kept apart from fork because the chain itself is intact; treat it like fork.
 */
export type ChainStep = 'next' | 'duplicate' | 'stale' | 'gap' | 'fork' | 'bad-epoch'

/** The head before any frame: seq 0, genesis hash, epoch 0. A fresh object each call. */
export function genesisHead (): ChainHead {
  return { seq: 0, hash: GENESIS_HASH.slice(), epoch: 0 }
}

export function headOf (frame: Frame): ChainHead {
  return { seq: frame.seq, hash: frame.hash, epoch: frame.epoch }
}

export function classifyNext (head: ChainHead, frame: Frame): ChainStep {
  if (frame.seq < head.seq) return 'stale'
  if (frame.seq === head.seq) return bytesEqual(frame.hash, head.hash) ? 'duplicate' : 'fork'
  if (frame.seq > head.seq + 1) return 'gap'
  if (!bytesEqual(frame.prevHash, head.hash)) return 'fork'
  if (frame.epoch < head.epoch) return 'bad-epoch'
  return 'next'
}
