/**
 * Fleet certificates: an operator key says "this libp2p peer id is a super-peer of my fleet, in
 * this region, until then". Format (docs/fleet.md):
 *
 *   base64url(payload) "." base64url(Ed25519Sign(key, ASCII "deltacast/fleet-cert/1" || payload))
 *   payload = UTF-8 JSON {"peer","region","exp","iat","op"}
 *
 * An authority may also certify its own node with its doc key (op = the key inside its doc ids).
 * A verifier passes such keys as `docKeys`; a certificate under one of them has scope 'document':
 * its holder is the source of those documents, not a member of the fleet (see node/fleet/).
 */
import type { PrivateKey } from '@libp2p/interface'
import { bytesEqual } from '../log/bytes.ts'
import { InvalidClaimsError } from './errors.ts'
import {
  decodeEnvelope, decodePublicKey, encodeEnvelope, encodePublicKey, hasExactKeys, isSeconds, settleSync, startSigning,
  startVerifying, toSeconds
} from './envelope.ts'
import type { Envelope } from './envelope.ts'
import { checkValidity, DEFAULT_CLOCK_SKEW_MS } from './validity.ts'

export const FLEET_CERT_CONTEXT = 'deltacast/fleet-cert/1'
export const MAX_FLEET_CERT_CHARS = 4096
/** libp2p peer ids as strings: base58btc multihash or base32 CID, both alphanumeric. */
export const PEER_ID_PATTERN = /^[A-Za-z0-9]{1,128}$/
export const REGION_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/
export const FLEET_CERT_KEYS = ['peer', 'region', 'exp', 'iat', 'op'] as const

export interface FleetCertClaims {
  peerId: string
  region: string
  /** Expiry, ms since the Unix epoch (written as whole seconds). */
  expires: number
}

/** 'fleet': signed by a trusted operator. 'document': signed by a doc key the verifier listed in docKeys. */
export type FleetCertScope = 'fleet' | 'document'

export interface FleetCert {
  peerId: string
  region: string
  /** ms since the Unix epoch. */
  issued: number
  expires: number
  /** base32 of the signing key. */
  operator: string
  scope: FleetCertScope
}

export type FleetCertErrorCode = 'malformed' | 'bad-signature' | 'untrusted-operator' | 'wrong-peer' | 'expired' | 'not-yet-valid'

export type FleetCertResult = { ok: true, cert: FleetCert } | { ok: false, code: FleetCertErrorCode, error: string }

export interface VerifyFleetCertOptions {
  /** The peer id of the connection the certificate arrived on (Noise authenticated it). */
  peerId: string
  /** Operator keys (raw 32 bytes) whose certificates make a peer a fleet member. */
  trustedOperators: Uint8Array[]
  /** Doc keys (raw 32 bytes) of documents this node carries: their authorities may certify themselves. */
  docKeys?: Uint8Array[]
  /**
   * Take any other signing key as a doc key (scope 'document'): for a node that carries
   * documents on demand, whose keys it cannot list in advance. The holder is still only the
   * source of documents under that key, never a fleet member.
   */
  anyDocKey?: boolean
  /** ms since the Unix epoch. */
  now: number
  clockSkewMs?: number
}

interface CertPayload { peer: string, region: string, exp: number, iat: number, op: string }

export async function signFleetCert (operatorKey: PrivateKey, claims: FleetCertClaims, now: number): Promise<string> {
  const payloadBytes = certPayloadBytes(operatorKey, claims, now)
  return encodeEnvelope(payloadBytes, await startSigning(operatorKey, FLEET_CERT_CONTEXT, payloadBytes))
}

/** Synchronous signFleetCert (Node). Throws SyncCryptoUnavailableError where signing is async. */
export function signFleetCertSync (operatorKey: PrivateKey, claims: FleetCertClaims, now: number): string {
  const payloadBytes = certPayloadBytes(operatorKey, claims, now)
  return encodeEnvelope(payloadBytes, settleSync(startSigning(operatorKey, FLEET_CERT_CONTEXT, payloadBytes)))
}

function certPayloadBytes (operatorKey: PrivateKey, claims: FleetCertClaims, now: number): Uint8Array {
  const payload: CertPayload = {
    peer: claims.peerId,
    region: claims.region,
    exp: toSeconds(claims.expires),
    iat: toSeconds(now),
    op: encodePublicKey(operatorKey.publicKey.raw)
  }
  const problem = payloadProblem(payload)
  if (problem !== undefined) throw new InvalidClaimsError(`cannot sign fleet certificate: ${problem}`)
  return new TextEncoder().encode(JSON.stringify(payload))
}

export async function verifyFleetCertAsync (cert: unknown, options: VerifyFleetCertOptions): Promise<FleetCertResult> {
  const checked = checkBeforeSignature(cert, options)
  if (!checked.ok) return checked
  const valid = await startVerifying(checked.key, FLEET_CERT_CONTEXT, checked.envelope)
  return valid ? checkAfterSignature(checked, options) : badSignature()
}

/** Verifies synchronously (Node); throws SyncCryptoUnavailableError where verifying is async: use verifyFleetCertAsync. */
export function verifyFleetCert (cert: unknown, options: VerifyFleetCertOptions): FleetCertResult {
  const checked = checkBeforeSignature(cert, options)
  if (!checked.ok) return checked
  const valid = settleSync(startVerifying(checked.key, FLEET_CERT_CONTEXT, checked.envelope))
  return valid ? checkAfterSignature(checked, options) : badSignature()
}

/** Reads a certificate's claims without verifying anything but its shape (e.g. to show it). */
export function readFleetCert (cert: unknown): { ok: true, peerId: string, region: string, issued: number, expires: number, operator: string } | { ok: false, error: string } {
  const decoded = decodeEnvelope(cert, MAX_FLEET_CERT_CHARS)
  if (!decoded.ok) return decoded
  const problem = shapeProblem(decoded.value.payload)
  if (problem !== undefined) return { ok: false, error: problem }
  const p = decoded.value.payload as unknown as CertPayload
  return { ok: true, peerId: p.peer, region: p.region, issued: p.iat * 1000, expires: p.exp * 1000, operator: p.op }
}

type Checked = { ok: true, envelope: Envelope, payload: CertPayload, key: Uint8Array, scope: FleetCertScope } |
  { ok: false, code: FleetCertErrorCode, error: string }

function checkBeforeSignature (cert: unknown, options: VerifyFleetCertOptions): Checked {
  const decoded = decodeEnvelope(cert, MAX_FLEET_CERT_CHARS)
  if (!decoded.ok) return malformed(decoded.error)
  const problem = shapeProblem(decoded.value.payload)
  if (problem !== undefined) return malformed(problem)
  const payload = decoded.value.payload as unknown as CertPayload
  const key = decodePublicKey(payload.op)
  if (!key.ok) return malformed(`op: ${key.error}`)
  const has = (keys: Uint8Array[] | undefined): boolean => keys?.some(k => bytesEqual(k, key.value)) === true
  const scope: FleetCertScope | undefined = has(options.trustedOperators) ? 'fleet' : options.anyDocKey === true || has(options.docKeys) ? 'document' : undefined
  if (scope === undefined) return { ok: false, code: 'untrusted-operator', error: `certificate signed by ${payload.op}, which is neither a trusted operator nor the key of a document carried here` }
  return { ok: true, envelope: decoded.value, payload, key: key.value, scope }
}

function checkAfterSignature (checked: Extract<Checked, { ok: true }>, options: VerifyFleetCertOptions): FleetCertResult {
  const { payload } = checked
  if (payload.peer !== options.peerId) return { ok: false, code: 'wrong-peer', error: `certificate is for peer ${payload.peer}, not ${options.peerId}` }
  const invalid = checkValidity(payload.iat, payload.exp, options.now, options.clockSkewMs ?? DEFAULT_CLOCK_SKEW_MS)
  if (invalid !== undefined) return { ok: false, code: invalid.code, error: `certificate ${invalid.error}` }
  return {
    ok: true,
    cert: { peerId: payload.peer, region: payload.region, issued: payload.iat * 1000, expires: payload.exp * 1000, operator: payload.op, scope: checked.scope }
  }
}

function shapeProblem (payload: Record<string, unknown>): string | undefined {
  if (!hasExactKeys(payload as never, FLEET_CERT_KEYS)) return `payload must have exactly the keys ${FLEET_CERT_KEYS.join(', ')}`
  return payloadProblem(payload)
}

function payloadProblem (payload: object): string | undefined {
  const { peer, region, exp, iat, op } = payload as Record<string, unknown>
  if (typeof peer !== 'string' || !PEER_ID_PATTERN.test(peer)) return 'peer is not a peer id'
  if (typeof region !== 'string' || !REGION_PATTERN.test(region)) return `region must match ${String(REGION_PATTERN)}`
  if (!isSeconds(iat) || !isSeconds(exp)) return 'iat and exp must be whole seconds since the Unix epoch'
  if (exp <= iat) return 'exp must be after iat'
  if (typeof op !== 'string') return 'op must be a string'
  return undefined
}

function malformed (error: string): { ok: false, code: 'malformed', error: string } {
  return { ok: false, code: 'malformed', error: `malformed fleet certificate: ${error}` }
}

function badSignature (): { ok: false, code: 'bad-signature', error: string } {
  return { ok: false, code: 'bad-signature', error: 'fleet certificate signature does not verify under its op key' }
}
