/**
 * Canonical JSON, the byte form that state hashes cover: object keys sorted by UTF-16 code
 * units (JS default sort), no whitespace, strings and numbers exactly as JSON.stringify writes them.
 */
import type { Json } from '../json.ts'

/** Throws RangeError on non-finite numbers and TypeError on non-JSON values: trees are built by our own code. */
export function canonicalJson (value: Json): string {
  const parts: string[] = []
  write(value, parts)
  return parts.join('')
}

export function canonicalJsonBytes (value: Json): Uint8Array {
  return new TextEncoder().encode(canonicalJson(value))
}

function write (value: Json, out: string[]): void {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') {
    out.push(JSON.stringify(value))
  } else if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new RangeError(`canonical JSON has no form for ${value}`)
    out.push(JSON.stringify(value))
  } else if (Array.isArray(value)) {
    out.push('[')
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out.push(',')
      write(value[i], out)
    }
    out.push(']')
  } else if (typeof value === 'object') {
    out.push('{')
    const keys = Object.keys(value).sort()
    for (let i = 0; i < keys.length; i++) {
      if (i > 0) out.push(',')
      out.push(JSON.stringify(keys[i]), ':')
      write(value[keys[i]], out)
    }
    out.push('}')
  } else {
    throw new TypeError(`not a JSON value: ${typeof value}`)
  }
}
