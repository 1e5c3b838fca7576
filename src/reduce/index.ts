/**
 * Reducers: viewers' input merged on its way up (design: docs/architecture.md, "Input's journey
 * up"; bytes and merge rules: docs/protocol.md; who may send: docs/privacy.md).
 *
 * @example
 * // super-peer: admit, then window
 * const channels = channelsOfTree(tree)
 * const verdict = admit(channels, send.channel, send.body, sender, tree, bucket, now)
 * windows.add(send.window, send.body, writer, send.id, now)      // or addResent(...) with send.prior
 * const { partial } = windows.close(now)                          // each window end: to the outbox
 * outbox.add(partial); send(encodePartial(outbox.takeNew()))      // all of outbox.pending() to a new parent
 * // tier: outbox.add(decodePartial(bytes).partial) for each child, same sends upward
 * // authority: ledger.apply(partial) -> outcome; write ledger.result() to channel.field
 */
export { KIND_CODES } from './kind.ts'
export type { KindName, MessageRef, Reducer } from './kind.ts'
export { countReducer } from './count.ts'
export { sumReducer } from './sum.ts'
export { minReducer, maxReducer } from './extreme.ts'
export { tallyReducer, tallyKeyOf, STORE_FACTOR } from './tally.ts'
export { distinctReducer, distinctError, DEFAULT_PRECISION } from './distinct.ts'
export { sampleReducer } from './sample.ts'
export {
  PARTIAL_VERSION, encodePartial, decodePartial, mergePartials, mergeIntoPartial, partialOf, windowKey, resentKey,
  windowSigningBytes, resentSigningBytes, MismatchedPartialsError
} from './partial.ts'
export type { Partial, MutablePartial, WindowEntry, ResentEntry, Prior, MergeResult, DecodePartialResult } from './partial.ts'
export { ChannelLedger, restoreLedger } from './ledger.ts'
export type { LedgerOutcome, ApplyResult, LedgerChannel, EntryRefusal, RestoreResult } from './ledger.ts'
export { OriginWindows, windowAt, windowStart, checkStamp } from './window.ts'
export type { ClosedWindows, StampVerdict } from './window.ts'
export { Outbox } from './outbox.ts'
export type { Settled } from './outbox.ts'
export { acksChange, readAcks, windowAcked, countedInTree, fencedInTree, resentInTree } from './acks.ts'
export type { FrameAcks } from './acks.ts'
export { RateBucket, RateLimits, remoteHostOf, ADDRESS_VIEWERS } from './rate.ts'
export type { Rate, RateGate, RemoteOf } from './rate.ts'
export { compileSchema, checkMessage } from './schema.ts'
export type { Schema, SchemaRule, SchemaRefusal } from './schema.ts'
export { INPUT_KEY, INPUT_STATE_FIELD, compileChannels, channelsOfTree, admit, maySend, NO_CHANNELS } from './channels.ts'
export type { Channel, Channels, Admission, RefusalCode, Sender } from './channels.ts'
export { decodeSend, encodeSend, encodeAccepted, encodeAck, encodeRefusal, encodeWindows } from './writer-message.ts'
export type { WriterSend, DecodeSendResult } from './writer-message.ts'
export { REDUCE_PROTOCOL, MAX_REDUCE_MESSAGE_BYTES, MAX_DOC_ID_BYTES } from './uplink.ts'
