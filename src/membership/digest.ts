/**
 * A Bloom filter of strings (doc ids a member carries, scopes it proxies): 10 bits and 7 probes
 * per item, about 0.8% false positives, so 10,000 documents fit in 12.5 KB. False positives are
 * the same on every node (the bits are signed), so the trees computed from them still agree; a
 * false "carries" only gives a proxy a child that never asks for anything.
 *
 *   h = sha256(ASCII "deltacast/digest/1" || 0x00 || item)
 *   h1 = u32be(h[0..4]), h2 = u32be(h[4..8]) | 1
 *   probe i (0 .. k-1) = (h1 + i * h2) mod m,  m = 8 * bytes
 *   bit b is byte b >> 3, mask 0x80 >> (b & 7)
 */
import { sha256 } from '@noble/hashes/sha2.js'
import { asciiBytes, concatBytes, isAllZero } from '../log/bytes.ts'

export const DIGEST_CONTEXT = 'deltacast/digest/1'
export const DIGEST_BITS_PER_ITEM = 10
export const DIGEST_PROBES = 7
export const MAX_DIGEST_PROBES = 16
/** 64 KiB: about 52,000 items at the default density. */
export const MAX_DIGEST_BYTES = 65_536

const CONTEXT_PREFIX = concatBytes([asciiBytes(DIGEST_CONTEXT), new Uint8Array(1)])

/** The two hashes of an item; compute once, test against many digests. */
export interface DigestKey { readonly h1: number, readonly h2: number }

let lastItem: string | undefined
let lastKey: DigestKey | undefined

/** Memoised for the last item: a tree asks every member's digest about the same doc id in a row. */
export function digestKey (item: string): DigestKey {
  if (item === lastItem && lastKey !== undefined) return lastKey
  const h = sha256(concatBytes([CONTEXT_PREFIX, asciiBytes(item)]))
  const u32 = (i: number): number => ((h[i] << 24) | (h[i + 1] << 16) | (h[i + 2] << 8) | h[i + 3]) >>> 0
  lastItem = item
  lastKey = { h1: u32(0), h2: (u32(4) | 1) >>> 0 }
  return lastKey
}

export class Digest {
  /** Probes per item; 0 only for the empty digest. */
  readonly probes: number
  /** The filter's bits; treat as read-only. */
  readonly bits: Uint8Array

  constructor (probes: number, bits: Uint8Array) {
    this.probes = probes
    this.bits = bits
  }

  static readonly EMPTY = new Digest(0, new Uint8Array(0))

  /** A digest sized for these items (empty for none). */
  static of (items: Iterable<string>): Digest {
    const keys = [...new Set(items)].map(digestKey)
    if (keys.length === 0) return Digest.EMPTY
    const bytes = Math.min(MAX_DIGEST_BYTES, Math.max(8, Math.ceil(keys.length * DIGEST_BITS_PER_ITEM / 8)))
    const bits = new Uint8Array(bytes)
    for (const key of keys) forEachProbe(key, DIGEST_PROBES, bytes * 8, bit => { bits[bit >> 3] |= 0x80 >> (bit & 7) })
    return new Digest(DIGEST_PROBES, bits)
  }

  get isEmpty (): boolean {
    return this.bits.length === 0 || isAllZero(this.bits)
  }

  has (item: string | DigestKey): boolean {
    if (this.bits.length === 0) return false
    const key = typeof item === 'string' ? digestKey(item) : item
    let all = true
    forEachProbe(key, this.probes, this.bits.length * 8, bit => { if ((this.bits[bit >> 3] & (0x80 >> (bit & 7))) === 0) all = false })
    return all
  }
}

function forEachProbe (key: DigestKey, probes: number, m: number, visit: (bit: number) => void): void {
  for (let i = 0; i < probes; i++) visit((key.h1 + i * key.h2) % m) // < 2^37: exact in a double
}
