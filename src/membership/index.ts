/**
 * Membership: signed, leased announcements of super-peers (who, where, how much room, what they
 * carry and proxy) and the table that checks and holds them. Pure; the gossipsub shell is
 * node/membership/. Format: docs/protocol.md, "Membership".
 */
export {
  ANNOUNCEMENT_CONTEXT, ANNOUNCEMENT_SIGNATURE_BYTES, MAX_ADDRS, MAX_ADDR_CHARS, ANNOUNCEMENT_VERSION, FLAG_LEAVING, MAX_ANNOUNCEMENT_BYTES, decodeAnnouncement,
  encodeBody, signAnnouncementSync, verifyAnnouncementSync
} from './announcement.ts'
export type { Announcement, AnnouncementDecode, AnnouncementFields } from './announcement.ts'
export { DIGEST_CONTEXT, DIGEST_PROBES, Digest, MAX_DIGEST_BYTES, digestKey } from './digest.ts'
export type { DigestKey } from './digest.ts'
export { MEMBERSHIP_TABLE_DEFAULTS, Member, MembershipTable, REFUSAL_REASONS, sameForElections } from './table.ts'
export type { MemberChange, MembershipTableOptions, OfferResult, RefusalReason } from './table.ts'
export { changeIntervalMs, leaseMs, refreshPeriodMs, regionAnnouncementRate } from './schedule.ts'
export { MAX_MEMBERSHIP_MESSAGE_BYTES, MAX_SNAPSHOT_ANNOUNCEMENTS, MEMBERSHIP_PROTOCOL } from './protocol.ts'
