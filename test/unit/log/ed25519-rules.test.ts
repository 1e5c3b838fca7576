import assert from 'node:assert/strict'
import { generateKeyPair, publicKeyFromRaw } from '@libp2p/crypto/keys'
import { ed25519 } from '@noble/curves/ed25519.js'
import { sha512 } from '@noble/hashes/sha2.js'

// The Ed25519 verification rules docs/protocol.md states ("Signature verification rules"), as
// Node's crypto.verify behind @libp2p/crypto applies them.
const L = 2n ** 252n + 27742317777372353535851937790883648493n
const P = 2n ** 255n - 19n
const MESSAGE = new TextEncoder().encode('deltacast/frame/1 test')

function fromLe (bytes: Uint8Array): bigint {
  let x = 0n
  for (let i = bytes.length - 1; i >= 0; i--) x = (x << 8n) | BigInt(bytes[i])
  return x
}
function toLe (x: bigint): Uint8Array {
  const out = new Uint8Array(32)
  for (let i = 0; i < 32; i++) { out[i] = Number(x & 0xffn); x >>= 8n }
  return out
}
function verify (publicKey: Uint8Array, signature: Uint8Array): boolean {
  const result = publicKeyFromRaw(publicKey).verify(MESSAGE, signature)
  assert.equal(typeof result, 'boolean', 'verification is synchronous in Node')
  return result as boolean
}
/** R = identity, S = 0: valid under the cofactorless equation for a small-order key. */
const IDENTITY = toLe(1n)
const TRIVIAL_SIGNATURE = Uint8Array.from([...IDENTITY, ...new Uint8Array(32)])

describe('ed25519 verification rules (docs/protocol.md)', () => {
  it('refuses a non-canonical S (S + L)', async () => {
    const key = await generateKeyPair('Ed25519')
    const signature = await key.sign(MESSAGE)
    assert.equal(verify(key.publicKey.raw, signature), true)
    const forged = Uint8Array.from(signature)
    forged.set(toLe(fromLe(signature.subarray(32)) + L), 32)
    assert.equal(verify(key.publicKey.raw, forged), false)
  })

  it('refuses a non-canonical R', () => {
    const nonCanonicalIdentity = Uint8Array.from([...toLe(P + 1n), ...new Uint8Array(32)])
    assert.equal(verify(IDENTITY, nonCanonicalIdentity), false)
  })

  it('does not refuse small-order or non-canonically encoded public keys', () => {
    assert.equal(verify(IDENTITY, TRIVIAL_SIGNATURE), true)
    assert.equal(verify(toLe(P - 1n), TRIVIAL_SIGNATURE), true, 'the order-2 point')
    assert.equal(verify(toLe(P + 1n), TRIVIAL_SIGNATURE), true, 'the identity encoded with y = p + 1')
  })

  it('is cofactorless: a mixed-order key signature that only a cofactored check accepts is refused', () => {
    const torsion = ed25519.Point.fromHex('c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a') // order 8
    const { scalar } = ed25519.utils.getExtendedPublicKey(new Uint8Array(32).fill(9))
    const publicKey = ed25519.Point.BASE.multiply(scalar).add(torsion).toBytes()
    for (let r = 1n; ; r++) {
      const R = ed25519.Point.BASE.multiply(r).toBytes()
      const k = fromLe(sha512(Uint8Array.from([...R, ...publicKey, ...MESSAGE]))) % L
      if (k % 8n === 0n) continue // then both checks would agree
      const signature = Uint8Array.from([...R, ...toLe((r + k * scalar) % L)])
      assert.equal(verify(publicKey, signature), false)
      break
    }
  })
})
