/**
 * The signed envelope shared by viewer tokens and fleet certificates:
 *
 *   base64url(payload) "." base64url(signature)
 *   signature = Ed25519Sign(key, ASCII context || payload bytes)
 *
 * base64url is RFC 4648 section 5 without padding; the payload is UTF-8 JSON. The context string
 * (e.g. "deltacast/token/1") keeps a signature for one kind of statement from ever being valid
 * for another, or for a frame, even when the same key signs both.
 */
import { publicKeyFromRaw } from '@libp2p/crypto/keys'
import { base32 } from 'multiformats/bases/base32'
import { base64url } from 'multiformats/bases/base64'
import type { PrivateKey } from '@libp2p/interface'
import { asciiBytes, concatBytes } from '../log/bytes.ts'
import { PUBLIC_KEY_BYTES } from '../log/doc-id.ts'
import { SyncCryptoUnavailableError, UnsupportedKeyTypeError } from '../log/errors.ts'
import { isJsonObject } from '../json.ts'
import type { JsonObject } from '../json.ts'

export const ENVELOPE_SEPARATOR = '.'
export const SIGNATURE_BYTES = 64
const BASE64URL_PATTERN = /^[A-Za-z0-9_-]+$/

export type Parsed<T> = { ok: true, value: T } | { ok: false, error: string }

export interface Envelope {
  payloadBytes: Uint8Array
  payload: JsonObject
  signature: Uint8Array
}

/** What the signature covers: ASCII context || payload bytes. */
export function signingInput (context: string, payloadBytes: Uint8Array): Uint8Array {
  return concatBytes([asciiBytes(context), payloadBytes])
}

export function encodeEnvelope (payloadBytes: Uint8Array, signature: Uint8Array): string {
  return base64url.baseEncode(payloadBytes) + ENVELOPE_SEPARATOR + base64url.baseEncode(signature)
}

/** Splits and decodes an envelope; checks shape only (no signature, no claims). */
export function decodeEnvelope (text: unknown, maxChars: number): Parsed<Envelope> {
  if (typeof text !== 'string') return { ok: false, error: 'not a string' }
  if (text.length > maxChars) return { ok: false, error: `longer than ${maxChars} characters` }
  const parts = text.split(ENVELOPE_SEPARATOR)
  if (parts.length !== 2) return { ok: false, error: 'expected two base64url parts separated by "."' }
  // The decoder would skip "=" padding; refusing it (and the decoder refusing non-zero trailing
  // bits) leaves one spelling per value.
  if (!parts.every(part => BASE64URL_PATTERN.test(part))) return { ok: false, error: 'not canonical base64url: only A-Z a-z 0-9 - _ without padding' }
  let payloadBytes: Uint8Array
  let signature: Uint8Array
  try {
    payloadBytes = base64url.baseDecode(parts[0])
    signature = base64url.baseDecode(parts[1])
  } catch (err) {
    return { ok: false, error: `not canonical base64url: ${(err as Error).message}` }
  }
  if (signature.length !== SIGNATURE_BYTES) return { ok: false, error: `signature is ${signature.length} bytes, expected ${SIGNATURE_BYTES}` }
  let payload: unknown
  try {
    payload = JSON.parse(new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(payloadBytes))
  } catch (err) {
    return { ok: false, error: `payload is not UTF-8 JSON: ${(err as Error).message}` }
  }
  if (!isJsonObject(payload)) return { ok: false, error: 'payload is not a JSON object' }
  return { ok: true, value: { payloadBytes, payload, signature } }
}

/** Starts an ed25519 signature; the result is a Promise where the implementation is async (browsers). */
export function startSigning (privateKey: PrivateKey, context: string, payloadBytes: Uint8Array): Uint8Array | Promise<Uint8Array> {
  if (privateKey.type !== 'Ed25519') throw new UnsupportedKeyTypeError(`deltacast signs with Ed25519, not ${privateKey.type}`)
  return privateKey.sign(signingInput(context, payloadBytes))
}

/** Settles a started signature synchronously, or throws SyncCryptoUnavailableError. */
export function settleSync<T> (result: T | Promise<T>): T {
  if (result instanceof Promise) {
    result.catch(() => {}) // the caller gets our error, not an unhandled rejection
    throw new SyncCryptoUnavailableError()
  }
  return result
}

/** Starts verifying; a key that is not a curve point verifies nothing (false), it is not a bug. */
export function startVerifying (publicKey: Uint8Array, context: string, envelope: Envelope): boolean | Promise<boolean> {
  try {
    const key = publicKeyFromRaw(publicKey)
    const result = key.verify(signingInput(context, envelope.payloadBytes), envelope.signature)
    return result instanceof Promise ? result.catch(() => false) : result
  } catch {
    return false
  }
}

/** base32 (RFC 4648, lowercase, no padding) of a raw 32-byte ed25519 public key: 52 characters, as in doc ids. */
export function encodePublicKey (raw: Uint8Array): string {
  if (raw.length !== PUBLIC_KEY_BYTES) throw new RangeError(`public key must be ${PUBLIC_KEY_BYTES} bytes, got ${raw.length}`)
  return base32.baseEncode(raw)
}

/** Parses the base32 spelling of a public key (e.g. from `"@policy": {"tokenKeys": [...]}` or --trust-operator). */
export function decodePublicKey (text: unknown): Parsed<Uint8Array> {
  if (typeof text !== 'string' || !/^[a-z2-7]{52}$/.test(text)) return { ok: false, error: 'a public key is 52 lowercase base32 characters' }
  try {
    const raw = base32.baseDecode(text)
    return raw.length === PUBLIC_KEY_BYTES ? { ok: true, value: raw } : { ok: false, error: 'public key is not 32 bytes' }
  } catch (err) {
    return { ok: false, error: `public key is not canonical base32: ${(err as Error).message}` }
  }
}

/** Unix seconds, the unit of "iat" and "exp" on the wire; APIs take and return milliseconds. */
export function toSeconds (ms: number): number {
  return Math.floor(ms / 1000)
}

/** True if the payload has exactly these keys (no more, no fewer). */
export function hasExactKeys (payload: JsonObject, keys: readonly string[]): boolean {
  const present = Object.keys(payload)
  return present.length === keys.length && keys.every(key => Object.hasOwn(payload, key))
}

/** Largest value "iat" and "exp" may take: a safe integer of seconds. */
export const MAX_SECONDS = 2 ** 53 - 1

export function isSeconds (value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0
}
