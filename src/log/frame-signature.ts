/**
 * Signing and verifying frames with the authority's ed25519 key.
 *
 * @libp2p/crypto signs and verifies synchronously in Node and asynchronously in browsers
 * (WebCrypto). So every operation has an async form that works everywhere and a *Sync form
 * that throws SyncCryptoUnavailableError when the key implementation returns a Promise.
 */
import { publicKeyFromRaw } from '@libp2p/crypto/keys'
import type { PrivateKey, PublicKey } from '@libp2p/interface'
import { sha256 } from '@noble/hashes/sha2.js'
import { asciiBytes, concatBytes } from './bytes.ts'
import { parseDocId } from './doc-id.ts'
import { SyncCryptoUnavailableError, UnsupportedKeyTypeError } from './errors.ts'
import { decodeFrame, encodeUnsignedFrame, FRAME_VERSION, SIGNATURE_BYTES } from './frame.ts'
import type { DecodeResult, Frame, FrameLimits, UnsignedFrame } from './frame.ts'

/** Domain separation: a frame signature can never be mistaken for a signature over anything else. */
export const SIGNING_CONTEXT = 'deltacast/frame/1'
const SIGNING_CONTEXT_BYTES = asciiBytes(SIGNING_CONTEXT)

/** What the signature covers: ASCII "deltacast/frame/1" || all frame bytes before the signature. */
export function frameSigningInput (bytesBeforeSignature: Uint8Array): Uint8Array {
  return concatBytes([SIGNING_CONTEXT_BYTES, bytesBeforeSignature])
}

/** Encodes and signs. Works with any ed25519 implementation. */
export async function signFrame (privateKey: PrivateKey, unsigned: UnsignedFrame): Promise<Frame> {
  const { body, signature } = startSigning(privateKey, unsigned)
  return assemble(unsigned, body, await signature)
}

/** Encodes and signs synchronously (Node). Throws SyncCryptoUnavailableError where signing is async. */
export function signFrameSync (privateKey: PrivateKey, unsigned: UnsignedFrame): Frame {
  const { body, signature } = startSigning(privateKey, unsigned)
  if (signature instanceof Promise) {
    signature.catch(() => {}) // the caller gets our error, not an unhandled rejection
    throw new SyncCryptoUnavailableError()
  }
  return assemble(unsigned, body, signature)
}

function startSigning (privateKey: PrivateKey, unsigned: UnsignedFrame): { body: Uint8Array, signature: Uint8Array | Promise<Uint8Array> } {
  if (privateKey.type !== 'Ed25519') throw new UnsupportedKeyTypeError(`frames are signed with Ed25519, not ${privateKey.type}`)
  const body = encodeUnsignedFrame(unsigned)
  return { body, signature: privateKey.sign(frameSigningInput(body)) }
}

function assemble (unsigned: UnsignedFrame, body: Uint8Array, signature: Uint8Array): Frame {
  const bytes = concatBytes([body, signature])
  const frame: Frame = {
    version: FRAME_VERSION,
    docId: unsigned.docId,
    epoch: unsigned.epoch,
    seq: unsigned.seq,
    time: unsigned.time,
    prevHash: unsigned.prevHash,
    changes: unsigned.changes,
    signature: bytes.subarray(bytes.length - SIGNATURE_BYTES),
    bytes,
    hash: sha256(bytes)
  }
  if (unsigned.stateHash !== undefined) frame.stateHash = unsigned.stateHash
  return frame
}

/** publicKey: a libp2p key object or the raw 32 bytes. */
export async function verifyFrameSignature (frame: Frame, publicKey: PublicKey | Uint8Array): Promise<boolean> {
  return await startVerifying(frame, publicKey)
}

/** Throws SyncCryptoUnavailableError where verifying is async. */
export function verifyFrameSignatureSync (frame: Frame, publicKey: PublicKey | Uint8Array): boolean {
  const result = startVerifying(frame, publicKey)
  if (result instanceof Promise) {
    result.catch(() => {})
    throw new SyncCryptoUnavailableError()
  }
  return result
}

function startVerifying (frame: Frame, publicKey: PublicKey | Uint8Array): boolean | Promise<boolean> {
  const key = publicKey instanceof Uint8Array ? publicKeyFromRaw(publicKey) : publicKey
  if (key.type !== 'Ed25519') throw new UnsupportedKeyTypeError(`frames are verified with Ed25519, not ${key.type}`)
  if (frame.signature.length !== SIGNATURE_BYTES) return false
  const signed = frame.bytes.subarray(0, frame.bytes.length - SIGNATURE_BYTES)
  return verifyOrFalse(key, frameSigningInput(signed), frame.signature)
}

/**
 * key.verify, where a throw is a signature that cannot verify: a doc id may carry 32 bytes that
 * are not a curve point, and some backends throw on those. Synchronous where the backend is.
 */
export function verifyOrFalse (key: PublicKey, message: Uint8Array, signature: Uint8Array): boolean | Promise<boolean> {
  try {
    const result = key.verify(message, signature)
    return result instanceof Promise ? result.catch(() => false) : result
  } catch {
    return false
  }
}

/**
 * Everything a receiver checks about one frame on its own, in order: decodeFrame's checks
 * (size first), frame.docId === docId, then the signature under the key inside the doc id.
 * Chain position is a separate step (classifyNext).
 */
export async function verifyFrame (bytes: Uint8Array, docId: string, limits: FrameLimits): Promise<DecodeResult> {
  const checked = checkBeforeSignature(bytes, docId, limits)
  if (!checked.ok) return checked
  const valid = await startVerifying(checked.frame, checked.publicKey)
  return valid ? { ok: true, frame: checked.frame } : badSignature()
}

/** Synchronous verifyFrame (Node). Throws SyncCryptoUnavailableError where verifying is async. */
export function verifyFrameSync (bytes: Uint8Array, docId: string, limits: FrameLimits): DecodeResult {
  const checked = checkBeforeSignature(bytes, docId, limits)
  if (!checked.ok) return checked
  const valid = verifyFrameSignatureSync(checked.frame, checked.publicKey)
  return valid ? { ok: true, frame: checked.frame } : badSignature()
}

type Checked = { ok: true, frame: Frame, publicKey: Uint8Array } | Extract<DecodeResult, { ok: false }>

function checkBeforeSignature (bytes: Uint8Array, docId: string, limits: FrameLimits): Checked {
  const decoded = decodeFrame(bytes, limits)
  if (!decoded.ok) return decoded
  if (decoded.frame.docId !== docId) {
    return { ok: false, error: { code: 'wrong-doc', message: `frame is for ${decoded.frame.docId}, expected ${docId}` } }
  }
  // decodeFrame already validated the doc id, so this parse cannot fail.
  const parsed = parseDocId(docId)
  if (!parsed.ok) throw new Error(`unreachable: decoded doc id invalid: ${parsed.error}`)
  return { ok: true, frame: decoded.frame, publicKey: parsed.value.publicKey }
}

function badSignature (): DecodeResult {
  return { ok: false, error: { code: 'bad-signature', message: 'signature does not verify under the doc id key' } }
}
