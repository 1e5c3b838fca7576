/**
 * Doc ids and topic names. A doc id names one document of one authority:
 * base32(raw 32-byte ed25519 public key) + "." + name. See docs/protocol.md.
 */
import { base32 } from 'multiformats/bases/base32'
import { InvalidDocIdInputError } from './errors.ts'

export const PUBLIC_KEY_BYTES = 32
/** base32 (RFC 4648, lowercase, no padding) of 32 bytes is ceil(256 / 5) = 52 characters. */
export const DOC_KEY_CHARS = 52
export const DOC_NAME_MAX_LENGTH = 64
export const DOC_NAME_PATTERN = /^[a-z0-9][a-z0-9_-]{0,63}$/
export const DOC_ID_SEPARATOR = '.'
export const DOC_ID_MAX_LENGTH = DOC_KEY_CHARS + 1 + DOC_NAME_MAX_LENGTH
export const DOC_ID_PATTERN = /^[a-z2-7]{52}\.[a-z0-9][a-z0-9_-]{0,63}$/
export const TOPIC_PREFIX = '/deltacast/1/doc/'
/** The document's head announcements travel on their own topic (docs/protocol.md). */
export const HEAD_TOPIC_PREFIX = '/deltacast/1/head/'

export type ParseResult<T> = { ok: true, value: T } | { ok: false, error: string }

export interface ParsedDocId {
  publicKey: Uint8Array
  name: string
}

export function isValidDocName (name: string): boolean {
  return DOC_NAME_PATTERN.test(name)
}

/** Throws InvalidDocIdInputError on a bad key or name: the caller owns both, so that is a bug. */
export function docIdFor (publicKey: Uint8Array, name: string): string {
  if (publicKey.length !== PUBLIC_KEY_BYTES) {
    throw new InvalidDocIdInputError(`public key must be ${PUBLIC_KEY_BYTES} raw bytes, got ${publicKey.length}`)
  }
  if (!isValidDocName(name)) {
    throw new InvalidDocIdInputError(`doc name ${JSON.stringify(name)} does not match ${String(DOC_NAME_PATTERN)}`)
  }
  return base32.baseEncode(publicKey) + DOC_ID_SEPARATOR + name
}

export function parseDocId (docId: string): ParseResult<ParsedDocId> {
  if (typeof docId !== 'string') return { ok: false, error: 'doc id is not a string' }
  if (docId.length > DOC_ID_MAX_LENGTH) return { ok: false, error: `doc id longer than ${DOC_ID_MAX_LENGTH} characters` }
  if (!DOC_ID_PATTERN.test(docId)) return { ok: false, error: 'doc id must be 52 base32 characters, ".", and a name' }
  let publicKey: Uint8Array
  try {
    // The decoder rejects non-zero trailing bits, so every key has exactly one spelling.
    publicKey = base32.baseDecode(docId.slice(0, DOC_KEY_CHARS))
  } catch (err) {
    return { ok: false, error: `doc id key is not canonical base32: ${(err as Error).message}` }
  }
  if (publicKey.length !== PUBLIC_KEY_BYTES) return { ok: false, error: 'doc id key is not 32 bytes' }
  return { ok: true, value: { publicKey, name: docId.slice(DOC_KEY_CHARS + 1) } }
}

export function topicFor (docId: string): string {
  return TOPIC_PREFIX + docId
}

export function headTopicFor (docId: string): string {
  return HEAD_TOPIC_PREFIX + docId
}

/** The doc id a topic belongs to, if the topic is a valid deltacast document or head topic. */
export function docIdOfTopic (topic: string): ParseResult<string> {
  const prefix = [TOPIC_PREFIX, HEAD_TOPIC_PREFIX].find(p => topic.startsWith(p))
  if (prefix === undefined) return { ok: false, error: `topic does not start with ${TOPIC_PREFIX} or ${HEAD_TOPIC_PREFIX}` }
  const docId = topic.slice(prefix.length)
  const parsed = parseDocId(docId)
  return parsed.ok ? { ok: true, value: docId } : parsed
}
