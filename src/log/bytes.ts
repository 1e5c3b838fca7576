/** Small byte helpers, kept here so the log core needs no Buffer and no transitive dependency. */

export function bytesEqual (a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i]) return false
  }
  return true
}

export function isAllZero (bytes: Uint8Array): boolean {
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] !== 0) return false
  }
  return true
}

/** One buffer holding `parts` back to back; `length`, when the caller has it, is their total. */
export function concatBytes (parts: readonly Uint8Array[], length?: number): Uint8Array {
  if (length === undefined) {
    length = 0
    for (const part of parts) length += part.length
  }
  const out = new Uint8Array(length)
  let offset = 0
  for (const part of parts) {
    out.set(part, offset)
    offset += part.length
  }
  return out
}

/** Bytes of an ASCII-only string; throws on anything else (callers pass constants or validated ids). */
export function asciiBytes (text: string): Uint8Array {
  const out = new Uint8Array(text.length)
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i)
    if (code > 0x7f) throw new RangeError(`not ASCII at index ${i}`)
    out[i] = code
  }
  return out
}
