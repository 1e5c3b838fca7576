/**
 * The membership view: who is alive, where, with how much room, carrying what. Pure and
 * deterministic (time is passed in): every node fed the same announcements holds the same view,
 * so the trees it computes (src/elect/) agree. A refused announcement changes nothing and says why.
 */
import { verifyFleetCert } from '../identity/fleet-cert.ts'
import type { FleetCert } from '../identity/fleet-cert.ts'
import { DEFAULT_CLOCK_SKEW_MS } from '../identity/validity.ts'
import type { TreeMember } from '../elect/tree.ts'
import { bytesEqual } from '../log/bytes.ts'
import { decodeAnnouncement, verifyAnnouncementSync } from './announcement.ts'
import type { Announcement } from './announcement.ts'
import type { Digest } from './digest.ts'

export type RefusalReason =
  | 'oversized' // longer than MAX_ANNOUNCEMENT_BYTES (checked before anything else)
  | 'malformed' // structure, field ranges, peer id without an Ed25519 key
  | 'flood' // more than the per-member rate allows
  | 'stale' // seq not above the last accepted one from this member (replays, reordering)
  | 'bad-signature' // does not verify under the key in its peer id (forged)
  | 'uncertified' // fleet mode: no fleet certificate, or one that does not verify for this peer now
  | 'wrong-region' // fleet mode: region differs from the certificate's
  | 'expired' // lease already over
  | 'lease-too-long' // lease ends further ahead than maxLeaseMs
  | 'full' // the table holds maxMembers already

export const REFUSAL_REASONS: readonly RefusalReason[] = [
  'oversized', 'malformed', 'flood', 'stale', 'bad-signature', 'uncertified', 'wrong-region', 'expired', 'lease-too-long', 'full'
]

/**
 * joined / left: the member set changed. updated: something an election reads changed (weight,
 * capacity, load, carried documents, held roles). refreshed: only the lease was renewed.
 */
export type MemberChange = 'joined' | 'updated' | 'refreshed' | 'left'

export type OfferResult =
  | { ok: true, change: MemberChange, member: Member }
  | { ok: false, reason: RefusalReason, error: string }

export interface MembershipTableOptions {
  /** Fleet mode: only members with a fleet certificate from a trusted operator count. */
  enforcing: boolean
  /** Operator keys (raw 32 bytes). */
  trustedOperators: Uint8Array[]
  maxLeaseMs: number
  clockSkewMs: number
  /** Per-member token bucket: `floodBurst` announcements at once, one more every `floodRefillMs`. */
  floodBurst: number
  floodRefillMs: number
  maxMembers: number
}

export const MEMBERSHIP_TABLE_DEFAULTS = {
  maxLeaseMs: 12 * 3_600_000,
  clockSkewMs: DEFAULT_CLOCK_SKEW_MS,
  floodBurst: 5,
  floodRefillMs: 1_000,
  maxMembers: 100_000
}

/** One live member as the election sees it. Immutable. */
export class Member implements TreeMember {
  readonly peerId: string
  readonly region: string
  readonly weight: number
  readonly capacity: number
  readonly load: number
  readonly seq: number
  /** When it stops counting: the lease's end, or its certificate's if sooner. */
  readonly expires: number
  readonly docs: Digest
  readonly roles: Digest
  /** Where its backbone listens (multiaddrs as text). */
  readonly addrs: readonly string[]

  constructor (a: Announcement, region: string, expires: number) {
    this.peerId = a.peerId
    this.region = region
    this.weight = a.weight
    this.capacity = a.capacity
    this.load = a.load
    this.seq = a.seq
    this.expires = expires
    this.docs = a.docs
    this.roles = a.roles
    this.addrs = a.addrs
  }

  carries (docId: string): boolean {
    return this.docs.has(docId)
  }

  holds (scope: string): boolean {
    return this.roles.has(scope)
  }
}

interface Entry {
  member: Member
  /** As received, to hand to a joining node (node/membership/snapshot.ts). */
  bytes: Uint8Array
  /** A leaving member stays as a tombstone until its last lease ends, so replays stay stale. */
  left: boolean
  tokens: number
  refilledAt: number
  cert?: { text: string, verified: FleetCert }
}

export class MembershipTable {
  private readonly options: MembershipTableOptions
  private readonly entries = new Map<string, Entry>()

  constructor (options: Partial<MembershipTableOptions> & Pick<MembershipTableOptions, 'enforcing' | 'trustedOperators'>) {
    this.options = { ...MEMBERSHIP_TABLE_DEFAULTS, ...options }
  }

  /** Checks an announcement as received and applies it, or refuses it and changes nothing. */
  offer (bytes: Uint8Array, now: number): OfferResult {
    const decoded = decodeAnnouncement(bytes)
    if (!decoded.ok) return refuse(decoded.code, decoded.error)
    const a = decoded.value
    const entry = this.entries.get(a.peerId)
    const tokens = entry === undefined ? this.options.floodBurst : this.tokensAt(entry, now)
    // Only accepted announcements spend tokens, so forgeries cannot silence a member.
    if (tokens < 1) return refuse('flood', `member ${a.peerId} announces faster than one per ${this.options.floodRefillMs} ms (burst ${this.options.floodBurst})`)
    if (entry !== undefined && a.seq <= entry.member.seq) return refuse('stale', `seq ${a.seq} from ${a.peerId} is not above ${entry.member.seq}`)
    if (!verifyAnnouncementSync(a)) return refuse('bad-signature', `announcement signature does not verify under the key of ${a.peerId}`)

    let region = a.region
    let expires = a.expires
    let cert = entry?.cert
    if (this.options.enforcing) {
      if (cert?.text !== a.cert) {
        if (a.cert === '') return refuse('uncertified', `${a.peerId} presents no fleet certificate`)
        const result = verifyFleetCert(a.cert, { peerId: a.peerId, trustedOperators: this.options.trustedOperators, now, clockSkewMs: this.options.clockSkewMs })
        if (!result.ok) return refuse('uncertified', `${a.peerId}: ${result.code}: ${result.error}`)
        cert = { text: a.cert, verified: result.cert }
      }
      if (now >= cert.verified.expires) return refuse('uncertified', `${a.peerId}: fleet certificate expired at ${new Date(cert.verified.expires).toISOString()}`)
      if (a.region !== cert.verified.region) return refuse('wrong-region', `${a.peerId} announces region ${a.region}, its certificate says ${cert.verified.region}`)
      region = cert.verified.region
      expires = Math.min(expires, cert.verified.expires)
    }
    if (a.expires <= now) return refuse('expired', `lease of ${a.peerId} ended at ${new Date(a.expires).toISOString()}`)
    if (a.expires > now + this.options.maxLeaseMs + this.options.clockSkewMs) return refuse('lease-too-long', `lease of ${a.peerId} ends more than ${this.options.maxLeaseMs} ms ahead`)
    if (entry === undefined && this.entries.size >= this.options.maxMembers) return refuse('full', `the membership table holds ${this.options.maxMembers} members already`)

    const member = new Member(a, region, expires)
    const change: MemberChange = a.leaving
      ? 'left'
      : entry === undefined || entry.left ? 'joined' : sameForElections(entry.member, member) ? 'refreshed' : 'updated'
    // A tombstone keeps the longest lease seen, so a replay of any earlier announcement is stale or expired.
    const tombstone = a.leaving && entry !== undefined && entry.member.expires > member.expires ? new Member(a, region, entry.member.expires) : member
    this.entries.set(a.peerId, { member: a.leaving ? tombstone : member, bytes, left: a.leaving, tokens: tokens - 1, refilledAt: now, cert })
    return { ok: true, change, member }
  }

  /** Drops members whose lease (or certificate) has ended; returns the live ones dropped. */
  expire (now: number): Member[] {
    const dropped: Member[] = []
    for (const [peerId, entry] of this.entries) {
      if (entry.member.expires > now) continue
      this.entries.delete(peerId)
      if (!entry.left) dropped.push(entry.member)
    }
    return dropped
  }

  /** Live members, optionally of one region, sorted by peer id. */
  live (now: number, region?: string): Member[] {
    const out: Member[] = []
    for (const entry of this.entries.values()) {
      if (entry.left || entry.member.expires <= now) continue
      if (region !== undefined && entry.member.region !== region) continue
      out.push(entry.member)
    }
    return out.sort((a, b) => a.peerId < b.peerId ? -1 : a.peerId > b.peerId ? 1 : 0)
  }

  /** The announcements of the live members of a region, as received (a joining node's snapshot). */
  announcements (region: string, now: number, except?: string): Uint8Array[] {
    return this.live(now, region).filter(m => m.peerId !== except).map(m => this.entries.get(m.peerId)!.bytes)
  }

  get (peerId: string, now: number): Member | undefined {
    const entry = this.entries.get(peerId)
    return entry === undefined || entry.left || entry.member.expires <= now ? undefined : entry.member
  }

  regionSize (region: string, now: number): number {
    return this.live(now, region).length
  }

  private tokensAt (entry: Entry, now: number): number {
    const refill = Math.max(0, now - entry.refilledAt) / this.options.floodRefillMs
    return Math.min(this.options.floodBurst, entry.tokens + refill)
  }
}

/** True if nothing an election reads differs (region, weight, capacity, load, docs, roles). */
export function sameForElections (a: Member, b: Member): boolean {
  return a.region === b.region && a.weight === b.weight && a.capacity === b.capacity && a.load === b.load &&
    sameDigest(a.docs, b.docs) && sameDigest(a.roles, b.roles)
}

function sameDigest (a: Digest, b: Digest): boolean {
  return a.probes === b.probes && bytesEqual(a.bits, b.bits)
}

function refuse (reason: RefusalReason, error: string): { ok: false, reason: RefusalReason, error: string } {
  return { ok: false, reason, error }
}
