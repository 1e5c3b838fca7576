import { lpStream } from '@libp2p/utils'
import {
  decodeRelayRequest, encodeRelayMessage, MAX_RELAY_REQUEST_BYTES, RELAY_PROTOCOL, RelayRefusal, refusalText
} from '../../src/relay/messages.ts'
import { SYNC_RESPONSE_BYTES } from '../../src/sync/messages.ts'
import { withDeadline } from '../deadline.ts'
import type { RelayMessage, RelayRefusalCode } from '../../src/relay/messages.ts'
import type { ChainHead, Frame } from '../../src/log/index.ts'
import type { FrameWindow } from '../../src/replica/index.ts'
import type { Libp2p, PeerId, Stream } from '@libp2p/interface'
import type { Logger } from '../log.ts'
import type { Counters } from '../metrics.ts'

/** What a parent relays one document from: its chain, its window, and its frames as they apply. */
export interface RelaySource {
  readonly head: ChainHead
  readonly window: FrameWindow
  /**
   * Calls `onFrame` with each frame as it is applied, in chain order, `onReset` when the chain
   * jumps (the source was rebuilt from a snapshot), and `onHead` with each newer head
   * announcement's signed bytes. Returns a function that stops all three.
   */
  follow (onFrame: (frame: Frame) => void, onReset: () => void, onHead?: (bytes: Uint8Array) => void): () => void
}

export interface RelayServerOptions {
  /** Bytes queued for one child before it is cut off as too slow (it re-subscribes from its head). */
  maxQueuedBytes: number
  /** Time a child has to send its request. */
  requestTimeoutMs: number
  /** Relay streams one connection may hold open: one per document the child follows from us. */
  maxInboundStreams: number
}

export const RELAY_SERVER_DEFAULTS: RelayServerOptions = {
  maxQueuedBytes: 8 * 1024 * 1024,
  requestTimeoutMs: 10_000,
  maxInboundStreams: 10_000
}

/** Looks up the document a child asked for; undefined when this node cannot relay it. */
export type RelayLookup = (docId: string, child: PeerId) => RelaySource | undefined

/** Serve relay streams on `libp2p` for the documents `lookup` knows. */
export async function serveRelay (libp2p: Libp2p, lookup: RelayLookup, log: Logger, counters: Counters,
  options: Partial<RelayServerOptions> = {}): Promise<void> {
  await libp2p.handle(RELAY_PROTOCOL, async (stream, connection) => {
    await handleRelayStream(stream, connection.remotePeer, lookup, log, counters, options)
  }, {
    maxInboundStreams: options.maxInboundStreams ?? RELAY_SERVER_DEFAULTS.maxInboundStreams,
    // The same node follows its own parents on this protocol, one outbound stream per document
    // (libp2p's default allows 64 per connection).
    maxOutboundStreams: options.maxInboundStreams ?? RELAY_SERVER_DEFAULTS.maxInboundStreams
  })
}

/**
 * One child's subscription to one document: catch-up to the head, END, then every frame as it
 * is applied. Resolves when the stream ends, for whatever reason.
 */
export async function handleRelayStream (stream: Stream, child: PeerId, lookup: RelayLookup, log: Logger,
  counters: Counters, options: Partial<RelayServerOptions> = {}): Promise<void> {
  // (?? rather than a spread: an option passed as undefined still means the default)
  const maxQueuedBytes = options.maxQueuedBytes ?? RELAY_SERVER_DEFAULTS.maxQueuedBytes
  const requestTimeoutMs = options.requestTimeoutMs ?? RELAY_SERVER_DEFAULTS.requestTimeoutMs
  const lp = lpStream(stream, { maxDataLength: MAX_RELAY_REQUEST_BYTES })
  const childLog = log.child({ child: child.toString() })
  let stopFollowing: (() => void) | undefined
  try {
    const raw = await withDeadline(requestTimeoutMs, 'relay request', signal => lp.read({ signal }))
    const request = decodeRelayRequest(raw.subarray())
    if (!request.ok) {
      counters.inc('relay_bad_requests')
      childLog.warn({ error: request.error }, 'bad relay request')
      await refuse(lp, RelayRefusal.BAD_REQUEST, request.error)
      await stream.close()
      return
    }
    const { doc, after } = request.value
    const source = lookup(doc, child)
    if (source === undefined) {
      counters.inc('relay_refused_not_carried')
      await refuse(lp, RelayRefusal.NOT_CARRIED, `not carried here: ${doc}`)
      await stream.close()
      return
    }

    // Writes go out in order through one chain of promises; `queued` counts what waits in it.
    let queued = 0
    let writing: Promise<void> = Promise.resolve()
    let ended: { code: RelayRefusalCode, detail: string } | undefined
    let finish!: () => void
    let fail!: (err: unknown) => void
    const done = new Promise<void>((resolve, reject) => { finish = resolve; fail = reject })
    done.catch(() => {}) // awaited below; a failed write may reject it before that
    const send = (messages: RelayMessage[]): void => {
      const encoded = messages.map(encodeRelayMessage)
      const bytes = encoded.reduce((sum, m) => sum + m.byteLength, 0)
      queued += bytes
      writing = writing.then(async () => {
        await lp.writeV(encoded)
        queued -= bytes
      })
      writing.catch(fail)
    }
    const end = (code: RelayRefusalCode, detail: string): void => {
      if (ended !== undefined) return
      ended = { code, detail }
      finish()
    }

    // The child unsubscribes by closing its side; the stream may also just fail.
    const closed = (): void => { end(RelayRefusal.LEAVING, 'the child closed the stream') }
    stream.addEventListener('remoteCloseWrite', closed, { once: true })
    stream.addEventListener('close', closed, { once: true })

    // Follow first, then plan, in one tick: no frame can fall between the catch-up and the live part.
    let sentSeq = after
    let level = false
    const early: Frame[] = []
    const live = (frame: Frame): void => {
      if (frame.seq <= sentSeq) return
      if (frame.seq !== sentSeq + 1) {
        end(RelayRefusal.RESET, `chain jumped from ${sentSeq} to ${frame.seq}`)
        return
      }
      sentSeq = frame.seq
      send([{ type: 'frame', bytes: frame.bytes }])
      counters.inc('relay_frames_sent')
      if (queued > maxQueuedBytes) end(RelayRefusal.TOO_SLOW, `more than ${maxQueuedBytes} bytes unread`)
    }
    stopFollowing = source.follow(
      frame => { if (level) live(frame); else early.push(frame) },
      () => { end(RelayRefusal.RESET, 'the parent rebuilt its replica from a snapshot') },
      // Heads are small and self-certifying; one that arrives during catch-up is simply dropped.
      head => { if (level && ended === undefined && queued <= maxQueuedBytes) send([{ type: 'head', bytes: head }]) })

    // Catch-up in pieces of at most SYNC_RESPONSE_BYTES, each sent once the previous one is out.
    while (ended === undefined && sentSeq < source.head.seq) {
      const before = sentSeq
      const plan = source.window.catchUp(sentSeq, source.head.seq, SYNC_RESPONSE_BYTES)
      if (plan.kind === 'up-to-date') break
      const messages: RelayMessage[] = []
      if (plan.kind === 'snapshot') {
        messages.push({ type: 'snapshot', state: plan.checkpoint.stateBytes }, { type: 'frame', bytes: plan.checkpoint.frame.bytes })
        sentSeq = plan.checkpoint.seq
        counters.inc('relay_snapshots_sent')
      }
      for (const frame of plan.frames) {
        if (frame.seq <= sentSeq) continue
        messages.push({ type: 'frame', bytes: frame.bytes })
        sentSeq = frame.seq
      }
      if (sentSeq === before) break // nothing to send: cannot happen with a consistent window
      send(messages)
      await writing
    }
    if (ended === undefined) {
      send([{ type: 'end', head: sentSeq }])
      level = true
      for (const frame of early.splice(0)) live(frame)
      counters.inc('relay_subscriptions')
    }

    // Live until the child closes, the stream fails, or we end it.
    await done
    stream.removeEventListener('remoteCloseWrite', closed)
    stream.removeEventListener('close', closed)
    stopFollowing()
    stopFollowing = undefined
    if (ended?.code === RelayRefusal.LEAVING) {
      await stream.close().catch(() => {})
    } else if (ended !== undefined) {
      counters.inc(`relay_ended_${ended.code.replaceAll('-', '_')}`)
      childLog.info({ doc, code: ended.code }, `relay ended: ${ended.detail}`)
      // A slow child's queue is the problem: abort rather than queue the refusal behind it.
      if (ended.code === RelayRefusal.TOO_SLOW) stream.abort(new Error(refusalText(ended.code, ended.detail)))
      else {
        await refuse(lp, ended.code, ended.detail)
        await stream.close()
      }
    }
  } catch (err) {
    counters.inc('relay_stream_errors')
    childLog.debug({ err }, 'relay stream failed')
    stream.abort(err as Error)
  } finally {
    stopFollowing?.()
  }
}

async function refuse (lp: { write: (bytes: Uint8Array) => Promise<void> }, code: RelayRefusalCode, detail: string): Promise<void> {
  await lp.write(encodeRelayMessage({ type: 'error', message: refusalText(code, detail) }))
}
