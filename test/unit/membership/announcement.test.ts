import assert from 'node:assert/strict'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import {
  ANNOUNCEMENT_CONTEXT, Digest, MAX_ANNOUNCEMENT_BYTES, decodeAnnouncement, encodeBody, signAnnouncementSync, verifyAnnouncementSync
} from '../../../src/membership/index.ts'
import type { AnnouncementFields } from '../../../src/membership/index.ts'
import { signingInput } from '../../../src/identity/index.ts'

const NOW = 1_700_000_000_000
const DOC = '25njqamcweflpvkl73j4szahhihoc4xt3ktcgjnpaingr5yhkena.example'
// RFC 8032 "TEST 2" secret key as the member's libp2p key.
const member = await generateKeyPairFromSeed('Ed25519', Uint8Array.from(Buffer.from('4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb', 'hex')))
const PEER = '12D3KooWDwTirQce1RRKnasT5fPVFgzXCy6SiRgSwrwPGLC7zE91'
const fields: AnnouncementFields = {
  region: 'eu-west', seq: NOW, expires: NOW + 60_000, weight: 1, capacity: 1000, load: 3, cert: '', docs: Digest.of([DOC]), roles: Digest.EMPTY
}
/** Also printed in docs/protocol.md, field by field. */
const VECTOR = '010034313244334b6f6f5744775469725163653152524b6e6173543566505646677a58437936536952675377727750474c43377a4539310765752d776573740000018bcfe568000000018bcfe652600001000003e8000000030000070000000800041040002082080000000000' +
  '776e3ec03b119908a35d1b57b5cfba117b17587689766b74ddc63fff4dc59cf86c2d4b9c855de0c7477f3daa78eae5df5fc89f119e2197c692e9fe1640913108'

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex')
const unhex = (text: string): Uint8Array => Uint8Array.from(Buffer.from(text, 'hex'))

function malformed (bytes: Uint8Array, pattern: RegExp): void {
  const result = decodeAnnouncement(bytes)
  assert.equal(result.ok, false)
  if (result.ok) return
  assert.equal(result.code, 'malformed')
  assert.match(result.error, pattern)
}

describe('membership/announcement', () => {
  it('writes the documented bytes (test vector) and signs them under the peer key', async () => {
    assert.equal(peerIdFromPrivateKey(member).toString(), PEER)
    const bytes = signAnnouncementSync(member, fields)
    assert.equal(hex(bytes), VECTOR)
    assert.equal(bytes.length, 173)
    const body = bytes.subarray(0, bytes.length - 64)
    assert.deepEqual(body, encodeBody(PEER, fields))
    assert.equal(await member.publicKey.verify(signingInput(ANNOUNCEMENT_CONTEXT, body), bytes.subarray(bytes.length - 64)), true)
  })

  it('decodes what it encodes, and the signature verifies', () => {
    const decoded = decodeAnnouncement(unhex(VECTOR))
    assert.ok(decoded.ok)
    const a = decoded.value
    assert.deepEqual({ ...a, docs: undefined, roles: undefined, bytes: undefined, signature: undefined }, {
      ...fields, peerId: PEER, leaving: false, docs: undefined, roles: undefined, bytes: undefined, signature: undefined
    })
    assert.ok(a.docs.has(DOC))
    assert.ok(!a.docs.has(DOC + 'x'))
    assert.ok(!a.roles.has(DOC))
    assert.equal(verifyAnnouncementSync(a), true)
  })

  it('a flipped bit anywhere in the body breaks the signature, or the structure', () => {
    const bytes = unhex(VECTOR)
    for (let i = 0; i < bytes.length; i += 7) {
      const copy = bytes.slice()
      copy[i] ^= 0x01
      const decoded = decodeAnnouncement(copy)
      if (decoded.ok) assert.equal(verifyAnnouncementSync(decoded.value), false, `byte ${i}`)
    }
  })

  it('refuses oversized input before reading it', () => {
    const result = decodeAnnouncement(new Uint8Array(MAX_ANNOUNCEMENT_BYTES + 1))
    assert.deepEqual(result.ok ? undefined : result.code, 'oversized')
  })

  it('refuses malformed input, naming what is wrong', () => {
    const bytes = unhex(VECTOR)
    malformed(bytes.subarray(0, 100), /ends early/)
    malformed(Uint8Array.from([...bytes, 0]), /1 bytes after the signature/)
    malformed(Uint8Array.from([2, ...bytes.subarray(1)]), /unsupported version 2/)
    malformed(Uint8Array.from([1, 0x80, ...bytes.subarray(2)]), /reserved flag bits/)
    const zeroWeight = bytes.slice()
    zeroWeight[3 + 52 + 1 + 7 + 16 + 1] = 0 // low byte of the weight (1 -> 0)
    malformed(zeroWeight, /weight must be/)
    const notEd25519 = signAnnouncementSync(member, fields).slice()
    notEd25519.set(new TextEncoder().encode('QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N'.padEnd(52, 'a')), 3)
    malformed(notEd25519, /peer id/)
    malformed(new Uint8Array(0), /ends early/)
  })

  it('refuses to encode out-of-range fields (a caller bug)', () => {
    assert.throws(() => encodeBody(PEER, { ...fields, region: 'not a region' }), RangeError)
    assert.throws(() => encodeBody(PEER, { ...fields, seq: 0 }), RangeError)
    assert.throws(() => encodeBody(PEER, { ...fields, weight: 70_000 }), RangeError)
  })

  it('digests: about 1% false positives at the default density, and none when empty', () => {
    const items = Array.from({ length: 10_000 }, (_, i) => `doc-${i}`)
    const digest = Digest.of(items)
    assert.equal(digest.bits.length, 12_500)
    assert.ok(items.every(item => digest.has(item)), 'no false negatives')
    const falsePositives = Array.from({ length: 10_000 }, (_, i) => `other-${i}`).filter(item => digest.has(item)).length
    assert.ok(falsePositives < 150, `${falsePositives} false positives in 10,000`)
    assert.equal(Digest.EMPTY.has('doc-1'), false)
    assert.ok(Digest.of([]).isEmpty)
  })
})
