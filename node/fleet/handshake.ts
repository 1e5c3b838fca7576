/**
 * The fleet handshake, /deltacast/fleet/1.0.0. Right after a backbone connection opens, each side
 * opens one stream on it and presents its fleet certificate:
 *
 *   opener  -> listener   one length-prefixed message: the certificate, UTF-8 (empty: none)
 *   listener -> opener    one length-prefixed message: UTF-8 JSON {"ok":true}
 *                         or {"ok":false,"code":"<code>","error":"<text>"}
 *
 * The listener has recorded its verdict before it answers, so an opener told "ok" may send
 * gossipsub RPCs at once and they are accepted.
 */
import { lpStream } from '@libp2p/utils'
import { MAX_FLEET_CERT_CHARS } from '../../src/identity/index.ts'
import type { Connection, Stream } from '@libp2p/interface'

export const FLEET_PROTOCOL = '/deltacast/fleet/1.0.0'
/** A certificate is ASCII, so its bytes are its characters; the reply is short. */
export const MAX_HANDSHAKE_MESSAGE_BYTES = MAX_FLEET_CERT_CHARS + 1024

export type HandshakeReply = { ok: true } | { ok: false, code: string, error: string }

export function encodeReply (reply: HandshakeReply): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(reply))
}

export function decodeReply (bytes: Uint8Array): HandshakeReply {
  try {
    const value: unknown = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes))
    if (typeof value === 'object' && value !== null) {
      const reply = value as Record<string, unknown>
      if (reply.ok === true) return { ok: true }
      // A refusal must name its code: an empty or missing one would reach the operator as nothing.
      if (reply.ok === false && typeof reply.code === 'string' && /^[a-z][a-z0-9-]{0,63}$/.test(reply.code) && typeof reply.error === 'string') {
        return { ok: false, code: reply.code, error: reply.error.slice(0, 1024) }
      }
    }
  } catch {}
  return { ok: false, code: 'bad-reply', error: 'the peer answered something that is not a handshake reply' }
}

/**
 * Presents `cert` on `connection` and returns the peer's verdict. Throws if the stream cannot be
 * opened (e.g. the peer does not speak the protocol) or the peer does not answer in time.
 */
export async function presentCert (connection: Connection, cert: string | undefined, signal: AbortSignal): Promise<HandshakeReply> {
  const stream = await connection.newStream(FLEET_PROTOCOL, { signal })
  try {
    const lp = lpStream(stream, { maxDataLength: MAX_HANDSHAKE_MESSAGE_BYTES })
    await lp.write(new TextEncoder().encode(cert ?? ''), { signal })
    const reply = decodeReply((await lp.read({ signal })).subarray())
    await stream.close({ signal }).catch(() => {})
    return reply
  } catch (err) {
    stream.abort(err as Error)
    throw err
  }
}

/**
 * The listener side: reads the presented certificate (empty string: none), asks `judge` for a
 * verdict (which records it), and answers.
 */
export async function answerPresentation (stream: Stream, judge: (cert: string) => HandshakeReply, signal: AbortSignal): Promise<HandshakeReply> {
  const lp = lpStream(stream, { maxDataLength: MAX_HANDSHAKE_MESSAGE_BYTES })
  let cert: string
  try {
    cert = new TextDecoder('utf-8', { fatal: true }).decode((await lp.read({ signal })).subarray())
  } catch (err) {
    stream.abort(err as Error)
    return { ok: false, code: 'no-certificate', error: `no certificate presented: ${(err as Error).message}` }
  }
  const reply = judge(cert)
  try {
    await lp.write(encodeReply(reply), { signal })
    await stream.close({ signal })
  } catch (err) {
    stream.abort(err as Error)
  }
  return reply
}
