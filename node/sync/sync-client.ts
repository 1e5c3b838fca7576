import { lpStream } from '@libp2p/utils'
import { decodeSyncMessage, encodeSyncRequest, MAX_SYNC_MESSAGE_BYTES, SYNC_PROTOCOL } from '../../src/sync/messages.ts'
import type { SyncMessage } from '../../src/sync/messages.ts'
import type { Libp2p, PeerId } from '@libp2p/interface'

/** Thrown when a peer's catch-up answer breaks the protocol. */
export class SyncProtocolError extends Error {
  static override name = 'SyncProtocolError'
  override name = 'SyncProtocolError'
}

/**
 * Ask `peer` for what follows `after` in `docId`'s chain. Returns the raw, unverified messages up
 * to and including END: the caller verifies every frame and snapshot before using any of it.
 */
export async function requestCatchUp (libp2p: Libp2p, peer: PeerId, docId: string, after: number,
  options: { signal: AbortSignal }): Promise<SyncMessage[]> {
  const stream = await libp2p.dialProtocol(peer, SYNC_PROTOCOL, options)
  try {
    const lp = lpStream(stream, { maxDataLength: MAX_SYNC_MESSAGE_BYTES })
    await lp.write(encodeSyncRequest({ doc: docId, after }), options)
    const messages: SyncMessage[] = []
    while (true) {
      const decoded = decodeSyncMessage((await lp.read(options)).subarray())
      if (!decoded.ok) throw new SyncProtocolError(decoded.error)
      messages.push(decoded.value)
      if (decoded.value.type === 'end' || decoded.value.type === 'error') break
    }
    await stream.close(options)
    return messages
  } catch (err) {
    stream.abort(err as Error)
    throw err
  }
}
