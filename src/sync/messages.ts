/**
 * The catch-up protocol's messages. A peer that is behind asks another peer for what follows its
 * head; the answer is frames, or a snapshot (canonical state bytes certified by a checkpoint frame)
 * followed by frames, and always ends with the responder's head seq.
 *
 * Every message travels length-prefixed (unsigned varint). Request: UTF-8 JSON
 * {"doc": "<docId>", "after": <seq>}. Response messages: one type byte, then a payload.
 */
export const SYNC_PROTOCOL = '/deltacast/sync/1.0.0'

/** Upper bound on one response message (one frame, or one snapshot state). */
export const MAX_SYNC_MESSAGE_BYTES = 64 * 1024 * 1024
/** Frames per response are capped by bytes; the requester asks again from its new head. */
export const SYNC_RESPONSE_BYTES = 4 * 1024 * 1024
export const MAX_SYNC_REQUEST_BYTES = 1024

export const SyncType = {
  FRAME: 0x01,
  SNAPSHOT: 0x02,
  END: 0x03,
  ERROR: 0x04,
  /** Relay streams only (src/relay/): a head announcement, passed down the tier tree. */
  HEAD: 0x05
} as const

export interface SyncRequest { doc: string, after: number }

export type SyncMessage =
  | { type: 'frame', bytes: Uint8Array }
  | { type: 'head', bytes: Uint8Array }
  | { type: 'snapshot', state: Uint8Array }
  | { type: 'end', head: number }
  | { type: 'error', message: string }

/** Why a sync message was refused (the error text says more). */
export type SyncDecodeErrorCode =
  | 'too-large' // request above MAX_SYNC_REQUEST_BYTES
  | 'not-json' // request is not UTF-8 JSON
  | 'bad-field' // request is not {"doc": string, "after": non-negative safe integer}, or END/ERROR payload is wrong
  | 'empty' // message has no type byte
  | 'unknown-type' // type byte is not 0x01-0x04

export type Decoded<T> = { ok: true, value: T } | { ok: false, code: SyncDecodeErrorCode, error: string }

function refuse (code: SyncDecodeErrorCode, error: string): { ok: false, code: SyncDecodeErrorCode, error: string } {
  return { ok: false, code, error }
}

const encoder = new TextEncoder()
const decoder = new TextDecoder('utf-8', { fatal: true })

export function encodeSyncRequest (request: SyncRequest): Uint8Array {
  return encoder.encode(JSON.stringify({ doc: request.doc, after: request.after }))
}

export function decodeSyncRequest (bytes: Uint8Array): Decoded<SyncRequest> {
  if (bytes.byteLength > MAX_SYNC_REQUEST_BYTES) return refuse('too-large', 'sync request too large')
  let value: unknown
  try {
    value = JSON.parse(decoder.decode(bytes))
  } catch {
    return refuse('not-json', 'sync request is not UTF-8 JSON')
  }
  if (typeof value !== 'object' || value === null) return refuse('bad-field', 'sync request must be an object')
  const { doc, after } = value as Record<string, unknown>
  if (typeof doc !== 'string') return refuse('bad-field', 'sync request needs a string "doc"')
  if (typeof after !== 'number' || !Number.isSafeInteger(after) || after < 0) {
    return refuse('bad-field', 'sync request needs a non-negative integer "after"')
  }
  return { ok: true, value: { doc, after } }
}

export function encodeSyncMessage (message: SyncMessage): Uint8Array {
  switch (message.type) {
    case 'frame': return prefixed(SyncType.FRAME, message.bytes)
    case 'head': return prefixed(SyncType.HEAD, message.bytes)
    case 'snapshot': return prefixed(SyncType.SNAPSHOT, message.state)
    case 'error': return prefixed(SyncType.ERROR, encoder.encode(message.message))
    case 'end': {
      const payload = new Uint8Array(8)
      new DataView(payload.buffer).setBigUint64(0, BigInt(message.head))
      return prefixed(SyncType.END, payload)
    }
  }
}

export function decodeSyncMessage (bytes: Uint8Array): Decoded<SyncMessage> {
  if (bytes.byteLength < 1) return refuse('empty', 'empty sync message')
  const payload = bytes.subarray(1)
  switch (bytes[0]) {
    case SyncType.FRAME: return { ok: true, value: { type: 'frame', bytes: payload } }
    case SyncType.HEAD: return { ok: true, value: { type: 'head', bytes: payload } }
    case SyncType.SNAPSHOT: return { ok: true, value: { type: 'snapshot', state: payload } }
    case SyncType.END: {
      if (payload.byteLength !== 8) return refuse('bad-field', 'sync END must carry 8 bytes')
      const head = new DataView(payload.buffer, payload.byteOffset, 8).getBigUint64(0)
      if (head > BigInt(Number.MAX_SAFE_INTEGER)) return refuse('bad-field', 'sync END head out of range')
      return { ok: true, value: { type: 'end', head: Number(head) } }
    }
    case SyncType.ERROR: {
      try {
        return { ok: true, value: { type: 'error', message: decoder.decode(payload) } }
      } catch {
        return refuse('bad-field', 'sync ERROR is not UTF-8')
      }
    }
    default: return refuse('unknown-type', `unknown sync message type 0x${bytes[0].toString(16)}`)
  }
}

function prefixed (type: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(payload.byteLength + 1)
  out[0] = type
  out.set(payload, 1)
  return out
}
