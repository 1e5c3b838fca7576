import assert from 'node:assert/strict'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import {
  GENESIS_HASH, canonicalJson, docIdFor, signFrameSync, snapshotBytesOf, stateHashOf, verifySnapshot
} from '../../../src/log/index.ts'

const key = await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(3))
const docId = docIdFor(key.publicKey.raw, 'snap')
const tree = { cards: { '@o': ['b', 1], b: { v: 2 }, 1: { v: 1 } }, title: 'hi' }

describe('log/canonical-json', () => {
  it('sorts keys by UTF-16 code units, no whitespace', () => {
    assert.equal(canonicalJson(tree), '{"cards":{"1":{"v":1},"@o":["b",1],"b":{"v":2}},"title":"hi"}')
    // U+FF5E sorts after U+1F600 by code point, before it by UTF-16 code unit (0xD83D).
    assert.equal(canonicalJson({ '\uff5e': 1, '\u{1F600}': 2, Z: 3, a: 4 }), '{"Z":3,"a":4,"\u{1F600}":2,"\uff5e":1}')
  })

  it('writes numbers and strings as JSON.stringify does', () => {
    assert.equal(canonicalJson([1e21, 0.1, -0, 1.5e-7, 'a"\n\u0001', true, null]), '[1e+21,0.1,0,1.5e-7,"a\\"\\n\\u0001",true,null]')
    assert.equal(canonicalJson('\ud800'), '"\\ud800"')
  })

  it('refuses values JSON cannot carry', () => {
    assert.throws(() => canonicalJson(Infinity), RangeError)
    assert.throws(() => canonicalJson({ a: undefined as never }), TypeError)
  })
})

describe('log/checkpoint', () => {
  const checkpoint = signFrameSync(key, {
    docId, epoch: 1, seq: 1, time: 0, prevHash: GENESIS_HASH, stateHash: stateHashOf(tree), changes: [tree]
  })

  it('accepts the snapshot the stateHash commits to', () => {
    assert.equal(verifySnapshot(snapshotBytesOf(tree), checkpoint), true)
  })

  it('rejects any other snapshot, including the same tree in another key order', () => {
    assert.equal(verifySnapshot(snapshotBytesOf({ ...tree, title: 'ho' }), checkpoint), false)
    const reordered = { title: tree.title, cards: tree.cards }
    assert.equal(verifySnapshot(new TextEncoder().encode(JSON.stringify(reordered)), checkpoint), false)
    assert.equal(verifySnapshot(snapshotBytesOf(reordered), checkpoint), true)
    assert.equal(verifySnapshot(new Uint8Array(0), checkpoint), false)
  })

  it('rejects every snapshot for a frame without a stateHash', () => {
    const plain = signFrameSync(key, { docId, epoch: 1, seq: 1, time: 0, prevHash: GENESIS_HASH, changes: [tree] })
    assert.equal(verifySnapshot(snapshotBytesOf(tree), plain), false)
  })
})
