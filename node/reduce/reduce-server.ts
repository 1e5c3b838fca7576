// The parent side of the reduce protocol (src/reduce/uplink.ts): reads partials from children
// (super-peers, tier proxies) and hands each, decoded, to the document's receiver. One-way:
// nothing is answered, acknowledgements come down the log.

import { lpStream } from '@libp2p/utils'
import { decodePartial, MAX_DOC_ID_BYTES, MAX_REDUCE_MESSAGE_BYTES, REDUCE_PROTOCOL } from '../../src/reduce/index.ts'
import { withDeadline } from '../deadline.ts'
import type { Partial } from '../../src/reduce/index.ts'
import type { Libp2p } from '@libp2p/interface'
import type { Logger } from '../log.ts'
import type { Counters } from '../metrics.ts'

/** Takes one child's partial for a document; undefined when the document is not carried here. */
export type PartialReceiver = (docId: string) => ((partial: Partial, from: string, bytes: number) => Promise<void>) | undefined

const decoder = new TextDecoder('utf-8', { fatal: true })

export async function serveReduce (node: Pick<Libp2p, 'handle'>, receiverOf: PartialReceiver, log: Logger, counters: Counters): Promise<void> {
  await node.handle(REDUCE_PROTOCOL, async (stream, connection) => {
    const from = connection.remotePeer.toString()
    const lp = lpStream(stream, { maxDataLength: MAX_REDUCE_MESSAGE_BYTES, maxBufferSize: MAX_REDUCE_MESSAGE_BYTES + 16 })
    try {
      const head = await withDeadline(10_000, 'reduce stream document id', signal => lp.read({ signal }))
      if (head.byteLength > MAX_DOC_ID_BYTES) throw new Error('doc id too long')
      const docId = decoder.decode(head.subarray())
      const receive = receiverOf(docId)
      if (receive === undefined) {
        counters.inc('partials_rejected_unknown_doc')
        stream.abort(new Error(`not carried here: ${docId}`))
        return
      }
      while (true) {
        const bytes = (await lp.read()).subarray()
        const decoded = decodePartial(bytes)
        if (!decoded.ok) {
          // A child that sends garbage is broken or rogue: nothing of it counts; it may reconnect.
          counters.inc('partials_rejected_malformed')
          log.warn({ from, docId, error: decoded.error }, 'malformed partial refused')
          stream.abort(new Error(`malformed partial: ${decoded.error}`))
          return
        }
        counters.inc('partials_received')
        await receive(decoded.partial, from, bytes.byteLength)
      }
    } catch (err: any) {
      // The child went away (or closed its end): what it sent is already handed over.
      log.debug({ from, err: err?.message }, 'reduce stream ended')
      if (stream.status === 'open') stream.abort(err instanceof Error ? err : new Error(String(err)))
    }
  }, { maxInboundStreams: 64 })
}
