import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { HEAD_SIGNING_CONTEXT, HEAD_TOPIC_PREFIX, decodeHead, docIdFor, docIdOfTopic, headTopicFor, signHeadSync, verifyHeadSync } from '../../../src/log/index.ts'
import { hexDump } from '../../helpers/hex-dump.ts'
import type { HeadAnnouncement } from '../../../src/log/index.ts'

const hexOf = (hex: string): Uint8Array => Uint8Array.from(Buffer.from(hex, 'hex'))


// The protocol.md test vector: the frame test vector's key, head = that frame.
const vectorKey = await generateKeyPairFromSeed('Ed25519', hexOf('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60'))
const VECTOR: HeadAnnouncement = {
  docId: '25njqamcweflpvkl73j4szahhihoc4xt3ktcgjnpaingr5yhkena.example',
  epoch: 1,
  seq: 1,
  time: 1700000001000,
  hash: hexOf('d7e5f8c735d39eef999b448ccc31ddc126b76f3be4b13da92d4ef3c87486b807')
}

const key = await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(2))
const docId = docIdFor(key.publicKey.raw, 'doc')
const head = (over: Partial<HeadAnnouncement> = {}): HeadAnnouncement => ({ docId, epoch: 3, seq: 42, time: 1_000, hash: new Uint8Array(32).fill(7), ...over })

describe('log/head-announcement', () => {
  it('reproduces the protocol test vector, and docs/protocol.md shows it byte by byte', () => {
    const bytes = signHeadSync(vectorKey, VECTOR)
    assert.equal(bytes.length, 3 + 60 + 52 + 64)
    const doc = readFileSync(new URL('../../../docs/protocol.md', import.meta.url), 'utf8')
    assert.ok(doc.includes(hexDump(bytes)), `docs/protocol.md must contain the hex dump of the head vector:\n${hexDump(bytes)}`)
    assert.deepEqual(verifyHeadSync(bytes, VECTOR.docId), { ok: true, head: VECTOR })
  })

  it('round-trips every field, seq 0 (nothing published yet) included', () => {
    for (const h of [head(), head({ seq: 0, hash: new Uint8Array(32) }), head({ seq: Number.MAX_SAFE_INTEGER, time: Number.MAX_SAFE_INTEGER, epoch: 0xffffffff })]) {
      assert.deepEqual(verifyHeadSync(signHeadSync(key, h), docId), { ok: true, head: h })
    }
  })

  it('refuses tampering, other documents, other keys and garbage, each with its code', () => {
    const bytes = signHeadSync(key, head())
    const tampered = bytes.slice()
    tampered[3 + docId.length + 11] ^= 1 // inside seq
    assert.equal((verifyHeadSync(tampered, docId) as { code: string }).code, 'bad-signature')
    const otherDoc = docIdFor(key.publicKey.raw, 'other')
    assert.equal((verifyHeadSync(bytes, otherDoc) as { code: string }).code, 'wrong-doc')
    const forger = docIdFor(vectorKey.publicKey.raw, 'doc')
    assert.equal((verifyHeadSync(signHeadSync(vectorKey, head({ docId: forger })), docId) as { code: string }).code, 'wrong-doc')
    assert.equal((decodeHead(new Uint8Array([1])) as { code: string }).code, 'malformed')
    assert.equal((decodeHead(new Uint8Array([2, 0, 0])) as { code: string }).code, 'unsupported-version')
    assert.equal((decodeHead(bytes.subarray(0, bytes.length - 1)) as { code: string }).code, 'malformed')
    const badEpoch = bytes.slice()
    badEpoch.fill(0, 3 + docId.length, 3 + docId.length + 4)
    assert.equal((decodeHead(badEpoch) as { code: string }).code, 'malformed')
    const badId = bytes.slice()
    badId[3] = 0x41 // 'A' is outside the doc id alphabet
    assert.equal((decodeHead(badId) as { code: string }).code, 'bad-doc-id')
  })

  it('refuses to sign out-of-range fields with a named error', () => {
    for (const bad of [head({ epoch: 0 }), head({ seq: -1 }), head({ time: 1.5 }), head({ hash: new Uint8Array(31) }), head({ docId: 'nope' })]) {
      assert.throws(() => signHeadSync(key, bad), { name: 'InvalidHeadAnnouncementError' })
    }
  })

  it('signs with its own context, so a head signature never verifies as anything else', () => {
    assert.equal(HEAD_SIGNING_CONTEXT, 'deltacast/head/1')
    assert.equal(headTopicFor(docId), `${HEAD_TOPIC_PREFIX}${docId}`)
    assert.deepEqual(docIdOfTopic(headTopicFor(docId)), { ok: true, value: docId })
  })
})
