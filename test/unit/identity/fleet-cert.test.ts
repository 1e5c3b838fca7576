import assert from 'node:assert/strict'
import { generateKeyPair, generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { base64url } from 'multiformats/bases/base64'
import {
  FLEET_CERT_CONTEXT, InvalidClaimsError, MAX_FLEET_CERT_CHARS, encodePublicKey, readFleetCert, signFleetCert, signFleetCertSync,
  signingInput, verifyFleetCert, verifyFleetCertAsync
} from '../../../src/identity/index.ts'
import type { FleetCertResult } from '../../../src/identity/index.ts'

const NOW = 1_700_000_000_000
const DAY = 86_400_000
const PEER = '12D3KooWLRPJAA5o6Z6hX1h6Lzj1wSSV3Ux9WdHFSjRqzmFtzLKr'
// RFC 8032 "TEST 1" secret key as the operator.
const operator = await generateKeyPairFromSeed('Ed25519', Uint8Array.from(Buffer.from('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60', 'hex')))
const OPERATOR = '25njqamcweflpvkl73j4szahhihoc4xt3ktcgjnpaingr5yhkena'
const claims = { peerId: PEER, region: 'eu-west', expires: NOW + 30 * DAY }
const options = { peerId: PEER, trustedOperators: [operator.publicKey.raw], now: NOW }
/** Also printed in docs/fleet.md. */
const CERT_VECTOR = 'eyJwZWVyIjoiMTJEM0tvb1dMUlBKQUE1bzZaNmhYMWg2THpqMXdTU1YzVXg5V2RIRlNqUnF6bUZ0ekxLciIsInJlZ2lvbiI6ImV1LXdlc3QiLCJleHAiOjE3MDI1OTIwMDAsImlhdCI6MTcwMDAwMDAwMCwib3AiOiIyNW5qcWFtY3dlZmxwdmtsNzNqNHN6YWhoaWhvYzR4dDNrdGNnam5wYWluZ3I1eWhrZW5hIn0' +
  '.O-556pGJMBy_Qvjn2nhIQ5WSk6pVjbRw8R7Vg73MvlU8uVjk72nb1-S07doqmCtdb8aUKTPWvj56-BTB9fs1Cg'

const encode = (payload: unknown, signature = new Uint8Array(64)): string =>
  base64url.baseEncode(new TextEncoder().encode(JSON.stringify(payload))) + '.' + base64url.baseEncode(signature)

function failure (result: FleetCertResult): { code: string, error: string } {
  assert.equal(result.ok, false, 'expected a refusal')
  return result as { ok: false, code: string, error: string }
}

describe('identity/fleet-cert', () => {
  it('writes the documented payload and signs it (test vector)', () => {
    const cert = signFleetCertSync(operator, claims, NOW)
    assert.equal(new TextDecoder().decode(base64url.baseDecode(cert.split('.')[0])),
      `{"peer":"${PEER}","region":"eu-west","exp":1702592000,"iat":1700000000,"op":"${OPERATOR}"}`)
    assert.equal(cert, CERT_VECTOR)
    assert.deepEqual(readFleetCert(cert), { ok: true, peerId: PEER, region: 'eu-west', issued: NOW, expires: NOW + 30 * DAY, operator: OPERATOR })
  })

  it('round-trips, sync and async, as a fleet member', async () => {
    const cert = await signFleetCert(operator, claims, NOW)
    const expected = { ok: true, cert: { peerId: PEER, region: 'eu-west', issued: NOW, expires: NOW + 30 * DAY, operator: OPERATOR, scope: 'fleet' } }
    assert.deepEqual(verifyFleetCert(cert, options), expected)
    assert.deepEqual(await verifyFleetCertAsync(cert, options), expected)
  })

  it('certifies a real libp2p peer id', async () => {
    const peerId = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
    const cert = signFleetCertSync(operator, { ...claims, peerId }, NOW)
    assert.equal(verifyFleetCert(cert, { ...options, peerId }).ok, true)
  })

  it('a doc key certifies its authority with scope "document", only where that key is listed', async () => {
    const docKey = await generateKeyPair('Ed25519')
    const cert = signFleetCertSync(docKey, claims, NOW)
    const accepted = verifyFleetCert(cert, { ...options, docKeys: [docKey.publicKey.raw] })
    assert.equal(accepted.ok && accepted.cert.scope, 'document')
    assert.equal(failure(verifyFleetCert(cert, options)).code, 'untrusted-operator')
    // A key that is both is an operator: the wider scope wins.
    const both = verifyFleetCert(signFleetCertSync(operator, claims, NOW), { ...options, docKeys: [operator.publicKey.raw] })
    assert.equal(both.ok && both.cert.scope, 'fleet')
  })

  it('anyDocKey: any other key certifies its holder with scope "document" (on-demand carriers), still only with a valid signature', async () => {
    const docKey = await generateKeyPair('Ed25519')
    const cert = signFleetCertSync(docKey, claims, NOW)
    const accepted = verifyFleetCert(cert, { ...options, anyDocKey: true })
    assert.ok(accepted.ok)
    assert.equal(accepted.cert.scope, 'document')
    assert.equal(accepted.cert.operator, encodePublicKey(docKey.publicKey.raw))
    // The operator stays an operator; a forged signature or another peer is still refused.
    const member = verifyFleetCert(signFleetCertSync(operator, claims, NOW), { ...options, anyDocKey: true })
    assert.equal(member.ok && member.cert.scope, 'fleet')
    const [payload] = cert.split('.')
    const forged = `${payload}.${signFleetCertSync(operator, claims, NOW).split('.')[1]}`
    assert.equal(failure(verifyFleetCert(forged, { ...options, anyDocKey: true })).code, 'bad-signature')
    assert.equal(failure(verifyFleetCert(cert, { ...options, anyDocKey: true, peerId: 'QmOther' })).code, 'wrong-peer')
  })

  it('refuses an untrusted operator, another peer, expired and future certificates', async () => {
    const stranger = await generateKeyPair('Ed25519')
    const untrusted = failure(verifyFleetCert(signFleetCertSync(stranger, claims, NOW), options))
    assert.equal(untrusted.code, 'untrusted-operator')
    assert.match(untrusted.error, new RegExp(encodePublicKey(stranger.publicKey.raw)))

    const cert = signFleetCertSync(operator, claims, NOW)
    const wrongPeer = failure(verifyFleetCert(cert, { ...options, peerId: '12D3KooWQYhTNQdmr3ArTeUHRYzFg94BKyTkoWBDWez9kSCVe2Xo' }))
    assert.equal(wrongPeer.code, 'wrong-peer')
    assert.match(wrongPeer.error, new RegExp(`for peer ${PEER}, not 12D3KooWQYhT`))

    assert.equal(verifyFleetCert(cert, { ...options, now: NOW + 30 * DAY - 1 }).ok, true)
    assert.equal(failure(verifyFleetCert(cert, { ...options, now: NOW + 30 * DAY })).code, 'expired')
    assert.equal(failure(verifyFleetCert(cert, { ...options, now: NOW - 61_000 })).code, 'not-yet-valid')
  })

  it('detects tampering, and signatures made for another context', () => {
    const cert = signFleetCertSync(operator, claims, NOW)
    const [payload, signature] = cert.split('.')
    const changed = new TextDecoder().decode(base64url.baseDecode(payload)).replace('eu-west', 'us-east')
    assert.equal(failure(verifyFleetCert(base64url.baseEncode(new TextEncoder().encode(changed)) + '.' + signature, options)).code, 'bad-signature')
    const bytes = base64url.baseDecode(payload)
    const asToken = base64url.baseEncode(bytes) + '.' + base64url.baseEncode(operator.sign(signingInput('deltacast/token/1', bytes)) as Uint8Array)
    assert.equal(failure(verifyFleetCert(asToken, options)).code, 'bad-signature')
    const right = base64url.baseEncode(bytes) + '.' + base64url.baseEncode(operator.sign(signingInput(FLEET_CERT_CONTEXT, bytes)) as Uint8Array)
    assert.equal(verifyFleetCert(right, options).ok, true)
  })

  it('refuses malformed certificates with a reason', () => {
    const good = { peer: PEER, region: 'eu', exp: 1700003600, iat: 1700000000, op: OPERATOR }
    const cases: Array<[unknown, RegExp]> = [
      [null, /not a string/],
      ['a'.repeat(MAX_FLEET_CERT_CHARS + 1), /longer than 4096/],
      ['nodot', /two base64url parts/],
      [encode({ ...good, extra: true }), /exactly the keys/],
      [encode({ ...good, peer: 'not/a/peer' }), /peer is not a peer id/],
      [encode({ ...good, region: '' }), /region must match/],
      [encode({ ...good, iat: -1 }), /whole seconds/],
      [encode({ ...good, exp: 1 }), /exp must be after iat/],
      [encode({ ...good, op: OPERATOR.toUpperCase() }), /op: a public key is 52/]
    ]
    for (const [cert, reason] of cases) {
      const refused = failure(verifyFleetCert(cert, options))
      assert.equal(refused.code, 'malformed')
      assert.match(refused.error, reason)
    }
    assert.throws(() => signFleetCertSync(operator, { ...claims, region: 'a b' }, NOW), InvalidClaimsError)
    assert.throws(() => signFleetCertSync(operator, { ...claims, expires: NOW - 1 }, NOW), /exp must be after iat/)
  })
})
