/**
 * Splits a byte stream framed as unsigned-varint length + bytes (docs/protocol.md, "Stream and
 * framing") into whole messages, chunk by chunk as the transport delivers them. What
 * @libp2p/utils lpStream's read() does, without its cost per message (a read of one byte per
 * prefix byte, each a promise raced against an abort signal): a browser pays that on every frame.
 */

import { concatBytes } from '../log/bytes.ts'
import { encodeVarint } from './varint.ts'

/** What one chunk completed: the whole messages in order, or why the stream is unusable. */
export type SplitResult =
  | { ok: true, messages: Uint8Array[] }
  | { ok: false, error: string }

const NOTHING: SplitResult = Object.freeze({ ok: true, messages: Object.freeze([]) as unknown as Uint8Array[] }) as SplitResult

export class LengthPrefixedSplitter {
  private readonly maxMessageBytes: number
  /** Longest prefix a message within the limit can have (lpStream's maxLengthLength). */
  private readonly maxPrefixBytes: number
  // the prefix being read: its value so far, the weight of its next byte, its bytes so far
  private prefixValue = 0
  private prefixScale = 1
  private prefixBytes = 0
  /** Length of the message whose body is being read, or -1 while reading a prefix. */
  private bodyLength = -1
  private readonly bodyParts: Uint8Array[] = []
  private bodyHave = 0
  private failed?: string

  constructor (maxMessageBytes: number) {
    this.maxMessageBytes = maxMessageBytes
    this.maxPrefixBytes = encodeVarint(maxMessageBytes).byteLength
  }

  /** Bytes held for a message not yet whole (a partial prefix counts too). */
  get partialBytes (): number {
    return this.bodyLength < 0 ? this.prefixBytes : this.prefixBytes + this.bodyHave
  }

  /**
   * Takes the next chunk. Messages within one chunk are views of it (no copy); one that spans
   * chunks is copied once. After an error every later chunk gets the same error.
   */
  push (chunk: Uint8Array): SplitResult {
    if (this.failed !== undefined) return { ok: false, error: this.failed }
    let messages: Uint8Array[] | undefined
    let offset = 0
    const end = chunk.byteLength
    while (offset < end) {
      if (this.bodyLength < 0) {
        const byte = chunk[offset++]
        this.prefixValue += (byte & 0x7f) * this.prefixScale
        this.prefixScale *= 0x80
        this.prefixBytes++
        if ((byte & 0x80) !== 0) {
          // no message within the limit needs another prefix byte
          if (this.prefixBytes >= this.maxPrefixBytes) return this.fail(`Message length length too long - ${this.prefixBytes + 1} > ${this.maxPrefixBytes}`)
          continue
        }
        if (this.prefixValue > this.maxMessageBytes) return this.fail(`Message length too long - ${this.prefixValue} > ${this.maxMessageBytes}`)
        const length = this.prefixValue
        if (end - offset >= length) {
          // the common case: the whole body is in this chunk
          (messages ??= []).push(chunk.subarray(offset, offset + length))
          offset += length
          this.resetPrefix()
          continue
        }
        this.bodyLength = length
      }
      const take = Math.min(this.bodyLength - this.bodyHave, end - offset)
      this.bodyParts.push(chunk.subarray(offset, offset + take))
      this.bodyHave += take
      offset += take
      if (this.bodyHave === this.bodyLength) {
        (messages ??= []).push(concatBytes(this.bodyParts, this.bodyLength))
        this.bodyParts.length = 0
        this.bodyHave = 0
        this.bodyLength = -1
        this.resetPrefix()
      }
    }
    return messages === undefined ? NOTHING : { ok: true, messages }
  }

  /** Why a stream that ends now ended early: undefined at a message boundary, else lpStream's words. */
  endError (): string | undefined {
    if (this.bodyLength >= 0) return `Unexpected EOF - read ${this.bodyHave}/${this.bodyLength} bytes before the stream closed`
    if (this.prefixBytes > 0) return 'Unexpected EOF - stream closed after reading 0/1 bytes'
    return undefined
  }

  private resetPrefix (): void {
    this.prefixValue = 0
    this.prefixScale = 1
    this.prefixBytes = 0
  }

  private fail (error: string): SplitResult {
    this.failed = error
    this.bodyParts.length = 0
    return { ok: false, error }
  }
}
