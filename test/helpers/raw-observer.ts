// An observer that speaks the observe protocol by hand over a libp2p connection: for tests that
// need to see every message, open several streams on one connection, or misbehave on purpose.

import { lpStream } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import { createObserverNode } from '../../browser/node.ts'
import { encodeMessage, OBSERVE_PROTOCOL, parseServerMessage } from '../../src/observe/protocol.ts'
import type { ObserverNode } from '../../browser/node.ts'
import type { ServerMessage } from '../../src/observe/protocol.ts'
import type { Connection, Stream } from '@libp2p/interface'

export async function createTestObserverNode (): Promise<ObserverNode> {
  return await createObserverNode({ transports: ['websockets', 'webrtc-direct'], allowPrivateAddresses: true, livenessIntervalMs: 60_000, livenessTimeoutMs: 10_000 })
}

/** One observe stream: every message it received, in order, and how it ended. */
export class RawObserver {
  readonly messages: ServerMessage[] = []
  /** Highest seq received (reset or frame); -1 before the first. */
  seq = -1
  ended?: string
  readonly stream: Stream

  private constructor (stream: Stream) {
    this.stream = stream
  }

  /** Opens an observe stream (on `connection` if given, else on a connection to `addr`) and sends the request. */
  static async open (node: ObserverNode, target: string | Connection, docId: string): Promise<RawObserver> {
    const stream = typeof target === 'string'
      ? await node.dialProtocol(multiaddr(target), OBSERVE_PROTOCOL, { signal: AbortSignal.timeout(15_000) })
      : await target.newStream(OBSERVE_PROTOCOL, { signal: AbortSignal.timeout(15_000) })
    const observer = new RawObserver(stream)
    stream.send(encodeMessage({ doc: docId, after: null }))
    void observer.read()
    return observer
  }

  get error (): string | undefined {
    const last = this.messages.at(-1)
    return last !== undefined && 'error' in last ? (last as { code: string }).code : undefined
  }

  private async read (): Promise<void> {
    const lp = lpStream(this.stream, { maxDataLength: 8 * 1024 * 1024 })
    try {
      while (true) {
        const parsed = parseServerMessage((await lp.read()).subarray())
        if (!parsed.ok) throw new Error(parsed.error)
        this.messages.push(parsed.value)
        if ('seq' in parsed.value) this.seq = Math.max(this.seq, parsed.value.seq)
      }
    } catch (err: any) {
      this.ended = err?.name ?? String(err)
    }
  }
}
