// The length-prefixed messages of one stream, read by one long-lived listener (browser/observe.ts).

import { LengthPrefixedSplitter } from '../src/observe/length-prefixed.ts'
import { withVarintLength } from '../src/observe/varint.ts'
import type { Stream, StreamCloseEvent, StreamMessageEvent } from '@libp2p/interface'

export interface StreamMessagesOptions {
  /** Largest message accepted; a longer one ends the stream (lpStream's maxDataLength). */
  maxMessageBytes: number
  /** Most bytes held unread (whole messages not yet taken plus a partial one); past it the stream is aborted (lpStream's maxBufferSize). */
  maxBufferBytes: number
  /** Ends every wait at once (with the signal's reason), as lpStream's read({ signal }) did. */
  signal: AbortSignal
}

/**
 * Listens to the stream's 'message' events once, for the stream's life, and splits them into
 * messages (src/observe/length-prefixed.ts): a message costs no promise when the reader is
 * behind, one when it waits, and no abort listener. The reader drains between network events, so
 * little is held; a burst past maxBufferBytes aborts the stream with a named error, as lpStream
 * did. Messages already whole when the stream ends are handed on before the end.
 */
export class StreamMessages {
  private readonly stream: Stream
  private readonly splitter: LengthPrefixedSplitter
  private readonly maxBufferBytes: number
  private readonly signal: AbortSignal
  private readonly queue: Uint8Array[] = []
  private head = 0
  private queuedBytes = 0
  private waiting?: { resolve: (message: Uint8Array) => void, reject: (err: Error) => void }
  /** Why no more messages will come, once known. */
  private end?: Error

  constructor (stream: Stream, options: StreamMessagesOptions) {
    this.stream = stream
    this.splitter = new LengthPrefixedSplitter(options.maxMessageBytes)
    this.maxBufferBytes = options.maxBufferBytes
    this.signal = options.signal
    stream.addEventListener('message', this.onMessage)
    stream.addEventListener('close', this.onClose)
    stream.addEventListener('remoteCloseWrite', this.onRemoteCloseWrite)
    this.signal.addEventListener('abort', this.onAbort)
  }

  /** The next message; rejects once the stream has ended (or on stop) and every whole message was taken. */
  async next (): Promise<Uint8Array> {
    if (this.signal.aborted) throw abortReason(this.signal)
    if (this.head < this.queue.length) return this.take()
    if (this.end !== undefined) throw this.end
    return await new Promise<Uint8Array>((resolve, reject) => { this.waiting = { resolve, reject } })
  }

  /** Stops listening (the stream itself is left as it is). */
  close (): void {
    this.stream.removeEventListener('message', this.onMessage)
    this.stream.removeEventListener('close', this.onClose)
    this.stream.removeEventListener('remoteCloseWrite', this.onRemoteCloseWrite)
    this.signal.removeEventListener('abort', this.onAbort)
    this.finish(new StreamMessagesClosedError('stream reader closed'))
  }

  private take (): Uint8Array {
    const message = this.queue[this.head++]
    this.queuedBytes -= message.byteLength
    if (this.head === this.queue.length) {
      this.queue.length = 0
      this.head = 0
    }
    return message
  }

  private readonly onMessage = (evt: StreamMessageEvent): void => {
    if (this.end !== undefined) return
    const data = evt.data
    if (data instanceof Uint8Array) this.split(data)
    else for (const chunk of data) if (!this.split(chunk)) break
    if (this.end !== undefined) return
    const held = this.queuedBytes + this.splitter.partialBytes
    if (held > this.maxBufferBytes) {
      const err = new StreamBufferOverflowError(`Read buffer overflow - ${held} > ${this.maxBufferBytes}`)
      this.queue.length = 0
      this.head = 0
      this.queuedBytes = 0
      this.finish(err)
      // let the current dispatch finish first, as lpStream did
      queueMicrotask(() => { this.stream.abort(err) })
      return
    }
    const waiting = this.waiting
    if (waiting !== undefined && this.head < this.queue.length) {
      this.waiting = undefined
      waiting.resolve(this.take())
    }
  }

  /** Queues the messages the chunk completes; false (and the end set) when the framing is broken. */
  private split (chunk: Uint8Array): boolean {
    const result = this.splitter.push(chunk)
    if (!result.ok) {
      this.finish(new InvalidMessageLengthError(result.error))
      return false
    }
    for (const message of result.messages) {
      this.queue.push(message)
      this.queuedBytes += message.byteLength
    }
    return true
  }

  private readonly onClose = (evt: StreamCloseEvent): void => {
    this.finish(evt.error ?? this.eof())
  }

  private readonly onRemoteCloseWrite = (): void => {
    this.finish(this.eof())
  }

  private readonly onAbort = (): void => {
    const waiting = this.waiting
    this.waiting = undefined
    waiting?.reject(abortReason(this.signal))
  }

  private eof (): Error {
    return new UnexpectedEOFError(this.splitter.endError() ?? 'Unexpected EOF - stream closed after reading 0/1 bytes')
  }

  /** Sets the end (the first one counts); a waiting reader gets it only once nothing is queued. */
  private finish (err: Error): void {
    if (this.end !== undefined) return
    this.end = err
    if (this.head < this.queue.length) return
    const waiting = this.waiting
    this.waiting = undefined
    waiting?.reject(err)
  }
}

function abortReason (signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new Error(String(signal.reason ?? 'aborted'))
}

/** Thrown when the stream ended before a message boundary, or at one (lpStream's UnexpectedEOFError). */
export class UnexpectedEOFError extends Error {
  static override name = 'UnexpectedEOFError'
  override name = 'UnexpectedEOFError'
}

/** Thrown when a length prefix announces more than maxMessageBytes, or is longer than such a length needs. */
export class InvalidMessageLengthError extends Error {
  static override name = 'InvalidMessageLengthError'
  override name = 'InvalidMessageLengthError'
}

/** Thrown when more than maxBufferBytes arrived unread: the stream is aborted. */
export class StreamBufferOverflowError extends Error {
  static override name = 'StreamBufferOverflowError'
  override name = 'StreamBufferOverflowError'
}

/** Thrown by next() after close(). */
export class StreamMessagesClosedError extends Error {
  static override name = 'StreamMessagesClosedError'
  override name = 'StreamMessagesClosedError'
}

/** Writes one length-prefixed message, waiting for the stream to drain when it asks to (lpStream's write). */
export async function writeMessage (stream: Stream, data: Uint8Array, options: { signal?: AbortSignal } = {}): Promise<void> {
  if (!stream.send(withVarintLength(data))) await stream.onDrain(options)
}
