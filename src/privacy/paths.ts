/**
 * Paths in policies: rule patterns (segments may be "*"), absolute document paths ("/phase") and
 * paths relative to a record ("owner", "meta/owner"). Segments are object keys or list item keys
 * (String(id)); "~1" stands for "/" and "~0" for "~" inside a segment, as in JSON Pointer.
 */
import { ORDER, SIZE, PROTO_KEY } from '../delta/keys.ts'
import { MAX_DEPTH } from '../delta/check.ts'
import type { Json } from '../json.ts'
import { PolicyProblem } from './problem.ts'

/** The pattern segment matching any object key or any list item. */
export const WILDCARD = '*'

const RESERVED = new Set([ORDER, SIZE, PROTO_KEY])

export type PathKind = 'pattern' | 'absolute' | 'relative'

/** Segments of a path; throws PolicyProblem (naming `where`) when the text is not one. */
export function parsePath (text: Json, where: string, kind: PathKind): string[] {
  if (typeof text !== 'string') throw new PolicyProblem(`${where}: a path must be a string`)
  let body: string
  if (kind === 'relative') {
    if (text === '' || text.startsWith('/')) throw new PolicyProblem(`${where}: "${text}" must be a relative path like "owner" or "meta/owner"`)
    body = text
  } else {
    if (!text.startsWith('/')) throw new PolicyProblem(`${where}: "${text}" must start with "/"`)
    if (text === '/') {
      if (kind === 'absolute') throw new PolicyProblem(`${where}: "/" names the whole document, not a field`)
      return []
    }
    body = text.slice(1)
  }
  if (/~[^01]|~$/.test(body)) throw new PolicyProblem(`${where}: "${text}" has a "~" not followed by 0 or 1`)
  const segments = body.split('/').map(s => s.replace(/~1/g, '/').replace(/~0/g, '~'))
  if (segments.length > MAX_DEPTH) throw new PolicyProblem(`${where}: "${text}" is deeper than ${MAX_DEPTH} segments`)
  for (const segment of segments) {
    if (segment === '') throw new PolicyProblem(`${where}: "${text}" has an empty segment`)
    if (RESERVED.has(segment)) throw new PolicyProblem(`${where}: "${text}" uses the reserved key "${segment}"`)
    if (segment === WILDCARD && kind !== 'pattern') throw new PolicyProblem(`${where}: "${text}": "*" is only allowed in rule patterns`)
  }
  return segments
}
