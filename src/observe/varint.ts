/** Unsigned LEB128 varints, as multiformats and @libp2p/utils lpStream use for length prefixes. */

/** `bytes` with their varint length in front: one length-prefixed message. */
export function withVarintLength (bytes: Uint8Array): Uint8Array {
  const prefix = encodeVarint(bytes.byteLength)
  const out = new Uint8Array(prefix.byteLength + bytes.byteLength)
  out.set(prefix, 0)
  out.set(bytes, prefix.byteLength)
  return out
}

/** Encodes a non-negative safe integer. */
export function encodeVarint (value: number): Uint8Array {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`cannot varint-encode ${value}`)
  const bytes: number[] = []
  let rest = value
  while (rest >= 0x80) {
    bytes.push((rest % 0x80) | 0x80)
    rest = Math.floor(rest / 0x80)
  }
  bytes.push(rest)
  return Uint8Array.from(bytes)
}

/** Decodes the varint at the start of `bytes`; undefined when it is incomplete, too long or above 2^53 - 1. */
export function decodeVarintPrefix (bytes: Uint8Array): { value: number, length: number } | undefined {
  let value = 0
  let scale = 1
  for (let i = 0; i < bytes.byteLength && i < 8; i++) {
    const byte = bytes[i]
    value += (byte & 0x7f) * scale
    // Eight bytes carry 56 bits: past 2^53 - 1 the value would be silently rounded.
    if ((byte & 0x80) === 0) return Number.isSafeInteger(value) ? { value, length: i + 1 } : undefined
    scale *= 0x80
  }
  return undefined
}
