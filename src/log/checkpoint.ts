/**
 * Checkpoints: a frame whose stateHash commits to the whole document tree after it, so a
 * late joiner can start from a snapshot instead of replaying the log from seq 1.
 * Snapshot bytes are the canonical JSON (UTF-8) of the tree.
 */
import { sha256 } from '@noble/hashes/sha2.js'
import type { Json } from '../json.ts'
import { bytesEqual } from './bytes.ts'
import { canonicalJsonBytes } from './canonical-json.ts'
import type { Frame } from './frame.ts'

/** sha256 of the canonical JSON of a document tree: the value a checkpoint's stateHash holds. */
export function stateHashOf (tree: Json): Uint8Array {
  return sha256(canonicalJsonBytes(tree))
}

/** The snapshot wire form of a tree (canonical JSON, UTF-8). */
export function snapshotBytesOf (tree: Json): Uint8Array {
  return canonicalJsonBytes(tree)
}

/**
 * True iff the checkpoint carries a stateHash and sha256(stateBytes) equals it.
 * The caller must already have verified the checkpoint frame's signature.
 */
export function verifySnapshot (stateBytes: Uint8Array, checkpoint: Frame): boolean {
  if (checkpoint.stateHash === undefined) return false
  return bytesEqual(sha256(stateBytes), checkpoint.stateHash)
}
