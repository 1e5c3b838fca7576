/**
 * The hashes behind elections and splits (docs/protocol.md, "Election"):
 *
 *   H(context, scope, peer) = sha256(ASCII context || 0x00 || scope || 0x00 || peer)
 *
 * Scope ids and peer ids are ASCII and never contain 0x00, so the input is unambiguous. Each use
 * has its own context, so "wins scope S" and "falls in sub-scope S/i" are independent draws.
 */
import { sha256 } from '@noble/hashes/sha2.js'
import { asciiBytes } from '../log/bytes.ts'

export const ELECT_CONTEXT = 'deltacast/elect/1'
export const SPLIT_CONTEXT = 'deltacast/split/1'

const TWO_POW_20 = 2 ** 20
const TWO_POW_52 = 2 ** 52

export function electionDigest (context: string, scope: string, peer: string): Uint8Array {
  const c = asciiBytes(context)
  const s = asciiBytes(scope)
  const p = asciiBytes(peer)
  const input = new Uint8Array(c.length + 1 + s.length + 1 + p.length)
  input.set(c, 0)
  input.set(s, c.length + 1)
  input.set(p, c.length + 1 + s.length + 1)
  return sha256(input)
}

/**
 * The digest's first 52 bits n as a number in the open interval (0, 1): (n + 0.5) / 2^52, exact
 * in a double (below 2^52 doubles are spaced 0.5 apart), so u is never 0 or 1 and -ln(u) > 0.
 */
export function unitInterval (digest: Uint8Array): number {
  const hi = ((digest[0] << 24) | (digest[1] << 16) | (digest[2] << 8) | digest[3]) >>> 0
  const lo = ((digest[4] << 12) | (digest[5] << 4) | (digest[6] >>> 4)) >>> 0 // next 20 bits
  return (hi * TWO_POW_20 + lo + 0.5) / TWO_POW_52
}

/** The digest's first 8 bytes as an unsigned 64-bit integer (big-endian). */
export function first64 (digest: Uint8Array): bigint {
  let value = 0n
  for (let i = 0; i < 8; i++) value = (value << 8n) | BigInt(digest[i])
  return value
}
