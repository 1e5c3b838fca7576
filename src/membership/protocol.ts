/**
 * The membership snapshot protocol (docs/protocol.md, "Membership snapshot"): a node that joins a
 * region gets the region's current announcements from one peer instead of waiting a refresh
 * period to hear each member.
 *
 *   requester -> responder: its own current announcement (its region is the one asked about)
 *   responder -> requester: each announcement of a live member of that region, then END
 *
 * Every message is unsigned-varint length-prefixed; END is an empty message.
 */
import { MAX_ANNOUNCEMENT_BYTES } from './announcement.ts'

export const MEMBERSHIP_PROTOCOL = '/deltacast/members/1.0.0'
export const MAX_MEMBERSHIP_MESSAGE_BYTES = MAX_ANNOUNCEMENT_BYTES
/** Most announcements in one snapshot; a responder sends at most this many. */
export const MAX_SNAPSHOT_ANNOUNCEMENTS = 10_000
