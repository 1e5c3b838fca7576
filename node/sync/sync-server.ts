import { lpStream } from '@libp2p/utils'
import { decodeSyncRequest, encodeSyncMessage, MAX_SYNC_REQUEST_BYTES, SYNC_PROTOCOL, SYNC_RESPONSE_BYTES } from '../../src/sync/messages.ts'
import { withDeadline } from '../deadline.ts'
import type { SyncMessage } from '../../src/sync/messages.ts'
import type { ChainHead } from '../../src/log/index.ts'
import type { FrameWindow } from '../../src/replica/index.ts'
import type { Libp2p } from '@libp2p/interface'
import type { Logger } from '../log.ts'
import type { Counters } from '../metrics.ts'

/** What a node serves catch-up from: its chain head and its frame window. */
export interface SyncSource {
  readonly head: ChainHead
  readonly window: FrameWindow
}

export interface SyncServerOptions {
  /** Concurrent catch-up streams per connection. */
  maxInboundStreams: number
  /** Time a requester has to send its request. */
  requestTimeoutMs: number
}

const DEFAULTS: SyncServerOptions = { maxInboundStreams: 8, requestTimeoutMs: 10_000 }

/** Answer catch-up requests for the documents `lookup` knows. */
export async function serveSync (libp2p: Libp2p, lookup: (docId: string) => SyncSource | undefined,
  log: Logger, counters: Counters, options: Partial<SyncServerOptions> = {}): Promise<void> {
  const { maxInboundStreams, requestTimeoutMs } = { ...DEFAULTS, ...options }
  await libp2p.handle(SYNC_PROTOCOL, async (stream, connection) => {
    const lp = lpStream(stream, { maxDataLength: MAX_SYNC_REQUEST_BYTES })
    const send = async (messages: SyncMessage[]): Promise<void> => {
      await lp.writeV(messages.map(encodeSyncMessage))
    }
    try {
      const raw = await withDeadline(requestTimeoutMs, 'sync request', signal => lp.read({ signal }))
      const request = decodeSyncRequest(raw.subarray())
      if (!request.ok) {
        counters.inc('sync_bad_requests')
        log.warn({ peer: connection.remotePeer.toString(), error: request.error }, 'bad sync request')
        await send([{ type: 'error', message: request.error }])
        await stream.close()
        return
      }
      const source = lookup(request.value.doc)
      if (source === undefined) {
        counters.inc('sync_unknown_doc')
        await send([{ type: 'error', message: `unknown document ${request.value.doc}` }])
        await stream.close()
        return
      }
      const head = source.head
      const plan = source.window.catchUp(request.value.after, head.seq, SYNC_RESPONSE_BYTES)
      const messages: SyncMessage[] = []
      if (plan.kind === 'snapshot') {
        messages.push({ type: 'snapshot', state: plan.checkpoint.stateBytes })
        messages.push({ type: 'frame', bytes: plan.checkpoint.frame.bytes })
        counters.inc('sync_snapshots_served')
      }
      if (plan.kind !== 'up-to-date') {
        for (const frame of plan.frames) {
          if (plan.kind === 'snapshot' && frame.seq === plan.checkpoint.seq) continue
          messages.push({ type: 'frame', bytes: frame.bytes })
        }
      }
      messages.push({ type: 'end', head: head.seq })
      counters.inc('sync_requests_served')
      await send(messages)
      await stream.close()
    } catch (err) {
      counters.inc('sync_stream_errors')
      log.debug({ err, peer: connection.remotePeer.toString() }, 'sync stream failed')
      stream.abort(err as Error)
    }
  }, { maxInboundStreams })
}
