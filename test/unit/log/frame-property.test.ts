import assert from 'node:assert/strict'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import fc from 'fast-check'
import { GENESIS_HASH, MAX_EPOCH, MAX_SEQ, MAX_TIME, docIdFor, signFrameSync, verifyFrameSync } from '../../../src/log/index.ts'
import type { JsonObject } from '../../../src/json.ts'

const key = await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(4))
const LIMITS = { maxFrameBytes: 1 << 22 }

const name = fc.stringMatching(/^[a-z0-9][a-z0-9_-]{0,63}$/)
const hash32 = fc.uint8Array({ minLength: 32, maxLength: 32 })
const change = fc.dictionary(fc.string({ unit: 'grapheme' }), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 5 }) as fc.Arbitrary<JsonObject>

describe('log/frame (property)', () => {
  it('sign then verify returns the same frame', () => {
    fc.assert(fc.property(
      name, fc.integer({ min: 1, max: MAX_EPOCH }), fc.integer({ min: 1, max: MAX_SEQ }), fc.integer({ min: 0, max: MAX_TIME }),
      hash32, fc.option(hash32, { nil: undefined }), fc.array(change, { maxLength: 4 }),
      (docName, epoch, seq, time, prev, stateHash, changes) => {
        const docId = docIdFor(key.publicKey.raw, docName)
        const prevHash = seq === 1 ? GENESIS_HASH : prev
        const signed = signFrameSync(key, { docId, epoch, seq, time, prevHash, stateHash, changes })
        const result = verifyFrameSync(signed.bytes, docId, LIMITS)
        if (!result.ok) throw new Error(`${result.error.code}: ${result.error.message}`)
        const frame = result.frame
        assert.equal(frame.docId, docId)
        assert.equal(frame.epoch, epoch)
        assert.equal(frame.seq, seq)
        assert.equal(frame.time, time)
        assert.deepEqual(frame.prevHash, prevHash)
        assert.deepEqual(frame.stateHash, stateHash)
        assert.equal(JSON.stringify(frame.changes), JSON.stringify(changes))
        assert.deepEqual(frame.hash, signed.hash)
      }
    ), { numRuns: 200 })
  })
})
