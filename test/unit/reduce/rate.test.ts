// Send budgets per viewer (src/reduce/rate.ts): keyed by principal, or by peer id under a
// per-address cap for anonymous viewers; all-or-nothing takes; refills; memory that follows use.
import assert from 'node:assert/strict'
import { ADDRESS_VIEWERS, RateLimits, remoteHostOf } from '../../../src/reduce/index.ts'

const rate = { messages: 2, perMs: 1000 }
const anon = (peer: string, address = '/ip4/192.0.2.1/tcp/1/ws') => ({ principal: null, peer, address })

describe('per-viewer send budgets', () => {
  it('an identified viewer has one budget per channel whatever its peer ids and addresses', () => {
    const limits = new RateLimits()
    const takes = ['p1', 'p2', 'p3'].map((peer, i) => limits.gate('poll', rate, { principal: 'jo', peer, address: `/ip4/10.0.0.${i}/tcp/1/ws` }, 0).take(0))
    assert.deepEqual(takes, [true, true, false])
    assert.equal(limits.gate('claps', rate, { principal: 'jo', peer: 'p9', address: '/ip4/10.0.0.9/tcp/1/ws' }, 0).take(0), true, 'another channel, another budget')
    assert.equal(limits.gate('poll', rate, { principal: 'jo', peer: 'p1', address: '/ip4/10.0.0.0/tcp/1/ws' }, 500).take(500), true, 'refilled: 2 per second')
  })

  it('anonymous viewers: one budget per peer id, and ADDRESS_VIEWERS budgets per address; a refused take takes nothing', () => {
    const limits = new RateLimits()
    const one = { messages: 1, perMs: 1000 }
    const results = Array.from({ length: ADDRESS_VIEWERS + 1 }, (_, i) => limits.gate('poll', one, anon(`peer${i}`), 0).take(0))
    assert.deepEqual(results, [...Array(ADDRESS_VIEWERS).fill(true), false])
    // peer0 is over its own budget; a refusal there must not spend the address's tokens.
    const later = 1000 / ADDRESS_VIEWERS // the address has one token back; peer0 only a fraction of one
    assert.equal(limits.gate('poll', one, anon('peer0'), later).take(later), false)
    assert.equal(limits.gate('poll', one, anon('fresh'), later).take(later), true, 'the address token was left for another viewer')
    assert.equal(limits.gate('poll', one, anon('other', '/ip4/192.0.2.2/tcp/1/ws'), 0).take(0), true, 'another address')
  })

  it('gives back a refunded token, and forgets refilled buckets', () => {
    const limits = new RateLimits()
    const gate = limits.gate('poll', { messages: 1, perMs: 1000 }, { principal: 'jo', peer: 'p', address: '/ip4/10.0.0.1/tcp/1' }, 0)
    assert.equal(gate.take(0), true)
    assert.equal(gate.take(0), false)
    gate.refund()
    assert.equal(gate.take(0), true)
    limits.sweep(500)
    assert.equal(limits.size, 1, 'still spending')
    limits.sweep(1000)
    assert.equal(limits.size, 0, 'full again: a fresh bucket is the same')
  })

  it('keys an address by what a client cannot multiply for free', () => {
    assert.equal(remoteHostOf('/ip4/203.0.113.7/tcp/4242/ws'), 'ip4/203.0.113.7')
    assert.equal(remoteHostOf('/ip4/203.0.113.7/udp/9/webrtc-direct/certhash/uEi'), 'ip4/203.0.113.7')
    assert.equal(remoteHostOf('/ip6/2001:db8:0:1:aaaa::1/tcp/1/ws'), 'ip6/2001:db8:0:1::/64')
    assert.equal(remoteHostOf('/ip6/2001:0db8:0000:0001:ffff:1:2:3/tcp/1/ws'), 'ip6/2001:db8:0:1::/64')
    assert.equal(remoteHostOf('/ip6/::1/tcp/1/ws'), 'ip6/0:0:0:0::/64')
    assert.equal(remoteHostOf('/dns4/example.com/tcp/1'), '/dns4/example.com/tcp/1')
  })
})
