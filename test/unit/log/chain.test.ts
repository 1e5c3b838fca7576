import assert from 'node:assert/strict'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { GENESIS_HASH, classifyNext, docIdFor, genesisHead, headOf, signFrameSync, verdictFor } from '../../../src/log/index.ts'
import type { ChainHead, ChainStep, Frame, FrameOutcome } from '../../../src/log/index.ts'

const key = await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(2))
const docId = docIdFor(key.publicKey.raw, 'chain')

function frame (seq: number, prevHash: Uint8Array, epoch = 1, changes = [{ seq }]): Frame {
  return signFrameSync(key, { docId, epoch, seq, time: seq, prevHash, changes })
}

// A chain f1 <- f2 <- f3 at epoch 2, and rivals that share history with it.
const f1 = frame(1, GENESIS_HASH, 2)
const f2 = frame(2, f1.hash, 2)
const f3 = frame(3, f2.hash, 2)
const f2rival = frame(2, f1.hash, 2, [{ seq: -2 }])
const f3onRival = frame(3, f2rival.hash, 2)
const f3lowEpoch = frame(3, f2.hash, 1)
const f3highEpoch = frame(3, f2.hash, 9)
const f5 = frame(5, new Uint8Array(32).fill(4), 2)

describe('log/chain', () => {
  it('starts from seq 0, zero hash, epoch 0', () => {
    assert.deepEqual(genesisHead(), { seq: 0, hash: new Uint8Array(32), epoch: 0 })
    assert.notEqual(genesisHead().hash, GENESIS_HASH) // callers cannot corrupt the shared constant
  })

  it('headOf takes seq, hash and epoch of a frame', () => {
    assert.deepEqual(headOf(f2), { seq: 2, hash: f2.hash, epoch: 2 })
  })

  const table: Array<[string, ChainHead, Frame, ChainStep]> = [
    ['first frame after genesis', genesisHead(), f1, 'next'],
    ['next in chain', headOf(f1), f2, 'next'],
    ['epoch may rise', headOf(f2), f3highEpoch, 'next'],
    ['epoch may not fall', headOf(f2), f3lowEpoch, 'bad-epoch'],
    ['same frame again', headOf(f2), f2, 'duplicate'],
    ['same seq, other frame', headOf(f2), f2rival, 'fork'],
    ['next seq on another branch', headOf(f2), f3onRival, 'fork'],
    ['older frame', headOf(f3), f1, 'stale'],
    ['older rival', headOf(f3), f2rival, 'stale'],
    ['skips ahead', headOf(f2), f5, 'gap'],
    ['skips from genesis', genesisHead(), f2, 'gap']
  ]
  for (const [name, head, next, expected] of table) {
    it(`${name} -> ${expected}`, () => {
      assert.equal(classifyNext(head, next), expected)
    })
  }

  it('maps every outcome to a gossipsub verdict', () => {
    const expected: Record<FrameOutcome, string> = {
      next: 'accept',
      duplicate: 'ignore',
      stale: 'ignore',
      gap: 'ignore',
      fork: 'reject',
      'bad-epoch': 'reject',
      'too-large': 'reject',
      'unsupported-version': 'reject',
      malformed: 'reject',
      'bad-doc-id': 'reject',
      'bad-body': 'reject',
      'wrong-doc': 'reject',
      'bad-signature': 'reject'
    }
    for (const [outcome, verdict] of Object.entries(expected)) {
      assert.equal(verdictFor(outcome as FrameOutcome), verdict, outcome)
    }
  })
})
