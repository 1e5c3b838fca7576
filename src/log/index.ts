/**
 * The signed log core: doc ids and topics, the frame wire format, signatures, chain position
 * and checkpoints. Pure and isomorphic. Wire format: docs/protocol.md.
 *
 * @example
 * const key = await generateKeyPair('Ed25519')
 * const docId = docIdFor(key.publicKey.raw, 'board')
 * const frame = await signFrame(key, { docId, epoch: 1, seq: 1, time: now, prevHash: GENESIS_HASH, changes: [{ title: 'hi' }] })
 * const checked = await verifyFrame(frame.bytes, docId, { maxFrameBytes: 1 << 20 })
 * if (checked.ok) classifyNext(genesisHead(), checked.frame) // 'next'
 */
export {
  DOC_ID_MAX_LENGTH, DOC_ID_PATTERN, DOC_ID_SEPARATOR, DOC_KEY_CHARS, DOC_NAME_MAX_LENGTH, DOC_NAME_PATTERN,
  HEAD_TOPIC_PREFIX, PUBLIC_KEY_BYTES, TOPIC_PREFIX, docIdFor, docIdOfTopic, headTopicFor, isValidDocName, parseDocId, topicFor
} from './doc-id.ts'
export type { ParseResult, ParsedDocId } from './doc-id.ts'
export {
  FLAG_STATE_HASH, FRAME_VERSION, GENESIS_HASH, HASH_BYTES, MAX_EPOCH, MAX_SEQ, MAX_TIME, MIN_EPOCH, MIN_SEQ,
  SIGNATURE_BYTES, decodeFrame, encodeUnsignedFrame
} from './frame.ts'
export type { DecodeResult, Frame, FrameError, FrameErrorCode, FrameLimits, UnsignedFrame } from './frame.ts'
export {
  SIGNING_CONTEXT, frameSigningInput, signFrame, signFrameSync, verifyFrame, verifyFrameSignature,
  verifyFrameSignatureSync, verifyFrameSync
} from './frame-signature.ts'
export { classifyNext, genesisHead, headOf } from './chain.ts'
export type { ChainHead, ChainStep } from './chain.ts'
export { snapshotBytesOf, stateHashOf, verifySnapshot } from './checkpoint.ts'
export { canonicalJson, canonicalJsonBytes } from './canonical-json.ts'
export {
  HEAD_SIGNING_CONTEXT, HEAD_VERSION, decodeHead, signHeadSync, verifyHeadSync
} from './head-announcement.ts'
export type { HeadAnnouncement, HeadDecodeResult, HeadErrorCode } from './head-announcement.ts'
export { verdictFor } from './verdict.ts'
export type { FrameOutcome, GossipVerdict } from './verdict.ts'
export { InvalidDocIdInputError, InvalidHeadAnnouncementError, InvalidUnsignedFrameError, SyncCryptoUnavailableError, UnsupportedKeyTypeError } from './errors.ts'
