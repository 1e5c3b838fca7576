import assert from 'node:assert/strict'
import { LengthPrefixedSplitter } from '../../../src/observe/length-prefixed.ts'
import { encodeVarint } from '../../../src/observe/varint.ts'
import type { SplitResult } from '../../../src/observe/length-prefixed.ts'

const text = new TextEncoder()
const bytes = (value: string): Uint8Array => text.encode(value)
const framed = (...messages: Uint8Array[]): Uint8Array => concat(messages.flatMap(m => [encodeVarint(m.byteLength), m]))
const strings = (result: SplitResult): string[] => {
  assert.ok(result.ok, result.ok ? '' : result.error)
  return result.messages.map(m => new TextDecoder().decode(m))
}

describe('observe/length-prefixed: splitting a varint-framed stream into messages', () => {
  it('hands on a message that arrives whole, as a view of the chunk', () => {
    const chunk = framed(bytes('{"seq":1}'))
    const result = new LengthPrefixedSplitter(1024).push(chunk)
    assert.deepEqual(strings(result), ['{"seq":1}'])
    assert.ok(result.ok && result.messages[0].buffer === chunk.buffer, 'no copy for a message within one chunk')
  })

  it('hands on every message of a chunk that carries several, in order', () => {
    const splitter = new LengthPrefixedSplitter(1024)
    assert.deepEqual(strings(splitter.push(framed(bytes('a'), bytes('bb'), bytes('ccc')))), ['a', 'bb', 'ccc'])
    assert.equal(splitter.partialBytes, 0)
  })

  it('reassembles a body split across chunks, and holds only its bytes meanwhile', () => {
    const body = 'x'.repeat(300) // a two-byte prefix
    const all = framed(bytes(body))
    const splitter = new LengthPrefixedSplitter(1024)
    assert.deepEqual(strings(splitter.push(all.subarray(0, 10))), [])
    assert.equal(splitter.partialBytes, 10)
    assert.deepEqual(strings(splitter.push(all.subarray(10, 200))), [])
    assert.deepEqual(strings(splitter.push(all.subarray(200))), [body])
    assert.equal(splitter.partialBytes, 0)
  })

  it('reads a prefix split across chunks', () => {
    const body = 'y'.repeat(200)
    const all = framed(bytes(body), bytes('next'))
    assert.equal(all[0] & 0x80, 0x80, 'the prefix takes two bytes')
    const splitter = new LengthPrefixedSplitter(1024)
    assert.deepEqual(strings(splitter.push(all.subarray(0, 1))), [])
    assert.equal(splitter.partialBytes, 1)
    assert.deepEqual(strings(splitter.push(all.subarray(1, 2))), [])
    assert.deepEqual(strings(splitter.push(all.subarray(2))), [body, 'next'])
  })

  it('gives the same messages for every way of cutting the same bytes', () => {
    const messages = ['{"seq":1}', '', 'z'.repeat(130), '{"seq":2,"data":{}}', 'w'.repeat(20_000)]
    const all = framed(...messages.map(bytes))
    for (const size of [1, 2, 3, 7, 64, 129, 1000, all.byteLength]) {
      const splitter = new LengthPrefixedSplitter(64 * 1024)
      const got: string[] = []
      for (let at = 0; at < all.byteLength; at += size) got.push(...strings(splitter.push(all.subarray(at, at + size))))
      assert.deepEqual(got, messages, `chunks of ${size} bytes`)
      assert.equal(splitter.endError(), undefined)
    }
  })

  it('hands on a zero-length message as an empty one (the protocol then calls it bad JSON)', () => {
    const splitter = new LengthPrefixedSplitter(1024)
    assert.deepEqual(strings(splitter.push(Uint8Array.of(0, 0, 1, 0x41))), ['', '', 'A'])
  })

  it('refuses a length above the limit as soon as the prefix is read, with lpStream\'s words', () => {
    const splitter = new LengthPrefixedSplitter(30)
    assert.deepEqual(splitter.push(encodeVarint(31)), { ok: false, error: 'Message length too long - 31 > 30' })
    assert.deepEqual(splitter.push(framed(bytes('ok'))), { ok: false, error: 'Message length too long - 31 > 30' }, 'the stream stays broken')
    assert.deepEqual(strings(new LengthPrefixedSplitter(30).push(framed(bytes('x'.repeat(30))))), ['x'.repeat(30)], 'the limit itself is allowed')
  })

  it('refuses a prefix longer than any length within the limit needs', () => {
    // 4 MiB needs four prefix bytes: a fifth continuation byte can only mean more
    const splitter = new LengthPrefixedSplitter(4 * 1024 * 1024)
    assert.deepEqual(strings(splitter.push(Uint8Array.of(0x80, 0x80, 0x80))), [])
    assert.deepEqual(splitter.push(Uint8Array.of(0x80)), { ok: false, error: 'Message length length too long - 5 > 4' })
    assert.deepEqual(new LengthPrefixedSplitter(4 * 1024 * 1024).push(encodeVarint(4 * 1024 * 1024 + 1)), { ok: false, error: 'Message length too long - 4194305 > 4194304' })
  })

  it('says how a stream that ends mid-message ended early', () => {
    const inBody = new LengthPrefixedSplitter(1024)
    inBody.push(framed(bytes('abcdef')).subarray(0, 4))
    assert.equal(inBody.endError(), 'Unexpected EOF - read 3/6 bytes before the stream closed')
    const inPrefix = new LengthPrefixedSplitter(1024)
    inPrefix.push(Uint8Array.of(0x81))
    assert.equal(inPrefix.endError(), 'Unexpected EOF - stream closed after reading 0/1 bytes')
  })
})

function concat (parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0))
  let at = 0
  for (const part of parts) { out.set(part, at); at += part.byteLength }
  return out
}
