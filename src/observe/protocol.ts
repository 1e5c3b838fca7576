/**
 * The observe protocol: how a browser follows one document through a super-peer.
 *
 * Each message is an unsigned-varint length prefix (as @libp2p/utils lpStream writes it) followed by
 * that many bytes of UTF-8 JSON. The browser sends a request, then only view-state updates; the
 * document flows from the super-peer. See the "Observe protocol" section of docs/protocol.md.
 */
import { isJsonObject } from '../json.ts'
import type { Json, JsonObject } from '../json.ts'
import { decodeVarintPrefix, encodeVarint, withVarintLength } from './varint.ts'
import { parseSwarmClientMessage } from '../swarm/messages.ts'
import type { SwarmClientMessage } from '../swarm/messages.ts'

export const OBSERVE_PROTOCOL = '/deltacast/observe/1.0.0'

/** Largest message (JSON bytes, prefix excluded) either side accepts unless configured otherwise. */
export const DEFAULT_MAX_MESSAGE_BYTES = 4 * 1024 * 1024

/** A request holds a doc id, a token (<= 4 KiB) and a view state (<= 4 KiB); anything bigger is garbage. */
export const MAX_REQUEST_BYTES = 16 * 1024

/** Largest message a browser may send after its request (a view-state update). */
export const MAX_CLIENT_MESSAGE_BYTES = 8 * 1024

/** Largest seq the log allows (frame seq is a u64 capped at 2^53-1). */
export const MAX_SEQ = Number.MAX_SAFE_INTEGER

/** Error codes a super-peer may send before closing the stream. */
export const ErrorCode = {
  /** The first message was not a valid request. */
  badRequest: 'bad-request',
  /** This super-peer does not serve the requested document. */
  unknownDoc: 'unknown-doc',
  /** The browser tried to send a message: observers cannot write to the document. */
  readOnly: 'read-only',
  /** The viewer token is malformed, forged, expired, or for another document. */
  unauthorized: 'unauthorized',
  /** The document's policy does not let this viewer observe. */
  forbidden: 'forbidden',
  /** The document's policy is invalid, so no viewer may observe until the authority replaces it. */
  invalidPolicy: 'invalid-policy',
  /** The browser changed its view state too often. */
  rateLimited: 'rate-limited',
  /** The super-peer is at its observer limit; try another one. */
  busy: 'busy',
  /** A message for this document would exceed the super-peer's message size limit. */
  tooLarge: 'too-large',
  /** No request arrived in time. */
  timeout: 'timeout',
  /** The connection already holds as many observe streams as a super-peer allows. */
  tooManyStreams: 'too-many-streams',
  /** Writers: this super-peer's origin was fenced (docs/protocol.md, "Exactly once"); reconnect and resend. */
  fenced: 'fenced'
} as const
export type ErrorCode = typeof ErrorCode[keyof typeof ErrorCode]

/** Codes after which trying the same request on another super-peer can succeed. */
export const RETRYABLE_ERROR_CODES: ReadonlySet<string> = new Set([ErrorCode.unknownDoc, ErrorCode.busy, ErrorCode.timeout, ErrorCode.fenced])

export interface ObserveRequest {
  doc: string
  /** Last seq the browser has integrated; null asks for a snapshot. */
  after: number | null
  /** A viewer token (identified viewers); absent for anonymous observers. */
  token?: string
  /** The viewer's view state (e.g. which room it watches); what the policy declares is kept. */
  view?: JsonObject
  /** "connect": a writer stream, the view plus sends on the document's input channels. */
  mode?: 'connect'
  /** A connect's writer session id (src/reduce/partial.ts WRITER_TEXT), kept across reconnects. */
  writer?: string
}

/**
 * After the request a browser may only update its view state, or try (and fail) to send; in a
 * document that relays between browsers, also swarm messages (docs/protocol.md, "Swarms").
 */
export type ClientMessage = { view: JsonObject } | { send: Json } | SwarmClientMessage

/**
 * Non-fatal answer to a `send`; the stream stays open. Observers get it for every send; a writer
 * for a refused message, with its channel and id (src/reduce/writer-message.ts).
 */
export interface RefusedMessage { refused: string, code: string, channel?: string, id?: number, rule?: string, open?: number }
/** Writers: these messages of `channel` are counted in the document at seq `seq` (or before). */
export interface AckMessage { ack: { channel: string, ids: number[], seq: number } }
/** These first sends are in this super-peer's window `window` (docs/protocol.md, "Writer messages"). */
export interface AcceptedMessage { accepted: { channel: string, window: number, ids: number[] } }
/** Writers, on connect: the super-peer's origin and each channel's open window. */
export interface WindowsMessage { windows: { origin: string, channels: Array<{ channel: string, widthMs: number, open: number }> } }

/**
 * Replace the state by integrate({}, data). `data` is the whole document tree. `heartbeat`: see
 * FrameMessage.
 */
export interface ResetMessage { reset: true, data: JsonObject, seq: number, heartbeat?: number }
/**
 * One frame; `data` is absent when the frame changed nothing this viewer sees. `heartbeat`, on
 * the first message of a stream only: the super-peer sends a heartbeat after this many ms with
 * nothing else to send (docs/protocol.md, "Heartbeats").
 */
export interface FrameMessage { data?: JsonObject, seq: number, heartbeat?: number }
export interface ErrorMessage { error: string, code: string }
/**
 * The super-peer's upstream (the authority, directly or through peers) has been silent for `age`
 * ms (stale: true, repeated every second while it lasts), or speaks again (stale: false).
 */
export interface StaleMessage { stale: boolean, age: number }
export type ServerMessage = ResetMessage | FrameMessage | ErrorMessage | RefusedMessage | StaleMessage | AckMessage | AcceptedMessage | WindowsMessage

/** Why a received observe message was refused (the error text says more). */
export type ParseErrorCode =
  | 'not-json' // payload is not UTF-8 JSON
  | 'not-object' // JSON, but not an object
  | 'unknown-field' // a request field other than doc, after, token, view
  | 'bad-field' // a known field with a value of the wrong type or range

/** A refusal names its reason (a ParseErrorCode; `code` is left for the wire error code a server replies with). */
export type Parsed<T> = { ok: true, value: T } | { ok: false, reason: ParseErrorCode, error: string }

function refuse (reason: ParseErrorCode, error: string): { ok: false, reason: ParseErrorCode, error: string } {
  return { ok: false, reason, error }
}

const encoder = new TextEncoder()
const decoder = new TextDecoder('utf-8', { fatal: true })

/** The message as it travels: varint length prefix then UTF-8 JSON, in one buffer (so it can be shared). */
export function encodeMessage (message: ObserveRequest | ClientMessage | ServerMessage): Uint8Array {
  // Writer messages have their own encoders (fixed key order): frame those with frameJsonBytes.
  return frameJsonBytes(encoder.encode(JSON.stringify(message)))
}

/** Prefixes already-serialized JSON bytes with their varint length. */
export function frameJsonBytes (json: Uint8Array): Uint8Array {
  return withVarintLength(json)
}

/** Length of the JSON payload inside an encoded message (what a receiver's size limit applies to). */
export function payloadLength (encoded: Uint8Array): number {
  const decoded = decodeVarintPrefix(encoded)
  return decoded === undefined ? encoded.byteLength : decoded.value
}

export function frameMessage (seq: number, data: JsonObject | null): FrameMessage {
  return data === null ? { seq } : { data, seq }
}

export function resetMessage (seq: number, data: JsonObject): ResetMessage {
  return { reset: true, data, seq }
}

export function staleMessage (stale: boolean, ageMs: number): StaleMessage {
  return { stale, age: Math.max(0, Math.round(ageMs)) }
}

/** Largest heartbeat interval a super-peer may announce (ms): beyond it, libp2p's own probes are sooner. */
export const MAX_ANNOUNCED_HEARTBEAT_MS = 60_000

/** The announcement's bytes: the first member of the stream's first message. */
const HEARTBEAT_MEMBER = encoder.encode('{"heartbeat":')
const QUOTE = 0x22
const OPEN_BRACE = 0x7b

/**
 * A stream's first message carrying the super-peer's heartbeat interval, for a first message that
 * is one already encoded (shared by many observers): `{"heartbeat":N,` then the message's own
 * bytes after its "{", behind a new length prefix. Returned as two parts, the second a view of
 * `encoded` (a 4 MiB snapshot is not copied per observer), to be written back to back.
 * Undefined when `encoded` is not a message holding a non-empty JSON object, or when the result
 * would exceed `maxPayloadBytes` (the first message then goes out unannounced).
 */
export function announceHeartbeat (encoded: Uint8Array, heartbeatMs: number, maxPayloadBytes = DEFAULT_MAX_MESSAGE_BYTES): [Uint8Array, Uint8Array] | undefined {
  if (!isAnnouncedInterval(heartbeatMs)) throw new RangeError(`cannot announce a heartbeat interval of ${heartbeatMs} ms`)
  const prefix = decodeVarintPrefix(encoded)
  if (prefix === undefined || prefix.length + prefix.value !== encoded.byteLength || prefix.value < 3) return undefined
  if (encoded[prefix.length] !== OPEN_BRACE || encoded[prefix.length + 1] !== QUOTE) return undefined
  const member = encoder.encode(`${heartbeatMs},`)
  const rest = encoded.subarray(prefix.length + 1) // the message after its "{"
  const length = HEARTBEAT_MEMBER.byteLength + member.byteLength + rest.byteLength
  if (length > maxPayloadBytes) return undefined
  const newPrefix = encodeVarint(length)
  const head = new Uint8Array(newPrefix.byteLength + HEARTBEAT_MEMBER.byteLength + member.byteLength)
  head.set(newPrefix, 0)
  head.set(HEARTBEAT_MEMBER, newPrefix.byteLength)
  head.set(member, newPrefix.byteLength + HEARTBEAT_MEMBER.byteLength)
  return [head, rest]
}

/**
 * A stream's first message when that would otherwise be a catch-up frame (sealed in a relaying
 * document, so its bytes must not change): a frame without data for `seq`, which the browser
 * already holds (a duplicate for it), announcing the interval.
 */
export function heartbeatAnnouncement (seq: number, heartbeatMs: number): FrameMessage {
  if (!isAnnouncedInterval(heartbeatMs)) throw new RangeError(`cannot announce a heartbeat interval of ${heartbeatMs} ms`)
  return { heartbeat: heartbeatMs, seq }
}

/** Whether a super-peer with this heartbeat interval announces it (0, none, and intervals over the maximum are not). */
export function isAnnouncedInterval (value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 1 && value <= MAX_ANNOUNCED_HEARTBEAT_MS
}

export function errorMessage (code: ErrorCode, error: string): ErrorMessage {
  return { error, code }
}

function parseJson (payload: Uint8Array): Parsed<unknown> {
  try {
    return { ok: true, value: JSON.parse(decoder.decode(payload)) }
  } catch {
    return refuse('not-json', 'not UTF-8 JSON')
  }
}

function isSeq (value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 && value <= MAX_SEQ
}

/** Parses the browser's request (the payload, without its length prefix). */
export function parseRequest (payload: Uint8Array): Parsed<ObserveRequest> {
  const json = parseJson(payload)
  if (!json.ok) return json
  const value = json.value
  if (!isJsonObject(value)) return refuse('not-object', 'request must be a JSON object')
  for (const key of Object.keys(value)) {
    if (!REQUEST_FIELDS.has(key)) return refuse('unknown-field', `unknown request field "${key}"`)
  }
  if (typeof value.doc !== 'string' || value.doc.length === 0) return refuse('bad-field', '"doc" must be a non-empty string')
  const after = value.after ?? null
  if (after !== null && !isSeq(after)) return refuse('bad-field', '"after" must be null or a seq')
  const request: ObserveRequest = { doc: value.doc, after }
  if (value.token !== undefined && value.token !== null) {
    if (typeof value.token !== 'string') return refuse('bad-field', '"token" must be a string')
    request.token = value.token
  }
  if (value.view !== undefined && value.view !== null) {
    if (!isJsonObject(value.view)) return refuse('bad-field', '"view" must be an object')
    request.view = value.view
  }
  if (value.mode !== undefined && value.mode !== null) {
    if (value.mode !== 'connect') return refuse('bad-field', '"mode" must be "connect" (or absent, to observe)')
    if (typeof value.writer !== 'string' || !WRITER_ID.test(value.writer)) return refuse('bad-field', '"writer" must be 1-64 of A-Z a-z 0-9 _ - (a random writer session id)')
    request.mode = 'connect'
    request.writer = value.writer
  } else if (value.writer !== undefined) {
    return refuse('bad-field', '"writer" needs "mode": "connect"')
  }
  return { ok: true, value: request }
}

const REQUEST_FIELDS = new Set(['doc', 'after', 'token', 'view', 'mode', 'writer'])
/** As src/reduce/partial.ts WRITER_TEXT. */
const WRITER_ID = /^[A-Za-z0-9_-]{1,64}$/

/** Parses a message a browser sent after its request. */
export function parseClientMessage (payload: Uint8Array): Parsed<ClientMessage> {
  const json = parseJson(payload)
  if (!json.ok) return json
  const value = json.value
  if (!isJsonObject(value)) return refuse('not-object', 'message must be a JSON object')
  const keys = Object.keys(value)
  if (keys.length === 1 && keys[0] === 'view') {
    return isJsonObject(value.view) ? { ok: true, value: { view: value.view } } : refuse('bad-field', '"view" must be an object')
  }
  if (keys.length === 1 && keys[0] === 'send') return { ok: true, value: { send: value.send } }
  const swarm = parseSwarmClientMessage(value)
  if (swarm !== undefined) return swarm.ok ? swarm : refuse('bad-field', swarm.error)
  return refuse('bad-field', 'expected {"view": {...}} or {"send": ...}')
}

export function refusedMessage (code: ErrorCode, refused: string): RefusedMessage {
  return { refused, code }
}

/** Parses one super-peer message (the payload, without its length prefix). */
export function parseServerMessage (payload: Uint8Array): Parsed<ServerMessage> {
  const json = parseJson(payload)
  if (!json.ok) return json
  const value = json.value
  if (!isJsonObject(value)) return refuse('not-object', 'message must be a JSON object')
  if (typeof value.error === 'string') {
    return { ok: true, value: { error: value.error, code: typeof value.code === 'string' ? value.code : '' } }
  }
  if (typeof value.refused === 'string') {
    const refused: RefusedMessage = { refused: value.refused, code: typeof value.code === 'string' ? value.code : '' }
    if (typeof value.channel === 'string') refused.channel = value.channel
    if (isSeq(value.id)) refused.id = value.id
    if (typeof value.rule === 'string') refused.rule = value.rule
    if (isSeq(value.open)) refused.open = value.open
    return { ok: true, value: refused }
  }
  if (isJsonObject(value.ack)) {
    const { channel, ids, seq } = value.ack
    if (typeof channel !== 'string' || !Array.isArray(ids) || !ids.every(isSeq) || !isSeq(seq)) return refuse('bad-field', '"ack" must be {"channel", "ids", "seq"}')
    return { ok: true, value: { ack: { channel, ids: ids as number[], seq } } }
  }
  if (isJsonObject(value.accepted)) {
    const { channel, window, ids } = value.accepted
    if (typeof channel !== 'string' || !isSeq(window) || !Array.isArray(ids) || !ids.every(isSeq)) return refuse('bad-field', '"accepted" must be {"channel", "window", "ids"}')
    return { ok: true, value: { accepted: { channel, window, ids: ids as number[] } } }
  }
  if (isJsonObject(value.windows)) {
    const { origin, channels } = value.windows
    if (typeof origin !== 'string' || !Array.isArray(channels)) return refuse('bad-field', '"windows" must be {"origin", "channels"}')
    const list: WindowsMessage['windows']['channels'] = []
    for (const c of channels) {
      if (!isJsonObject(c) || typeof c.channel !== 'string' || !isSeq(c.widthMs) || !isSeq(c.open)) return refuse('bad-field', '"windows" channels must be {"channel", "widthMs", "open"}')
      list.push({ channel: c.channel, widthMs: c.widthMs, open: c.open })
    }
    return { ok: true, value: { windows: { origin, channels: list } } }
  }
  if (typeof value.stale === 'boolean') {
    if (!isSeq(value.age)) return refuse('bad-field', '"age" must be a non-negative integer (ms)')
    return { ok: true, value: { stale: value.stale, age: value.age } }
  }
  if (!isSeq(value.seq)) return refuse('bad-field', '"seq" must be a seq')
  const heartbeat = value.heartbeat
  if (heartbeat !== undefined && !isAnnouncedInterval(heartbeat)) return refuse('bad-field', `"heartbeat" must be an integer 1..${MAX_ANNOUNCED_HEARTBEAT_MS} (ms)`)
  let message: ResetMessage | FrameMessage
  if (value.reset === true) {
    if (!isJsonObject(value.data)) return refuse('bad-field', 'reset "data" must be an object')
    message = { reset: true, data: value.data, seq: value.seq }
  } else if (value.data === undefined || value.data === null) {
    message = { seq: value.seq }
  } else {
    if (!isJsonObject(value.data)) return refuse('bad-field', '"data" must be an object')
    message = { data: value.data, seq: value.seq }
  }
  if (heartbeat !== undefined) message.heartbeat = heartbeat
  return { ok: true, value: message }
}

export function isErrorMessage (message: ServerMessage): message is ErrorMessage {
  return 'error' in message
}

export function isRefusedMessage (message: ServerMessage): message is RefusedMessage {
  return 'refused' in message
}

export function isAckMessage (message: ServerMessage): message is AckMessage {
  return 'ack' in message
}

export function isAcceptedMessage (message: ServerMessage): message is AcceptedMessage {
  return 'accepted' in message
}

export function isWindowsMessage (message: ServerMessage): message is WindowsMessage {
  return 'windows' in message
}

export function isStaleMessage (message: ServerMessage): message is StaleMessage {
  return 'stale' in message
}

export function isResetMessage (message: ServerMessage): message is ResetMessage {
  return 'reset' in message
}
