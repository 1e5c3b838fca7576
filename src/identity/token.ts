/**
 * Viewer tokens: a key the document trusts says who a viewer is, for which document, with which
 * roles, until when. Format (docs/fleet.md):
 *
 *   base64url(payload) "." base64url(Ed25519Sign(key, ASCII "deltacast/token/1" || payload))
 *   payload = UTF-8 JSON {"doc","sub","roles","exp","iat","kid"}
 *
 * Trusted keys: the authority's doc key (inside the doc id) always; plus the keys the document
 * names in its log (`"@policy": {"tokenKeys": [...]}`), which the caller passes in. Anonymous
 * observers carry no token. Sizes are bounded so a token costs little to reject.
 */
import type { PrivateKey } from '@libp2p/interface'
import { bytesEqual } from '../log/bytes.ts'
import { parseDocId } from '../log/doc-id.ts'
import { InvalidClaimsError } from './errors.ts'
import {
  decodeEnvelope, decodePublicKey, encodeEnvelope, encodePublicKey, hasExactKeys, isSeconds, settleSync, startSigning,
  startVerifying, toSeconds
} from './envelope.ts'
import type { Envelope } from './envelope.ts'
import { checkValidity, DEFAULT_CLOCK_SKEW_MS } from './validity.ts'

export const TOKEN_CONTEXT = 'deltacast/token/1'
export const MAX_TOKEN_CHARS = 4096
export const MAX_ROLES = 32
export const MAX_PRINCIPAL_CHARS = 256
/** A role: 1-64 of letters, digits, "_", "-", ".", ":", starting with a letter or digit. */
export const ROLE_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/
/** Payload keys, in the order signToken writes them. */
export const TOKEN_KEYS = ['doc', 'sub', 'roles', 'exp', 'iat', 'kid'] as const

export interface TokenClaims {
  docId: string
  principal: string
  roles: string[]
  /** Expiry, ms since the Unix epoch (written as whole seconds). */
  expires: number
}

export interface Viewer {
  principal: string
  roles: string[]
  /** Expiry, ms since the Unix epoch. */
  expires: number
  /** The key that signed the token (base32, its only spelling), e.g. to re-check trust later. */
  kid: string
}

export type TokenErrorCode = 'malformed' | 'bad-signature' | 'untrusted-key' | 'wrong-doc' | 'expired' | 'not-yet-valid'

export type TokenResult = { ok: true, viewer: Viewer } | { ok: false, code: TokenErrorCode, error: string }

export interface VerifyTokenOptions {
  /** The document the viewer wants; the token must name it. Its key is always trusted. */
  docId: string
  /** Further trusted keys (raw 32 bytes), e.g. the document's `@policy.tokenKeys`. */
  trustedKeys: Uint8Array[]
  /** ms since the Unix epoch. */
  now: number
  clockSkewMs?: number
}

interface TokenPayload { doc: string, sub: string, roles: string[], exp: number, iat: number, kid: string }

/** Signs a token (works with any ed25519 implementation). now: ms since the Unix epoch. */
export async function signToken (privateKey: PrivateKey, claims: TokenClaims, now: number): Promise<string> {
  const payloadBytes = tokenPayloadBytes(privateKey, claims, now)
  return encodeEnvelope(payloadBytes, await startSigning(privateKey, TOKEN_CONTEXT, payloadBytes))
}

/** Synchronous signToken (Node). Throws SyncCryptoUnavailableError where signing is async. */
export function signTokenSync (privateKey: PrivateKey, claims: TokenClaims, now: number): string {
  const payloadBytes = tokenPayloadBytes(privateKey, claims, now)
  return encodeEnvelope(payloadBytes, settleSync(startSigning(privateKey, TOKEN_CONTEXT, payloadBytes)))
}

function tokenPayloadBytes (privateKey: PrivateKey, claims: TokenClaims, now: number): Uint8Array {
  const payload: TokenPayload = {
    doc: claims.docId,
    sub: claims.principal,
    roles: claims.roles,
    exp: toSeconds(claims.expires),
    iat: toSeconds(now),
    kid: encodePublicKey(privateKey.publicKey.raw)
  }
  const problem = payloadProblem(payload)
  if (problem !== undefined) throw new InvalidClaimsError(`cannot sign token: ${problem}`)
  return new TextEncoder().encode(JSON.stringify(payload))
}

export async function verifyTokenAsync (token: unknown, options: VerifyTokenOptions): Promise<TokenResult> {
  const checked = checkBeforeSignature(token, options)
  if (!checked.ok) return checked
  const valid = await startVerifying(checked.key, TOKEN_CONTEXT, checked.envelope)
  return valid ? checkAfterSignature(checked.payload, options) : badSignature()
}

/** Verifies synchronously (Node); throws SyncCryptoUnavailableError where verifying is async: use verifyTokenAsync. */
export function verifyToken (token: unknown, options: VerifyTokenOptions): TokenResult {
  const checked = checkBeforeSignature(token, options)
  if (!checked.ok) return checked
  const valid = settleSync(startVerifying(checked.key, TOKEN_CONTEXT, checked.envelope))
  return valid ? checkAfterSignature(checked.payload, options) : badSignature()
}

type Checked = { ok: true, envelope: Envelope, payload: TokenPayload, key: Uint8Array } | { ok: false, code: TokenErrorCode, error: string }

function checkBeforeSignature (token: unknown, options: VerifyTokenOptions): Checked {
  const decoded = decodeEnvelope(token, MAX_TOKEN_CHARS)
  if (!decoded.ok) return malformed(decoded.error)
  const payload = decoded.value.payload
  if (!hasExactKeys(payload, TOKEN_KEYS)) return malformed(`payload must have exactly the keys ${TOKEN_KEYS.join(', ')}`)
  const problem = payloadProblem(payload)
  if (problem !== undefined) return malformed(problem)
  const claims = payload as unknown as TokenPayload
  const key = decodePublicKey(claims.kid)
  if (!key.ok) return malformed(`kid: ${key.error}`)
  const target = parseDocId(options.docId)
  if (!target.ok) throw new RangeError(`verifyToken: bad docId option: ${target.error}`)
  const trusted = [target.value.publicKey, ...options.trustedKeys]
  if (!trusted.some(candidate => bytesEqual(candidate, key.value))) {
    return { ok: false, code: 'untrusted-key', error: `token signed by ${claims.kid}, which ${options.docId} does not trust` }
  }
  return { ok: true, envelope: decoded.value, payload: claims, key: key.value }
}

function checkAfterSignature (payload: TokenPayload, options: VerifyTokenOptions): TokenResult {
  if (payload.doc !== options.docId) return { ok: false, code: 'wrong-doc', error: `token is for ${payload.doc}, not ${options.docId}` }
  const invalid = checkValidity(payload.iat, payload.exp, options.now, options.clockSkewMs ?? DEFAULT_CLOCK_SKEW_MS)
  if (invalid !== undefined) return { ok: false, code: invalid.code, error: `token ${invalid.error}` }
  return { ok: true, viewer: { principal: payload.sub, roles: payload.roles, expires: payload.exp * 1000, kid: payload.kid } }
}

/** What is wrong with a payload's values, if anything (shared by signing and verifying). */
function payloadProblem (payload: object): string | undefined {
  const { doc, sub, roles, exp, iat, kid } = payload as Record<string, unknown>
  if (typeof doc !== 'string' || !parseDocId(doc).ok) return 'doc is not a valid doc id'
  if (typeof sub !== 'string' || sub.length === 0 || sub.length > MAX_PRINCIPAL_CHARS) return `sub must be a string of 1-${MAX_PRINCIPAL_CHARS} characters`
  if (!Array.isArray(roles) || roles.length > MAX_ROLES) return `roles must be an array of at most ${MAX_ROLES} roles`
  for (const role of roles) {
    if (typeof role !== 'string' || !ROLE_PATTERN.test(role)) return `role ${JSON.stringify(role)} does not match ${String(ROLE_PATTERN)}`
  }
  if (new Set(roles).size !== roles.length) return 'roles must not repeat'
  if (!isSeconds(iat) || !isSeconds(exp)) return 'iat and exp must be whole seconds since the Unix epoch'
  if (exp <= iat) return 'exp must be after iat'
  if (typeof kid !== 'string') return 'kid must be a string'
  return undefined
}

function malformed (error: string): { ok: false, code: 'malformed', error: string } {
  return { ok: false, code: 'malformed', error: `malformed token: ${error}` }
}

function badSignature (): { ok: false, code: 'bad-signature', error: string } {
  return { ok: false, code: 'bad-signature', error: 'token signature does not verify under its kid' }
}
