import assert from 'node:assert/strict'
import { generateKeyPair, generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import fc from 'fast-check'
import { sha256 } from '@noble/hashes/sha2.js'
import {
  SEAL_SUFFIX_BYTES, SWARM_SIGNING_CONTEXT, seal, signClassMessage, swarmSigningInput, unseal, verifyClassMessage
} from '../../../src/swarm/index.ts'
import { encodeMessage, frameMessage, parseServerMessage, payloadLength } from '../../../src/observe/protocol.ts'

const DOC = 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.room'
const CLASS = 'k3x.7'
// RFC 8032 "TEST 1" secret key as the edge key, so the vector below is fixed.
const edge = await generateKeyPairFromSeed('Ed25519', Uint8Array.from(Buffer.from('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60', 'hex')))
/** The signature also printed in docs/protocol.md (RFC 8032 TEST 1 key, doc DOC, class c1, P = {"seq":1}). */
const VECTOR_SIG = 'ZZg-TW_g3g4ISFyqsD6aNDcTI9uQ9ZiKsYjirb5dgU1bLGq_4OqTBEJ9FxmIWKc2C5aOuh6JDS6h9HzceGHGCQ'
const text = new TextEncoder()
const json = (value: unknown): Uint8Array => text.encode(JSON.stringify(value))
/** The JSON bytes of an observe message, without its varint prefix. */
const payloadOf = (message: Parameters<typeof encodeMessage>[0]): Uint8Array => {
  const encoded = encodeMessage(message)
  return encoded.subarray(encoded.length - payloadLength(encoded))
}

async function sealed (payload: Uint8Array, docId = DOC, classId = CLASS): Promise<Uint8Array> {
  return await signClassMessage(edge, docId, classId, payload)
}

describe('swarm signed messages', () => {
  it('signs context || u16 len || doc id || u16 len || class id || sha256(P)', () => {
    const payload = json({ data: { a: 1 }, seq: 5 })
    const input = swarmSigningInput('d', 'c1', payload)
    const expected = Buffer.concat([Buffer.from(SWARM_SIGNING_CONTEXT), Buffer.from([0, 1]), Buffer.from('d'), Buffer.from([0, 2]), Buffer.from('c1'), sha256(payload)])
    assert.deepEqual(Buffer.from(input), expected)
  })

  it('appends one "sig" field that an observe parser ignores, and strips back to P byte for byte', async () => {
    const payload = payloadOf(frameMessage(7, { score: 3 }))
    const bytes = await sealed(payload)
    assert.equal(bytes.length, payload.length - 1 + SEAL_SUFFIX_BYTES)
    const parsed = parseServerMessage(bytes)
    assert.deepEqual(parsed, { ok: true, value: { data: { score: 3 }, seq: 7 } })
    const back = unseal(bytes)
    assert.ok(back.ok)
    assert.deepEqual(Buffer.from(back.payload), Buffer.from(payload))
    assert.match(JSON.parse(new TextDecoder().decode(bytes)).sig, /^[A-Za-z0-9_-]{86}$/)
  })

  it('matches the vector in docs/protocol.md', async () => {
    const bytes = await sealed(text.encode('{"seq":1}'), DOC, 'c1')
    assert.equal(new TextDecoder().decode(bytes),
      '{"seq":1,"sig":"' + VECTOR_SIG + '"}')
  })

  it('verifies under the edge key, the doc id and the class id only', async () => {
    const payload = json({ data: { x: [1, 2] }, seq: 9 })
    const bytes = await sealed(payload)
    assert.deepEqual(await verifyClassMessage(edge.publicKey, DOC, CLASS, bytes), { ok: true, payload })
    assert.equal((await verifyClassMessage(edge.publicKey.raw, DOC, CLASS, bytes)).ok, true)
    assert.equal((await verifyClassMessage(edge.publicKey, DOC, 'k3x.8', bytes)).ok, false, 'another class')
    assert.equal((await verifyClassMessage(edge.publicKey, DOC.replace('room', 'hall'), CLASS, bytes)).ok, false, 'another doc')
    const other = await generateKeyPair('Ed25519')
    assert.equal((await verifyClassMessage(other.publicKey, DOC, CLASS, bytes)).ok, false, 'another key')
  })

  it('refuses a message without a signature, with a clear error', async () => {
    const plain = json({ data: { a: 1 }, seq: 2 })
    assert.deepEqual(await verifyClassMessage(edge.publicKey, DOC, CLASS, plain), { ok: false, error: 'too short to carry a signature' })
    const padded = json({ data: { a: 'x'.repeat(200) }, seq: 2 })
    assert.deepEqual(await verifyClassMessage(edge.publicKey, DOC, CLASS, padded), { ok: false, error: 'no "sig" field at the end of the message' })
  })

  it('seal refuses what is not an object or not a 64-byte signature', () => {
    assert.throws(() => seal(text.encode('[1]'), new Uint8Array(64)), RangeError)
    assert.throws(() => seal(text.encode('{}'), new Uint8Array(63)), RangeError)
  })

  it('any change to a sealed message is detected (property)', async () => {
    const payload = json({ data: { list: [1, 2, 3], who: 'ann' }, seq: 41 })
    const bytes = await sealed(payload)
    await fc.assert(fc.asyncProperty(fc.nat(bytes.length - 1), fc.integer({ min: 1, max: 255 }), async (at, flip) => {
      const altered = Uint8Array.from(bytes)
      altered[at] ^= flip
      const verified = await verifyClassMessage(edge.publicKey, DOC, CLASS, altered)
      return !verified.ok
    }), { numRuns: 300, seed: 12 })
  })
})

