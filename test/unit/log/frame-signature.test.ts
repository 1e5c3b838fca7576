import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { generateKeyPair, generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import {
  GENESIS_HASH, SIGNING_CONTEXT, UnsupportedKeyTypeError, decodeFrame, docIdFor, encodeUnsignedFrame, frameSigningInput,
  signFrame, signFrameSync, stateHashOf, verifyFrame, verifyFrameSignature, verifyFrameSignatureSync, verifyFrameSync
} from '../../../src/log/index.ts'
import { hexDump } from '../../helpers/hex-dump.ts'
import type { UnsignedFrame } from '../../../src/log/index.ts'

const LIMITS = { maxFrameBytes: 4096 }
const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex')


// Test vector: the RFC 8032 "TEST 1" secret key.
const VECTOR_SEED = Uint8Array.from(Buffer.from('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60', 'hex'))
const VECTOR_DOC_ID = '25njqamcweflpvkl73j4szahhihoc4xt3ktcgjnpaingr5yhkena.example'
const VECTOR_HEX =
  '0101003c32356e6a71616d637765666c70766b6c37336a34737a61686869686f63347874336b7463676a6e7061696e67723579686b656e612e6578616d706c65' +
  '0000000100000000000000010000018bcfe568000000000000000000000000000000000000000000000000000000000000000000' +
  '15968cea1ce0a5131dcac62e4cd55b19340504bbb66060f128b793fcde2cc8b8000000105b7b227469746c65223a226869227d5d' +
  '5a59b28b69d0998f39a3923b8e20eda2738c760fc16b2175732ea423ee5c045633a40eb97740ddbf89c3f2dbc1cfb3c37e8d154d5d8861b1fea2bb096ba5a30c'
const VECTOR_HASH = 'd7e5f8c735d39eef999b448ccc31ddc126b76f3be4b13da92d4ef3c87486b807'

const key = await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(1))
const docId = docIdFor(key.publicKey.raw, 'doc')

function unsigned (over: Partial<UnsignedFrame> = {}): UnsignedFrame {
  return { docId, epoch: 1, seq: 1, time: 5, prevHash: GENESIS_HASH, changes: [{ a: 'b' }], ...over }
}

describe('log/frame-signature', () => {
  it('reproduces the protocol test vector exactly, and docs/protocol.md shows it', async () => {
    const vectorKey = await generateKeyPairFromSeed('Ed25519', VECTOR_SEED)
    assert.equal(hex(vectorKey.publicKey.raw), 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a')
    const vectorDocId = docIdFor(vectorKey.publicKey.raw, 'example')
    assert.equal(vectorDocId, VECTOR_DOC_ID)
    const frame = signFrameSync(vectorKey, {
      docId: vectorDocId, epoch: 1, seq: 1, time: 1_700_000_000_000, prevHash: GENESIS_HASH,
      stateHash: stateHashOf({ title: 'hi' }), changes: [{ title: 'hi' }]
    })
    assert.equal(hex(frame.bytes), VECTOR_HEX)
    assert.equal(hex(frame.hash), VECTOR_HASH)

    const doc = readFileSync(new URL('../../../docs/protocol.md', import.meta.url), 'utf8')
    assert.ok(doc.includes(hexDump(frame.bytes)), 'docs/protocol.md must contain the hex dump of the vector frame')
    assert.ok(doc.includes(VECTOR_DOC_ID))
    assert.ok(doc.includes(VECTOR_HASH))
    assert.ok(doc.includes(hex(stateHashOf({ title: 'hi' }))))
  })

  it('signs over the context string and the bytes before the signature', async () => {
    const frame = signFrameSync(key, unsigned())
    const body = encodeUnsignedFrame(unsigned())
    const input = frameSigningInput(body)
    assert.equal(new TextDecoder().decode(input.subarray(0, SIGNING_CONTEXT.length)), 'deltacast/frame/1')
    assert.deepEqual(input.subarray(SIGNING_CONTEXT.length), body)
    assert.equal(await key.publicKey.verify(input, frame.signature), true)
    assert.equal(await key.publicKey.verify(body, frame.signature), false) // context is not optional
  })

  it('async and sync signing give the same bytes (ed25519 is deterministic)', async () => {
    const a = await signFrame(key, unsigned())
    const b = signFrameSync(key, unsigned())
    assert.deepEqual(a.bytes, b.bytes)
    assert.deepEqual(a.hash, b.hash)
  })

  it('verifies with a key object or raw bytes, sync and async', async () => {
    const frame = signFrameSync(key, unsigned())
    assert.equal(await verifyFrameSignature(frame, key.publicKey), true)
    assert.equal(await verifyFrameSignature(frame, key.publicKey.raw), true)
    assert.equal(verifyFrameSignatureSync(frame, key.publicKey.raw), true)
    const other = await generateKeyPair('Ed25519')
    assert.equal(verifyFrameSignatureSync(frame, other.publicKey), false)
    assert.equal(await verifyFrameSignature(frame, other.publicKey), false)
  })

  it('verifyFrame accepts a good frame and names each failure', async () => {
    const frame = signFrameSync(key, unsigned())
    const ok = await verifyFrame(frame.bytes, docId, LIMITS)
    assert.ok(ok.ok)
    assert.deepEqual(ok.frame.hash, frame.hash)

    const otherDoc = docIdFor(key.publicKey.raw, 'other')
    const wrong = verifyFrameSync(frame.bytes, otherDoc, LIMITS)
    assert.ok(!wrong.ok)
    assert.equal(wrong.error.code, 'wrong-doc')

    // Same doc id, signed by someone else: the doc id's key decides.
    const impostor = await generateKeyPair('Ed25519')
    const forged = signFrameSync(impostor, unsigned())
    const bad = await verifyFrame(forged.bytes, docId, LIMITS)
    assert.ok(!bad.ok)
    assert.equal(bad.error.code, 'bad-signature')

    const big = verifyFrameSync(frame.bytes, docId, { maxFrameBytes: 10 })
    assert.ok(!big.ok)
    assert.equal(big.error.code, 'too-large')
  })

  it('fails on every single byte flip of a small frame', () => {
    const frame = signFrameSync(key, unsigned({ stateHash: new Uint8Array(32).fill(3) }))
    const seen = new Set<string>()
    for (let i = 0; i < frame.bytes.length; i++) {
      for (const mask of [0x01, 0x80, 0xff]) {
        const copy = frame.bytes.slice()
        copy[i] ^= mask
        const result = verifyFrameSync(copy, docId, LIMITS)
        assert.equal(result.ok, false, `byte ${i} ^ ${mask} accepted`)
        if (!result.ok) seen.add(result.error.code)
      }
    }
    // The sweep reaches every layer of checks, not just one.
    for (const code of ['unsupported-version', 'malformed', 'bad-doc-id', 'bad-body', 'bad-signature']) {
      assert.ok(seen.has(code), `no flip produced ${code}`)
    }
  })

  it('turns a key backend that throws or rejects (e.g. on a non-point key) into false', async () => {
    const frame = signFrameSync(key, unsigned())
    const throwing = { type: 'Ed25519', verify: () => { throw new Error('not a point') } } as unknown as typeof key.publicKey
    const rejecting = { type: 'Ed25519', verify: async () => { throw new Error('not a point') } } as unknown as typeof key.publicKey
    assert.equal(verifyFrameSignatureSync(frame, throwing), false)
    assert.equal(await verifyFrameSignature(frame, rejecting), false)
  })

  it('sync verification refuses an async backend with SyncCryptoUnavailableError', () => {
    const frame = signFrameSync(key, unsigned())
    const asyncKey = { type: 'Ed25519', verify: async () => true } as unknown as typeof key.publicKey
    assert.throws(() => verifyFrameSignatureSync(frame, asyncKey), (err: Error) => err.name === 'SyncCryptoUnavailableError')
    const asyncSigner = { type: 'Ed25519', sign: async () => new Uint8Array(64) } as unknown as typeof key
    assert.throws(() => signFrameSync(asyncSigner, unsigned()), (err: Error) => err.name === 'SyncCryptoUnavailableError')
  })

  it('rejects keys of another type', async () => {
    const rsaLike = { ...key, type: 'secp256k1' } as unknown as typeof key
    assert.throws(() => signFrameSync(rsaLike, unsigned()), UnsupportedKeyTypeError)
  })

  it('signs and verifies 1,000 chained frames', () => {
    let prevHash = GENESIS_HASH
    for (let seq = 1; seq <= 1000; seq++) {
      const frame = signFrameSync(key, unsigned({ seq, prevHash, changes: [{ n: seq }] }))
      const checked = verifyFrameSync(frame.bytes, docId, LIMITS)
      assert.ok(checked.ok)
      assert.equal(checked.frame.seq, seq)
      assert.deepEqual(checked.frame.prevHash, prevHash)
      prevHash = checked.frame.hash
    }
  })

  it('decodeFrame alone does not check signatures', () => {
    const frame = signFrameSync(key, unsigned())
    const copy = frame.bytes.slice()
    copy[copy.length - 1] ^= 1
    assert.equal(decodeFrame(copy, LIMITS).ok, true)
  })
})
