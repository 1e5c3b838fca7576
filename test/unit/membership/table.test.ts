import assert from 'node:assert/strict'
import fc from 'fast-check'
import { generateKeyPair, generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PrivateKey } from '@libp2p/interface'
import { signFleetCertSync } from '../../../src/identity/index.ts'
import { Digest, MembershipTable, regionAnnouncementRate, signAnnouncementSync, leaseMs } from '../../../src/membership/index.ts'
import type { AnnouncementFields, OfferResult, RefusalReason } from '../../../src/membership/index.ts'
import { computeDocTree } from '../../../src/elect/index.ts'

const NOW = 1_700_000_000_000
const DAY = 86_400_000
const DOC = '25njqamcweflpvkl73j4szahhihoc4xt3ktcgjnpaingr5yhkena.example'
const operator = await generateKeyPairFromSeed('Ed25519', Uint8Array.from(Buffer.from('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60', 'hex')))
const stranger = await generateKeyPair('Ed25519')
const keys = await Promise.all(Array.from({ length: 4 }, async () => await generateKeyPair('Ed25519')))
const peerOf = (key: PrivateKey): string => peerIdFromPrivateKey(key).toString()

function certFor (key: PrivateKey, region: string, by: PrivateKey = operator, expires = NOW + 30 * DAY): string {
  return signFleetCertSync(by, { peerId: peerOf(key), region, expires }, NOW - 1000)
}

let nextSeq = NOW
function announce (key: PrivateKey, init: Partial<AnnouncementFields> = {}): Uint8Array {
  const region = init.region ?? 'eu-west'
  return signAnnouncementSync(key, {
    region, seq: init.seq ?? ++nextSeq, expires: NOW + 60_000, weight: 1, capacity: 100, load: 0,
    cert: certFor(key, region), docs: Digest.of([DOC]), roles: Digest.EMPTY, ...init
  })
}

/** version, flags, peer id (1 + 52), region (1 + 7), seq, expires, weight, capacity, then load's last byte. */
const LOAD_LOW_BYTE = 2 + 53 + 8 + 16 + 2 + 4 + 3
const fleetTable = (): MembershipTable => new MembershipTable({ enforcing: true, trustedOperators: [operator.publicKey.raw] })

/** Offers and asserts a refusal that left the table exactly as it was. */
function refused (table: MembershipTable, bytes: Uint8Array, reason: RefusalReason, now = NOW): string {
  const before = table.live(now)
  const result: OfferResult = table.offer(bytes, now)
  assert.equal(result.ok ? 'accepted' : result.reason, reason)
  assert.deepEqual(table.live(now), before, 'a refusal changes nothing')
  return result.ok ? '' : result.error
}

describe('membership/table', () => {
  it('admits certified members with the region of their certificate, updates them, and orders them', () => {
    const table = fleetTable()
    for (const key of keys) assert.deepEqual(ok(table.offer(announce(key), NOW)), 'joined')
    assert.equal(ok(table.offer(announce(keys[0], { load: 7 }), NOW)), 'updated')
    assert.equal(ok(table.offer(announce(keys[0], { load: 7, expires: NOW + 50_000 }), NOW)), 'refreshed', 'only the lease changed')
    assert.equal(ok(table.offer(announce(keys[0], { load: 7, docs: Digest.of([DOC, 'b.doc']) }), NOW)), 'updated')
    assert.equal(ok(table.offer(announce(keys[0], { load: 7, docs: Digest.of([DOC, 'b.doc']), roles: Digest.of(['x/eu-west']) }), NOW)), 'updated')
    const live = table.live(NOW)
    assert.deepEqual(live.map(m => m.peerId), keys.map(peerOf).sort())
    assert.equal(table.get(peerOf(keys[0]), NOW)?.load, 7)
    assert.ok(live.every(m => m.region === 'eu-west' && m.carries(DOC) && !m.carries('x.y')))
    assert.equal(table.regionSize('eu-west', NOW), 4)
    // The view feeds the election directly.
    assert.equal(computeDocTree(DOC, live, { fanout: 8 }).regions.length, 1)
  })

  it('refuses forged announcements (bad signature)', () => {
    const table = fleetTable()
    const bytes = announce(keys[0]).slice()
    bytes[LOAD_LOW_BYTE] ^= 0x01 // a claim changed after signing: still well-formed
    assert.match(refused(table, bytes, 'bad-signature'), /does not verify/)
    const forged = announce(keys[0]).slice()
    forged[forged.length - 1] ^= 0x01 // the signature itself
    assert.match(refused(table, forged, 'bad-signature'), /does not verify/)
  })

  it('refuses uncertified members in fleet mode: none, an untrusted operator, another peer, expired', () => {
    const table = fleetTable()
    assert.match(refused(table, announce(keys[0], { cert: '' }), 'uncertified'), /no fleet certificate/)
    assert.match(refused(table, announce(keys[0], { cert: certFor(keys[0], 'eu-west', stranger) }), 'uncertified'), /untrusted-operator/)
    assert.match(refused(table, announce(keys[0], { cert: certFor(keys[1], 'eu-west') }), 'uncertified'), /wrong-peer/)
    assert.match(refused(table, announce(keys[0]), 'uncertified', NOW + 31 * DAY), /expired/)
  })

  it('refuses a member claiming another region than its certificate', () => {
    const table = fleetTable()
    assert.match(refused(table, announce(keys[0], { cert: certFor(keys[0], 'us-east') }), 'wrong-region'), /certificate says us-east/)
  })

  it('dev mode: no certificate needed, the region is the announced one', () => {
    const table = new MembershipTable({ enforcing: false, trustedOperators: [] })
    assert.equal(ok(table.offer(announce(keys[0], { cert: '', region: 'ap' }), NOW)), 'joined')
    assert.equal(table.get(peerOf(keys[0]), NOW)?.region, 'ap')
  })

  it('refuses stale and replayed announcements', () => {
    const table = fleetTable()
    const first = announce(keys[0])
    ok(table.offer(first, NOW))
    refused(table, first, 'stale')
    const newer = announce(keys[0])
    const older = announce(keys[0], { seq: NOW - 5 })
    ok(table.offer(newer, NOW))
    assert.match(refused(table, older, 'stale'), /is not above/)
  })

  it('refuses malformed and oversized announcements', () => {
    const table = fleetTable()
    refused(table, new Uint8Array([1, 2, 3]), 'malformed')
    refused(table, new Uint8Array(200_000), 'oversized')
  })

  it('refuses expired leases and leases too far ahead', () => {
    const table = fleetTable()
    refused(table, announce(keys[0], { expires: NOW }), 'expired')
    refused(table, announce(keys[0], { expires: NOW + 2 * DAY }), 'lease-too-long')
  })

  it('refuses a flood: a burst of 5, then one per second; forgeries spend nothing', () => {
    const table = fleetTable()
    for (let i = 0; i < 5; i++) ok(table.offer(announce(keys[0]), NOW))
    assert.match(refused(table, announce(keys[0]), 'flood'), /faster than one per 1000 ms/)
    ok(table.offer(announce(keys[0]), NOW + 1000))
    refused(table, announce(keys[0]), 'flood', NOW + 1000)
    // Another member's budget is its own; forged copies under its name do not spend it.
    for (let i = 0; i < 10; i++) {
      const forged = announce(keys[1]).slice()
      forged[forged.length - 1] ^= 0x01
      refused(table, forged, 'bad-signature')
    }
    ok(table.offer(announce(keys[1]), NOW))
  })

  it('refuses new members past maxMembers but still updates known ones', () => {
    const table = new MembershipTable({ enforcing: true, trustedOperators: [operator.publicKey.raw], maxMembers: 2 })
    ok(table.offer(announce(keys[0]), NOW))
    ok(table.offer(announce(keys[1]), NOW))
    refused(table, announce(keys[2]), 'full')
    ok(table.offer(announce(keys[0]), NOW))
  })

  it('expires leases, and a certificate ending first ends the membership', () => {
    const table = fleetTable()
    ok(table.offer(announce(keys[0]), NOW))
    ok(table.offer(announce(keys[1], { cert: certFor(keys[1], 'eu-west', operator, NOW + 30_000) }), NOW))
    assert.equal(table.get(peerOf(keys[1]), NOW)?.expires, NOW + 30_000)
    assert.deepEqual(table.live(NOW + 30_000).map(m => m.peerId), [peerOf(keys[0])])
    assert.deepEqual(table.expire(NOW + 30_000).map(m => m.peerId), [peerOf(keys[1])])
    assert.deepEqual(table.expire(NOW + 60_000).map(m => m.peerId), [peerOf(keys[0])])
    assert.deepEqual(table.live(NOW + 60_000), [])
  })

  it('a leaving member drops out at once, and replays of its earlier announcements stay stale', () => {
    const table = fleetTable()
    const earlier = announce(keys[0])
    ok(table.offer(earlier, NOW))
    assert.equal(ok(table.offer(announce(keys[0], { leaving: true, expires: NOW + 1000 }), NOW)), 'left')
    assert.equal(table.get(peerOf(keys[0]), NOW), undefined)
    refused(table, earlier, 'stale', NOW + 5000)
    assert.deepEqual(table.expire(NOW + 60_000), [], 'a tombstone is not reported as a member lost')
    assert.equal(ok(table.offer(announce(keys[0]), NOW + 1000)), 'joined')
  })

  it('agreement: tables fed the same announcements in any order hold the same view', () => {
    // Up to 4 announcements per member (below the flood burst), distinct seqs, some leaving.
    const pool = keys.flatMap((key, k) => [1, 2, 3, 4].map(i => ({ key: k, seq: NOW + i * 10 + k, load: i, leaving: i === 4 && k % 2 === 0 })))
      .map(a => ({ ...a, bytes: announce(keys[a.key], { seq: a.seq, load: a.load, leaving: a.leaving }) }))
    fc.assert(fc.property(fc.subarray(pool), fc.integer(), (chosen, seed) => {
      const view = (order: typeof chosen): unknown => {
        const table = fleetTable()
        for (const a of order) table.offer(a.bytes, NOW)
        return table.live(NOW).map(m => [m.peerId, m.seq, m.load])
      }
      const shuffled = [...chosen].sort((a, b) => Math.imul(a.seq ^ seed, 0x9e3779b1) - Math.imul(b.seq ^ seed, 0x9e3779b1))
      assert.deepEqual(view(shuffled), view(chosen))
      // And the view is each member's newest announcement, unless that one says it left.
      const newest = new Map<number, (typeof chosen)[number]>()
      for (const a of chosen) if ((newest.get(a.key)?.seq ?? 0) < a.seq) newest.set(a.key, a)
      const expected = [...newest.values()].filter(a => !a.leaving).map(a => [peerOf(keys[a.key]), a.seq, a.load])
        .sort((a, b) => (a[0] as string) < (b[0] as string) ? -1 : 1)
      assert.deepEqual(view(chosen), expected)
    }), { numRuns: 50 })
  })

  it('schedule: a region topic carries at most 6 announcements per second at any size', () => {
    for (const n of [1, 5, 15, 100, 1000, 10_000, 100_000]) {
      assert.ok(regionAnnouncementRate(n) <= 6, `n=${n}: ${regionAnnouncementRate(n)}/s`)
      assert.ok(leaseMs(n) > 2 * 1000 * n || leaseMs(n) >= 45_000)
    }
  })
})

function ok (result: OfferResult): string {
  assert.ok(result.ok, result.ok ? '' : `${result.reason}: ${result.error}`)
  return result.change
}
