// The child side of the reduce protocol: one stream per document to the current parent (tier
// proxy, or the authority). Each window's fresh partials go on it; a new parent, or a stream
// that broke, gets everything not yet acknowledged (partials are idempotent), and so does the
// same parent every RESEND_MS while nothing settles (`stale`), in case it died holding
// something before passing it on.

import { lpStream } from '@libp2p/utils'
import { peerIdFromString } from '@libp2p/peer-id'
import { encodePartial, MAX_REDUCE_MESSAGE_BYTES, REDUCE_PROTOCOL } from '../../src/reduce/index.ts'
import { withDeadline } from '../deadline.ts'
import type { Partial } from '../../src/reduce/index.ts'
import type { Libp2p, Stream } from '@libp2p/interface'
import type { LengthPrefixedStream } from '@libp2p/utils'
import type { Logger } from '../log.ts'
import type { Counters } from '../metrics.ts'

/** Unacknowledged contributions go again to the same parent this often, while none settles. */
export const RESEND_MS = 5_000

/** How long the dial to a parent, and each write to it, may take before the link starts afresh. */
const SEND_TIMEOUT_MS = 10_000

const encoder = new TextEncoder()

export class ParentLink {
  private readonly node: Libp2p
  private readonly docId: string
  private readonly log: Logger
  private readonly counters: Counters
  private parent: string | undefined
  private lp: LengthPrefixedStream<Stream> | undefined
  private stream: Stream | undefined
  private lastFullSend = 0
  private busy = false

  constructor (node: Libp2p, docId: string, log: Logger, counters: Counters) {
    this.node = node
    this.docId = docId
    this.log = log
    this.counters = counters
  }

  /** The parent sent to now, if any. */
  get current (): string | undefined {
    return this.parent
  }

  /**
   * Sends `fresh` to `parent`; on a new parent, a new stream, or every RESEND_MS while `stale`
   * (nothing settled for that long), `pending()` instead (a superset of fresh). Never throws: a failure means the next call starts afresh.
   * Returns false when nothing could be sent (no parent, or the send failed).
   */
  async send (parent: string | undefined, fresh: readonly Partial[], pending: () => readonly Partial[], now = Date.now(), stale = true): Promise<boolean> {
    if (this.busy) return false
    this.busy = true
    try {
      if (parent === undefined) return false
      let partials = fresh
      if (parent !== this.parent || this.lp === undefined || this.stream?.status !== 'open') {
        this.close()
        const stream = await withDeadline(SEND_TIMEOUT_MS, `reduce dial to ${parent}`, signal => this.node.dialProtocol(peerIdFromString(parent), REDUCE_PROTOCOL, { signal }))
        this.stream = stream
        this.lp = lpStream(stream, { maxDataLength: MAX_REDUCE_MESSAGE_BYTES })
        await this.lp.write(encoder.encode(this.docId))
        if (this.parent !== undefined && this.parent !== parent) this.counters.inc('partial_parent_changes')
        this.parent = parent
        partials = pending()
        this.lastFullSend = now
      } else if (stale && now - this.lastFullSend >= RESEND_MS) {
        partials = pending()
        this.lastFullSend = now
      }
      const lp = this.lp
      for (const partial of partials) {
        if (partial.windows.size === 0 && partial.resent.size === 0) continue
        await withDeadline(SEND_TIMEOUT_MS, 'partial write to the parent', signal => lp.write(encodePartial(partial), { signal }))
        this.counters.inc('partials_sent')
      }
      return true
    } catch (err: any) {
      this.counters.inc('partial_sends_failed')
      this.log.info({ docId: this.docId, parent, err: err?.message }, 'could not send partials to the parent')
      this.close()
      return false
    } finally {
      this.busy = false
    }
  }

  close (): void {
    if (this.stream?.status === 'open') this.stream.abort(new Error('parent link closed'))
    this.stream = undefined
    this.lp = undefined
  }
}
