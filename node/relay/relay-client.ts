import { lpStream } from '@libp2p/utils'
import {
  decodeRelayMessage, encodeRelayRequest, MAX_RELAY_MESSAGE_BYTES, RELAY_PROTOCOL, refusalCode
} from '../../src/relay/messages.ts'
import type { RelayMessage, RelayRefusalCode } from '../../src/relay/messages.ts'
import type { Libp2p, PeerId, Stream } from '@libp2p/interface'

/** Thrown when a parent's relay stream breaks the protocol. */
export class RelayProtocolError extends Error {
  static override name = 'RelayProtocolError'
  override name = 'RelayProtocolError'
}

/** What a child does with what its parent relays. Nothing here is verified yet: the child must. */
export interface RelayFollower {
  /** The catch-up part, up to and including END, as one batch (a snapshot arrives with its frame). */
  caughtUp (messages: RelayMessage[]): void
  /** One live frame, in chain order. */
  frame (bytes: Uint8Array): void
  /** A head announcement the parent passed down (unverified). */
  head? (bytes: Uint8Array): void
}

/** How a relay stream ended. */
export type RelayEnd =
  | { reason: 'closed' }
  | { reason: 'refused', code: RelayRefusalCode | undefined, message: string }

/**
 * Follow `docId` from `parent`, starting after `after`, until the stream ends. Resolves with how
 * it ended (the parent closed it, or refused with a code); rejects if the dial fails, the parent
 * breaks the protocol, or `signal` aborts.
 */
export async function followRelay (libp2p: Libp2p, parent: PeerId, docId: string, after: number,
  follower: RelayFollower, options: { signal: AbortSignal }): Promise<RelayEnd> {
  const stream = await libp2p.dialProtocol(parent, RELAY_PROTOCOL, options)
  return await followRelayStream(stream, docId, after, follower, options)
}

/** followRelay on a stream already open to the parent (tests hand in one end of a stream pair). */
export async function followRelayStream (stream: Stream, docId: string, after: number,
  follower: RelayFollower, options: { signal: AbortSignal }): Promise<RelayEnd> {
  const abort = (): void => { stream.abort(new Error('relay follow aborted')) }
  options.signal.addEventListener('abort', abort, { once: true })
  try {
    // The read buffer must hold the largest message (a snapshot) whole.
    const lp = lpStream(stream, { maxDataLength: MAX_RELAY_MESSAGE_BYTES, maxBufferSize: MAX_RELAY_MESSAGE_BYTES + 16 })
    await lp.write(encodeRelayRequest({ doc: docId, after }), options)
    const batch: RelayMessage[] = []
    let level = false
    while (true) {
      let raw
      try {
        raw = await lp.read(options)
      } catch (err) {
        if ((err as Error).name === 'UnexpectedEOFError' && !options.signal.aborted) return { reason: 'closed' }
        throw err
      }
      const decoded = decodeRelayMessage(raw.subarray())
      if (!decoded.ok) throw new RelayProtocolError(decoded.error)
      const message = decoded.value
      if (message.type === 'error') {
        if (!level && batch.length > 0) follower.caughtUp(batch.splice(0))
        await stream.close().catch(() => {})
        return { reason: 'refused', code: refusalCode(message.message), message: message.message }
      }
      if (level) {
        if (message.type === 'frame') follower.frame(message.bytes)
        else if (message.type === 'head') follower.head?.(message.bytes)
        else throw new RelayProtocolError(`a ${message.type} message after END`)
        continue
      }
      if (message.type === 'head') throw new RelayProtocolError('a head announcement before END')
      batch.push(message)
      if (message.type === 'end') {
        level = true
        follower.caughtUp(batch.splice(0))
      }
    }
  } catch (err) {
    stream.abort(err as Error)
    throw err
  } finally {
    options.signal.removeEventListener('abort', abort)
  }
}
