/**
 * Scope ids: the strings elections hash (docs/protocol.md, "Scopes").
 *
 *   root scope     <docId>                    the authority and one proxy per region with demand
 *   region scope   <docId>/<region>           its proxy brings the document into the region
 *   sub-scope      <parent scope>/<i>         i = 0 .. k-1, when a proxy would exceed its fan-out
 *
 * Doc ids and regions contain no "/", so every id has one reading.
 */
import { SPLIT_CONTEXT, electionDigest, first64 } from './hash.ts'

export const SCOPE_SEPARATOR = '/'

export function regionScope (docId: string, region: string): string {
  return docId + SCOPE_SEPARATOR + region
}

export function subScope (parent: string, index: number): string {
  return parent + SCOPE_SEPARATOR + String(index)
}

/** How many sub-scopes `children` children need under a fan-out limit: ceil(children / fanout), at most fanout. */
export function subScopeCount (children: number, fanout: number): number {
  return Math.min(fanout, Math.ceil(children / fanout))
}

/**
 * Splits a scope's children into k sub-scopes of equal size (they differ by at most one): the
 * children sorted by H("deltacast/split/1", scope, peerId) (first 8 bytes, big-endian; ties by peer
 * id), then cut into k runs, run i holding positions floor(i n / k) .. floor((i + 1) n / k) - 1.
 * Equal sizes keep every proxy within its fan-out, so depth is the least the fan-out allows; a
 * carrier joining or leaving shifts each cut by at most one, so at most k - 1 others change
 * sub-scope. (Hashing carriers into k buckets instead leaves some buckets over the fan-out,
 * each costing one more level.)
 */
export function splitIntoSubScopes (scope: string, peerIds: readonly string[], k: number): string[][] {
  if (!Number.isSafeInteger(k) || k < 1) throw new RangeError(`sub-scope count must be a positive integer, got ${k}`)
  const keyed = peerIds.map(peerId => ({ peerId, key: first64(electionDigest(SPLIT_CONTEXT, scope, peerId)) }))
  keyed.sort((a, b) => a.key < b.key ? -1 : a.key > b.key ? 1 : a.peerId < b.peerId ? -1 : a.peerId > b.peerId ? 1 : 0)
  const n = keyed.length
  return Array.from({ length: k }, (_, i) => keyed.slice(Math.floor(i * n / k), Math.floor((i + 1) * n / k)).map(e => e.peerId))
}
