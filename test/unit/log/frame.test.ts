import assert from 'node:assert/strict'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import {
  GENESIS_HASH, InvalidUnsignedFrameError, MAX_SEQ, decodeFrame, docIdFor, encodeUnsignedFrame, signFrameSync
} from '../../../src/log/index.ts'
import type { UnsignedFrame } from '../../../src/log/index.ts'
import type { JsonObject } from '../../../src/json.ts'

const LIMITS = { maxFrameBytes: 1 << 20 }
const key = await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(7))
const docId = docIdFor(key.publicKey.raw, 'board')
const L = docId.length

function unsigned (over: Partial<UnsignedFrame> = {}): UnsignedFrame {
  return { docId, epoch: 3, seq: 1, time: 1_700_000_000_123, prevHash: GENESIS_HASH, changes: [{ x: 1 }], ...over }
}

function decodeOk (bytes: Uint8Array) {
  const result = decodeFrame(bytes, LIMITS)
  if (!result.ok) assert.fail(`${result.error.code}: ${result.error.message}`)
  return result.frame
}

function codeOf (bytes: Uint8Array, limits = LIMITS): string {
  const result = decodeFrame(bytes, limits)
  return result.ok ? 'ok' : result.error.code
}

describe('log/frame', () => {
  it('round trips without a stateHash', () => {
    const signed = signFrameSync(key, unsigned({ seq: 42, prevHash: new Uint8Array(32).fill(9) }))
    const frame = decodeOk(signed.bytes)
    assert.equal(frame.version, 1)
    assert.equal(frame.docId, docId)
    assert.equal(frame.epoch, 3)
    assert.equal(frame.seq, 42)
    assert.equal(frame.time, 1_700_000_000_123)
    assert.deepEqual(frame.prevHash, new Uint8Array(32).fill(9))
    assert.equal(frame.stateHash, undefined)
    assert.ok(!('stateHash' in frame))
    assert.deepEqual(frame.changes, [{ x: 1 }])
    assert.deepEqual(frame.signature, signed.signature)
    assert.deepEqual(frame.hash, signed.hash)
  })

  it('round trips with a stateHash and unicode changes', () => {
    const changes: JsonObject[] = [{ 'ключ': 'значение 🎉', emoji: '\u{1F600}', nested: { '@o': ['a', 2], a: { t: '日本' } } }, {}]
    const signed = signFrameSync(key, unsigned({ stateHash: new Uint8Array(32).fill(0xab), changes }))
    const frame = decodeOk(signed.bytes)
    assert.deepEqual(frame.stateHash, new Uint8Array(32).fill(0xab))
    assert.deepEqual(frame.changes, changes)
  })

  it('allows an empty change list and the largest seq and time', () => {
    const frame = decodeOk(signFrameSync(key, unsigned({ seq: MAX_SEQ, time: MAX_SEQ, prevHash: new Uint8Array(32).fill(1), changes: [] })).bytes)
    assert.equal(frame.seq, MAX_SEQ)
    assert.equal(frame.time, MAX_SEQ)
    assert.deepEqual(frame.changes, [])
  })

  it('lays out a small frame byte for byte', () => {
    const body = '[{"x":1}]'
    const bytes = encodeUnsignedFrame(unsigned({ seq: 0x0102030405, time: 0x0a0b0c0d0e0f, prevHash: new Uint8Array(32).fill(2), stateHash: new Uint8Array(32).fill(5) }))
    assert.equal(bytes.length, 4 + L + 4 + 8 + 8 + 32 + 32 + 4 + body.length)
    assert.deepEqual([...bytes.subarray(0, 4)], [0x01, 0x01, 0x00, L])
    assert.equal(new TextDecoder().decode(bytes.subarray(4, 4 + L)), docId)
    const at = 4 + L
    assert.deepEqual([...bytes.subarray(at, at + 4)], [0, 0, 0, 3])
    assert.deepEqual([...bytes.subarray(at + 4, at + 12)], [0, 0, 0, 1, 2, 3, 4, 5])
    assert.deepEqual([...bytes.subarray(at + 12, at + 20)], [0, 0, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f])
    assert.deepEqual(bytes.subarray(at + 20, at + 52), new Uint8Array(32).fill(2))
    assert.deepEqual(bytes.subarray(at + 52, at + 84), new Uint8Array(32).fill(5))
    assert.deepEqual([...bytes.subarray(at + 84, at + 88)], [0, 0, 0, body.length])
    assert.equal(new TextDecoder().decode(bytes.subarray(at + 88)), body)

    const plain = encodeUnsignedFrame(unsigned())
    assert.equal(plain[1], 0x00)
    assert.deepEqual([...plain.subarray(at + 52, at + 56)], [0, 0, 0, body.length])
    assert.equal(plain.length, at + 56 + body.length)

    const signed = signFrameSync(key, unsigned())
    assert.deepEqual(signed.bytes.subarray(0, plain.length), plain)
    assert.equal(signed.bytes.length, plain.length + 64)
  })

  it('checks the size limit before anything else', () => {
    const bytes = signFrameSync(key, unsigned()).bytes
    assert.equal(codeOf(bytes, { maxFrameBytes: bytes.length }), 'ok')
    assert.equal(codeOf(bytes, { maxFrameBytes: bytes.length - 1 }), 'too-large')
    assert.equal(codeOf(new Uint8Array(100).fill(0xff), { maxFrameBytes: 99 }), 'too-large')
  })

  it('rejects every truncation and every extension', () => {
    const bytes = signFrameSync(key, unsigned({ stateHash: new Uint8Array(32) })).bytes
    for (let n = 0; n < bytes.length; n++) {
      assert.notEqual(codeOf(bytes.subarray(0, n)), 'ok', `truncated to ${n}`)
    }
    for (const extra of [[0], [1, 2, 3], new Array(64).fill(0)]) {
      const longer = new Uint8Array([...bytes, ...extra])
      assert.equal(codeOf(longer), 'malformed')
    }
  })

  it('rejects bad version and reserved flags', () => {
    const bytes = signFrameSync(key, unsigned()).bytes
    for (const version of [0, 2, 0xff]) {
      const copy = bytes.slice(); copy[0] = version
      assert.equal(codeOf(copy), 'unsupported-version')
    }
    for (const flags of [0x02, 0x80, 0xff]) {
      const copy = bytes.slice(); copy[1] = flags
      assert.equal(codeOf(copy), 'malformed')
    }
  })

  it('rejects out-of-range epoch, seq and time', () => {
    const bytes = signFrameSync(key, unsigned({ seq: 5, prevHash: new Uint8Array(32).fill(1) })).bytes
    const at = 4 + L
    const set = (offset: number, values: number[]) => { const c = bytes.slice(); c.set(values, offset); return c }
    assert.equal(codeOf(set(at, [0, 0, 0, 0])), 'malformed') // epoch 0
    assert.equal(codeOf(set(at + 4, [0, 0, 0, 0, 0, 0, 0, 0])), 'malformed') // seq 0
    assert.equal(codeOf(set(at + 4, [0, 0x20, 0, 0, 0, 0, 0, 0])), 'malformed') // seq 2^53
    assert.equal(codeOf(set(at + 4, [0, 0x1f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])), 'ok') // seq 2^53-1
    assert.equal(codeOf(set(at + 12, [0xff, 0, 0, 0, 0, 0, 0, 0])), 'malformed') // time too large
  })

  it('requires the genesis prevHash on seq 1 only', () => {
    const genesis = signFrameSync(key, unsigned()).bytes
    const copy = genesis.slice(); copy[4 + L + 20 + 31] = 1
    assert.equal(codeOf(copy), 'malformed')
    assert.equal(codeOf(signFrameSync(key, unsigned({ seq: 2 })).bytes), 'ok')
  })

  it('rejects bad doc ids and bad bodies', () => {
    const badDoc = signFrameSync(key, unsigned()).bytes.slice()
    badDoc[4 + L - 1] = 0x41 // 'A' in the name
    assert.equal(codeOf(badDoc), 'bad-doc-id')
    badDoc[4 + L - 1] = 0xc3 // not ASCII
    assert.equal(codeOf(badDoc), 'bad-doc-id')

    for (const body of ['{"x":1}', '[1]', '[[]]', '[null]', '[{"x":1}', '\uFEFF[]', '[]x', '']) {
      assert.equal(codeOf(withBody(new TextEncoder().encode(body))), 'bad-body', JSON.stringify(body))
    }
    assert.equal(codeOf(withBody(Uint8Array.of(0x5b, 0x22, 0xff, 0x22, 0x5d))), 'bad-body') // invalid UTF-8
    assert.equal(codeOf(withBody(new TextEncoder().encode(' [ { } ] '))), 'ok') // JSON whitespace is JSON
  })

  it('throws InvalidUnsignedFrameError for out-of-range fields when encoding', () => {
    const bad: Partial<UnsignedFrame>[] = [
      { epoch: 0 }, { epoch: 2 ** 32 }, { epoch: 1.5 }, { seq: 0 }, { seq: MAX_SEQ + 1 }, { time: -1 }, { time: NaN },
      { prevHash: new Uint8Array(31) }, { seq: 1, prevHash: new Uint8Array(32).fill(1) }, { stateHash: new Uint8Array(33) },
      { docId: 'nope' }, { changes: [1 as never] }, { changes: [[] as never] }
    ]
    for (const over of bad) {
      assert.throws(() => encodeUnsignedFrame(unsigned(over)), InvalidUnsignedFrameError, JSON.stringify(over))
    }
  })
})

/** A structurally valid frame (unsigned content, zero signature) with the given raw body. */
function withBody (body: Uint8Array): Uint8Array {
  const head = encodeUnsignedFrame(unsigned({ changes: [] }))
  const prefix = head.subarray(0, head.length - 2 - 4) // drop length and "[]"
  const length = new Uint8Array(4)
  new DataView(length.buffer).setUint32(0, body.length)
  return new Uint8Array([...prefix, ...length, ...body, ...new Uint8Array(64)])
}
