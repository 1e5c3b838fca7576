/**
 * Writer messages: what a connected browser sends and is answered on its writer stream
 * (docs/protocol.md, "Writer messages"). JSON, whitespace-free, keys in the order shown there;
 * decoders accept any key order but no unknown keys.
 */
import type { Json } from '../json.ts'
import { isJsonObject } from '../json.ts'
import { CHANNEL_NAME, ORIGIN_TEXT } from './partial.ts'
import type { Prior } from './partial.ts'

/** A first send carries the window it is stamped for; a resend after failover carries its prior instead. */
export type WriterSend =
  | { readonly channel: string, readonly id: number, readonly window: number, readonly body: Json }
  | { readonly channel: string, readonly id: number, readonly prior: Prior | null, readonly body: Json }

export type DecodeSendResult = { ok: true, send: WriterSend } | { ok: false, error: string }

const isSafeCount = (value: Json | undefined, min: number): value is number =>
  typeof value === 'number' && Number.isSafeInteger(value) && value >= min

/** Decodes the value of a `{"send": ...}` message. */
export function decodeSend (json: Json): DecodeSendResult {
  if (!isJsonObject(json)) return { ok: false, error: 'send must be an object' }
  for (const key of Object.keys(json)) {
    if (!['channel', 'id', 'window', 'prior', 'body'].includes(key)) return { ok: false, error: `send: unknown key "${key}"` }
  }
  const { channel, id, body } = json
  if (typeof channel !== 'string' || !CHANNEL_NAME.test(channel)) return { ok: false, error: 'send.channel must be a channel name' }
  if (!isSafeCount(id, 1)) return { ok: false, error: 'send.id must be an integer 1..2^53-1' }
  if (body === undefined) return { ok: false, error: 'send.body is required' }
  const hasWindow = Object.hasOwn(json, 'window')
  const hasPrior = Object.hasOwn(json, 'prior')
  if (hasWindow === hasPrior) return { ok: false, error: 'send needs exactly one of window (a first send) and prior (a resend)' }
  if (hasWindow) {
    if (!isSafeCount(json.window, 0)) return { ok: false, error: 'send.window must be an integer 0..2^53-1' }
    return { ok: true, send: { channel, id, window: json.window, body } }
  }
  const prior = json.prior
  if (prior === null) return { ok: true, send: { channel, id, prior: null, body } }
  const priorKeys = isJsonObject(prior) ? Object.keys(prior) : []
  if (!isJsonObject(prior) || !priorKeys.every(k => k === 'origin' || k === 'window' || k === 'unconfirmed') || typeof prior.origin !== 'string' || !ORIGIN_TEXT.test(prior.origin) ||
    !isSafeCount(prior.window, 0) || (Object.hasOwn(prior, 'unconfirmed') && prior.unconfirmed !== true)) {
    return { ok: false, error: 'send.prior must be null or {"origin": <origin>, "window": <integer>} with "unconfirmed": true when no accepted came' }
  }
  const unconfirmed = prior.unconfirmed === true ? { unconfirmed: true } : {}
  return { ok: true, send: { channel, id, prior: { origin: prior.origin, window: prior.window, ...unconfirmed }, body } }
}

export function encodeSend (send: WriterSend): string {
  const head = `{"send":{"channel":${JSON.stringify(send.channel)},"id":${send.id},`
  const where = 'window' in send
    ? `"window":${send.window}`
    : `"prior":${send.prior === null ? 'null' : `{"origin":${JSON.stringify(send.prior.origin)},"window":${send.prior.window}${send.prior.unconfirmed === true ? ',"unconfirmed":true' : ''}}`}`
  return `${head}${where},"body":${JSON.stringify(send.body)}}}`
}

/** Sent once when a writer connects, and again when a channel's window width changes. */
export function encodeWindows (origin: string, windows: ReadonlyArray<{ channel: string, widthMs: number, open: number }>): string {
  const list = windows.map(w => `{"channel":${JSON.stringify(w.channel)},"widthMs":${w.widthMs},"open":${w.open}}`).join(',')
  return `{"windows":{"origin":${JSON.stringify(origin)},"channels":[${list}]}}`
}

/** First sends `ids` of `channel` are in this super-peer's window `window`: a resend may name it as prior. */
export function encodeAccepted (channel: string, window: number, ids: readonly number[]): string {
  return `{"accepted":{"channel":${JSON.stringify(channel)},"window":${window},"ids":[${ids.join(',')}]}}`
}

/** The messages `ids` of `channel` are counted in the document at seq `seq` (or before it). */
export function encodeAck (channel: string, ids: readonly number[], seq: number): string {
  return `{"ack":{"channel":${JSON.stringify(channel)},"ids":[${ids.join(',')}],"seq":${seq}}}`
}

/** A send that was not accepted; `open` tells a window-closed sender which window to restamp with. */
export function encodeRefusal (refusal: { channel: string, id: number, code: string, error: string, rule?: string, open?: number }): string {
  const rule = refusal.rule !== undefined ? `,"rule":${JSON.stringify(refusal.rule)}` : ''
  const open = refusal.open !== undefined ? `,"open":${refusal.open}` : ''
  return `{"refused":${JSON.stringify(refusal.error)},"code":${JSON.stringify(refusal.code)},"channel":${JSON.stringify(refusal.channel)},"id":${refusal.id}${rule}${open}}`
}
