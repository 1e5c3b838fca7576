/**
 * The relay protocol: how a tier child follows one document from its parent (a region proxy
 * from the authority, a carrier from its scope's proxy).
 *
 * It is catch-up that stays open. The child sends one request, {"doc": "<docId>", "after": <seq>},
 * exactly as on the sync protocol; the parent answers with the sync protocol's messages (frames, or
 * a snapshot followed by frames) up to END(head), and then keeps the stream open, sending each
 * frame it applies as a FRAME message, in chain order, until either side closes it or the parent
 * sends ERROR. Frames are the authority's signed bytes, unchanged, so the child verifies every
 * one as if it came from the authority, and a relay can drop or delay frames but never alter them.
 *
 * One stream per (child, document): a subscription is a stream, an unsubscribe is a close.
 */
import { MAX_SYNC_MESSAGE_BYTES, MAX_SYNC_REQUEST_BYTES } from '../sync/messages.ts'

export { decodeSyncMessage as decodeRelayMessage, encodeSyncMessage as encodeRelayMessage } from '../sync/messages.ts'
export { decodeSyncRequest as decodeRelayRequest, encodeSyncRequest as encodeRelayRequest } from '../sync/messages.ts'
export type { SyncMessage as RelayMessage, SyncRequest as RelayRequest } from '../sync/messages.ts'

export const RELAY_PROTOCOL = '/deltacast/relay/1.0.0'

export const MAX_RELAY_REQUEST_BYTES = MAX_SYNC_REQUEST_BYTES
export const MAX_RELAY_MESSAGE_BYTES = MAX_SYNC_MESSAGE_BYTES

/** Why a parent ends a relay stream with ERROR. The text after the code is for people. */
export const RelayRefusal = {
  /** The parent neither carries the document nor may start carrying it (its document cap). */
  NOT_CARRIED: 'not-carried',
  /** The child read too slowly: more than the parent's limit sat unsent. Re-subscribe from the head. */
  TOO_SLOW: 'too-slow',
  /** The request was malformed. */
  BAD_REQUEST: 'bad-request',
  /** The parent's chain jumped (it was rebuilt from a snapshot). Re-subscribe from the head. */
  RESET: 'reset',
  /** The parent is shutting down or leaving the document. */
  LEAVING: 'leaving'
} as const

export type RelayRefusalCode = typeof RelayRefusal[keyof typeof RelayRefusal]

/** An ERROR message's text: the refusal code, a colon, and a description. */
export function refusalText (code: RelayRefusalCode, detail: string): string {
  return `${code}: ${detail}`
}

/** The refusal code at the start of an ERROR message's text, if it is one of ours. */
export function refusalCode (text: string): RelayRefusalCode | undefined {
  const code = text.split(':', 1)[0]
  return (Object.values(RelayRefusal) as string[]).includes(code) ? code as RelayRefusalCode : undefined
}
