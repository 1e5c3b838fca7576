/**
 * Head announcements: the authority's signed "I am here, my head is (epoch, seq, hash)", sent on
 * the document's head topic at least every second. They let a super-peer tell a quiet document
 * from a silent authority, and notice at once that it missed the last frame. Layout:
 * docs/protocol.md, "Head announcements".
 */
import { publicKeyFromRaw } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { asciiBytes, concatBytes } from './bytes.ts'
import { parseDocId } from './doc-id.ts'
import { InvalidHeadAnnouncementError, SyncCryptoUnavailableError, UnsupportedKeyTypeError } from './errors.ts'
import { verifyOrFalse } from './frame-signature.ts'
import { HASH_BYTES, MAX_EPOCH, MAX_SEQ, MAX_TIME, MIN_EPOCH, SIGNATURE_BYTES, asciiString, isIntIn, readU53, writeU53 } from './frame.ts'

export const HEAD_VERSION = 1
/** Domain separation from frame signatures, which the same key makes. */
export const HEAD_SIGNING_CONTEXT = 'deltacast/head/1'
const HEAD_SIGNING_CONTEXT_BYTES = asciiBytes(HEAD_SIGNING_CONTEXT)
/** epoch u32, seq u64, time u64, head hash. */
const FIXED_AFTER_DOC_ID = 4 + 8 + 8 + HASH_BYTES

export interface HeadAnnouncement {
  docId: string
  /** The authority's current epoch (>= 1, also before its first frame in that epoch). */
  epoch: number
  /** Head seq: the newest durable, published frame; 0 before the first frame. */
  seq: number
  /** ms since the Unix epoch, authority clock; receivers take only a newer one than they hold. */
  time: number
  /** Frame hash of frame `seq`; 32 zero bytes for seq 0. */
  hash: Uint8Array
}

export type HeadErrorCode = 'malformed' | 'unsupported-version' | 'bad-doc-id' | 'wrong-doc' | 'bad-signature'
export type HeadDecodeResult = { ok: true, head: HeadAnnouncement } | { ok: false, code: HeadErrorCode, error: string }

/** The bytes the signature covers follow this context string. */
function unsignedBytes (head: HeadAnnouncement): Uint8Array {
  if (!parseDocId(head.docId).ok) throw new InvalidHeadAnnouncementError(`bad doc id "${head.docId}"`)
  if (!isIntIn(head.epoch, MIN_EPOCH, MAX_EPOCH) || !isIntIn(head.seq, 0, MAX_SEQ) || !isIntIn(head.time, 0, MAX_TIME) || head.hash.length !== HASH_BYTES) {
    throw new InvalidHeadAnnouncementError('head announcement epoch, seq, time or hash out of range')
  }
  const docId = asciiBytes(head.docId)
  const out = new Uint8Array(3 + docId.length + FIXED_AFTER_DOC_ID)
  const view = new DataView(out.buffer)
  out[0] = HEAD_VERSION
  view.setUint16(1, docId.length)
  out.set(docId, 3)
  const d = 3 + docId.length
  view.setUint32(d, head.epoch)
  writeU53(view, d + 4, head.seq)
  writeU53(view, d + 12, head.time)
  out.set(head.hash, d + 20)
  return out
}

/** Encodes and signs synchronously (Node); throws SyncCryptoUnavailableError where signing is async. */
export function signHeadSync (privateKey: PrivateKey, head: HeadAnnouncement): Uint8Array {
  if (privateKey.type !== 'Ed25519') throw new UnsupportedKeyTypeError(`head announcements are signed with Ed25519, not ${privateKey.type}`)
  const body = unsignedBytes(head)
  const signature = privateKey.sign(concatBytes([HEAD_SIGNING_CONTEXT_BYTES, body]))
  if (signature instanceof Promise) {
    signature.catch(() => {})
    throw new SyncCryptoUnavailableError()
  }
  return concatBytes([body, signature])
}

/** Decodes and checks the structure only (no signature). */
export function decodeHead (bytes: Uint8Array): HeadDecodeResult {
  if (bytes.length < 3) return fail('malformed', `head announcement of ${bytes.length} bytes is too short`)
  if (bytes[0] !== HEAD_VERSION) return fail('unsupported-version', `head announcement version ${bytes[0]} is not ${HEAD_VERSION}`)
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const docIdLength = view.getUint16(1)
  const d = 3 + docIdLength
  if (bytes.length !== d + FIXED_AFTER_DOC_ID + SIGNATURE_BYTES) {
    return fail('malformed', `head announcement is ${bytes.length} bytes; a doc id of ${docIdLength} bytes makes it ${d + FIXED_AFTER_DOC_ID + SIGNATURE_BYTES}`)
  }
  const docId = asciiString(bytes.subarray(3, d))
  if (docId === undefined || !parseDocId(docId).ok) return fail('bad-doc-id', 'head announcement doc id is not a valid doc id')
  const epoch = view.getUint32(d)
  const seq = readU53(view, d + 4)
  const time = readU53(view, d + 12)
  if (epoch < MIN_EPOCH || seq === undefined || time === undefined) return fail('malformed', 'head announcement epoch, seq or time out of range')
  return { ok: true, head: { docId, epoch, seq, time, hash: bytes.slice(d + 20, d + 20 + HASH_BYTES) } }
}

/**
 * Everything a receiver checks on its own: structure, doc id == `docId`, then the signature
 * under the key inside the doc id. Synchronous (Node); throws SyncCryptoUnavailableError elsewhere.
 */
export function verifyHeadSync (bytes: Uint8Array, docId: string): HeadDecodeResult {
  const decoded = decodeHead(bytes)
  if (!decoded.ok) return decoded
  if (decoded.head.docId !== docId) return fail('wrong-doc', `head announcement is for ${decoded.head.docId}, not ${docId}`)
  const parsed = parseDocId(docId)
  if (!parsed.ok) return fail('bad-doc-id', parsed.error)
  const signed = bytes.subarray(0, bytes.length - SIGNATURE_BYTES)
  const valid = verifyOrFalse(publicKeyFromRaw(parsed.value.publicKey), concatBytes([HEAD_SIGNING_CONTEXT_BYTES, signed]), bytes.subarray(bytes.length - SIGNATURE_BYTES))
  if (valid instanceof Promise) {
    valid.catch(() => {})
    throw new SyncCryptoUnavailableError()
  }
  return valid ? decoded : fail('bad-signature', 'head announcement signature does not verify under the doc id\'s key')
}

function fail (code: HeadErrorCode, error: string): HeadDecodeResult {
  return { ok: false, code, error }
}
