/**
 * Canonical JSON and the state hash carried by frames: object keys sorted by UTF-16 code units
 * (JS default sort), no whitespace, numbers and strings as JSON.stringify writes them.
 */
import { sha256 } from '@noble/hashes/sha2.js'
import type { Json } from '../json.ts'

/** Thrown when a value cannot be written as canonical JSON (non-finite number, non-JSON value). */
export class CanonicalJsonError extends Error {
  static override name = 'CanonicalJsonError'
  override name = 'CanonicalJsonError'
}

export function canonicalJson (value: Json): string {
  const parts: string[] = []
  write(value, parts)
  return parts.join('')
}

/** sha256 of the UTF-8 canonical JSON of a tree: the frame's stateHash. */
export function treeHash (tree: Json): Uint8Array {
  return sha256(new TextEncoder().encode(canonicalJson(tree)))
}

function write (value: unknown, parts: string[]): void {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') {
    parts.push(JSON.stringify(value))
    return
  }
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new CanonicalJsonError(`not a finite number: ${value}`)
    parts.push(JSON.stringify(value))
    return
  }
  if (Array.isArray(value)) {
    parts.push('[')
    value.forEach((item, i) => {
      if (i > 0) parts.push(',')
      write(item, parts)
    })
    parts.push(']')
    return
  }
  if (typeof value === 'object') {
    const obj = value as Record<string, unknown>
    parts.push('{')
    Object.keys(obj).sort().forEach((key, i) => {
      if (i > 0) parts.push(',')
      parts.push(JSON.stringify(key), ':')
      write(obj[key], parts)
    })
    parts.push('}')
    return
  }
  throw new CanonicalJsonError(`not a JSON value: ${typeof value}`)
}
