// Origin signatures on partial entries: a super-peer signs the windows and resends it accepted
// with its backbone peer key; tiers and the authority check them against the origin's peer id,
// so a rogue or compromised peer can neither forge another origin's entries nor alter them.

import { peerIdFromString } from '@libp2p/peer-id'
import { partialOf, resentSigningBytes, windowSigningBytes } from '../../src/reduce/index.ts'
import type { Partial, ResentEntry, WindowEntry } from '../../src/reduce/index.ts'
import type { PrivateKey, PublicKey } from '@libp2p/interface'

/** The peer id part of an origin "<peer id>/<boot id>". */
export function peerOfOrigin (origin: string): string {
  const slash = origin.indexOf('/')
  return slash < 0 ? origin : origin.slice(0, slash)
}

/** The partial with each of its (own, unsigned) entries signed by `key`. */
export async function signPartial (partial: Partial, key: PrivateKey): Promise<Partial> {
  const windows: WindowEntry[] = []
  for (const entry of partial.windows.values()) {
    windows.push({ ...entry, signature: await key.sign(windowSigningBytes(partial.channel, partial.kind, { ...entry, signature: null })) })
  }
  const resent: ResentEntry[] = []
  for (const entry of partial.resent.values()) {
    resent.push({ ...entry, signature: await key.sign(resentSigningBytes(partial.channel, partial.kind, { ...entry, signature: null })) })
  }
  return partialOf(partial.channel, partial.kind, windows, resent)
}

/** Why an entry was dropped: its signature is missing or wrong, or its origin is not a fleet member. */
export type EntryRejection = 'unsigned' | 'bad-signature' | 'not-member'

export interface VerifiedPartial {
  /** The entries that passed; null when none did. */
  readonly partial: Partial | null
  readonly rejected: ReadonlyArray<{ key: string, reason: EntryRejection }>
}

/** Public keys by peer id: decoding one costs more than a signature check. */
const keys = new Map<string, PublicKey | null>()

function keyOf (peer: string): PublicKey | null {
  let key = keys.get(peer)
  if (key === undefined) {
    try {
      key = peerIdFromString(peer).publicKey ?? null
    } catch {
      key = null
    }
    if (keys.size > 10_000) keys.clear()
    keys.set(peer, key)
  }
  return key
}

/**
 * Keeps the entries signed by their origin's peer key, and whose origin `isMember` admits (the
 * fleet; pass () => true without one). Cheap to call on partials already seen: tiers check each
 * child's entries once, the authority again (a rogue tier could forge them).
 */
export async function verifyPartial (partial: Partial, isMember: (peer: string) => boolean): Promise<VerifiedPartial> {
  const rejected: Array<{ key: string, reason: EntryRejection }> = []
  const check = async (key: string, origin: string, signature: Uint8Array | null, bytes: () => Uint8Array): Promise<boolean> => {
    if (signature === null) { rejected.push({ key, reason: 'unsigned' }); return false }
    const peer = peerOfOrigin(origin)
    const publicKey = keyOf(peer)
    if (publicKey === null || !(await publicKey.verify(bytes(), signature))) { rejected.push({ key, reason: 'bad-signature' }); return false }
    if (!isMember(peer)) { rejected.push({ key, reason: 'not-member' }); return false }
    return true
  }
  const windows: WindowEntry[] = []
  for (const [key, entry] of partial.windows) {
    if (await check(key, entry.origin, entry.signature, () => windowSigningBytes(partial.channel, partial.kind, { ...entry, signature: null }))) windows.push(entry)
  }
  const resent: ResentEntry[] = []
  for (const [key, entry] of partial.resent) {
    if (await check(key, entry.origin, entry.signature, () => resentSigningBytes(partial.channel, partial.kind, { ...entry, signature: null }))) resent.push(entry)
  }
  const kept = windows.length === 0 && resent.length === 0 ? null : partialOf(partial.channel, partial.kind, windows, resent)
  return { partial: kept, rejected }
}
