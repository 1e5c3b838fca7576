/**
 * The byte primitives of partials (docs/protocol.md, "Partials"): unsigned LEB128 varints for
 * safe integers, zigzag LEB128 for big integers, IEEE 754 float64 big-endian, and UTF-8 strings
 * behind a varint length. A reader that meets anything else throws PartialProblem, which the
 * partial decoder turns into data.
 */

/** Thrown inside decoders when bytes are not a valid partial; never escapes src/reduce. */
export class PartialProblem extends Error {
  static override name = 'PartialProblem'
  override name = 'PartialProblem'
}

const encoder = new TextEncoder()
const decoder = new TextDecoder('utf-8', { fatal: true })

export class ByteWriter {
  private buf = new Uint8Array(256)
  private view = new DataView(this.buf.buffer)
  private at = 0

  private room (n: number): void {
    if (this.at + n <= this.buf.length) return
    let size = this.buf.length * 2
    while (size < this.at + n) size *= 2
    const next = new Uint8Array(size)
    next.set(this.buf.subarray(0, this.at))
    this.buf = next
    this.view = new DataView(next.buffer)
  }

  u8 (value: number): void {
    this.room(1)
    this.buf[this.at++] = value
  }

  /** A non-negative safe integer. */
  varint (value: number): void {
    if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`cannot varint-encode ${value}`)
    this.room(8)
    let rest = value
    while (rest >= 0x80) {
      this.buf[this.at++] = (rest % 0x80) | 0x80
      rest = Math.floor(rest / 0x80)
    }
    this.buf[this.at++] = rest
  }

  /** Any integer, zigzag-mapped (0, -1, 1, -2 ... to 0, 1, 2, 3 ...) then LEB128. */
  bigint (value: bigint): void {
    let rest = value >= 0n ? value * 2n : -value * 2n - 1n
    while (rest >= 0x80n) {
      this.u8(Number(rest & 0x7fn) | 0x80)
      rest >>= 7n
    }
    this.u8(Number(rest))
  }

  f64 (value: number): void {
    this.room(8)
    this.view.setFloat64(this.at, value, false)
    this.at += 8
  }

  bytes (value: Uint8Array): void {
    this.varint(value.length)
    this.room(value.length)
    this.buf.set(value, this.at)
    this.at += value.length
  }

  string (value: string): void {
    this.bytes(encoder.encode(value))
  }

  finish (): Uint8Array {
    return this.buf.slice(0, this.at)
  }
}

/** Varints longer than this cannot hold a safe integer (2^53 needs 8 groups of 7 bits). */
const MAX_VARINT_BYTES = 8

export class ByteReader {
  private at = 0
  private readonly buf: Uint8Array
  private readonly view: DataView

  constructor (buf: Uint8Array) {
    this.buf = buf
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength)
  }

  private need (n: number, what: string): void {
    if (this.at + n > this.buf.length) throw new PartialProblem(`truncated: ${what} needs ${n} bytes at offset ${this.at}`)
  }

  u8 (what: string): number {
    this.need(1, what)
    return this.buf[this.at++]
  }

  varint (what: string): number {
    let value = 0
    let scale = 1
    for (let i = 0; i < MAX_VARINT_BYTES; i++) {
      const byte = this.u8(what)
      value += (byte & 0x7f) * scale
      if ((byte & 0x80) === 0) {
        if (i > 0 && byte === 0) throw new PartialProblem(`${what}: varint has a redundant trailing zero byte`)
        if (!Number.isSafeInteger(value)) throw new PartialProblem(`${what}: varint exceeds 2^53-1`)
        return value
      }
      scale *= 0x80
    }
    throw new PartialProblem(`${what}: varint longer than ${MAX_VARINT_BYTES} bytes`)
  }

  /** At most `maxBytes` LEB128 groups, so a hostile partial cannot ask for a huge number. */
  bigint (what: string, maxBytes = 32): bigint {
    let value = 0n
    let shift = 0n
    for (let i = 0; i < maxBytes; i++) {
      const byte = this.u8(what)
      value |= BigInt(byte & 0x7f) << shift
      if ((byte & 0x80) === 0) {
        if (i > 0 && byte === 0) throw new PartialProblem(`${what}: integer has a redundant trailing zero byte`)
        return (value & 1n) === 0n ? value >> 1n : -((value + 1n) >> 1n)
      }
      shift += 7n
    }
    throw new PartialProblem(`${what}: integer longer than ${maxBytes} bytes`)
  }

  f64 (what: string): number {
    this.need(8, what)
    const value = this.view.getFloat64(this.at, false)
    this.at += 8
    return value
  }

  bytes (what: string, maxLength: number): Uint8Array {
    const length = this.varint(`${what} length`)
    if (length > maxLength) throw new PartialProblem(`${what}: ${length} bytes, more than ${maxLength}`)
    this.need(length, what)
    const out = this.buf.subarray(this.at, this.at + length)
    this.at += length
    return out
  }

  string (what: string, maxLength: number): string {
    const raw = this.bytes(what, maxLength)
    try {
      return decoder.decode(raw)
    } catch {
      throw new PartialProblem(`${what}: not valid UTF-8`)
    }
  }

  done (): void {
    if (this.at !== this.buf.length) throw new PartialProblem(`${this.buf.length - this.at} trailing bytes at offset ${this.at}`)
  }
}

/** JavaScript's default string order (UTF-16 code units), as canonical JSON sorts keys. */
export function compareStrings (a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

/** The UTF-8 length of `text` without encoding it (a lone surrogate counts 3, as U+FFFD). */
export function utf8Length (text: string): number {
  let n = 0
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c < 0x80) n += 1
    else if (c < 0x800) n += 2
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 4
      i++
    } else n += 3
  }
  return n
}
