import assert from 'node:assert/strict'
import { generateKeyPair, generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { base64url } from 'multiformats/bases/base64'
import { docIdFor } from '../../../src/log/index.ts'
import {
  InvalidClaimsError, MAX_TOKEN_CHARS, TOKEN_CONTEXT, encodePublicKey, signToken, signTokenSync, signingInput, verifyToken,
  verifyTokenAsync
} from '../../../src/identity/index.ts'
import type { TokenResult } from '../../../src/identity/index.ts'

const NOW = 1_700_000_000_000
const HOUR = 3_600_000
// RFC 8032 "TEST 1" secret key: the doc key of the protocol's worked example.
const docKey = await generateKeyPairFromSeed('Ed25519', Uint8Array.from(Buffer.from('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60', 'hex')))
const docId = docIdFor(docKey.publicKey.raw, 'example')
const policyKey = await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(7))
const claims = { docId, principal: 'alice', roles: ['red', 'admin'], expires: NOW + HOUR }
const options = { docId, trustedKeys: [], now: NOW }
/** Also printed in docs/fleet.md. */
const TOKEN_VECTOR = 'eyJkb2MiOiIyNW5qcWFtY3dlZmxwdmtsNzNqNHN6YWhoaWhvYzR4dDNrdGNnam5wYWluZ3I1eWhrZW5hLmV4YW1wbGUiLCJzdWIiOiJhbGljZSIsInJvbGVzIjpbInJlZCIsImFkbWluIl0sImV4cCI6MTcwMDAwMzYwMCwiaWF0IjoxNzAwMDAwMDAwLCJraWQiOiIyNW5qcWFtY3dlZmxwdmtsNzNqNHN6YWhoaWhvYzR4dDNrdGNnam5wYWluZ3I1eWhrZW5hIn0' +
  '.5H4mFuGjfi5ASmTmMnkUjOyiC6vMFMUCvKbTH7q9QN3pzzNU_z1XfL1AZJsO_LYTgIeH2FeiQfDWB_JL_Y0_CQ'

const encode = (payload: unknown, signature = new Uint8Array(64)): string =>
  base64url.baseEncode(new TextEncoder().encode(JSON.stringify(payload))) + '.' + base64url.baseEncode(signature)

/** A token over any payload, properly signed: reaches the checks after the signature. */
function signedRaw (payload: unknown, key = docKey): string {
  const bytes = new TextEncoder().encode(JSON.stringify(payload))
  return base64url.baseEncode(bytes) + '.' + base64url.baseEncode(key.sign(signingInput(TOKEN_CONTEXT, bytes)) as Uint8Array)
}

function failure (result: TokenResult): { code: string, error: string } {
  assert.equal(result.ok, false, 'expected a refusal')
  return result as { ok: false, code: string, error: string }
}

describe('identity/token', () => {
  it('writes the documented payload and signs it (test vector)', () => {
    const token = signTokenSync(docKey, claims, NOW)
    const [payload, signature] = token.split('.')
    assert.equal(new TextDecoder().decode(base64url.baseDecode(payload)),
      `{"doc":"${docId}","sub":"alice","roles":["red","admin"],"exp":1700003600,"iat":1700000000,"kid":"25njqamcweflpvkl73j4szahhihoc4xt3ktcgjnpaingr5yhkena"}`)
    assert.equal(base64url.baseDecode(signature).length, 64)
    // ed25519 is deterministic: this exact token is in docs/fleet.md.
    assert.equal(token, TOKEN_VECTOR)
  })

  it('round-trips, sync and async', async () => {
    const token = await signToken(docKey, claims, NOW)
    assert.equal(token, signTokenSync(docKey, claims, NOW))
    const expected = { ok: true, viewer: { principal: 'alice', roles: ['red', 'admin'], expires: NOW + HOUR, kid: encodePublicKey(docKey.publicKey.raw) } }
    assert.deepEqual(verifyToken(token, options), expected)
    assert.deepEqual(await verifyTokenAsync(token, options), expected)
  })

  it('trusts keys named by the document, and only those', () => {
    const token = signTokenSync(policyKey, claims, NOW)
    assert.equal(verifyToken(token, { ...options, trustedKeys: [policyKey.publicKey.raw] }).ok, true)
    const refused = failure(verifyToken(token, options))
    assert.equal(refused.code, 'untrusted-key')
    assert.match(refused.error, new RegExp(encodePublicKey(policyKey.publicKey.raw)))
  })

  it('refuses a token for another document', () => {
    const other = docIdFor(docKey.publicKey.raw, 'other')
    const refused = failure(verifyToken(signTokenSync(docKey, { ...claims, docId: other }, NOW), options))
    assert.equal(refused.code, 'wrong-doc')
    assert.match(refused.error, /is for .*\.other, not .*\.example/)
  })

  it('a token for another authority\'s document is untrusted (its key is not this document\'s)', async () => {
    const stranger = await generateKeyPair('Ed25519')
    const token = signTokenSync(stranger, { ...claims, docId: docIdFor(stranger.publicKey.raw, 'example') }, NOW)
    assert.equal(failure(verifyToken(token, options)).code, 'untrusted-key')
  })

  it('expires at exp exactly, and is not valid before iat (beyond the clock skew)', () => {
    const token = signTokenSync(docKey, claims, NOW)
    assert.equal(verifyToken(token, { ...options, now: NOW + HOUR - 1 }).ok, true)
    const expired = failure(verifyToken(token, { ...options, now: NOW + HOUR }))
    assert.equal(expired.code, 'expired')
    assert.match(expired.error, /expired at 2023-11-14T23:13:20.000Z/)
    assert.equal(verifyToken(token, { ...options, now: NOW - 60_000 }).ok, true, 'within the default skew')
    assert.equal(failure(verifyToken(token, { ...options, now: NOW - 60_001 })).code, 'not-yet-valid')
    assert.equal(failure(verifyToken(token, { ...options, now: NOW - 1, clockSkewMs: 0 })).code, 'not-yet-valid')
  })

  it('detects tampering with the payload or the signature', () => {
    const token = signTokenSync(docKey, claims, NOW)
    const [payload, signature] = token.split('.')
    const bytes = base64url.baseDecode(payload)
    const forged = new TextEncoder().encode(new TextDecoder().decode(bytes).replace('"alice"', '"mallo"'))
    assert.equal(failure(verifyToken(base64url.baseEncode(forged) + '.' + signature, options)).code, 'bad-signature')
    const sig = base64url.baseDecode(signature)
    sig[10] ^= 1
    assert.equal(failure(verifyToken(payload + '.' + base64url.baseEncode(sig), options)).code, 'bad-signature')
  })

  it('a frame-context signature over the same bytes does not make a token', () => {
    const payload = { doc: docId, sub: 'alice', roles: [], exp: 1700003600, iat: 1700000000, kid: encodePublicKey(docKey.publicKey.raw) }
    const bytes = new TextEncoder().encode(JSON.stringify(payload))
    const token = base64url.baseEncode(bytes) + '.' + base64url.baseEncode(docKey.sign(signingInput('deltacast/frame/1', bytes)) as Uint8Array)
    assert.equal(failure(verifyToken(token, options)).code, 'bad-signature')
    assert.equal(verifyToken(signedRaw(payload), options).ok, true)
  })

  it('refuses malformed tokens with a reason', () => {
    const good = { doc: docId, sub: 'alice', roles: ['r'], exp: 1700003600, iat: 1700000000, kid: encodePublicKey(docKey.publicKey.raw) }
    const cases: Array<[unknown, RegExp]> = [
      [42, /not a string/],
      ['a'.repeat(MAX_TOKEN_CHARS + 1), /longer than 4096/],
      ['abc', /two base64url parts/],
      ['a.b.c', /two base64url parts/],
      ['e30=.AAAA', /not canonical base64url/],
      ['e30.', /not canonical base64url/],
      ['e31.' + base64url.baseEncode(new Uint8Array(64)), /not canonical base64url/],
      [encode(good, new Uint8Array(63)), /signature is 63 bytes/],
      [base64url.baseEncode(new Uint8Array([0xff])) + '.' + base64url.baseEncode(new Uint8Array(64)), /not UTF-8 JSON/],
      [encode([1]), /not a JSON object/],
      [encode({ ...good, extra: 1 }), /exactly the keys/],
      [encode({ ...good, doc: 'nope' }), /doc is not a valid doc id/],
      [encode({ ...good, sub: '' }), /sub must be/],
      [encode({ ...good, sub: 'x'.repeat(257) }), /sub must be/],
      [encode({ ...good, roles: Array.from({ length: 33 }, (_, i) => `r${i}`) }), /at most 32 roles/],
      [encode({ ...good, roles: ['a b'] }), /role "a b"/],
      [encode({ ...good, roles: ['a', 'a'] }), /must not repeat/],
      [encode({ ...good, exp: 1.5 }), /whole seconds/],
      [encode({ ...good, exp: good.iat }), /exp must be after iat/],
      [encode({ ...good, kid: 'abc' }), /kid: a public key is 52/]
    ]
    for (const [token, reason] of cases) {
      const refused = failure(verifyToken(token, options))
      assert.equal(refused.code, 'malformed', String(token).slice(0, 40))
      assert.match(refused.error, reason)
    }
  })

  it('bounds: 32 roles and a 256-character principal are fine; more is refused at signing', () => {
    const roles = Array.from({ length: 32 }, (_, i) => `role-${i}`)
    const token = signTokenSync(docKey, { ...claims, roles, principal: 'p'.repeat(256) }, NOW)
    assert.ok(token.length <= MAX_TOKEN_CHARS)
    assert.equal(verifyToken(token, options).ok, true)
    assert.throws(() => signTokenSync(docKey, { ...claims, roles: [...roles, 'one-more'] }, NOW), InvalidClaimsError)
    assert.throws(() => signTokenSync(docKey, { ...claims, principal: 'p'.repeat(257) }, NOW), InvalidClaimsError)
    assert.throws(() => signTokenSync(docKey, { ...claims, expires: NOW }, NOW), /exp must be after iat/)
  })
})

