/**
 * Class messages a browser can verify however they reached it (docs/protocol.md, "Swarm
 * verification bytes").
 *
 * A sealed message is an observe-protocol frame or reset message P (UTF-8 JSON, an object) with
 * one field appended before its closing brace:
 *
 *   sealed = P without its last byte "}"  ||  ,"sig":"<86 chars base64url>"}
 *   sig    = Ed25519Sign(edge key, ASCII "deltacast/swarm/1" || u16 len(docId) || docId
 *                                  || u16 len(classId) || classId || sha256(P))
 *
 * Receivers that know nothing of swarms parse `sealed` as the same message with one unknown field.
 * A swarm member strips the fixed-length suffix to get P back byte for byte, so no canonical
 * encoding is needed and a relay forwards exactly the bytes it was given.
 */
import { publicKeyFromRaw } from '@libp2p/crypto/keys'
import { sha256 } from '@noble/hashes/sha2.js'
import { base64url } from 'multiformats/bases/base64'
import { asciiBytes, concatBytes } from '../log/bytes.ts'
import { verifyOrFalse } from '../log/frame-signature.ts'
import type { PrivateKey, PublicKey } from '@libp2p/interface'

export const SWARM_SIGNING_CONTEXT = 'deltacast/swarm/1'
const CONTEXT_BYTES = asciiBytes(SWARM_SIGNING_CONTEXT)
export const SWARM_SIGNATURE_BYTES = 64
/** base64url without padding of 64 bytes. */
const SIG_CHARS = 86
const SIG_PREFIX = asciiBytes(',"sig":"')
const SIG_END = asciiBytes('"}')
/** Bytes the seal adds to a message, minus the "}" it replaces. */
export const SEAL_SUFFIX_BYTES = SIG_PREFIX.length + SIG_CHARS + SIG_END.length
const CLOSE_BRACE = 0x7d
const encoder = new TextEncoder()

/** Largest doc id or class id the signed bytes can hold (a u16 length). */
const MAX_ID_BYTES = 0xffff

/** The bytes the edge key signs for message P of class `classId` of document `docId`. */
export function swarmSigningInput (docId: string, classId: string, payload: Uint8Array): Uint8Array {
  return concatBytes([CONTEXT_BYTES, lengthPrefixed(docId), lengthPrefixed(classId), sha256(payload)])
}

function lengthPrefixed (id: string): Uint8Array {
  const bytes = encoder.encode(id)
  if (bytes.length > MAX_ID_BYTES) throw new RangeError(`id longer than ${MAX_ID_BYTES} bytes`)
  return concatBytes([Uint8Array.of(bytes.length >> 8, bytes.length & 0xff), bytes])
}

/** Appends the signature field to P (which must be a JSON object's bytes, ending in "}"). */
export function seal (payload: Uint8Array, signature: Uint8Array): Uint8Array {
  if (payload.length < 2 || payload[payload.length - 1] !== CLOSE_BRACE) throw new RangeError('payload is not a JSON object')
  if (signature.length !== SWARM_SIGNATURE_BYTES) throw new RangeError(`signature must be ${SWARM_SIGNATURE_BYTES} bytes`)
  const sig = asciiBytes(base64url.baseEncode(signature))
  return concatBytes([payload.subarray(0, payload.length - 1), SIG_PREFIX, sig, SIG_END])
}

export type Unsealed = { ok: true, payload: Uint8Array, signature: Uint8Array } | { ok: false, error: string }

/** Splits a sealed message into P and its signature; checks shape only. */
export function unseal (sealed: Uint8Array): Unsealed {
  const start = sealed.length - SEAL_SUFFIX_BYTES
  if (start < 1) return { ok: false, error: 'too short to carry a signature' }
  if (!startsWith(sealed, SIG_PREFIX, start) || !startsWith(sealed, SIG_END, sealed.length - SIG_END.length)) {
    return { ok: false, error: 'no "sig" field at the end of the message' }
  }
  let signature: Uint8Array
  try {
    signature = base64url.baseDecode(String.fromCharCode(...sealed.subarray(start + SIG_PREFIX.length, start + SIG_PREFIX.length + SIG_CHARS)))
  } catch {
    return { ok: false, error: '"sig" is not base64url' }
  }
  if (signature.length !== SWARM_SIGNATURE_BYTES) return { ok: false, error: '"sig" is not 64 bytes' }
  const payload = new Uint8Array(start + 1)
  payload.set(sealed.subarray(0, start), 0)
  payload[start] = CLOSE_BRACE
  return { ok: true, payload, signature }
}

function startsWith (bytes: Uint8Array, part: Uint8Array, at: number): boolean {
  for (let i = 0; i < part.length; i++) if (bytes[at + i] !== part[i]) return false
  return true
}

/**
 * Signs and seals P. Synchronous where the key signs synchronously (Node); a Promise where it
 * does not (WebCrypto), so the super-peer's hot path pays no microtask.
 */
export function signClassMessage (key: PrivateKey, docId: string, classId: string, payload: Uint8Array): Uint8Array | Promise<Uint8Array> {
  const signature = key.sign(swarmSigningInput(docId, classId, payload))
  return signature instanceof Promise ? signature.then(sig => seal(payload, sig)) : seal(payload, signature)
}

export type Verified = { ok: true, payload: Uint8Array } | { ok: false, error: string }

/**
 * Checks a sealed message against the super-peer's edge key (a libp2p key or its raw 32 bytes)
 * for this document and class. On success returns P, the message without its signature.
 */
export async function verifyClassMessage (key: PublicKey | Uint8Array, docId: string, classId: string, sealed: Uint8Array): Promise<Verified> {
  const unsealed = unseal(sealed)
  if (!unsealed.ok) return unsealed
  const publicKey = key instanceof Uint8Array ? publicKeyFromRaw(key) : key
  const valid = await verifyOrFalse(publicKey, swarmSigningInput(docId, classId, unsealed.payload), unsealed.signature)
  return valid ? { ok: true, payload: unsealed.payload } : { ok: false, error: 'signature does not verify under the super-peer\'s edge key' }
}
