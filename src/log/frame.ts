/**
 * Frame wire format v1: encoding of unsigned frames and strict decoding of signed ones.
 * Layout (big-endian) is fixed by docs/protocol.md; signing lives in frame-signature.ts.
 */
import { sha256 } from '@noble/hashes/sha2.js'
import type { JsonObject } from '../json.ts'
import { isJsonObject } from '../json.ts'
import { asciiBytes, concatBytes, isAllZero } from './bytes.ts'
import { parseDocId } from './doc-id.ts'
import { InvalidUnsignedFrameError } from './errors.ts'

export const FRAME_VERSION = 1
export const FLAG_STATE_HASH = 0x01
export const KNOWN_FLAGS = FLAG_STATE_HASH
export const HASH_BYTES = 32
export const SIGNATURE_BYTES = 64
export const MIN_EPOCH = 1
export const MAX_EPOCH = 0xffffffff
export const MIN_SEQ = 1
/** Sequence numbers and times must stay exact as JS numbers. */
export const MAX_SEQ = Number.MAX_SAFE_INTEGER
export const MAX_TIME = Number.MAX_SAFE_INTEGER
/** prevHash of seq 1. Shared instance: never mutate it. */
export const GENESIS_HASH: Uint8Array = new Uint8Array(HASH_BYTES)

/** Fixed part after the doc id: epoch u32, seq u64, time u64, prevHash 32. */
const FIXED_AFTER_DOC_ID = 4 + 8 + 8 + HASH_BYTES
const TWO_POW_32 = 0x1_0000_0000

export interface UnsignedFrame {
  version?: 1
  docId: string
  epoch: number
  seq: number
  time: number
  prevHash: Uint8Array
  stateHash?: Uint8Array
  changes: JsonObject[]
}

/**
 * A decoded or freshly signed frame. prevHash, stateHash and signature may be views into
 * bytes; bytes is the exact wire form and hash = sha256(bytes). Treat all of it as read-only.
 */
export interface Frame {
  version: 1
  docId: string
  epoch: number
  seq: number
  time: number
  prevHash: Uint8Array
  stateHash?: Uint8Array
  changes: JsonObject[]
  signature: Uint8Array
  bytes: Uint8Array
  hash: Uint8Array
}

export type FrameErrorCode =
  | 'too-large' // longer than limits.maxFrameBytes (checked before anything else)
  | 'unsupported-version' // first byte is not 0x01
  | 'malformed' // structure: lengths, reserved flags, field ranges, genesis prevHash
  | 'bad-doc-id' // doc id field is not a valid doc id
  | 'bad-body' // body is not UTF-8 JSON array of JSON objects
  | 'wrong-doc' // valid frame, but for another document than expected
  | 'bad-signature' // signature does not verify under the doc id's key

export interface FrameError {
  code: FrameErrorCode
  message: string
}

export interface FrameLimits {
  maxFrameBytes: number
}

export type DecodeResult = { ok: true, frame: Frame } | { ok: false, error: FrameError }

/** The frame bytes before the signature. Throws InvalidUnsignedFrameError on out-of-range fields. */
export function encodeUnsignedFrame (frame: UnsignedFrame): Uint8Array {
  checkUnsigned(frame)
  const docId = asciiBytes(frame.docId)
  const body = new TextEncoder().encode(JSON.stringify(frame.changes))
  const hasState = frame.stateHash !== undefined
  const head = new Uint8Array(4 + docId.length + FIXED_AFTER_DOC_ID)
  const view = new DataView(head.buffer)
  head[0] = FRAME_VERSION
  head[1] = hasState ? FLAG_STATE_HASH : 0
  view.setUint16(2, docId.length)
  head.set(docId, 4)
  let at = 4 + docId.length
  view.setUint32(at, frame.epoch)
  writeU53(view, at + 4, frame.seq)
  writeU53(view, at + 12, frame.time)
  head.set(frame.prevHash, at + 20)
  at += FIXED_AFTER_DOC_ID
  const bodyLength = new Uint8Array(4)
  new DataView(bodyLength.buffer).setUint32(0, body.length)
  return concatBytes(hasState
    ? [head, frame.stateHash as Uint8Array, bodyLength, body]
    : [head, bodyLength, body])
}

function checkUnsigned (frame: UnsignedFrame): void {
  const fail = (message: string): never => { throw new InvalidUnsignedFrameError(message) }
  if (frame.version !== undefined && frame.version !== FRAME_VERSION) fail(`version must be ${FRAME_VERSION}`)
  const parsed = parseDocId(frame.docId)
  if (!parsed.ok) fail(parsed.error)
  if (!isIntIn(frame.epoch, MIN_EPOCH, MAX_EPOCH)) fail(`epoch ${frame.epoch} outside ${MIN_EPOCH}..${MAX_EPOCH}`)
  if (!isIntIn(frame.seq, MIN_SEQ, MAX_SEQ)) fail(`seq ${frame.seq} outside ${MIN_SEQ}..${MAX_SEQ}`)
  if (!isIntIn(frame.time, 0, MAX_TIME)) fail(`time ${frame.time} outside 0..${MAX_TIME}`)
  if (frame.prevHash.length !== HASH_BYTES) fail(`prevHash must be ${HASH_BYTES} bytes`)
  if (frame.seq === MIN_SEQ && !isAllZero(frame.prevHash)) fail('seq 1 must have the genesis prevHash (zeros)')
  if (frame.stateHash !== undefined && frame.stateHash.length !== HASH_BYTES) fail(`stateHash must be ${HASH_BYTES} bytes`)
  if (!Array.isArray(frame.changes) || !frame.changes.every(isJsonObject)) fail('changes must be an array of JSON objects')
}

/**
 * Strict decode of a signed frame. Does NOT check the signature (see verifyFrame).
 * Every field is validated and the lengths must consume the buffer exactly.
 */
export function decodeFrame (bytes: Uint8Array, limits: FrameLimits): DecodeResult {
  if (bytes.length > limits.maxFrameBytes) {
    return failure('too-large', `frame is ${bytes.length} bytes, limit ${limits.maxFrameBytes}`)
  }
  if (bytes.length < 4) return failure('malformed', 'shorter than the fixed header')
  if (bytes[0] !== FRAME_VERSION) return failure('unsupported-version', `version ${bytes[0]}, expected ${FRAME_VERSION}`)
  const flags = bytes[1]
  if ((flags & ~KNOWN_FLAGS) !== 0) return failure('malformed', `reserved flag bits set: 0x${flags.toString(16)}`)
  const hasState = (flags & FLAG_STATE_HASH) !== 0
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const docIdLength = view.getUint16(2)
  const bodyLengthAt = 4 + docIdLength + FIXED_AFTER_DOC_ID + (hasState ? HASH_BYTES : 0)
  if (bytes.length < bodyLengthAt + 4 + SIGNATURE_BYTES) return failure('malformed', 'truncated before the body')

  const docIdBytes = bytes.subarray(4, 4 + docIdLength)
  const docId = asciiString(docIdBytes)
  if (docId === undefined) return failure('bad-doc-id', 'doc id is not ASCII')
  const parsedDocId = parseDocId(docId)
  if (!parsedDocId.ok) return failure('bad-doc-id', parsedDocId.error)

  let at = 4 + docIdLength
  const epoch = view.getUint32(at)
  const seq = readU53(view, at + 4)
  const time = readU53(view, at + 12)
  if (epoch < MIN_EPOCH) return failure('malformed', 'epoch must be >= 1')
  if (seq === undefined || seq < MIN_SEQ) return failure('malformed', `seq outside ${MIN_SEQ}..${MAX_SEQ}`)
  if (time === undefined) return failure('malformed', `time above ${MAX_TIME}`)
  const prevHash = bytes.subarray(at + 20, at + 20 + HASH_BYTES)
  if (seq === MIN_SEQ && !isAllZero(prevHash)) return failure('malformed', 'seq 1 must have the genesis prevHash (zeros)')
  at += FIXED_AFTER_DOC_ID
  const stateHash = hasState ? bytes.subarray(at, at + HASH_BYTES) : undefined

  const bodyLength = view.getUint32(bodyLengthAt)
  const bodyAt = bodyLengthAt + 4
  const expectedLength = bodyAt + bodyLength + SIGNATURE_BYTES
  if (bytes.length !== expectedLength) {
    return failure('malformed', `length fields say ${expectedLength} bytes, buffer has ${bytes.length}`)
  }
  const changes = parseBody(bytes.subarray(bodyAt, bodyAt + bodyLength))
  if (!changes.ok) return failure('bad-body', changes.error)

  const frame: Frame = {
    version: FRAME_VERSION,
    docId,
    epoch,
    seq,
    time,
    prevHash,
    changes: changes.value,
    signature: bytes.subarray(bytes.length - SIGNATURE_BYTES),
    bytes,
    hash: sha256(bytes)
  }
  if (stateHash !== undefined) frame.stateHash = stateHash
  return { ok: true, frame }
}

/** ignoreBOM keeps a leading BOM in the text, so JSON.parse rejects it instead of it being silently dropped. */
const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

function parseBody (body: Uint8Array): { ok: true, value: JsonObject[] } | { ok: false, error: string } {
  let text: string
  try {
    text = STRICT_UTF8.decode(body)
  } catch {
    return { ok: false, error: 'body is not valid UTF-8' }
  }
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (err) {
    return { ok: false, error: `body is not JSON: ${(err as Error).message}` }
  }
  if (!Array.isArray(value)) return { ok: false, error: 'body is not a JSON array' }
  for (let i = 0; i < value.length; i++) {
    if (!isJsonObject(value[i])) return { ok: false, error: `change ${i} is not a JSON object` }
  }
  return { ok: true, value: value as JsonObject[] }
}

function failure (code: FrameErrorCode, message: string): { ok: false, error: FrameError } {
  return { ok: false, error: { code, message } }
}

export function asciiString (bytes: Uint8Array): string | undefined {
  let text = ''
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] > 0x7f) return undefined
    text += String.fromCharCode(bytes[i])
  }
  return text
}

export function isIntIn (value: number, min: number, max: number): boolean {
  return Number.isInteger(value) && value >= min && value <= max
}

export function writeU53 (view: DataView, at: number, value: number): void {
  view.setUint32(at, Math.floor(value / TWO_POW_32))
  view.setUint32(at + 4, value >>> 0)
}

/** A u64 as a number, or undefined when it exceeds 2^53-1. */
export function readU53 (view: DataView, at: number): number | undefined {
  const high = view.getUint32(at)
  if (high > 0x1fffff) return undefined
  return high * TWO_POW_32 + view.getUint32(at + 4)
}
